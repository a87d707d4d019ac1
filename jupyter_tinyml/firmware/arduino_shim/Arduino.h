// Arduino.h for the virtual board (QEMU's mps2-an386, an emulated Cortex-M4): the small part of the Arduino core
// that a jupyter-tinyml sketch and the TFLite Micro library use, over this project's board support
// (firmware/c_target/board: CMSDK UART, SysTick). It stands in for the Arduino core only; the sketch's files and
// the TFLite Micro library are the ones a Nano 33 BLE Sense gets.
//
// Time runs in QEMU's virtual time: with -icount shift=0 one emulated instruction takes 1 ns, so millis() and
// micros() count emulated instructions, not a real processor's cycles.

#ifndef TINYML_ARDUINO_SHIM_ARDUINO_H_
#define TINYML_ARDUINO_SHIM_ARDUINO_H_

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef bool boolean;
typedef uint8_t byte;

#define HIGH 0x1
#define LOW 0x0
#define INPUT 0x0
#define OUTPUT 0x1
#define INPUT_PULLUP 0x2
#define LED_BUILTIN 13
#define DEC 10
#define HEX 16
#define INPUT_PULLDOWN 0x3
#define CHANGE 1
#define FALLING 2
#define RISING 3
// The Nano 33 BLE Sense's RGB LED and power LED, and its analog pins, by the names the mbed core gives them.
#define LEDR 22
#define LEDG 23
#define LEDB 24
#define LED_PWR 25
#define A0 14
#define A1 15
#define A2 16
#define A3 17
#define A4 18
#define A5 19
#define A6 20
#define A7 21

// The arithmetic helpers of Arduino's core (api/Common.h), which application glue uses freely.
#ifndef PI
#define PI 3.1415926535897932384626433832795
#endif
#define HALF_PI 1.5707963267948966192313216916398
#define TWO_PI 6.283185307179586476925286766559
#define DEG_TO_RAD 0.017453292519943295769236907684886
#define RAD_TO_DEG 57.295779513082320876798154814105
#define F(text) (text)
#define constrain(value, low, high) ((value) < (low) ? (low) : ((value) > (high) ? (high) : (value)))
#define sq(x) ((x) * (x))
#define radians(deg) ((deg) * DEG_TO_RAD)
#define degrees(rad) ((rad) * RAD_TO_DEG)
#define bitRead(value, bit) (((value) >> (bit)) & 0x01)

#ifdef __cplusplus
template <typename T, typename U>
inline auto min(const T& a, const U& b) -> decltype(a < b ? a : b) { return a < b ? a : b; }
template <typename T, typename U>
inline auto max(const T& a, const U& b) -> decltype(a > b ? a : b) { return a > b ? a : b; }
#endif

inline long map(long value, long from_low, long from_high, long to_low, long to_high) {
  return from_high == from_low ? to_low : (value - from_low) * (to_high - to_low) / (from_high - from_low) + to_low;
}
inline void randomSeed(unsigned long seed) { srand(static_cast<unsigned>(seed)); }
inline long random(long high) { return high > 0 ? rand() % high : 0; }
inline long random(long low, long high) { return high > low ? low + random(high - low) : low; }

unsigned long millis();
unsigned long micros();
void delay(unsigned long ms);
void delayMicroseconds(unsigned int us);

// The emulated board has no pins: these accept what a sketch's glue does with an LED and read LOW.
inline void pinMode(uint8_t, uint8_t) {}
inline void digitalWrite(uint8_t, uint8_t) {}
inline int digitalRead(uint8_t) { return LOW; }
inline int analogRead(uint8_t) { return 0; }
inline void analogWrite(uint8_t, int) {}
inline void analogReadResolution(int) {}
inline void analogWriteResolution(int) {}

// Serial: the board's UART0, which QEMU connects to a pseudo-terminal on the host. It is always "connected":
// the host's port exists before the firmware starts.
class HardwareSerial {
 public:
  constexpr HardwareSerial() {}
  void begin(unsigned long) {}
  void end() {}
  explicit operator bool() const { return true; }
  int available();
  int read();
  int peek();
  void flush() {}

  size_t write(uint8_t byte);
  size_t write(const char* text);
  size_t write(const uint8_t* bytes, size_t length);

  size_t print(const char* text) { return write(text); }
  size_t print(char c) { return write(static_cast<uint8_t>(c)); }
  size_t print(unsigned long value, int base = DEC);
  size_t print(long value, int base = DEC);
  size_t print(unsigned int value, int base = DEC) { return print(static_cast<unsigned long>(value), base); }
  size_t print(int value, int base = DEC) { return print(static_cast<long>(value), base); }
  size_t print(double value, int digits = 2);

  size_t println() { return write("\r\n"); }
  template <typename T>
  size_t println(T value) {
    const size_t n = print(value);
    return n + println();
  }
  template <typename T>
  size_t println(T value, int format) {
    const size_t n = print(value, format);
    return n + println();
  }

 private:
  int peeked_ = -1;  // a byte peek() took from the UART, returned by the next read()
};

extern HardwareSerial Serial;

// The sketch's two functions, called by the shim's main().
void setup();
void loop();

#endif  // TINYML_ARDUINO_SHIM_ARDUINO_H_
