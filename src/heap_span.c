/* heap_span.c — spans: claiming caller memory, moving a span's top, releasing an empty span,
 * scrubbing the first block of a span claimed over zeroed memory.
 *
 * A span is [base, end): a talc_span header at the aligned base, chunks, and a fence header
 * (size 0, USED) whose address + HDR is the end. Only the top moves; the base is fixed.
 * Every address computation is overflow-checked: a range may end at the top of the address
 * space (the end saturates), and address 0 is never part of a span.
 *
 * Concurrency: single-threaded per heap (talc/heap.h). claim and extend may be called from the
 * heap's own OOM hook.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "heap_internal.h"

static uintptr_t talc_align_up(uintptr_t x, size_t a, bool *ovf)
{
    uintptr_t r = (x + (a - 1)) & ~(uintptr_t)(a - 1);
    if (r < x)
        *ovf = true;
    return r;
}

/* Fence address for a span ending at or below `end`, or 0 if there is none. */
static uintptr_t talc_fence_for(const struct talc_heap *h, uintptr_t end)
{
    uintptr_t e = end & ~(uintptr_t)h->qmask;
    return e >= TALC_HDR ? e - TALC_HDR : 0;
}

static bool talc_span_ok(const struct talc_heap *h, const struct talc_span *s)
{
    if (s->magic == talc_span_magic(h, s))
        return true;
    talc_heap_fault(h, TALC_FAULT_BAD_SPAN, s, "span does not belong to this heap");
    return false;
}

/* Bytes a claim at a base with this residue needs for one minimum chunk (mirrors claim). */
static size_t talc_span_need(const struct talc_heap *h, uintptr_t base)
{
    uintptr_t sp =
        (base + alignof(struct talc_span) - 1) & ~(uintptr_t)(alignof(struct talc_span) - 1);
    uintptr_t first =
        ((sp + sizeof(struct talc_span) + TALC_HDR + h->qmask) & ~(uintptr_t)h->qmask) - TALC_HDR;
    return (size_t)(first + h->min_chunk + TALC_HDR - base);
}

size_t talc_span_min_compute(const struct talc_heap *h)
{
    size_t period = h->quantum > alignof(struct talc_span) ? h->quantum : alignof(struct talc_span);
    uintptr_t origin = (uintptr_t)1 << 20; /* any base far from 0 and from the top */
    size_t worst = 0;
    for (size_t r = 0; r < period; r++) {
        size_t need = talc_span_need(h, origin + r);
        if (need > worst)
            worst = need;
    }
    return worst;
}

size_t talc_span_min_size(const talc_heap_t *h) { return h->span_min; }

static void talc_span_link(struct talc_heap *h, struct talc_span *s)
{
    s->next = NULL;
    s->prev = h->spans_tail;
    if (h->spans_tail)
        h->spans_tail->next = s;
    else
        h->spans = s;
    h->spans_tail = s;
}

#if TALC_DEBUG >= 1
/* Debug builds check claim's precondition against this heap (other heaps are out of reach):
 * [b, end) must not overlap its control block or one of its spans. O(spans). */
static bool talc_claim_overlaps(const struct talc_heap *h, uintptr_t b, uintptr_t end)
{
    uintptr_t hb = (uintptr_t)h;
    if (b < hb + talc_heap_footprint() && hb < end)
        return true;
    for (const struct talc_span *s = h->spans; s; s = s->next)
        if (b < (uintptr_t)s->fence + TALC_HDR && (uintptr_t)s->base < end)
            return true;
    return false;
}
#endif

talc_span_t *talc_heap_claim(talc_heap_t *h, void *base, size_t size)
{
    if (!base)
        return NULL;
    TALC_ENTER(h, true, NULL);
    bool ovf = false;
    uintptr_t b = (uintptr_t)base;
    uintptr_t end = size > UINTPTR_MAX - b ? UINTPTR_MAX : b + size;
    uintptr_t sp = talc_align_up(b, alignof(struct talc_span), &ovf);
    uintptr_t first = 0;
    if (sp <= UINTPTR_MAX - sizeof(struct talc_span) - TALC_HDR)
        first = talc_align_up(sp + sizeof(struct talc_span) + TALC_HDR, h->quantum, &ovf);
    else
        ovf = true;
    first -= TALC_HDR;
    uintptr_t fence = talc_fence_for(h, end);
    struct talc_span *s = NULL;
#if TALC_DEBUG >= 1
    if (talc_claim_overlaps(h, b, end)) {
        talc_heap_fault(h, TALC_FAULT_BAD_SPAN, base, "claimed range overlaps this heap's memory");
        ovf = true;
    }
#endif
    if (!ovf && sp >= b && fence >= first && fence - first >= h->min_chunk) {
        if (fence - first > TALC_MAX_CHUNK)
            fence = first + TALC_MAX_CHUNK;
        if ((size_t)(fence - first) > h->max_span)
            h->max_span = (size_t)(fence - first);
        s = (struct talc_span *)sp;
        /* The range may have been poisoned by an earlier heap over it (heap_poison.h). */
        talc_unpoison(s, sizeof *s);
        talc_unpoison((char *)fence, TALC_HDR);
        s->base = base;
        s->first = (char *)first;
        s->fence = (char *)fence;
        s->magic = talc_span_magic(h, s);
        talc_span_link(h, s);
        talc_make_free(h, s->first, (size_t)(fence - first));
        talc_set_hdr(s->fence, TALC_F_USED | TALC_F_PREV_FREE);
        size_t managed = (size_t)(fence + TALC_HDR - b);
        TALC_CNT(h, live_spans, += 1);
        TALC_CNT(h, total_spans, += 1);
        TALC_CHUNKS(h, += (size_t)(fence - first));
        TALC_CNT(h, managed_bytes, += managed);
        TALC_CNT(h, total_managed, += managed);
        h->gen++;
    }
    TALC_LEAVE(h);
    return s;
}

/* After a span of `gone` bytes (fence − first) shrank or left: if it was the largest, the
 * largest left, so that a shrink's "memory is scarce" test and the size bound on headers
 * follow the spans the heap has now. Stops at the first span as large as before (the usual
 * case where spans are of one size). */
static void talc_max_span_refresh(struct talc_heap *h, size_t gone)
{
    if (gone < h->max_span)
        return;
    size_t m = 0;
    for (const struct talc_span *s = h->spans; s && m < gone; s = s->next)
        if ((size_t)(s->fence - s->first) > m)
            m = (size_t)(s->fence - s->first);
    h->max_span = m;
}

/* Move the fence of s to nf (nf + HDR is the new end), keeping the top free chunk honest. */
static void talc_set_fence(struct talc_heap *h, struct talc_span *s, char *nf, uint64_t pf)
{
    /* The new fence, and what a truncation gives back to the caller (heap_poison.h). */
    talc_unpoison(nf, nf < s->fence ? (size_t)(s->fence - nf) + TALC_HDR : TALC_HDR);
    talc_set_hdr(nf, TALC_F_USED | pf);
    if (nf > s->fence) {
        TALC_CHUNKS(h, += (size_t)(nf - s->fence));
        TALC_CNT(h, managed_bytes, += (size_t)(nf - s->fence));
        TALC_CNT(h, total_managed, += (size_t)(nf - s->fence));
        h->gen++;
    } else {
        TALC_CHUNKS(h, -= (size_t)(s->fence - nf));
        TALC_CNT(h, managed_bytes, -= (size_t)(s->fence - nf));
    }
    size_t was = (size_t)(s->fence - s->first);
    s->fence = nf;
    if ((size_t)(nf - s->first) > h->max_span)
        h->max_span = (size_t)(nf - s->first);
    else
        talc_max_span_refresh(h, was);
}

void *talc_span_extend(talc_heap_t *h, talc_span_t *s, void *new_end)
{
    TALC_ENTER(h, true, NULL);
    if (!talc_span_ok(h, s)) {
        TALC_LEAVE(h);
        return NULL;
    }
    char *nf = (char *)talc_fence_for(h, (uintptr_t)new_end);
    if (nf > s->fence && talc_addr_diff(nf, s->first) > TALC_MAX_CHUNK)
        nf = s->first + TALC_MAX_CHUNK;
    uint64_t fw = talc_hdr(s->fence);
    if (nf > s->fence) {
        if (fw & TALC_F_PREV_FREE) {
            size_t ls = talc_footer(s->fence);
            char *lc = s->fence - ls;
            talc_bin_unlink(h, lc, ls);
            talc_free_words(h, lc, (size_t)(nf - lc));
            TALC_CNT(h, free_chunks, += 1);
            /* Poisoning: new inside are the old footer and fence and the added range */
            talc_poison_free_part(lc, (size_t)(nf - lc), s->fence - TALC_HDR, nf);
            talc_set_fence(h, s, nf, TALC_F_PREV_FREE);
        } else if ((size_t)(nf - s->fence) >= h->min_chunk) {
            char *old = s->fence;
            talc_set_fence(h, s, nf, TALC_F_PREV_FREE);
            talc_make_free(h, old, (size_t)(nf - old));
        }
    }
    TALC_LEAVE(h);
    return s->fence + TALC_HDR;
}

void *talc_span_truncate(talc_heap_t *h, talc_span_t *s, void *new_end)
{
    TALC_ENTER(h, false, NULL);
    if (!talc_span_ok(h, s)) {
        TALC_LEAVE(h);
        return NULL;
    }
    uint64_t fw = talc_hdr(s->fence);
    if (fw & TALC_F_PREV_FREE) {
        size_t ls = talc_footer(s->fence);
        char *lc = s->fence - ls;
        char *nf = new_end ? (char *)talc_fence_for(h, (uintptr_t)new_end) : lc;
        if (nf < lc)
            nf = lc;
        if (nf > lc && (size_t)(nf - lc) < h->min_chunk)
            nf = lc + h->min_chunk; /* keep a whole chunk rather than cut below new_end */
        if (nf < s->fence) {
            talc_bin_unlink(h, lc, ls);
            if (nf > lc) {
                talc_free_words(h, lc, (size_t)(nf - lc)); /* a prefix: its inside poisoned */
                TALC_CNT(h, free_chunks, += 1);
                talc_set_fence(h, s, nf, TALC_F_PREV_FREE);
            } else {
                talc_set_fence(h, s, nf, 0);
            }
        }
    }
    TALC_LEAVE(h);
    return s->fence + TALC_HDR;
}

static bool talc_span_empty(const struct talc_span *s)
{
    if (s->first == s->fence)
        return true;
    if (talc_nused(s->first)) /* flags byte only: an owner may be rewriting its slack */
        return false;
    return s->first + talc_hsize(talc_hdr(s->first)) == s->fence;
}

int talc_span_release(talc_heap_t *h, talc_span_t *s)
{
    TALC_ENTER(h, false, -EINVAL);
    int rc = -EINVAL;
    if (talc_span_ok(h, s)) {
        rc = -EBUSY;
        if (talc_span_empty(s)) {
            if (s->first != s->fence)
                talc_bin_unlink(h, s->first, (size_t)(s->fence - s->first));
            talc_unpoison(s->first, (size_t)(s->fence - s->first)); /* the caller's again */
            if (s->prev)
                s->prev->next = s->next;
            else
                h->spans = s->next;
            if (s->next)
                s->next->prev = s->prev;
            else
                h->spans_tail = s->prev;
            if (h->first_span == s)
                h->first_span = NULL;
            TALC_CNT(h, live_spans, -= 1);
            TALC_CHUNKS(h, -= (size_t)(s->fence - s->first));
            TALC_CNT(h, managed_bytes, -= talc_addr_diff(s->fence + TALC_HDR, s->base));
            s->magic = 0;
            talc_max_span_refresh(h, (size_t)(s->fence - s->first));
            rc = 0;
        }
    }
    TALC_LEAVE(h);
    return rc;
}

void talc_span_get_info(const talc_heap_t *h, const talc_span_t *s, talc_span_info_t *out)
{
    if (!talc_span_ok(h, s)) {
        *out = (talc_span_info_t){0};
        return;
    }
    uint64_t fw = talc_hdr(s->fence);
    char *top = (fw & TALC_F_PREV_FREE) ? s->fence - talc_footer(s->fence) : s->fence;
    out->base = s->base;
    out->end = s->fence + TALC_HDR;
    out->reserved = top + TALC_HDR;
    out->empty = talc_span_empty(s);
}

talc_span_t *talc_heap_next_span(const talc_heap_t *h, const talc_span_t *s)
{
    return s ? s->next : h->spans;
}

/* Zero [lo, hi) ∩ [a, b). */
static void talc_zero_overlap(char *lo, char *hi, char *a, char *b)
{
    char *from = lo > a ? lo : a, *to = hi < b ? hi : b;
    if (from < to) {
        memset(from, 0, (size_t)(to - from));
        /* Zeros the block's user did not write: undefined to memcheck, as all of a new block
         * (a calloc of it says otherwise, talc_mark_defined; heap_poison.h). */
        talc_unpoison(from, (size_t)(to - from));
    }
}

void talc_span_scrub_first(const talc_span_t *s, void *p)
{
    char *user = p, *end = (char *)p - TALC_HDR + talc_hsize(talc_hdr((char *)p - TALC_HDR));
    char *links = s->first + offsetof(talc_free_t, next);
    talc_zero_overlap(user, end, links, s->first + sizeof(talc_free_t));
    talc_zero_overlap(user, end, s->fence - TALC_HDR, s->fence);
}
