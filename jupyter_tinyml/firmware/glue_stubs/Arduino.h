// Arduino.h for the glue compile check of a real board (firmware/glue_compile.py): the virtual board's shim
// (firmware/arduino_shim) plus the rest of the Arduino API a sketch's glue commonly uses. Declarations and trivial
// inline bodies only: the check compiles the .ino with -fsyntax-only and never links, so nothing here runs.

#ifndef TINYML_GLUE_STUBS_ARDUINO_H_
#define TINYML_GLUE_STUBS_ARDUINO_H_

#include_next <Arduino.h>

#include <stdio.h>

#define digitalPinToInterrupt(pin) (pin)

void attachInterrupt(uint8_t interrupt, void (*handler)(), int mode);
void detachInterrupt(uint8_t interrupt);
void noInterrupts();
void interrupts();
unsigned long pulseIn(uint8_t pin, uint8_t state, unsigned long timeout = 1000000UL);
void tone(uint8_t pin, unsigned int frequency, unsigned long duration = 0);
void noTone(uint8_t pin);

// Arduino's String, as far as glue uses it; it reads as const char* so Serial.print(String) compiles as it does
// on the board.
class String {
 public:
  String(const char* text = "");
  String(char c);
  String(int value, int base = 10);
  String(unsigned int value, int base = 10);
  String(long value, int base = 10);
  String(unsigned long value, int base = 10);
  String(float value, int decimals = 2);
  String(double value, int decimals = 2);
  String& operator+=(const String& other);
  friend String operator+(const String& a, const String& b);
  bool operator==(const String& other) const;
  bool operator!=(const String& other) const;
  char operator[](unsigned int index) const;
  operator const char*() const;
  const char* c_str() const;
  unsigned int length() const;
  long toInt() const;
  float toFloat() const;
  void trim();
  int indexOf(char c) const;
  String substring(unsigned int from) const;
  String substring(unsigned int from, unsigned int to) const;
  bool startsWith(const String& prefix) const;
};

#endif  // TINYML_GLUE_STUBS_ARDUINO_H_
