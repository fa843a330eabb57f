/* tb_rng.h — deterministic random numbers and Talc's size/alignment generators.
 *
 * The generator is SplitMix64: one 64-bit state, one add and three xor-shift-multiplies per
 * number. Every workload seeds it from (--seed, workload, parameters, trial), never from the
 * clock, and every allocator of a trial gets the same seed, so all allocators see the same
 * action sequence (until an allocation fails, which only bounded allocators can do).
 *
 * Who may include it: bench/ only. Concurrency: a tb_rng_t belongs to one thread.
 */
#ifndef TALC_BENCH_RNG_H
#define TALC_BENCH_RNG_H

#include <stdint.h>

typedef struct tb_rng {
    uint64_t s;
} tb_rng_t;

static inline uint64_t tb_rng_next(tb_rng_t *r)
{
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Seed from a base seed and up to three small integers (workload id, parameter, trial). */
static inline tb_rng_t tb_rng_seed(uint64_t base, uint64_t a, uint64_t b, uint64_t c)
{
    tb_rng_t r = {base ^ (a * 0xD6E8FEB86659FD93ull) ^ (b * 0xA0761D6478BD642Full) ^
                  (c * 0xE7037ED1A0B428DBull)};
    (void)tb_rng_next(&r);
    return r;
}

/* Uniform in [lo, hi), hi > lo, hi - lo < 2^32 (multiply-shift; bias < 2^-32). */
static inline uint64_t tb_rng_range(tb_rng_t *r, uint64_t lo, uint64_t hi)
{
    uint64_t x = tb_rng_next(r) >> 32;
    return lo + ((x * (hi - lo)) >> 32);
}

/* Uniform in [0, n), n > 0. */
static inline uint64_t tb_rng_below(tb_rng_t *r, uint64_t n) { return tb_rng_range(r, 0, n); }

/* Talc's size generator: cap = uniform[16, max), size = uniform[4, cap) — biased small. */
static inline uint64_t tb_gen_size(tb_rng_t *r, uint64_t max)
{
    uint64_t cap = tb_rng_range(r, 16, max);
    return tb_rng_range(r, 4, cap);
}

/* Talc's alignment generator: W << (ctz(random u16) / 2), W = 8 (64-bit word):
 * 8 B 75 %, 16 B 18.75 %, 32 B 4.69 %, ... up to 2048 B (u16 == 0). */
static inline uint32_t tb_gen_align(tb_rng_t *r)
{
    uint32_t u = (uint32_t)(tb_rng_next(r) >> 48);
    unsigned tz = u ? (unsigned)__builtin_ctz(u) : 16u;
    return 8u << (tz / 2u);
}

#endif /* TALC_BENCH_RNG_H */
