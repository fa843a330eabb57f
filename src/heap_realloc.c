/* heap_realloc.c — resizing blocks: in place when the neighbours allow, else by moving.
 *
 * Shrinking is in place (the freed tail becomes a free chunk, merged with a free chunk above;
 * even a tail too small to stand alone is handed to a free neighbour above), except a large
 * shrink while memory is scarce, which moves to a smaller hole (talc_shrink_move).
 * Growing tries the free chunk above first (O(1)); when the block must move and no other chunk
 * fits, a free chunk below is merged in too and the contents slide down (memmove), which is
 * what keeps a nearly full heap usable.
 *
 * Concurrency: single-threaded per heap (talc/heap.h).
 */
#include <string.h>

#include "heap_internal.h"

/* Set chunk c (size cs, allocated, flags in w) to size s for a request of n bytes. The caller
 * guarantees s <= cs and that the chunk above c+cs is allocated or is the fence. Under a
 * memory checker, [c, live_end) is addressable (the block's old extent) and the rest of
 * [c, c+cs) is a free chunk c absorbed (heap_poison.h): only the part of the new extent past
 * live_end is unpoisoned (memcheck keeps the old contents' definedness), and only the block's
 * old extent and that chunk's words are poisoned for a free tail. */
static void talc_set_used(struct talc_heap *h, char *c, uint64_t w, size_t cs, size_t s, size_t n,
                          const char *live_end)
{
    size_t rem = cs - s;
    const char *end = c + (rem >= h->min_chunk ? s : cs);
    if (end > live_end)
        talc_unpoison(live_end, (size_t)(end - live_end)); /* what it grew into */
    if (rem >= h->min_chunk) {
        talc_free_words(h, c + s, rem);
        TALC_CNT(h, free_chunks, += 1);
        talc_poison_free_part(c + s, rem, c + s, live_end + sizeof(talc_free_t));
        talc_poison_free_head(c + s, rem);
        char *above = c + cs;
        talc_nflags_set(above, (unsigned)TALC_F_PREV_FREE, true);
    } else {
        s = cs;
    }
    talc_set_hdr(c, talc_used_word(s, s - TALC_HDR - n, w & TALC_F_PREV_FREE));
}

/* Absorb the free chunk above c (if any) into c. Returns the new size of c. */
static size_t talc_absorb_above(struct talc_heap *h, char *c, size_t cs)
{
    char *above = c + cs;
    if (talc_nused(above))
        return cs;
    size_t as = talc_hsize(talc_hdr(above));
    talc_bin_unlink(h, above, as);
    talc_set_hdr(above, TALC_MERGED_WORD); /* a second free of its old block: a double free */
    /* The chunk above the absorbed one had PREV_FREE set; c is allocated: clear it. */
    char *next = above + as;
    talc_nflags_set(next, (unsigned)TALC_F_PREV_FREE, false);
    return cs + as;
}

static void talc_account_resize(struct talc_heap *h, uint64_t w, size_t n)
{
    size_t old = talc_hsize(w) - TALC_HDR - talc_hslack(w);
    if (n > old) {
        TALC_CNT(h, total_bytes, += n - old);
        talc_cnt_peak(h);
    } else {
        TALC_FREED(h, bytes_out, += old - n);
    }
}

/* In-place resize of the validated chunk c. Returns false (nothing changed) if it cannot grow. */
static bool talc_resize_chunk(struct talc_heap *h, char *c, size_t n)
{
    uint64_t w = talc_hdr(c);
    size_t cs = talc_hsize(w), s = talc_req_size(h, n);
    if (s > cs) {
        char *above = c + cs;
        if (talc_nused(above) || cs + talc_hsize(talc_hdr(above)) < s)
            return false;
    }
    talc_account_resize(h, w, n);
    size_t total = talc_absorb_above(h, c, cs);
    talc_set_used(h, c, w, total, s, n, c + cs);
    TALC_USED(h, += talc_hsize(talc_hdr(c)) - cs);
    talc_cnt_used_peak(h);
    return true;
}

bool talc_heap_resize_in_place(talc_heap_t *h, void *p, size_t n)
{
    TALC_ENTER(h, false, false);
    bool ok = false;
    char *c = talc_heap_chunk_of(h, p);
    if (c && n <= TALC_MAX_REQUEST)
        ok = talc_resize_chunk(h, c, n ? n : 1);
    TALC_LEAVE(h);
    return ok;
}

/* A block that moves to a new chunk: its bytes (requested, and its chunk's) count as released
 * before the new chunk is carved, whose allocation sets the peak, so that the peak never holds
 * the old and the new block at once; releasing the old chunk counts them again, which
 * talc_move_done takes back. Between the two, a reader of the counters may see live_bytes
 * short by the block. */
typedef struct talc_moving {
    size_t bytes, chunk;
} talc_moving_t;

static talc_moving_t talc_move_out(struct talc_heap *h, const char *c)
{
    uint64_t w = talc_hdr(c);
    talc_moving_t m = {talc_hsize(w) - TALC_HDR - talc_hslack(w), talc_hsize(w)};
    TALC_FREED(h, bytes_out, += m.bytes);
    TALC_USED(h, -= m.chunk);
    return m;
}

static void talc_move_done(struct talc_heap *h, talc_moving_t m)
{
    TALC_FREED(h, bytes_out, -= m.bytes);
    TALC_USED(h, += m.chunk);
    (void)h;
    (void)m;
}

/* Last resort for a growing block: merge the free chunks below and above and slide down. */
static void *talc_grow_down(struct talc_heap *h, char *c, size_t n)
{
    uint64_t w = talc_hdr(c);
    if (!(w & TALC_F_PREV_FREE))
        return NULL;
    size_t cs = talc_hsize(w), s = talc_req_size(h, n);
    size_t ps = talc_footer(c);
    char *above = c + cs;
    size_t as = talc_nused(above) ? 0 : talc_hsize(talc_hdr(above));
    if (ps + cs + as < s)
        return NULL;
    char *lo = c - ps;
    /* A realloc that moves counts as one allocation of n bytes, however it moved. */
    size_t old = cs - TALC_HDR - talc_hslack(w);
    TALC_FREED(h, frees, += 1);
    TALC_FREED(h, bytes_out, += old);
    TALC_CNT(h, total_allocs, += 1);
    TALC_CNT(h, total_bytes, += n);
    talc_cnt_peak(h);
    talc_bin_unlink(h, lo, ps);
    size_t total = ps + talc_absorb_above(h, c, cs);
    /* When the chunk below is at least as large, the copy stops below c's header: marked,
     * a second free of the old pointer is reported as such instead of finding a live block. */
    talc_set_hdr(c, TALC_MERGED_WORD);
    talc_unpoison(lo, ps); /* the copy lands in what was the free chunk below */
    memmove(lo + TALC_HDR, c + TALC_HDR, cs - TALC_HDR);
    /* The old block's last ps bytes, [lo + cs, c + cs), lie past the copy but inside the new
     * extent: the memmove left them as they were, defined to memcheck, though the program
     * never wrote them at their new place. What the block grew by is undefined, as after any
     * other move (talc_set_used below unpoisons only from c + cs). */
    talc_unpoison(lo + cs, ps);
    /* lo's lower neighbour is allocated (no two free chunks touch). */
    talc_set_used(h, lo, 0, total, s, n, c + cs);
    TALC_USED(h, += talc_hsize(talc_hdr(lo)) - cs);
    talc_cnt_used_peak(h);
    return lo + TALC_HDR;
}

/* Shrinking by moving (talc_heap_realloc's contract; off in a heap with opts.shrink_in_place,
 * left out when TALC_SHRINK_MOVE is 0). A shrink that would give back at least m bytes moves
 * the block into a smaller free chunk that holds the new size, when there is one, so the whole
 * old chunk coalesces with its neighbours instead of leaving the tail behind as a hole. It does
 * so only while the largest free chunk is below half the largest span (memory is getting
 * scarce): in a mostly empty heap the copy buys nothing. A block aligned to
 * TALC_SHRINK_KEEP_ALIGN or more (up to 4 KiB) moves only to an address as aligned as its own.
 * docs/heap.md, "Realloc", has the measurements. */
#ifndef TALC_SHRINK_KEEP_ALIGN
#define TALC_SHRINK_KEEP_ALIGN 64
#endif

#if TALC_SHRINK_MOVE > 0
/* True while no free chunk reaches half the largest span: two clz on the bitmap. */
static bool talc_memory_scarce(const struct talc_heap *h)
{
    if (h->summary == 0)
        return true;
    unsigned w = 31u - (unsigned)__builtin_clz(h->summary);
    unsigned top = (w << 6) + talc_msb64(h->bitmap[w]);
    return top < talc_bin_of(h->max_span / 2);
}

/* Whether a block at chunk c may move to chunk d: a block aligned to TALC_SHRINK_KEEP_ALIGN or
 * more keeps its alignment (up to 4 KiB). */
static bool talc_keeps_alignment(const char *c, const char *d)
{
    uintptr_t a = ((uintptr_t)c + TALC_HDR) | (uintptr_t)4096;
    a &= (uintptr_t)0 - a;
    return a < (uintptr_t)TALC_SHRINK_KEEP_ALIGN || (((uintptr_t)d + TALC_HDR) & (a - 1u)) == 0;
}
#endif

static void *talc_shrink_move(struct talc_heap *h, char *c, size_t n)
{
#if TALC_SHRINK_MOVE <= 0
    (void)h;
    (void)c;
    (void)n;
    return NULL;
#else
    size_t cs = talc_hsize(talc_hdr(c)), s = talc_req_size(h, n);
    if (h->opts.shrink_in_place || s > cs || cs - s < (size_t)TALC_SHRINK_MOVE ||
        !talc_memory_scarce(h))
        return NULL;
    char *d = (char *)talc_heap_find_smaller(h, s, cs);
    if (!d || !talc_keeps_alignment(c, d))
        return NULL;
    talc_bin_unlink_raw(h, d);
    talc_moving_t old = talc_move_out(h, c);
    void *np = talc_heap_carve(h, d, s, n, 0);
    memcpy(np, c + TALC_HDR, n);
    /* Re-read the header: taking a free chunk just below c whole clears c's PREV_FREE. */
    talc_heap_release_chunk(h, c, talc_hdr(c));
    talc_move_done(h, old);
    return np;
#endif
}

static void *talc_realloc_move(struct talc_heap *h, char *c, size_t n)
{
    size_t s = talc_req_size(h, n);
    char *d = talc_heap_take(h, s);
    if (!d) {
        void *p = talc_grow_down(h, c, n);
        if (p)
            return p;
        d = talc_heap_take_oom(h, n, s, 0, NULL);
        if (!d)
            return NULL;
    }
    talc_moving_t old = talc_move_out(h, c);
    void *np = talc_heap_carve(h, d, s, n, 0);
    size_t keep = talc_hsize(talc_hdr(c)) - TALC_HDR;
    memcpy(np, c + TALC_HDR, keep < n ? keep : n);
    talc_heap_release_chunk(h, c, talc_hdr(c));
    talc_move_done(h, old);
    return np;
}

void *talc_heap_realloc(talc_heap_t *h, void *p, size_t n)
{
    if (!p)
        return talc_heap_alloc(h, n);
    if (n == 0) {
        talc_heap_free(h, p);
        return NULL;
    }
    TALC_ENTER(h, false, NULL);
    void *r = NULL;
    char *c = talc_heap_chunk_of(h, p);
    if (c && n <= TALC_MAX_REQUEST) {
        r = talc_shrink_move(h, c, n);
        if (!r)
            r = talc_resize_chunk(h, c, n) ? p : talc_realloc_move(h, c, n);
    }
    if (c && !r)
        TALC_CNT(h, failed_allocs, += 1);
    TALC_LEAVE(h);
    return r;
}
