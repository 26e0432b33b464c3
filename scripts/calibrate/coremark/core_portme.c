/*
 * core_portme.c: pybsim's CoreMark port (see core_portme.h).
 *
 * portable_init turns on what the reference run had: FLASH_ACR = 5 wait states
 * (168 MHz at 2.7-3.6 V, RM0090 §3.5.1) with the prefetch buffer and both ART caches
 * (RM0090 §3.9.1 FLASH_ACR: LATENCY[2:0], PRFTEN bit 8, ICEN bit 9, DCEN bit 10), and
 * starts DWT_CYCCNT. The PLL is left alone: a cycle costs the same whatever the clock,
 * and CoreMark/MHz is iterations per million cycles. Printing goes through semihosting
 * (tests/asm/common.S's semi_write0); ee_printf knows %d %u %x %s %c with the l
 * modifier, zero padding and a width, which is all core_main.c asks of it.
 */
#include <stdarg.h>
#include <stdint.h>

#include "coremark.h"

#define FLASH_ACR (*(volatile uint32_t *)0x40023C00u)
#define DEMCR (*(volatile uint32_t *)0xE000EDFCu)
#define DWT_CTRL (*(volatile uint32_t *)0xE0001000u)
#define DWT_CYCCNT (*(volatile uint32_t *)0xE0001004u)

#ifndef ITERATIONS
#define ITERATIONS 400
#endif

void semi_write0(const char *s);

volatile ee_s32 seed1_volatile = 0x0;
volatile ee_s32 seed2_volatile = 0x0;
volatile ee_s32 seed3_volatile = 0x66;
volatile ee_s32 seed4_volatile = ITERATIONS;
volatile ee_s32 seed5_volatile = 0;

ee_u32 default_num_contexts = 1;

static CORE_TICKS start_time_val, stop_time_val;

void start_time(void) {
    start_time_val = DWT_CYCCNT;
}

void stop_time(void) {
    stop_time_val = DWT_CYCCNT;
}

CORE_TICKS get_time(void) {
    return stop_time_val - start_time_val;
}

secs_ret time_in_secs(CORE_TICKS ticks) {
    return ticks / PORT_CPU_HZ;
}

void portable_init(core_portable *p, int *argc, char *argv[]) {
    (void)argc;
    (void)argv;
    FLASH_ACR = (FLASH_ACR & ~7u) | 5u;
    FLASH_ACR |= (1u << 8) | (1u << 9) | (1u << 10);
    DEMCR |= 1u << 24;
    DWT_CYCCNT = 0;
    DWT_CTRL |= 1u;
    p->portable_id = 1;
}

void portable_fini(core_portable *p) {
    p->portable_id = 0;
    ee_printf("pybsim: ticks=%u iterations=%u\n", (unsigned)get_time(), (unsigned)ITERATIONS);
}

static char *put_num(char *o, unsigned long v, unsigned base, int width, char pad, int neg) {
    char tmp[12];
    int n = 0;
    do {
        unsigned d = v % base;
        tmp[n++] = (char)(d < 10 ? '0' + d : 'a' + d - 10);
        v /= base;
    } while (v != 0);
    if (neg) {
        tmp[n++] = '-';
    }
    while (n < width--) {
        *o++ = pad;
    }
    while (n > 0) {
        *o++ = tmp[--n];
    }
    return o;
}

int ee_printf(const char *fmt, ...) {
    char buf[256];
    char *o = buf;
    char *end = buf + sizeof(buf) - 24;
    va_list ap;
    va_start(ap, fmt);
    for (const char *f = fmt; *f != '\0' && o < end; f++) {
        if (*f != '%') {
            *o++ = *f;
            continue;
        }
        f++;
        char pad = ' ';
        int width = 0;
        if (*f == '0') {
            pad = '0';
            f++;
        }
        while (*f >= '0' && *f <= '9') {
            width = width * 10 + (*f++ - '0');
        }
        while (*f == 'l') {
            f++;
        }
        switch (*f) {
            case 'd': {
                long v = va_arg(ap, long);
                o = put_num(o, v < 0 ? -(unsigned long)v : (unsigned long)v, 10, width, pad, v < 0);
                break;
            }
            case 'u':
                o = put_num(o, va_arg(ap, unsigned long), 10, width, pad, 0);
                break;
            case 'x':
                o = put_num(o, va_arg(ap, unsigned long), 16, width, pad, 0);
                break;
            case 'c':
                *o++ = (char)va_arg(ap, int);
                break;
            case 's':
                for (const char *s = va_arg(ap, const char *); *s != '\0' && o < end; s++) {
                    *o++ = *s;
                }
                break;
            case '%':
                *o++ = '%';
                break;
            default:
                *o++ = '?';
                break;
        }
    }
    va_end(ap);
    *o = '\0';
    semi_write0(buf);
    return (int)(o - buf);
}
