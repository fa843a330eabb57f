/* tests/common/rng.h — small deterministic random numbers for tests (splitmix64 seeding,
 * xoshiro256** generation). Header-only; no globals: each test owns its generator.
 *
 * Who may use it: test code only (unit, model, fuzz). Concurrency: one generator per thread.
 */
#ifndef TALC_TEST_RNG_H
#define TALC_TEST_RNG_H

#include <stdint.h>
#include <stdlib.h>
#include <time.h>

typedef struct test_rng {
    uint64_t s[4];
} test_rng_t;

/* splitmix64: one step; used to expand a 64-bit seed into the xoshiro state. */
static inline uint64_t test_splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* A run's seed: TALC_SEED from the environment (a replay), else one from the clock and `salt`
 * (something that differs between runs started at once), short enough to type. */
static inline uint64_t test_pick_seed(uint64_t salt)
{
    const char *env = getenv("TALC_SEED");
    if (env && *env)
        return strtoull(env, NULL, 0);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t x = (uint64_t)ts.tv_sec * 1000000007ull ^ (uint64_t)ts.tv_nsec ^ (salt << 32);
    return test_splitmix64(&x) % 1000000000000ull;
}

static inline void test_rng_seed(test_rng_t *r, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++)
        r->s[i] = test_splitmix64(&x);
}

static inline uint64_t test_rotl64(uint64_t v, int k) { return (v << k) | (v >> (64 - k)); }

/* xoshiro256**: 64 random bits. */
static inline uint64_t test_rng_next(test_rng_t *r)
{
    uint64_t *s = r->s;
    uint64_t out = test_rotl64(s[1] * 5u, 7) * 9u;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = test_rotl64(s[3], 45);
    return out;
}

/* Uniform in [0, n) (n > 0); the tiny modulo bias is irrelevant for tests. */
static inline uint64_t test_rng_below(test_rng_t *r, uint64_t n)
{
    return n ? test_rng_next(r) % n : 0;
}

/* True with probability num/den. */
static inline int test_rng_chance(test_rng_t *r, unsigned num, unsigned den)
{
    return test_rng_below(r, den) < num;
}

#endif /* TALC_TEST_RNG_H */
