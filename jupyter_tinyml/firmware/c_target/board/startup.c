/* Reset and exception vectors for a Cortex-M4 (ARMv7E-M): copy .data from flash, zero .bss, enable the FPU,
 * start the board's UART and tick counter, then run main(). */
#include <stdint.h>

#include "board.h"

extern uint32_t __data_start__, __data_end__, __data_load__, __bss_start__, __bss_end__, __stack_top__;

int main(void);
void uart_init(void);
void systick_init(void);
void Reset_Handler(void);
void Fault_Handler(void);
void SysTick_Handler(void);

#define SCB_CPACR (*(volatile uint32_t *)0xE000ED88u)

void Reset_Handler(void)
{
    uint32_t *source = &__data_load__;
    uint32_t *target;
    for (target = &__data_start__; target < &__data_end__; target++) {
        *target = *source++;
    }
    for (target = &__bss_start__; target < &__bss_end__; target++) {
        *target = 0;
    }
#if defined(__ARM_FP)
    /* Full access to coprocessors 10 and 11 (the FPU) before any floating-point instruction runs. */
    SCB_CPACR |= 0xFu << 20;
    __asm__ volatile("dsb\n\tisb" ::: "memory");
#endif
    board_init();
    main();
    for (;;) {
    }
}

void board_init(void)
{
    uart_init();
    systick_init();
}

/* A fault ends the program: say so on the serial line (free text, PROTOCOL.md) and stop. */
void Fault_Handler(void)
{
    uart_write_text("fault: the program crashed (hard fault); reset the board\n");
    for (;;) {
    }
}

typedef void (*vector_t)(void);

__attribute__((section(".vectors"), used)) static const vector_t vectors[16] = {
    (vector_t)(uintptr_t)&__stack_top__, /* initial main stack pointer */
    Reset_Handler,
    Fault_Handler, /* NMI */
    Fault_Handler, /* HardFault */
    Fault_Handler, /* MemManage */
    Fault_Handler, /* BusFault */
    Fault_Handler, /* UsageFault */
    0, 0, 0, 0,
    Fault_Handler, /* SVCall */
    Fault_Handler, /* DebugMonitor */
    0,
    Fault_Handler, /* PendSV */
    SysTick_Handler,
};
