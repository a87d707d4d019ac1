// What a C++ program and the TFLite Micro library need from the platform on the virtual board, where the image is
// linked without the C runtime's start files (-nostartfiles): the library's DebugLog (which its
// system_setup.cpp defines for real Arduino boards, with the mbed core's ring buffer), and the C++ ABI's hooks.

#include "Arduino.h"

namespace {

// A fault the program cannot recover from ends with this line (free text, PROTOCOL.md) and stops, as the board
// support's fault handler does.
[[noreturn]] void Halt() {
  Serial.print("; reset the board\r\n");
  for (;;) {
  }
}

[[noreturn]] void Fault(const char* what) {
  Serial.print("fault: ");
  Serial.print(what);
  Halt();
}

}  // namespace

extern "C" {

// TFLite Micro's log (MicroPrintf: "Arena size is too small ...") goes to the serial line as free text, as the
// library's own system_setup.cpp does on a Nano 33 BLE Sense.
void DebugLog(const char* s) { Serial.print(s); }

// The firmware never returns from main(), so static objects are never destroyed: there is nothing to register,
// and no module handle to register it with.
void* __dso_handle = nullptr;
int __cxa_atexit(void (*)(void*), void*, void*) { return 0; }

void __cxa_pure_virtual() { Fault("a pure virtual function was called"); }

void abort() { Fault("abort() was called (a TFLite Micro check failed)"); }

// The library's assert()s (it is compiled without NDEBUG, as an Arduino build compiles it) report here, as the
// mbed core's own handler does on a Nano 33 BLE Sense, rather than through newlib's fprintf to nowhere.
void __assert_func(const char* file, int line, const char* function, const char* expression) {
  Serial.print("fault: assertion failed: ");
  Serial.print(expression);
  Serial.print(" in ");
  Serial.print(function != nullptr ? function : "?");
  Serial.print(" (");
  Serial.print(file);
  Serial.print(":");
  Serial.print(line);
  Serial.print(")");
  Halt();
}

}  // extern "C"
