// Wire.h for the virtual board: the emulated board has no I2C bus. The TFLite Micro library's peripherals.h
// includes this header, so it exists; nothing in it is used.

#ifndef TINYML_ARDUINO_SHIM_WIRE_H_
#define TINYML_ARDUINO_SHIM_WIRE_H_

#include "Arduino.h"

#endif  // TINYML_ARDUINO_SHIM_WIRE_H_
