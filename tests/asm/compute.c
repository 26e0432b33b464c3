/*
 * compute.c: a compute-heavy benchmark for the emulator's speed test (built with -O2).
 *
 * 1. CRC-32 (bitwise, reflected polynomial 0xEDB88320, as zlib) over a 16 KiB
 *    xorshift32 buffer, 64 passes chained into one stream (1 MiB, ~8.4 million
 *    inner-loop iterations); expected 0xBE547137 (zlib.crc32(buf * 64)).
 * 2. Sieve of Eratosthenes (bit array) below 200000; expected 17984 primes.
 *
 * Objects: `compute_results` = {crc, primes}. Prints "compute: crc=XXXXXXXX
 * primes=XXXXXXXX\n". Exit codes: 0 pass; 1 wrong CRC; 2 wrong prime count.
 * Integer-only code; main still enables the FPU first, since the code is compiled
 * with -mfloat-abi=hard and the compiler may use FP registers.
 */
#include "common.h"

#define BUF_SIZE 16384u
#define PASSES 64u
#define SIEVE_N 200000u
#define EXPECTED_CRC 0xBE547137u
#define EXPECTED_PRIMES 17984u

static uint8_t buf[BUF_SIZE];
static uint32_t composite[(SIEVE_N + 31u) / 32u]; /* one bit per number */
uint32_t compute_results[2];

static uint32_t crc32_update(uint32_t crc, const uint8_t *p, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
    }
    return crc;
}

static uint32_t count_primes(void)
{
    /* .bss is zeroed by Reset_Handler: composite starts all-zero */
    uint32_t count = 0;
    for (uint32_t i = 2; i < SIEVE_N; i++) {
        if (composite[i >> 5] & (1u << (i & 31u)))
            continue;
        count++;
        for (uint32_t j = i * i; i < 65536u && j < SIEVE_N; j += i)
            composite[j >> 5] |= 1u << (j & 31u);
    }
    return count;
}

int main(void)
{
    *(volatile uint32_t *)0xE000ED88u |= 0xFu << 20; /* CPACR: CP10, CP11 */
    __asm__ volatile("dsb\n\tisb" ::: "memory");

    uint32_t x = 0x12345678u;
    for (uint32_t i = 0; i < BUF_SIZE; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        buf[i] = (uint8_t)x;
    }
    uint32_t crc = 0xFFFFFFFFu;
    for (uint32_t pass = 0; pass < PASSES; pass++)
        crc = crc32_update(crc, buf, BUF_SIZE);
    crc ^= 0xFFFFFFFFu;
    uint32_t primes = count_primes();

    compute_results[0] = crc;
    compute_results[1] = primes;
    semi_write0("compute: crc=");
    print_hex(crc);
    semi_write0(" primes=");
    print_hex(primes);
    semi_write0("\n");
    if (crc != EXPECTED_CRC)
        return 1;
    if (primes != EXPECTED_PRIMES)
        return 2;
    return 0;
}
