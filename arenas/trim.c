/* trim.c — talc_arena_trim: an arena gives memory back to the OS when asked (malloc_trim).
 *
 * Three steps, in order:
 *   1. the calling thread's cached blocks of the arena, and the blocks parked in its stripes'
 *      depots, go back to their heaps (talc_tcache_release_own), so that they can coalesce;
 *   2. every empty segment the stripes keep for reuse is unmapped (talc_seg_reclaim; in an
 *      arena whose source is the OS: a buffer arena's would only go back to its buffer);
 *   3. in each remaining OS segment, the whole pages inside free chunks are decommitted
 *      (talc_os_decommit, MADV_DONTNEED on Linux): the range stays mapped and reads as zero
 *      when used again. A free chunk keeps its header, its list links and its footer, on the
 *      pages at its two ends, which are never decommitted.
 * Buffer and reserve segments keep their pages: a caller's buffer may be shared, file-backed
 * or locked, and the reserve is prefaulted and locked on purpose.
 *
 * Other threads' caches keep their blocks (they are allocated as far as the heaps know).
 *
 * The same decommit, of one chunk, serves realloc: a block shrunk in place by TALC_LARGE_MIN
 * bytes or more gives back the pages of the free chunk left above it (talc_resize_large, under
 * the stripe lock its caller holds).
 *
 * Concurrency: may run concurrently with every other call on the arena, but not with its
 * destruction. Step 1 takes the caches' registry lock, then stripe locks; steps 2 and 3 lock
 * one stripe at a time (lock order: docs/arenas.md, "Lock order"). Step 3 works on a stripe in
 * holds of its lock of one segment and at most TALC_TRIM_BATCH madvise calls each, in the
 * stripe's list order, and lets a sleeping waiter take the lock between them. The heap may
 * change between two holds: each hold finds its place in its segment again (O(the segment's
 * chunks)), and when a segment has left the stripe meanwhile, its segment again (O(the
 * stripe's segments); the segments this trim has done carry its epoch). A segment that a trim
 * begun later has done counts as done: two trims at once would otherwise take turns redoing
 * one segment, each undoing the other's mark, for as long as their holds alternated. Segments
 * made meanwhile, and memory freed behind the place reached, are left for the next trim.
 */
#include <sched.h>
#include <stdint.h>

#include "arena_internal.h"
#include "heap_internal.h"
#include "os_mem.h"
#include "talc/arena.h"
#include "tcache.h"

/* madvise calls per hold of a stripe lock: the lock is given back between batches, so that a
 * large fragmented heap does not stop its stripe for the whole walk (in one hold, 100 000 free
 * chunks stopped a thread allocating on the stripe for 140-175 ms; docs/arenas.md, "Trimming"). */
#define TALC_TRIM_BATCH 64u

/* After a batch, while a woken waiter has not taken the lock yet, the trim spins (a pause and
 * a load a round) and yields the CPU every TALC_TRIM_SPINS rounds, at most TALC_TRIM_YIELDS
 * times. The waiter needs tens of microseconds to run: on an idle machine the spin covers it,
 * where yields return at once; on a busy one each yield may cost a time slice. Until
 * 2026-12-06 the trim yielded up to 100 times: a malloc_trim beside two allocating threads
 * took up to 1.1 s, and a fork, which waits for the registry lock the trim holds, as long;
 * with 4 yields and no spin, a thread allocating on the stripe waited up to 100 ms on an idle
 * machine (docs/arenas.md, "Trimming"). */
#ifndef TALC_TRIM_YIELDS
#define TALC_TRIM_YIELDS 4u
#endif
#define TALC_TRIM_SPINS 1024u

/* Where a trim is in one stripe: the segment in progress (or the last one done), the stripe's
 * seg_unlinks when it was chosen, and the address below which that segment is done. */
typedef struct talc_trim_pos {
    talc_seg_t *seg;
    unsigned unlinks;
    size_t epoch; /* this trim's mark on the segments it has done */
    uintptr_t cursor;
    uintptr_t page_mask; /* page size − 1 */
    size_t bytes;        /* decommitted so far */
} talc_trim_pos_t;

/* Has this trim, or one begun after it, done g? Epochs compared as serial numbers: a 32-bit
 * counter wraps after 2^32 trims, and a fresh segment's 0 means none. */
static bool talc_trim_done(const talc_seg_t *g, const talc_trim_pos_t *pos)
{
    return g->trim_epoch != 0 && g->trim_epoch - pos->epoch <= SIZE_MAX / 2u;
}

/* The segment to work on next, or NULL when the stripe is done. While no segment has left the
 * stripe's list since the last hold (the list gains segments only at its head, which a trim
 * leaves for the next one), pos->seg is still there: it is the one in progress, or the one
 * after it is next. Otherwise the list is searched from its head for an OS segment this trim
 * has not done; the cursor is kept if it lies in the one found. Under s's lock. */
static talc_seg_t *talc_trim_next(talc_stripe_t *s, talc_trim_pos_t *pos)
{
    talc_seg_t *g = s->segs;
    if (pos->seg && pos->unlinks == s->seg_unlinks) {
        if (!talc_trim_done(pos->seg, pos))
            return pos->seg;
        g = pos->seg->next;
    }
    while (g && (g->kind != TALC_SEG_OS || talc_trim_done(g, pos)))
        g = g->next;
    if (g && !(pos->cursor > (uintptr_t)g->base && pos->cursor < (uintptr_t)g->base + g->size))
        pos->cursor = (uintptr_t)g->base;
    pos->seg = g;
    pos->unlinks = s->seg_unlinks;
    return g;
}

/* Decommits the whole pages of chunk `chunk` (header w), if it is free and not flagged
 * trimmed, at or above `from`, below its footer; flags the chunk TALC_F_TRIMMED when all of it
 * was done (a part below `from` may be new). Returns the bytes (0: none, or madvise failed). */
static size_t talc_trim_chunk(char *chunk, uint64_t w, uintptr_t from, uintptr_t mask)
{
    if (w & (TALC_F_USED | TALC_F_TRIMMED))
        return 0;
    uintptr_t lo = (uintptr_t)chunk + sizeof(talc_free_t);
    lo = ((lo > from ? lo : from) + mask) & ~mask;
    uintptr_t hi = ((uintptr_t)chunk + talc_hsize(w) - TALC_HDR) & ~mask; /* below the footer */
    if (hi <= lo || talc_os_decommit((void *)lo, (size_t)(hi - lo)) != 0)
        return 0;
    if ((uintptr_t)chunk >= from)
        talc_set_hdr(chunk, w | TALC_F_TRIMMED);
    return (size_t)(hi - lo);
}

/* Decommits the whole pages inside g's free chunks at or above the cursor, at most
 * TALC_TRIM_BATCH madvise calls, and moves the cursor past them (and marks the segment done
 * once it is). A free chunk keeps its header and links and its footer, on the pages at its
 * ends. A chunk decommitted whole is flagged TALC_F_TRIMMED: later trims skip it (no second
 * madvise, its bytes not counted again) until a split or merge writes its header anew. Headers
 * are read as the heap's walk reads them (a remote free may be changing a used block's slack
 * meanwhile). Under s's lock. */
static void talc_trim_segment(talc_stripe_t *s, talc_seg_t *g, talc_trim_pos_t *pos)
{
    const talc_heap_t *h = talc_stripe_heap(s);
    unsigned calls = 0;
    for (char *c = g->span->first; c < g->span->fence && calls < TALC_TRIM_BATCH;) {
        uint64_t w = talc_hdr_shared(h, c);
        size_t sz = talc_hsize(w);
        if (sz == 0)
            break; /* a damaged header: talc_heap_check reports it */
        char *chunk = c;
        uintptr_t from = pos->cursor, end = (uintptr_t)c + sz;
        c += sz;
        if (end <= from)
            continue;
        pos->cursor = end; /* (past a used chunk too: nothing to do there) */
        size_t bytes = talc_trim_chunk(chunk, w, from, pos->page_mask);
        calls += bytes != 0;
        pos->bytes += bytes;
    }
    if (calls < TALC_TRIM_BATCH)
        g->trim_epoch = pos->epoch; /* done */
}

bool talc_resize_large(talc_stripe_t *s, const talc_seg_t *g, void *p, size_t n, size_t old)
{
    if (!talc_heap_resize_in_place(talc_stripe_heap(s), p, n))
        return false;
    /* (buffer and reserve segments keep their pages, as in a trim) */
    if (n + TALC_LARGE_MIN > old || g->kind != TALC_SEG_OS)
        return true; /* (a shrink by less than TALC_LARGE_MIN is left to a trim) */
    char *above = (char *)p - TALC_HDR + talc_hsize(talc_hdr((char *)p - TALC_HDR));
    (void)talc_trim_chunk(above, talc_hdr_shared(talc_stripe_heap(s), above), 0,
                          (uintptr_t)talc_os_page_size() - 1u);
    return true;
}

/* Unlocks s after a batch. If a thread sleeps on the lock, gives it the chance to take it: the
 * woken waiter needs microseconds to run, in which the trim would take the lock again. */
static void talc_trim_unlock(talc_stripe_t *s)
{
    bool waiter = talc_mutex_has_sleepers(&s->lock);
    talc_stripe_unlock(s);
    for (unsigned i = waiter; i && i <= TALC_TRIM_YIELDS * TALC_TRIM_SPINS; i++) {
        if (!talc_mutex_is_free(&s->lock))
            return;
        talc_cpu_relax();
        if (i % TALC_TRIM_SPINS == 0)
            (void)sched_yield();
    }
}

/* Trims one stripe, one segment batch per hold of its lock. */
static void talc_trim_stripe(talc_stripe_t *s, talc_trim_pos_t *pos)
{
    for (pos->seg = NULL;;) {
        talc_stripe_lock(s);
        talc_seg_t *g = talc_trim_next(s, pos);
        if (g)
            talc_trim_segment(s, g, pos);
        talc_trim_unlock(s);
        if (!g)
            return;
    }
}

size_t talc_arena_trim(talc_arena_t *a)
{
    if (!a)
        a = talc_thread_arena();
    if (!a)
        return 0;
    if (a->tc_on)
        (void)talc_tcache_release_own(a);
    /* A buffer arena's empty segments would only go back to its buffer, not to the OS. */
    size_t unmapped = a->cfg.source == TALC_SOURCE_OS ? talc_seg_reclaim(a) : 0;
    size_t epoch = talc_atomic_fetch_add_relaxed_size(&a->trim_epochs, 1u) + 1u;
    talc_trim_pos_t pos = {.epoch = epoch ? epoch : 1u, /* 0: a segment no trim has done */
                           .page_mask = (uintptr_t)talc_os_page_size() - 1u};
    for (unsigned i = 0; i < a->nstripes; i++)
        talc_trim_stripe(talc_arena_stripe(a, i), &pos);
    talc_stats_add_total(&a->trims, 1);
    talc_stats_add_total(&a->trimmed_bytes, unmapped + pos.bytes);
    return unmapped + pos.bytes;
}
