/* heap_check.c — the executable form of the invariants in heap_internal.h.
 *
 * talc_heap_check walks the span list (I8) and every span chunk by chunk (I1–I4), then every
 * bin list (I5, I6), then compares what it counted with the counters (I7). It reads only; it never
 * calls the fatal handler, so tests can run it after every operation and on purposely damaged
 * heaps. It never follows a link it has not checked first: a free-list node must lie inside a span
 * and look like a free chunk there (header, footer, PREV_FREE above it) before its links are read,
 * so a damaged link is a return code, not a fault in the checker. A node forged in a live block
 * with all three words consistent is not told from a real one.
 *
 * Concurrency: single-threaded per heap (talc/heap.h); it must not overlap other calls.
 */
#include "heap_internal.h"

typedef struct talc_tally {
    size_t free_bytes, free_chunks, used, used_bytes, spans, managed;
} talc_tally_t;

#define TALC_FAIL(code, addr)                                                                      \
    do {                                                                                           \
        if (where)                                                                                 \
            *where = (addr);                                                                       \
        return (code);                                                                             \
    } while (0)

/* The size of the free chunk at c if c looks like a free chunk start inside one of h's spans
 * (*hint, the span of the previous node, is tried first): aligned, a free header of a sane
 * size, its footer, and PREV_FREE on the chunk above; else 0. Reads nothing outside that
 * span. */
static TALC_NO_ASAN size_t talc_check_free_at(const struct talc_heap *h, const char *c,
                                              const struct talc_span **hint)
{
    const struct talc_span *s = *hint;
    for (const struct talc_span *next = h->spans; !s || c < s->first || c >= s->fence;
         s = next, next = next->next)
        if (!next)
            return 0;
    *hint = s;
    if (((uintptr_t)c + TALC_HDR) & h->qmask || (size_t)(s->fence - c) < h->min_chunk)
        return 0;
    uint64_t w = talc_hdr_shared(h, c); /* a damaged link may point at a cached block */
    size_t sz = talc_hsize(w);
    if (talc_hused(w) || !talc_free_top_ok(w) || !talc_hsize_fits(w) || sz < h->min_chunk ||
        (sz & h->qmask) || sz > (size_t)(s->fence - c))
        return 0;
    return talc_footer(c + sz) == sz && (talc_nflags(c + sz) & TALC_F_PREV_FREE) ? sz : 0;
}

TALC_NO_ASAN bool talc_heap_merge_ok(const struct talc_heap *h, const talc_span_t *s, const char *c)
{
    uint64_t w = talc_hdr_shared(h, c);
    const char *up = c + talc_hsize(w);
    if (w & TALC_F_PREV_FREE) {
        /* The footer may be user data (an overrun set PREV_FREE): subtract as integers, which
         * cannot overflow a pointer; talc_check_free_at then finds no span holding it. */
        size_t fs = talc_footer(c);
        const char *below = (const char *)((uintptr_t)c - fs);
        /* ... and it must end at c: a footer that is user data may give the distance to
         * another free chunk, further down (until 2026-12-06 the free merged across the live
         * blocks between; found by a review). */
        if (!fs || talc_check_free_at(h, below, &s) != fs)
            return false;
    }
    /* The fence's header says USED: an overrun that cleared it fails here too (no span holds
     * a free chunk at the fence). */
    return talc_nused(up) || talc_check_free_at(h, up, &s) != 0;
}

TALC_NO_ASAN bool talc_heap_merge_check(const struct talc_heap *h, const talc_span_t *s,
                                        const void *p)
{
    if (TALC_UNCHECKED(talc_heap_merge_ok(h, s, (const char *)p - TALC_HDR)))
        return true;
    talc_heap_fault(h, TALC_FAULT_CORRUPTION, p, "header overwritten next to this block");
    return false;
}

/* Check one chunk whose header word is w; prev_free says whether the chunk below is free. */
static TALC_NO_ASAN int talc_check_chunk(const struct talc_heap *h, const struct talc_span *s,
                                         const char *c, uint64_t w, bool prev_free,
                                         const void **where)
{
    size_t sz = talc_hsize(w);
    if (!talc_hsize_fits(w) || sz < h->min_chunk || (sz & h->qmask))
        TALC_FAIL(TALC_CHECK_CHUNK_SIZE, c);
    if (sz > (size_t)(s->fence - c))
        TALC_FAIL(TALC_CHECK_SPAN_BOUNDS, c);
    if (((uintptr_t)c + TALC_HDR) & h->qmask)
        TALC_FAIL(TALC_CHECK_ALIGN, c);
    if (((w & TALC_F_PREV_FREE) != 0) != prev_free)
        TALC_FAIL(TALC_CHECK_PREV_FLAG, c);
    if (talc_hused(w)) {
        bool held = h->held_slack && talc_hslack(w) == TALC_SLACK_HELD;
        if (talc_hslack(w) > sz - TALC_HDR && !held)
            TALC_FAIL(TALC_CHECK_CHUNK_SIZE, c);
        return 0;
    }
    if (prev_free)
        TALC_FAIL(TALC_CHECK_ADJACENT_FREE, c);
    if (*(const talc_word_t *)(const void *)(c + sz - TALC_HDR) != (uint64_t)sz ||
        !talc_free_top_ok(w))
        TALC_FAIL(TALC_CHECK_FOOTER, c);
    return 0;
}

static TALC_NO_ASAN int talc_check_span(const struct talc_heap *h, const struct talc_span *s,
                                        talc_tally_t *t, const void **where)
{
    bool prev_free = false;
    const char *c = s->first;
    if (s->magic != talc_span_magic(h, s) || s->fence < s->first)
        TALC_FAIL(TALC_CHECK_SPAN_BOUNDS, s);
    while (c < s->fence) {
        uint64_t w = talc_hdr_shared(h, c);
        int rc = talc_check_chunk(h, s, c, w, prev_free, where);
        if (rc)
            return rc;
        size_t sz = talc_hsize(w);
        prev_free = !talc_hused(w);
        if (prev_free) {
            t->free_bytes += sz;
            t->free_chunks++;
        } else {
            t->used++;
            if (!h->held_slack || talc_hslack(w) != TALC_SLACK_HELD)
                t->used_bytes += sz - TALC_HDR - talc_hslack(w);
        }
        c += sz;
    }
    uint64_t fw = talc_hdr(s->fence);
    if (c != s->fence || (fw & TALC_SIZE_MASK) != 0 || !talc_hused(fw))
        TALC_FAIL(TALC_CHECK_SPAN_BOUNDS, s->fence);
    if (((fw & TALC_F_PREV_FREE) != 0) != prev_free)
        TALC_FAIL(TALC_CHECK_PREV_FLAG, s->fence);
    t->spans++;
    t->managed += talc_addr_diff(s->fence + TALC_HDR, s->base);
    return 0;
}

/* Walk bin b's list; at most `budget` nodes (a cycle or a foreign node fails). Each node is
 * checked to be a free chunk inside a span before its links are read. */
static TALC_NO_ASAN int talc_check_bin(const struct talc_heap *h, unsigned b, size_t *budget,
                                       const struct talc_span **hint, const void **where)
{
    talc_free_t *const *slot = &h->bins[b];
    bool bit = (h->bitmap[b >> 6] >> (b & 63u)) & 1u;
    if (bit != (h->bins[b] != NULL))
        TALC_FAIL(TALC_CHECK_BITMAP, &h->bins[b]);
    for (const talc_free_t *f = h->bins[b]; f; f = f->next) {
        if ((*budget)-- == 0)
            TALC_FAIL(TALC_CHECK_LINKS, f);
        if (!talc_check_free_at(h, (const char *)f, hint))
            TALC_FAIL(TALC_CHECK_LINKS, f);
        if (f->pprev != slot)
            TALC_FAIL(TALC_CHECK_LINKS, f);
        if (talc_bin_of(talc_hsize(f->hdr)) != b)
            TALC_FAIL(TALC_CHECK_BIN, f);
        slot = &f->next;
    }
    return 0;
}

static int talc_check_bins(const struct talc_heap *h, size_t free_chunks, const void **where)
{
    const struct talc_span *hint = h->spans;
    size_t budget = free_chunks;
    for (unsigned b = 0; b < TALC_NBINS; b++) {
        int rc = talc_check_bin(h, b, &budget, &hint, where);
        if (rc)
            return rc;
    }
    if (budget != 0) /* a free chunk in no list */
        TALC_FAIL(TALC_CHECK_BIN, NULL);
    for (unsigned w = 0; w < TALC_BM_WORDS; w++)
        if (((h->summary >> w) & 1u) != (h->bitmap[w] != 0))
            TALC_FAIL(TALC_CHECK_BITMAP, &h->bitmap[w]);
    if (TALC_BM_WORDS < 32 && (h->summary >> (TALC_BM_WORDS % 32u)) != 0)
        TALC_FAIL(TALC_CHECK_BITMAP, &h->summary); /* a bit for a word that does not exist */
    return 0;
}

static int talc_check_counters(const struct talc_heap *h, const talc_tally_t *t, const void **where)
{
#if TALC_COUNTERS
    const talc_heap_counters_t *k = &h->cnt;
    size_t live_allocs = talc_cnt_live_allocs(h), live_bytes = talc_cnt_live_bytes(h);
    if (h->chunk_bytes - h->used_bytes != t->free_bytes || k->free_chunks != t->free_chunks ||
        live_allocs != t->used || (!h->held_slack && live_bytes != t->used_bytes) ||
        k->live_spans != t->spans || k->managed_bytes != t->managed ||
        k->peak_live_bytes < (h->held_slack ? h->used_bytes : live_bytes) ||
        k->total_allocs < live_allocs)
        TALC_FAIL(TALC_CHECK_COUNTERS, h);
#else
    (void)h;
    (void)t;
    (void)where;
#endif
    return 0;
}

/* talc_heap_check's walk: reads what may be damaged, not checked by a memory checker. */
static TALC_NO_ASAN int talc_check_walk(const talc_heap_t *h, const void **where)
{
    talc_tally_t t = {0};
    /* Each span's next must link back to it, and the first's prev be NULL: a walk that checks
     * this cannot visit a span twice, so a damaged link that closes a cycle fails here instead
     * of looping for ever. */
    const struct talc_span *prev = NULL;
    for (const struct talc_span *s = h->spans; s; prev = s, s = s->next) {
        int rc = talc_check_span(h, s, &t, where);
        if (rc)
            return rc;
        if (s->prev != prev)
            TALC_FAIL(TALC_CHECK_SPAN_BOUNDS, s);
    }
    if (prev != h->spans_tail)
        TALC_FAIL(TALC_CHECK_SPAN_BOUNDS, prev);
    int rc = talc_check_bins(h, t.free_chunks, where);
    return rc ? rc : talc_check_counters(h, &t, where);
}

int talc_heap_check(const talc_heap_t *h, const void **where)
{
    return TALC_UNCHECKED(talc_check_walk(h, where));
}
