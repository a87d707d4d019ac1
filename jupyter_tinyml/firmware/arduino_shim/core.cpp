// The Arduino core's entry and clock for the virtual board: main() runs the C++ static constructors, then the
// sketch's setup() once and loop() for ever (as every Arduino core does); millis()/micros()/delay() count SysTick
// ticks of the board support (firmware/c_target/board/systick.c) in QEMU's virtual time.

#include "Arduino.h"
#include "board.h"

// QEMU's -icount shift (one emulated instruction takes 2^shift ns of virtual time); image.py passes the one QEMU
// runs with, as for the C target.
#ifndef TINYML_ICOUNT_SHIFT
#define TINYML_ICOUNT_SHIFT 0
#endif

namespace {

constexpr uint64_t kTicksPerMicrosecond = BOARD_CPU_HZ / 1000000u;

void WaitTicks(uint64_t ticks) {
  const uint64_t start = board_ticks();
  while (board_ticks() - start < ticks) {
  }
}

}  // namespace

unsigned long millis() { return static_cast<unsigned long>(board_ticks() / (kTicksPerMicrosecond * 1000u)); }

unsigned long micros() { return static_cast<unsigned long>(board_ticks() / kTicksPerMicrosecond); }

void delay(unsigned long ms) { WaitTicks(static_cast<uint64_t>(ms) * kTicksPerMicrosecond * 1000u); }

void delayMicroseconds(unsigned int us) { WaitTicks(static_cast<uint64_t>(us) * kTicksPerMicrosecond); }

// tinyml_protocol.cpp's optional cycle counter: with it, RESULT lines report cycles=<emulated instructions per
// inference>, counted as the C target's main.c counts them (40 per SysTick tick at 25 MHz and 1 ns per instruction).
extern "C" uint64_t tinyml_cycle_count() {
  return (board_ticks() * (1000000000u / BOARD_CPU_HZ)) >> TINYML_ICOUNT_SHIFT;
}

// The linker script's table of static constructors (cxx_sections.ld): the generated sketch has objects built at
// start-up (tinyml_model.cpp's protocol), and the board's startup code, written for C, does not run them.
extern "C" {
extern void (*__init_array_start[])();
extern void (*__init_array_end[])();
}

int main() {
  for (void (**constructor)() = __init_array_start; constructor < __init_array_end; ++constructor) {
    (*constructor)();
  }
  setup();
  for (;;) {
    loop();
  }
}
