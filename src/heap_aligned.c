/* heap_aligned.c — allocation at an alignment above the heap's quantum.
 *
 * Three tries, cheapest first:
 *   1. the head of the first bin that fits the size, if its user pointer happens to be aligned
 *      (always true in a cache-aligned heap asked for its own line size);
 *   2. the head of the first bin whose every chunk fits size + align + a minimum chunk: it fits
 *      whatever its address (O(1); this is what avoids Talc's high-alignment pathology,
 *      Talc issue #44, where every request scanned whole lists);
 *   3. near OOM only (no chunk that large is free): a scan for a chunk whose address happens
 *      to fit, largest bins first, at most TALC_ALIGNED_SCAN chunks. Unbounded, it cost every
 *      failing aligned request a walk over every free chunk: in a fragmented heap that cannot
 *      grow, milliseconds per call (docs/heap.md, "Aligned allocation").
 * The alignment padding in front becomes a free chunk of its own, so nothing is wasted.
 *
 * Concurrency: single-threaded per heap (talc/heap.h).
 */
#include "heap_internal.h"

/* Padding in front of chunk c (size cs) so that c + pad + HDR is a-aligned and the padding is
 * either 0 or can hold a free chunk. Returns false if the block does not fit. Overflow-safe. */
static bool talc_aligned_fit(const struct talc_heap *h, const char *c, size_t cs, size_t s,
                             size_t a, size_t *pad)
{
    uintptr_t p0 = (uintptr_t)c + TALC_HDR;
    uintptr_t p = (p0 + (a - 1)) & ~(uintptr_t)(a - 1);
    if (p < p0)
        return false; /* wrapped at the top of the address space */
    size_t d = (size_t)(p - p0);
    while (d != 0 && d < h->min_chunk) {
        if (d > SIZE_MAX - a)
            return false;
        d += a;
    }
    if (d > cs || cs - d < s)
        return false;
    *pad = d;
    return true;
}

/* Chunks step 3 looks at, at most, per request. */
#ifndef TALC_ALIGNED_SCAN
#define TALC_ALIGNED_SCAN 128u
#endif

/* First-fit over bin b's list, counting the chunks seen against *budget. */
static char *talc_scan_aligned(struct talc_heap *h, unsigned b, size_t s, size_t a, size_t *pad,
                               unsigned *budget)
{
    for (talc_free_t *f = h->bins[b]; f && *budget; f = f->next) {
        --*budget;
        size_t fs = talc_hsize(f->hdr);
        if (talc_aligned_fit(h, (char *)f, fs, s, a, pad)) {
            talc_bin_unlink_raw(h, (char *)f);
            return (char *)f;
        }
    }
    return NULL;
}

char *talc_heap_take_aligned(struct talc_heap *h, size_t s, size_t a, size_t *pad)
{
    unsigned lo = talc_bin_ceil(s);
    unsigned f = talc_bm_find(h, lo);
    if (f < TALC_NBINS &&
        talc_aligned_fit(h, (char *)h->bins[f], talc_hsize(h->bins[f]->hdr), s, a, pad)) {
        char *c = (char *)h->bins[f];
        talc_bin_unlink_raw(h, c);
        return c;
    }
    if (a <= TALC_MAX_CHUNK - s - h->min_chunk) {
        size_t x = s + a + h->min_chunk; /* a chunk this large fits wherever it lies */
        unsigned hi = talc_bin_ceil(x);
        unsigned g = talc_bm_find(h, hi);
        char *c = g < TALC_NBINS ? (char *)h->bins[g] : NULL;
        /* The bin below the ceiling (an exponential one) may hold such a chunk too: a first
         * fit there, as talc_heap_take's last step, so that a free chunk of x bytes is always
         * found, as heap.h promises (until 2026-12-06 it was left to the bounded scan). */
        if (!c && hi - 1u >= TALC_LIN_BINS)
            for (talc_free_t *n = h->bins[hi - 1u]; n && !c; n = n->next)
                if (talc_hsize(n->hdr) >= x)
                    c = (char *)n;
        if (c) {
            size_t cs = talc_hsize(talc_hdr(c));
            if (talc_aligned_fit(h, c, cs, s, a, pad)) { /* always true, unless at the top */
                talc_bin_unlink_raw(h, c);
                return c;
            }
        }
    }
    /* Near OOM: the bins that may hold a fit are those from the one below `lo` up (bins
     * from `hi` up are empty here, unless a chunk sits at the very top of the address
     * space). Largest first: the larger a chunk, the likelier an aligned block fits in it. */
    unsigned start = lo > TALC_LIN_BINS ? lo - 1u : lo, budget = TALC_ALIGNED_SCAN;
    for (unsigned b = talc_bm_find_down(h, TALC_NBINS - 1u); b < TALC_NBINS && b >= start;
         b = b ? talc_bm_find_down(h, b - 1u) : TALC_NBINS) {
        char *c = talc_scan_aligned(h, b, s, a, pad, &budget);
        if (c || !budget)
            return c;
    }
    return NULL;
}

/* Largest alignment tried. On 64-bit targets a chunk never reaches 2^48, and no user address
 * but 0 is aligned above that, so larger ones fail before the OOM hook. On 32-bit targets
 * every power of two is tried: a span of up to 2 GiB may hold the address 2^31 (the fit test
 * is overflow-safe for any alignment). */
#if UINTPTR_MAX > 0xffffffffu
#define TALC_MAX_ALIGN TALC_MAX_CHUNK
#else
#define TALC_MAX_ALIGN ((SIZE_MAX >> 1) + 1u)
#endif

void *talc_heap_alloc_aligned(talc_heap_t *h, size_t n, size_t a)
{
    if (a <= h->quantum && a != 0 && (a & (a - 1)) == 0)
        return talc_heap_alloc(h, n);
    TALC_ENTER(h, false, NULL);
    void *p = NULL;
    if (a != 0 && (a & (a - 1)) == 0 && n <= TALC_MAX_REQUEST && a <= TALC_MAX_ALIGN) {
        size_t s = talc_req_size(h, n), pad = 0;
        char *c = talc_heap_take_aligned(h, s, a, &pad);
        if (!c)
            c = talc_heap_take_oom(h, n, s, a, &pad);
        if (c) {
            uint64_t prev_free = 0;
            if (pad) {
                size_t cs = talc_hsize(talc_hdr(c));
                talc_make_free(h, c, pad);
                c += pad;
                talc_unpoison(c, TALC_HDR);            /* inside the chunk just freed */
                talc_set_hdr(c, (uint64_t)(cs - pad)); /* carve reads the size */
                prev_free = TALC_F_PREV_FREE;
            }
            p = talc_heap_carve(h, c, s, n, prev_free);
        }
    }
    if (!p)
        TALC_CNT(h, failed_allocs, += 1);
    TALC_LEAVE(h);
    return p;
}
