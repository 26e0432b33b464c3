/*
 * embench_board.c: the board support of the Embench IoT programs that
 * scripts/calibrate.sh builds and runs under pybsim (pybsim's own code, not Embench's).
 *
 * Embench's support/main.c calls initialise_board, then warms the caches, then runs
 * benchmark() between start_trigger() and stop_trigger(). The reference figures were
 * taken with DWT_CYCCNT read at those two calls (STM32F407 at 16 MHz, zero wait
 * states); here the two triggers read DWT_CYCCNT themselves, and stop_trigger prints
 * the difference through semihosting as "cycles=XXXXXXXX" (hex). Start-up, the vector
 * table and the semihosting calls are tests/asm/common.S; main's return value (0 when
 * the benchmark verified) becomes the semihosting exit code.
 */
#include <stdint.h>

#define DEMCR (*(volatile uint32_t *)0xE000EDFCu)
#define DWT_CTRL (*(volatile uint32_t *)0xE0001000u)
#define DWT_CYCCNT (*(volatile uint32_t *)0xE0001004u)

void semi_write0(const char *s);
void print_hex(uint32_t v);

static uint32_t t_start;

void initialise_board(void) {
    DEMCR |= 1u << 24; /* TRCENA */
    DWT_CYCCNT = 0;
    DWT_CTRL |= 1u; /* CYCCNTENA */
}

void __attribute__((noinline, externally_visible)) start_trigger(void) {
    t_start = DWT_CYCCNT;
}

void __attribute__((noinline, externally_visible)) stop_trigger(void) {
    uint32_t t = DWT_CYCCNT - t_start;
    semi_write0("cycles=");
    print_hex(t);
    semi_write0("\n");
}
