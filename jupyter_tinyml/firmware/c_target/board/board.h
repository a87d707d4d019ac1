/* The board support the protocol loop needs: a byte UART and a tick counter. Implemented for QEMU's mps2-an386
 * (CMSDK APB UART0, SysTick); another board provides the same functions. The Arduino shim for TFLite Micro
 * sketches (firmware/arduino_shim) builds on the same functions, from C++. */
#ifndef TINYML_BOARD_H
#define TINYML_BOARD_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The processor clock SysTick counts: the MPS2 FPGA images run at 25 MHz, and QEMU models that. */
#define BOARD_CPU_HZ 25000000u

void board_init(void);
void uart_write(const char *text, uint32_t length);
void uart_write_text(const char *text);
int uart_read_byte(void); /* blocks until a byte arrives */
int uart_poll_byte(void); /* the byte that arrived, or -1 when none is waiting */
uint64_t board_ticks(void); /* processor-clock ticks since board_init */

#ifdef __cplusplus
}
#endif

#endif
