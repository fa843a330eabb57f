/* sw_rng.h — deterministic random numbers for the suite's workloads: bench/tb_rng.h's
 * SplitMix64 under the suite's names, plus one distribution of its own.
 *
 * Every workload seeds one generator per thread from (--seed, thread index, generation), never
 * from the clock, so every allocator sees the same sequence of sizes and actions (the number of
 * actions differs, since the runs are time-bounded).
 *
 * Who may include it: bench/suite/ only. Concurrency: an sw_rng_t belongs to one thread.
 */
#ifndef TALC_SUITE_RNG_H
#define TALC_SUITE_RNG_H

#include <stddef.h>
#include <stdint.h>

#include "../tb_rng.h"

typedef tb_rng_t sw_rng_t;

static inline uint64_t sw_rng_next(sw_rng_t *r) { return tb_rng_next(r); }

/* Seed from a base seed and two small integers (thread index, generation). */
static inline sw_rng_t sw_rng_seed(uint64_t base, uint64_t a, uint64_t b)
{
    return tb_rng_seed(base, a, b, 0);
}

/* Uniform in [lo, hi), hi > lo, hi - lo < 2^32. */
static inline size_t sw_rng_range(sw_rng_t *r, size_t lo, size_t hi)
{
    return (size_t)tb_rng_range(r, lo, hi);
}

/* Uniform in [0, n), n > 0. */
static inline size_t sw_rng_below(sw_rng_t *r, size_t n) { return sw_rng_range(r, 0, n); }

/* A size in [lo, hi) biased towards lo: the smaller of two uniform draws. */
static inline size_t sw_rng_small(sw_rng_t *r, size_t lo, size_t hi)
{
    size_t a = sw_rng_range(r, lo, hi), b = sw_rng_range(r, lo, hi);
    return a < b ? a : b;
}

#endif /* TALC_SUITE_RNG_H */
