/* region.h — runs of granules inside one contiguous region: the allocator behind caller-buffer
 * sources and the reserve.
 *
 * A region is [base, base + n·G) for a power-of-two granule G, tracked by a bitmap (1 = in use).
 * Runs are found first-fit, which keeps the low end packed and the top contiguous.
 * Concurrency: none inside; every call needs the owner's lock (the arena's grow lock or the
 * reserve lock).
 */
#ifndef TALC_REGION_H
#define TALC_REGION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct talc_region {
    char *base;
    size_t granule; /* power of two */
    size_t ngranules;
    size_t used;    /* granules in use */
    uint64_t *bits; /* ngranules bits, caller-provided storage */
} talc_region_t;

/* Words of bitmap storage for n granules. */
static inline size_t talc_region_words(size_t n) { return (n + 63u) / 64u; }

/* Set up a region over [base, base + n·granule); `bits` has talc_region_words(n) words. */
void talc_region_init(talc_region_t *r, char *base, size_t granule, size_t n, uint64_t *bits);

/* A run of k >= 1 granules (first fit), or NULL. Cost O(n/64 + k). */
char *talc_region_take(talc_region_t *r, size_t k);

/* Give back the run of k granules at p (from talc_region_take). */
void talc_region_give(talc_region_t *r, char *p, size_t k);

/* Free bytes (granules not in use). */
static inline size_t talc_region_free_bytes(const talc_region_t *r)
{
    return (r->ngranules - r->used) * r->granule;
}

static inline bool talc_region_contains(const talc_region_t *r, const void *p)
{
    return (uintptr_t)p - (uintptr_t)r->base < r->ngranules * r->granule;
}

#endif /* TALC_REGION_H */
