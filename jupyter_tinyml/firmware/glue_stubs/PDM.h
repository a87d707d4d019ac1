// PDM.h for the glue compile check (firmware/glue_compile.py): the microphone interface the Arduino mbed core ships
// for the Nano 33 BLE Sense (part of the core, not a library to install). Declarations only: the check never links.

#ifndef TINYML_GLUE_STUBS_PDM_H_
#define TINYML_GLUE_STUBS_PDM_H_

#include <Arduino.h>

class PDMClass {
 public:
  int begin(int channels, int sample_rate);
  void end();
  int available();
  int read(void* buffer, size_t size);
  void onReceive(void (*handler)(void));
  void setGain(int gain);
  void setBufferSize(int size);
};

extern PDMClass PDM;

#endif  // TINYML_GLUE_STUBS_PDM_H_
