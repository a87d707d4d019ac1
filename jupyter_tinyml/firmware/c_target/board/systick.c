/* A 64-bit tick counter from the Cortex-M SysTick timer (24 bits, counting down at the processor clock) and its
 * wrap interrupt. Under QEMU with -icount shift=0 one instruction takes 1 ns of virtual time, so ticks measure
 * emulated instructions: 40 per tick at 25 MHz. */
#include "board.h"

#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)

#define CSR_ENABLE 0x1u
#define CSR_TICKINT 0x2u
#define CSR_CLKSOURCE 0x4u /* the processor clock */
#define RELOAD 0x00FFFFFFu

static volatile uint32_t wraps;

void SysTick_Handler(void);
void systick_init(void);

void SysTick_Handler(void)
{
    wraps++;
}

void systick_init(void)
{
    SYST_RVR = RELOAD;
    SYST_CVR = 0;
    SYST_CSR = CSR_ENABLE | CSR_TICKINT | CSR_CLKSOURCE;
}

uint64_t board_ticks(void)
{
    uint32_t before, now, after;
    /* Read the wrap count on both sides of the counter so a wrap in between is not counted twice or missed. */
    do {
        before = wraps;
        now = SYST_CVR;
        after = wraps;
    } while (before != after);
    return (uint64_t)before * (RELOAD + 1u) + (RELOAD - now);
}
