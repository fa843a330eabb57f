/* heap.c — the Talc heap engine: initialisation, allocation, free, usable size, faults.
 *
 * Allocation takes the head of the lowest non-empty bin whose every chunk fits (O(1): one
 * bitmap scan), falling back to a first-fit scan of the bin just below, which may hold a
 * larger-than-needed chunk. The tail is split off as a free chunk when it can hold one.
 * Free coalesces with both neighbours through the boundary tags (O(1)).
 *
 * Concurrency: single-threaded per heap (talc/heap.h). No globals, no OS calls.
 */
#include <stdlib.h> /* abort */
#include <string.h>

#include "heap_internal.h"

/* ---- Faults and debug guards --------------------------------------------------------------*/

TALC_COLD void talc_heap_fault(const struct talc_heap *h, talc_fault_t f, const void *addr,
                               const char *what)
{
    talc_fault_info_t info = {f, h->opts.name ? h->opts.name : "talc", addr, what};
    if (h->opts.fatal) {
#if TALC_DEBUG >= 1
        /* The handler may longjmp out of the call: the heap must not stay marked busy (every
         * later call would be refused as re-entry). Restored if it returns. */
        struct talc_heap *w = (struct talc_heap *)(uintptr_t)h; /* the caller's, writable */
        uint32_t busy = w->busy;
        w->busy = 0;
        h->opts.fatal(&info, h->opts.fatal_ctx);
        w->busy = busy;
#else
        h->opts.fatal(&info, h->opts.fatal_ctx);
#endif
        return;
    }
    abort();
}

#if TALC_DEBUG >= 1
bool talc_heap_enter(struct talc_heap *h, bool span_op)
{
    if (h->busy == 0 || (span_op && h->busy == 2)) {
        if (h->busy == 0)
            h->busy = 1;
        return true;
    }
    talc_heap_fault(h, TALC_FAULT_REENTRY, h, "heap re-entered (from an OOM hook or handler?)");
    return false;
}

void talc_heap_leave(struct talc_heap *h)
{
    if (h->busy == 1)
        h->busy = 0;
#if TALC_DEBUG >= 3
    const void *where = NULL;
    if (talc_heap_check(h, &where) != 0)
        talc_heap_fault(h, TALC_FAULT_CORRUPTION, where, "invariant check failed");
#endif
}
#endif

/* ---- Life cycle ---------------------------------------------------------------------------*/

TALC_COLD size_t talc_heap_footprint(void)
{
    return (sizeof(struct talc_heap) + TALC_GRAIN - 1) & ~(TALC_GRAIN - 1);
}

static bool talc_opts_valid(const talc_heap_opts_t *o)
{
    size_t l = o->cache_line;
    return l == 0 || ((l & (l - 1)) == 0 && l >= TALC_GRAIN && l <= TALC_MAX_QUANTUM);
}

TALC_COLD static talc_heap_t *talc_heap_init_mem(void *mem, size_t size,
                                                 const talc_heap_opts_t *opts, bool zeroed)
{
    static const talc_heap_opts_t defaults = {0};
    const talc_heap_opts_t *o = opts ? opts : &defaults;
    if (!mem || size < talc_heap_footprint() || ((uintptr_t)mem & (TALC_GRAIN - 1)) ||
        !talc_opts_valid(o))
        return NULL;
    struct talc_heap *h = mem;
    talc_unpoison(h, sizeof *h); /* an earlier heap over this memory may have poisoned it */
    if (zeroed)
        talc_mark_defined(h, sizeof *h); /* the caller's zeros (memcheck: not undefined) */
#if TALC_DEBUG >= 1
    /* The caller's promise, checked (reading zero pages makes none resident). */
    for (size_t i = 0; zeroed && i < sizeof *h; i++)
        if (((const unsigned char *)mem)[i] != 0)
            return NULL;
#endif
    if (!zeroed)
        memset(h, 0, sizeof *h);
    h->opts = *o;
    h->quantum = o->cache_line ? o->cache_line : TALC_GRAIN;
    h->qmask = h->quantum - 1;
    /* A whole number of quanta: on a 32-bit target the 24-byte minimum is 32 at a 16-byte line. */
    h->min_chunk = (TALC_MIN_CHUNK + h->qmask) & ~h->qmask;
    h->magic = TALC_HEAP_MAGIC;
    h->span_min = talc_span_min_compute(h);
    size_t fp = talc_heap_footprint();
    if (size > fp)
        h->first_span = talc_heap_claim(h, (char *)mem + fp, size - fp);
    return h;
}

talc_heap_t *talc_heap_init(void *mem, size_t size, const talc_heap_opts_t *opts)
{
    return talc_heap_init_mem(mem, size, opts, false);
}

talc_heap_t *talc_heap_init_zeroed(void *mem, size_t size, const talc_heap_opts_t *opts)
{
    return talc_heap_init_mem(mem, size, opts, true);
}

TALC_COLD talc_span_t *talc_heap_first_span(const talc_heap_t *h) { return h->first_span; }

TALC_COLD size_t talc_heap_cache_line(const talc_heap_t *h) { return h->opts.cache_line; }

TALC_COLD void talc_heap_counters(const talc_heap_t *h, talc_heap_counters_t *out)
{
#if TALC_COUNTERS
    *out = h->cnt;
    out->free_bytes = h->chunk_bytes - h->used_bytes;
    out->live_allocs = talc_cnt_live_allocs(h);
    out->live_bytes = talc_cnt_live_bytes(h);
#else
    (void)h;
    memset(out, 0, sizeof *out);
#endif
}

/* ---- Finding a chunk ----------------------------------------------------------------------*/

#ifndef TALC_BEST_FIT_SCAN
#define TALC_BEST_FIT_SCAN 1
#endif

static char *talc_scan_bin(struct talc_heap *h, unsigned b, size_t s)
{
    for (talc_free_t *f = h->bins[b]; f; f = f->next) {
        size_t fs = talc_hsize(f->hdr);
        if (fs >= s) {
            talc_bin_unlink_raw(h, (char *)f);
            return (char *)f;
        }
    }
    return NULL;
}

/* Best fit among the first TALC_BEST_FIT_SCAN nodes of the bin that holds size s (exponential
 * bins only; linear bins hold one size). With 32 sub-bins per doubling, looking at the head of
 * that bin before the ceiling bin is as good as a deeper scan (docs/heap.md, "Fit policy"). */
static char *talc_best_in_bin(struct talc_heap *h, unsigned b, size_t s)
{
    talc_free_t *best = NULL;
    size_t bs = SIZE_MAX;
    unsigned k = 0;
    for (talc_free_t *f = h->bins[b]; f && k < TALC_BEST_FIT_SCAN; f = f->next, k++) {
        size_t fs = talc_hsize(f->hdr);
        if (fs >= s && fs < bs) {
            best = f;
            bs = fs;
            if (fs == s)
                break;
        }
    }
    if (best)
        talc_bin_unlink_raw(h, (char *)best);
    return (char *)best;
}

char *talc_heap_take(struct talc_heap *h, size_t s)
{
    unsigned b0 = talc_bin_of(s);
    if (b0 >= TALC_LIN_BINS && h->bins[b0]) {
        char *c = talc_best_in_bin(h, b0, s);
        if (c)
            return c;
    }
    unsigned b = talc_bin_ceil(s);
    unsigned f = talc_bm_find(h, b);
    if (TALC_LIKELY(f < TALC_NBINS)) {
        char *c = (char *)h->bins[f];
        talc_bin_unlink_raw(h, c);
        return c;
    }
    /* Only bin b−1 can still hold a chunk >= s (linear bins hold one size: none there). */
    if (b - 1u >= TALC_LIN_BINS && h->bins[b - 1u])
        return talc_scan_bin(h, b - 1u, s);
    return NULL;
}

TALC_COLD const char *talc_heap_find_smaller(const struct talc_heap *h, size_t s, size_t limit)
{
    unsigned b0 = talc_bin_of(s);
    const talc_free_t *f = NULL;
    if (b0 >= TALC_LIN_BINS && h->bins[b0] && talc_hsize(h->bins[b0]->hdr) >= s) {
        f = h->bins[b0];
    } else {
        unsigned b = talc_bm_find(h, talc_bin_ceil(s));
        if (b < TALC_NBINS)
            f = h->bins[b];
    }
    return f && talc_hsize(f->hdr) < limit ? (const char *)f : NULL;
}

void *talc_heap_carve(struct talc_heap *h, char *c, size_t s, size_t n, uint64_t prev_free)
{
    size_t cs = talc_hsize(talc_hdr(c));
    size_t rem = cs - s;
    talc_unpoison(c, rem >= h->min_chunk ? s : cs); /* allocated: all of it */
    if (rem >= h->min_chunk) {
        /* The tail replaces c in the free count. The chunk above keeps PREV_FREE. Its inside
         * was c's: under a memory checker only its head is poisoned anew (heap_poison.h). */
        talc_free_words(h, c + s, rem);
        talc_poison_free_head(c + s, rem);
    } else {
        s = cs;
        char *above = c + cs;
        talc_nflags_set(above, (unsigned)TALC_F_PREV_FREE, false);
        TALC_CNT(h, free_chunks, -= 1);
    }
    talc_set_hdr(c, talc_used_word(s, s - TALC_HDR - n, prev_free));
    TALC_USED(h, += s);
    TALC_CNT(h, total_allocs, += 1);
    TALC_CNT(h, total_bytes, += n);
    talc_cnt_alloc_peak(h);
    return c + TALC_HDR;
}

TALC_COLD char *talc_heap_take_oom(struct talc_heap *h, size_t n, size_t s, size_t a, size_t *pad)
{
    for (unsigned tries = 0;; tries++) {
        char *c = a ? talc_heap_take_aligned(h, s, a, pad) : talc_heap_take(h, s);
        if (c || !h->opts.oom || tries >= TALC_OOM_MAX_RETRIES)
            return c;
        uint64_t gen = h->gen;
        uint32_t busy = h->busy;
        h->busy = busy ? 2u : 0u;
        talc_oom_verdict_t v = h->opts.oom(h, n, a ? a : h->quantum, h->opts.oom_ctx);
        h->busy = busy;
        if (v != TALC_OOM_RETRY || h->gen == gen)
            return NULL;
    }
}

void *talc_heap_alloc(talc_heap_t *h, size_t n)
{
    TALC_ENTER(h, false, NULL);
    void *p = NULL;
    if (TALC_LIKELY(n <= TALC_MAX_REQUEST)) {
        size_t s = talc_req_size(h, n);
        char *c = talc_heap_take(h, s);
        if (TALC_UNLIKELY(!c))
            c = talc_heap_take_oom(h, n, s, 0, NULL);
        if (TALC_LIKELY(c != NULL))
            p = talc_heap_carve(h, c, s, n, 0);
    }
    if (TALC_UNLIKELY(!p))
        TALC_CNT(h, failed_allocs, += 1);
    TALC_LEAVE(h);
    return p;
}

/* ---- Free ---------------------------------------------------------------------------------*/

/* TALC_DEBUG >= 1: the chunk lies inside one of the heap's spans (O(spans)). */
static bool talc_chunk_in_span(const struct talc_heap *h, const char *c, size_t s)
{
#if TALC_DEBUG >= 1
    for (const struct talc_span *sp = h->spans; sp; sp = sp->next)
        if (c >= sp->first && c < sp->fence)
            return s <= (size_t)(sp->fence - c);
    return false;
#else
    (void)h;
    (void)c;
    (void)s;
    return true;
#endif
}

/* The fault of handing p (quantum-aligned, chunk c) back, or 0 if c is a live block. Reads
 * at p before knowing p is ours: not checked by a memory checker (heap_poison.h), and calls
 * no handler, so that the checker's reports are off for the reads alone. */
static TALC_NO_ASAN int talc_chunk_verdict(const struct talc_heap *h, const char *c)
{
    uint64_t w = talc_hdr(c);
    size_t s = talc_hsize(w);
    if (TALC_UNLIKELY(!talc_hused(w))) {
        bool plausible =
            w == TALC_MERGED_WORD ||
            (talc_hsize_fits(w) && s >= h->min_chunk && s <= h->max_span && !(s & h->qmask) &&
             talc_chunk_in_span(h, c, s) && talc_footer(c + s) == s);
        return plausible ? TALC_FAULT_DOUBLE_FREE : TALC_FAULT_BAD_POINTER;
    }
    /* Check the size before reading the next header at c + s: a header found at a pointer we
     * never returned can claim any size, and c + s must not leave our memory. */
    if (TALC_UNLIKELY(!talc_hsize_fits(w) || s < h->min_chunk || s > h->max_span ||
                      (s & h->qmask) || talc_hslack(w) > s - TALC_HDR ||
                      !talc_chunk_in_span(h, c, s) || (talc_nflags(c + s) & TALC_F_PREV_FREE)))
        return TALC_FAULT_BAD_POINTER;
    return 0;
}

char *talc_heap_chunk_of(const struct talc_heap *h, const void *p)
{
    char *c = (char *)p - TALC_HDR;
    if (TALC_UNLIKELY(((uintptr_t)p & h->qmask) != 0 || (uintptr_t)p < TALC_HDR)) {
        talc_heap_fault(h, TALC_FAULT_BAD_POINTER, p, "pointer is not a block start");
        return NULL;
    }
    int f = TALC_UNCHECKED(talc_chunk_verdict(h, c));
    if (TALC_LIKELY(f == 0))
        return c;
    talc_heap_fault(h, (talc_fault_t)f, p,
                    f == TALC_FAULT_DOUBLE_FREE ? "block is already free"
                                                : "pointer is not a live block");
    return NULL;
}

size_t talc_heap_release_chunk(struct talc_heap *h, char *c, uint64_t w)
{
    size_t s = talc_hsize(w);
    char *above = c + s;
    /* Poisoning: what becomes inside the free chunk is the block and the words of the free
     * neighbours it joins; their insides are poisoned already (talc_poison_free_part). */
    char *new_lo = w & TALC_F_PREV_FREE ? c - TALC_HDR : c;
    char *new_hi = above + sizeof(talc_free_t);
    char *blk_in = c + sizeof(talc_free_t); /* the block's first byte past its links */
    bool above_used = talc_nused(above);
    TALC_FREED(h, frees, += 1);
    TALC_FREED(h, bytes_out, += s - TALC_HDR - talc_hslack(w));
    TALC_USED(h, -= s);
    /* One free chunk more, minus one per neighbour merged in: settled once, below. */
    size_t merged = 0;
    if (w & TALC_F_PREV_FREE) {
        size_t ps = talc_footer(c);
        talc_set_hdr(c, TALC_MERGED_WORD); /* now inside a free chunk: a second free of
                                              this pointer must find it freed */
        c -= ps;
        talc_bin_unlink_raw(h, c);
        s += ps;
        merged++;
    }
    if (!above_used) {
        size_t as = talc_hsize(talc_hdr(above));
        talc_bin_unlink_raw(h, above);
        talc_set_hdr(above, TALC_MERGED_WORD); /* likewise for the absorbed chunk's */
        s += as;
        merged++;
    } else {
        talc_nflags_set(above, (unsigned)TALC_F_PREV_FREE, true);
    }
    talc_free_words(h, c, s);
    /* In two parts: talc_poison bounds one call to TALC_POISON_MAX bytes from its
     * start, and the block's first TALC_POISON_MAX bytes past its links are promised
     * poisoned; merged below, the range would start 32 bytes lower (the lower chunk's footer,
     * the block's header and links) and stop that much short in a large block. */
    talc_poison_free_part(c, s, new_lo, blk_in);
    talc_poison_free_part(c, s, blk_in, new_hi);
    TALC_CNT(h, free_chunks, += 1 - merged);
    (void)merged;
    (void)new_lo, (void)new_hi, (void)blk_in;
    return s;
}

size_t talc_heap_free_merged(talc_heap_t *h, void *p, const talc_span_t *s)
{
    TALC_ENTER(h, false, 0);
    size_t merged = 0;
    char *c = talc_heap_chunk_of(h, p);
    if (TALC_LIKELY(c != NULL)) {
        if (TALC_LIKELY(!s || talc_heap_merge_check(h, s, p)))
            merged = talc_heap_release_chunk(h, c, talc_hdr(c));
    }
    TALC_LEAVE(h);
    return merged;
}

void talc_heap_free(talc_heap_t *h, void *p)
{
    if (p)
        (void)talc_heap_free_merged(h, p, NULL);
}

size_t talc_heap_usable_size(const talc_heap_t *h, const void *p)
{
    if (!p)
        return 0;
    char *c = talc_heap_chunk_of(h, p);
    return c ? talc_hsize(talc_hdr(c)) - TALC_HDR : 0;
}
