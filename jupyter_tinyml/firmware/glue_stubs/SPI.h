// SPI.h for the glue compile check (firmware/glue_compile.py): the SPI bus as glue calls it. Declarations only.

#ifndef TINYML_GLUE_STUBS_SPI_H_
#define TINYML_GLUE_STUBS_SPI_H_

#include <Arduino.h>

class SPIClass {
 public:
  void begin();
  void end();
  uint8_t transfer(uint8_t value);
};

extern SPIClass SPI;

#endif  // TINYML_GLUE_STUBS_SPI_H_
