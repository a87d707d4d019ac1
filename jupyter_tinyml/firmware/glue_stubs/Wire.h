// Wire.h for the glue compile check of a real board (firmware/glue_compile.py): the I2C bus as glue calls it.
// Declarations only: the check never links.

#ifndef TINYML_GLUE_STUBS_WIRE_H_
#define TINYML_GLUE_STUBS_WIRE_H_

#include <Arduino.h>

class TwoWire {
 public:
  void begin();
  void end();
  void setClock(uint32_t frequency);
  void beginTransmission(uint8_t address);
  uint8_t endTransmission(bool stop = true);
  uint8_t requestFrom(uint8_t address, size_t count, bool stop = true);
  size_t write(uint8_t value);
  size_t write(const uint8_t* data, size_t length);
  int available();
  int read();
};

extern TwoWire Wire;
extern TwoWire Wire1;

#endif  // TINYML_GLUE_STUBS_WIRE_H_
