/* trim.c — talc_arena_trim and talc_arena_trim_idle: an arena gives memory back to the OS
 * when asked (malloc_trim), or once it has stayed unused between two calls (a decay, run from a
 * timer: the shim's trim_ms).
 *
 * Three steps, in order:
 *   1. the calling thread's cached blocks of the arena, and the blocks parked in its stripes'
 *      depots, go back to their heaps (talc_tcache_release_own), so that they can coalesce;
 *   2. every empty segment the stripes keep for reuse is unmapped (talc_seg_reclaim; in an
 *      arena whose source is the OS: a buffer arena's would only go back to its buffer);
 *   3. in each stripe, the whole pages inside the free chunks of OS segments are decommitted
 *      (talc_os_decommit, MADV_DONTNEED on Linux): the range stays mapped and reads as zero
 *      when used again. A free chunk keeps its header, its list links and its footer, on the
 *      pages at its two ends, which are never decommitted. A chunk decommitted whole is
 *      flagged TALC_F_TRIMMED, and later trims skip it until a split or a merge writes its
 *      header anew.
 * Buffer and reserve segments keep their pages: a caller's buffer may be shared, file-backed
 * or locked, and the reserve is prefaulted and locked on purpose.
 *
 * Step 3 visits only the free chunks that can hold a whole page: it follows the heap's bins,
 * from the first that may hold one, not the chunks in address order. Until 2026-12-06 it
 * walked every chunk of every segment, live blocks included: with 2 GiB of 100-byte blocks
 * live, a malloc_trim with nothing to give back took 0.44 s, and the shim's background
 * trimmer kept a third of a CPU busy in an idle process (found by a review).
 *
 * The idle form (talc_arena_trim_idle) gives back only what the previous one found unused. It
 * skips step 1 (the calling thread's cache, and the blocks parked at depots for the next
 * fills, at most TALC_TC_DEPOT_BYTES a stripe, stay), and in steps 2 and 3 takes only the
 * kept segments whose one free chunk is flagged TALC_F_AGED and the chunks flagged so; it
 * flags the chunks it sees for the first time instead. An allocation or a free that changes a chunk
 * (or takes a kept segment) writes its header anew, which clears the flag: memory goes back after
 * one to two periods of disuse, and memory in use costs no page faults.
 *
 * Other threads' caches keep their blocks (they are allocated as far as the heaps know).
 *
 * Realloc decommits too: a block shrunk in place by TALC_LARGE_MIN bytes or more gives back the
 * whole pages past its new end before the shrink, with the stripe lock its caller holds let go
 * for the call (talc_resize_large).
 *
 * Concurrency: may run concurrently with every other call on the arena, but not with its
 * destruction. Step 1 takes the caches' registry lock, then stripe locks; steps 2 and 3 lock
 * one stripe at a time (lock order: docs/arenas.md, "Lock order"). Step 3 works on a stripe in
 * holds of its lock of a bounded batch each (TALC_TRIM_BATCH: about 60 small madvise calls,
 * or 7 of a MiB each, or 4096 chunks looked at), and lets a sleeping waiter take the lock
 * between them. The heap may change between two holds: the next hold goes on after the chunk
 * the last one looked at last, if that chunk is still in its bin as the trim left it
 * (talc_trim_resumable), else at the next bin. Chunks freed meanwhile into a bin already
 * passed, or in front of where the trim goes on, and the rest of a bin whose chunk the trim
 * stopped at has changed, are left for the next trim. Two trims at once skip each other's
 * decommitted chunks; two idle trims at once may take each other's flags for their own and
 * decommit a chunk one period early.
 */
#include <sched.h>
#include <stdint.h>

#include "arena_internal.h"
#include "heap_internal.h"
#include "os_mem.h"
#include "talc/arena.h"
#include "tcache.h"

/* Work per hold of a stripe lock, in units of about 0.1 µs: a chunk looked at costs 1, a
 * madvise call TALC_TRIM_CALL more and 2 per 4 KiB it gives back (a call costs 3-10 µs, its
 * pages about 0.2 µs each: 60 µs for a MiB). So a hold makes at most about 60 calls for a few
 * pages each, 7 for a MiB each, or looks at 4096 chunks. The lock is given back between
 * batches, so that a large fragmented heap does not stop its stripe for the whole walk (in
 * one hold, 100 000 free chunks stopped a thread allocating on the stripe for 140-175 ms;
 * docs/arenas.md, "Trimming"). */
#define TALC_TRIM_BATCH 4096u
#define TALC_TRIM_CALL 64u

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

/* What a trim has done, and where it is in the stripe in progress. */
typedef struct talc_trim_pos {
    uintptr_t page_mask; /* page size − 1 */
    size_t bytes;        /* decommitted so far */
    bool idle;           /* talc_arena_trim_idle: only what the last one found unused */
    unsigned bin;        /* the bin in progress */
    talc_free_t *last;   /* the last chunk of it the trim looked at, or NULL */
    uint64_t last_hdr;   /* the header it left there */
} talc_trim_pos_t;

/* Decommits the whole pages of chunk `chunk` (header w), if it is free and not flagged
 * trimmed, below its footer, and flags it TALC_F_TRIMMED. An idle trim decommits only a chunk
 * flagged TALC_F_AGED (the last idle trim saw it, and nothing has changed it since); it flags
 * one it sees for the first time instead, trimmed or not: a kept empty segment goes back by
 * its chunk's flag (talc_seg_reclaim), and one that a full trim decommitted (it emptied after
 * that trim's reclaim) stayed mapped for good until 2026-12-06 (found by a review). Returns
 * the bytes (0: none, or madvise failed). */
static size_t talc_trim_chunk(char *chunk, uint64_t w, uintptr_t mask, bool idle)
{
    if (w & TALC_F_USED)
        return 0;
    uintptr_t lo = ((uintptr_t)chunk + sizeof(talc_free_t) + mask) & ~mask;
    uintptr_t hi = ((uintptr_t)chunk + talc_hsize(w) - TALC_HDR) & ~mask; /* below the footer */
    if (hi <= lo)
        return 0;
    if (idle && !(w & TALC_F_AGED)) {
        talc_set_hdr(chunk, w | TALC_F_AGED);
        return 0;
    }
    if ((w & TALC_F_TRIMMED) || talc_os_decommit((void *)lo, (size_t)(hi - lo)) != 0)
        return 0;
    talc_set_hdr(chunk, w | TALC_F_TRIMMED);
    return (size_t)(hi - lo);
}

/* Whether pos->last, where the last hold stopped, is still a chunk of s's heap as the trim
 * left it: in one of s's segments, with the header it wrote, and linked from where its pprev
 * says (the bin's head, or a node's link in one of s's segments). Checked in that order, so
 * that nothing is read outside memory that stays mapped while s is locked: a chunk allocated
 * or merged since may hold user data, which has to match all of this to pass. (Until
 * 2026-12-06 the link could lie in any segment, which another thread could unmap meanwhile;
 * found by a review.) The chunk may have merged into a free one since, whose inside is
 * poisoned under a memory checker: read unchecked (src/heap_poison.h). */
static TALC_NO_ASAN bool talc_trim_resumable(const talc_stripe_t *s, const talc_trim_pos_t *pos)
{
    const talc_free_t *f = pos->last;
    const talc_seg_t *g = talc_seg_of(f);
    if (!g || g->stripe != s || f->hdr != pos->last_hdr)
        return false;
    talc_free_t *const *pp = f->pprev;
    if (pp != &talc_stripe_heap((talc_stripe_t *)s)->bins[pos->bin] &&
        (((uintptr_t)pp & (sizeof(void *) - 1u)) || !(g = talc_seg_of(pp)) || g->stripe != s))
        return false;
    return *pp == f;
}

/* The free chunks of s's heap in OS segments, from where pos is, bin after bin, for one batch
 * (TALC_TRIM_BATCH). Returns true if there is more to do. Under s's lock. */
static bool talc_trim_bins(talc_stripe_t *s, talc_trim_pos_t *pos)
{
    const talc_heap_t *h = talc_stripe_heap(s);
    unsigned work = 0;
    /* Where the last hold stopped. If that chunk has changed since, the rest of its bin is left
     * for the next trim: going back to the bin's head could meet a changed chunk again at
     * every hold, and never get past it. */
    talc_free_t *f = h->bins[pos->bin];
    if (pos->last)
        f = TALC_UNCHECKED(talc_trim_resumable(s, pos)) ? pos->last->next : NULL;
    for (;;) {
        for (; f; f = f->next) {
            const talc_seg_t *g = talc_seg_of(f);
            size_t bytes = g && g->kind == TALC_SEG_OS
                               ? talc_trim_chunk((char *)f, f->hdr, pos->page_mask, pos->idle)
                               : 0;
            pos->bytes += bytes;
            work += 1u + (bytes ? TALC_TRIM_CALL + (unsigned)(bytes >> 11) : 0u);
            if (work >= TALC_TRIM_BATCH) {
                pos->last = f;
                pos->last_hdr = f->hdr;
                return true;
            }
        }
        if (++pos->bin >= TALC_NBINS)
            return false;
        f = h->bins[pos->bin];
    }
}

bool talc_resize_large(talc_stripe_t *s, const talc_seg_t *g, void *p, size_t n, size_t old)
{
    /* (buffer and reserve segments keep their pages, as in a trim; a shrink by less than
     * TALC_LARGE_MIN is left to a trim) */
    uintptr_t m = (uintptr_t)talc_os_page_size() - 1u;
    /* Past the free tail's header and list links, which the split writes: until 2026-12-07 the
     * pages from p + n up were given back, and a block ending on a page boundary had its first
     * one faulted in again at once by the tail's header (found by a review). */
    uintptr_t tail = (uintptr_t)p - TALC_HDR + talc_req_size(talc_stripe_heap(s), n);
    uintptr_t lo = (tail + sizeof(talc_free_t) + m) & ~m;
    uintptr_t hi = ((uintptr_t)p + old - TALC_HDR) & ~m;
    bool give = n < old && old - n >= TALC_LARGE_MIN && g->kind == TALC_SEG_OS && lo < hi;
    if (give) { /* the bytes past n are the caller's to drop: no lock held for the call */
        talc_stripe_unlock_dropped(s); /* (out of line: nothing was freed, no segment dropped) */
        give = talc_os_decommit((void *)lo, (size_t)(hi - lo)) == 0; /* (mlocked: EINVAL) */
        talc_stripe_lock_noted(s);
    }
    if (!talc_heap_resize_in_place(talc_stripe_heap(s), p, n))
        return false;
    /* The tail (split off: it is free), unless it merged with a free chunk above, now has all
     * its whole pages decommitted: flagged so, for trims to skip. A merged one is left to them. */
    char *above = (char *)p - TALC_HDR + talc_hsize(talc_hdr((char *)p - TALC_HDR));
    uint64_t w = talc_hdr(above);
    if (give && above + talc_hsize(w) == (char *)p + old)
        talc_set_hdr(above, w | TALC_F_TRIMMED);
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

/* Trims one stripe, one batch per hold of its lock, from the first bin whose chunks may hold
 * a whole page. */
static void talc_trim_stripe(talc_stripe_t *s, talc_trim_pos_t *pos)
{
    pos->bin = talc_bin_of(pos->page_mask + 1u + sizeof(talc_free_t) + TALC_HDR);
    pos->last = NULL;
    for (bool more = true; more;) {
        talc_stripe_lock_noted(s);
        more = talc_trim_bins(s, pos);
        talc_trim_unlock(s);
    }
}

static size_t talc_trim_arena(talc_arena_t *a, bool idle)
{
    if (!a)
        a = talc_thread_arena();
    if (!a)
        return 0;
    if (a->tc_on && !idle)
        (void)talc_tcache_release_own(a);
    /* A buffer arena's empty segments would only go back to its buffer, not to the OS. */
    size_t unmapped = a->cfg.source == TALC_SOURCE_OS ? talc_seg_reclaim(a, idle) : 0;
    talc_trim_pos_t pos = {.page_mask = (uintptr_t)talc_os_page_size() - 1u, .idle = idle};
    for (unsigned i = 0; i < a->nstripes; i++)
        talc_trim_stripe(talc_arena_stripe(a, i), &pos);
    talc_stats_add_total(&a->trims, 1);
    talc_stats_add_total(&a->trimmed_bytes, unmapped + pos.bytes);
    return unmapped + pos.bytes;
}

size_t talc_arena_trim(talc_arena_t *a) { return talc_trim_arena(a, false); }

size_t talc_arena_trim_idle(talc_arena_t *a) { return talc_trim_arena(a, true); }
