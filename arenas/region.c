/* region.c — first-fit runs of granules over a bitmap (see region.h).
 * Concurrency: none; the caller holds the owner's lock. */
#include <string.h>

#include "region.h"

void talc_region_init(talc_region_t *r, char *base, size_t granule, size_t n, uint64_t *bits)
{
    r->base = base;
    r->granule = granule;
    r->ngranules = n;
    r->used = 0;
    r->bits = bits;
    memset(bits, 0, talc_region_words(n) * sizeof *bits);
}

static bool talc_bit(const talc_region_t *r, size_t i)
{
    return (r->bits[i / 64u] >> (i % 64u)) & 1u;
}

static void talc_set_run(talc_region_t *r, size_t i, size_t k, bool on)
{
    for (size_t j = i; j < i + k; j++) {
        uint64_t m = (uint64_t)1 << (j % 64u);
        if (on)
            r->bits[j / 64u] |= m;
        else
            r->bits[j / 64u] &= ~m;
    }
}

/* First clear bit at or after i, or n. Skips whole full words. */
static size_t talc_next_clear(const talc_region_t *r, size_t i)
{
    while (i < r->ngranules) {
        uint64_t w = ~r->bits[i / 64u] & (~(uint64_t)0 << (i % 64u));
        if (w) {
            size_t j = (i & ~(size_t)63) + (size_t)__builtin_ctzll(w);
            return j < r->ngranules ? j : r->ngranules;
        }
        i = (i & ~(size_t)63) + 64u;
    }
    return r->ngranules;
}

char *talc_region_take(talc_region_t *r, size_t k)
{
    if (k == 0 || k > r->ngranules - r->used)
        return NULL;
    for (size_t i = talc_next_clear(r, 0); i + k <= r->ngranules; i = talc_next_clear(r, i)) {
        size_t run = 0;
        while (run < k && !talc_bit(r, i + run))
            run++;
        if (run == k) {
            talc_set_run(r, i, k, true);
            r->used += k;
            return r->base + i * r->granule;
        }
        i += run + 1; /* i + run is in use */
    }
    return NULL;
}

void talc_region_give(talc_region_t *r, char *p, size_t k)
{
    size_t i = (size_t)(p - r->base) / r->granule;
    talc_set_run(r, i, k, false);
    r->used -= k;
}
