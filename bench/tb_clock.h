/* tb_clock.h — wall clock and per-call cycle counter for the benchmarks.
 *
 * tb_now_ns: CLOCK_MONOTONIC in nanoseconds (trial lengths, phase timings).
 * tb_ticks_begin / tb_ticks_end bracket one call, as Talc's microbench does:
 *   x86_64   lfence; rdtsc  ...call...  rdtscp; lfence   (unit: TSC ticks)
 *   aarch64  isb; mrs cntvct_el0  ...call...  isb; mrs cntvct_el0   (unit: generic-timer ticks,
 *            often only 24-100 MHz: percentiles are coarse there)
 *   other    clock_gettime (unit: ns)
 * This is the only file of bench/ with per-architecture #if blocks.
 *
 * Who may include it: bench/ only. Concurrency: none (pure reads of clocks).
 */
#ifndef TALC_BENCH_CLOCK_H
#define TALC_BENCH_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t tb_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

#if defined(__x86_64__)
#define TB_TICK_UNIT "tsc_ticks"
static inline uint64_t tb_ticks_begin(void)
{
    uint32_t lo, hi;
    __asm__ __volatile__("lfence\n\trdtsc" : "=a"(lo), "=d"(hi)::"memory");
    return ((uint64_t)hi << 32) | lo;
}
static inline uint64_t tb_ticks_end(void)
{
    uint32_t lo, hi, aux;
    __asm__ __volatile__("rdtscp\n\tlfence" : "=a"(lo), "=d"(hi), "=c"(aux)::"memory");
    return ((uint64_t)hi << 32) | lo;
}
#elif defined(__aarch64__)
#define TB_TICK_UNIT "cntvct_ticks"
static inline uint64_t tb_ticks_read(void)
{
    uint64_t v;
    __asm__ __volatile__("isb\n\tmrs %0, cntvct_el0" : "=r"(v)::"memory");
    return v;
}
static inline uint64_t tb_ticks_begin(void) { return tb_ticks_read(); }
static inline uint64_t tb_ticks_end(void) { return tb_ticks_read(); }
#else
#define TB_TICK_UNIT "ns"
static inline uint64_t tb_ticks_begin(void) { return tb_now_ns(); }
static inline uint64_t tb_ticks_end(void) { return tb_now_ns(); }
#endif

#endif /* TALC_BENCH_CLOCK_H */
