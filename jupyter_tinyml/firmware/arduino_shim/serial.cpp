// Serial on the virtual board: the CMSDK UART of the board support (firmware/c_target/board/cmsdk_uart.c),
// which QEMU connects to a pseudo-terminal on the host.

#include "Arduino.h"
#include "board.h"

HardwareSerial Serial;

int HardwareSerial::available() {
  if (peeked_ < 0) peeked_ = uart_poll_byte();
  return peeked_ < 0 ? 0 : 1;
}

int HardwareSerial::read() {
  if (peeked_ >= 0) {
    const int byte = peeked_;
    peeked_ = -1;
    return byte;
  }
  return uart_poll_byte();
}

int HardwareSerial::peek() {
  available();
  return peeked_;
}

size_t HardwareSerial::write(uint8_t byte) {
  const char c = static_cast<char>(byte);
  uart_write(&c, 1);
  return 1;
}

size_t HardwareSerial::write(const char* text) {
  const size_t length = strlen(text);
  uart_write(text, static_cast<uint32_t>(length));
  return length;
}

size_t HardwareSerial::write(const uint8_t* bytes, size_t length) {
  uart_write(reinterpret_cast<const char*>(bytes), static_cast<uint32_t>(length));
  return length;
}

size_t HardwareSerial::print(unsigned long value, int base) {
  if (base < 2 || base > 16) base = DEC;
  char digits[33];
  size_t count = 0;
  do {
    digits[count++] = "0123456789ABCDEF"[value % static_cast<unsigned long>(base)];
    value /= static_cast<unsigned long>(base);
  } while (value != 0);
  char text[34];
  for (size_t i = 0; i < count; ++i) text[i] = digits[count - 1 - i];
  text[count] = '\0';
  return write(text);
}

size_t HardwareSerial::print(long value, int base) {
  if (value < 0 && base == DEC) {
    return write(static_cast<uint8_t>('-')) + print(0UL - static_cast<unsigned long>(value), base);
  }
  return print(static_cast<unsigned long>(value), base);
}

// As the Arduino core prints a double: fixed point with `digits` decimals, "nan"/"inf" for the special values.
size_t HardwareSerial::print(double value, int digits) {
  if (isnan(value)) return write("nan");
  if (isinf(value)) return write(value < 0 ? "-inf" : "inf");
  size_t n = 0;
  if (value < 0.0) {
    n += write(static_cast<uint8_t>('-'));
    value = -value;
  }
  double rounding = 0.5;
  for (int i = 0; i < digits; ++i) rounding /= 10.0;
  value += rounding;
  const unsigned long whole = static_cast<unsigned long>(value);
  n += print(whole);
  if (digits > 0) n += write(static_cast<uint8_t>('.'));
  double rest = value - static_cast<double>(whole);
  for (int i = 0; i < digits; ++i) {
    rest *= 10.0;
    const unsigned int digit = static_cast<unsigned int>(rest);
    n += write(static_cast<uint8_t>('0' + digit));
    rest -= digit;
  }
  return n;
}
