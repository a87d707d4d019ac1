/* Arm CMSDK APB UART0 of the MPS2 FPGA images (AN385/AN386), as QEMU models it (hw/char/cmsdk-apb-uart.c). */
#include "board.h"

#define UART0_BASE 0x40004000u
#define UART_DATA (*(volatile uint32_t *)(UART0_BASE + 0x00u))
#define UART_STATE (*(volatile uint32_t *)(UART0_BASE + 0x04u))
#define UART_CTRL (*(volatile uint32_t *)(UART0_BASE + 0x08u))
#define UART_BAUDDIV (*(volatile uint32_t *)(UART0_BASE + 0x10u))

#define STATE_TX_FULL 0x1u
#define STATE_RX_FULL 0x2u
#define CTRL_TX_ENABLE 0x1u
#define CTRL_RX_ENABLE 0x2u

void uart_init(void);

void uart_init(void)
{
    /* 115200 baud from the 25 MHz peripheral clock; QEMU ignores the rate but rejects a divider below 16. */
    UART_BAUDDIV = BOARD_CPU_HZ / 115200u;
    UART_CTRL = CTRL_TX_ENABLE | CTRL_RX_ENABLE;
}

void uart_write(const char *text, uint32_t length)
{
    uint32_t i;
    for (i = 0; i < length; i++) {
        while (UART_STATE & STATE_TX_FULL) {
        }
        UART_DATA = (uint8_t)text[i];
    }
}

void uart_write_text(const char *text)
{
    uint32_t length = 0;
    while (text[length] != '\0') {
        length++;
    }
    uart_write(text, length);
}

int uart_read_byte(void)
{
    while (!(UART_STATE & STATE_RX_FULL)) {
    }
    return (int)(UART_DATA & 0xFFu);
}

int uart_poll_byte(void)
{
    if (!(UART_STATE & STATE_RX_FULL)) {
        return -1;
    }
    return (int)(UART_DATA & 0xFFu);
}
