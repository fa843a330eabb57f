/* talc/stats.h — live counters of arenas and the reserve, and writers for text, JSON and
 * Prometheus text exposition.
 *
 * A snapshot does not stop allocation: each stripe's counters sit behind a seqlock that
 * readers retry on. Figures within one stripe are consistent with each other; an arena's
 * figures are the sum over its stripes, each read at a slightly different moment while
 * allocation goes on. Locks taken: in an arena with thread caches, the caches' share is
 * summed under the caches' registry lock, O(threads) (twice per snapshot). Cached
 * allocations and frees never take it, but a thread's first use of an arena, a thread's exit,
 * a flush (talc_thread_cache_flush) and an arena's destroy do, so these wait for a snapshot in
 * progress, and a snapshot waits for them. talc_stats_write walks the arenas under the arena
 * registry's lock (not an RCU read, which would register the thread with liburcu-bp, and that
 * aborts the process when it cannot map room: talc/arena.h), so arena creation and destroy
 * wait for its snapshots (not for its printing). Hence no function here may be called from a
 * signal handler.
 *
 * Concurrency: every function may run on any thread, concurrently with anything except the
 * destruction of the arena it reads. Writers print to the stream they are given and nowhere else.
 * Errors: 0 or a negative errno value.
 */
#ifndef TALC_STATS_H
#define TALC_STATS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "talc/arena.h"
#include "talc/config.h"
#include "talc/reserve.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct talc_arena_stats {
    char name[TALC_ARENA_NAME_MAX + 1];
    unsigned stripes; /**< as configured: the large stripe is not counted (its figures are) */
    /* Live figures: running totals' differences, exact at rest, and live_allocs == allocs −
     * frees in every snapshot. Without thread caches a snapshot taken while threads allocate
     * reads each stripe at once, so its figures agree (live + free <= managed, live <= peak).
     * With thread caches a block may be allocated and freed in different caches: a snapshot
     * reads all frees before all allocations, so it never reads live figures below the truth
     * (nor frees above allocations), but may count a block freed while it was taken both as
     * live and as free. */
    size_t live_bytes;  /**< requested bytes of live blocks */
    size_t live_allocs; /**< live blocks (blocks in thread caches are not live) */
    size_t peak_bytes;  /**< Σ of the stripes' peaks, the large stripe's included: the
                             arena's peak when it has one stripe, no thread cache and no
                             block of TALC_LARGE_MIN (256 KiB) or more, an upper bound on
                             it otherwise;
                             with a thread cache, the peak of the chunk bytes the
                             stripes had allocated, cached blocks included */
    /* Running totals. Every uint64_t total is counted in size_t: modulo 2^32 on a 32-bit
     * target, where a busy daemon wraps it in hours (and frees may then read above allocs).
     * Take differences of totals in size_t arithmetic, as live_allocs is. */
    uint64_t allocs, frees, reallocs;
    uint64_t failed; /**< allocation calls that returned NULL, those refused for their
                          arguments included (a calloc whose size overflows, an alignment
                          that is not a power of two); counted once, in the arena asked,
                          not in the arenas its FALLBACK steps tried. A realloc whose chain
                          found nothing but which then resizes its block where it is does
                          not count (its chain's steps count in oom_runs) */
    /* Heap shape. */
    size_t managed_bytes; /**< bytes the stripes' heaps manage: their chunks, and each
                               segment's span header and fence (64 bytes or more) */
    size_t free_bytes;    /**< bytes in free chunks */
    size_t free_chunks;
    size_t cached_blocks; /**< blocks held in thread caches or parked at their stripes
                               for the next fill (not live, not free) */
    size_t cached_bytes;  /**< their chunk bytes: managed = free + live chunks + these +
                               the segments' span headers and fences, at rest; while
                               blocks move between caches, stripes and depots it may be
                               off by a batch (docs/arenas.md) */
    /* Memory taken. */
    size_t source_bytes;   /**< from the arena's own source now */
    size_t borrowed_bytes; /**< from the reserve now */
    uint64_t borrowed_total, returned_total, reserve_denied;
    uint64_t trims;         /**< talc_arena_trim calls (malloc_trim with the shim), and the
                                 shim's background trimmer's passes (TALC_CONF trim_ms) */
    uint64_t trimmed_bytes; /**< bytes they unmapped or decommitted, in all: a page that one
                                 trim decommits and a later one unmaps with its emptied
                                 segment counts in both (the trims' work, not the resident
                                 memory given back, which only the OS knows) */
    size_t hard_budget, soft_budget;
    /* OOM policy: per step (talc_oom_step_t index), times run (counted as the step starts),
     * times it succeeded and times it found nothing (FAIL and ABORT: as they start);
     * oom_ok[k] + oom_failed[k] <= oom_runs[k] in every snapshot; the difference is the runs
     * still going, and those that user code left by longjmp. Each only grows (oom_failed was
     * added on 2026-12-07: runs - ok, which fell once a running step succeeded, was exported
     * as the failures). */
    uint64_t oom_runs[TALC_OOM_STEP_ABORT + 1];
    uint64_t oom_ok[TALC_OOM_STEP_ABORT + 1];
    uint64_t oom_failed[TALC_OOM_STEP_ABORT + 1];
    /* Concurrency. */
    uint64_t lock_contended; /**< stripe lock found taken: once per contended acquisition,
                                  on the stripe the thread then locked (allocations, frees,
                                  thread-cache fills, give-backs and depot flushes, usable
                                  size, the OOM chain, trims; not the fork handlers) */
    uint64_t remote_frees;   /**< frees into a stripe other than the one the freeing thread
                                  last allocated from (in any arena); with a thread cache,
                                  frees of blocks from another stripe than the one its
                                  cache of that arena fills from */
} talc_arena_stats_t;

/** Snapshot one arena. Returns 0, or -EINVAL for NULL. Cost O(stripes) without thread caches,
 *  lock-free; with them O(stripes + threads), and the caches' registry lock is held while they
 *  are summed (above). The arena must not be destroyed meanwhile (talc/arena.h); inside a
 *  talc_arena_foreach callback it cannot be. */
TALC_API int talc_arena_get_stats(talc_arena_t *arena, talc_arena_stats_t *out);

typedef enum talc_stats_format {
    TALC_STATS_TEXT = 0,   /**< one aligned table row per arena, then the reserve. A name
                                of more than 16 characters has a line of its own above
                                its row. Columns after the name:
                                stripes, live_bytes, live (allocations), peak_bytes, allocs,
                                frees, managed, cached (bytes), borrowed, failed, oom (steps
                                of the OOM chain run, all kinds: GROW counts, so an arena's
                                first segment shows as 1), contended (lock_contended) */
    TALC_STATS_JSON,       /**< {"arenas":[{...}], "reserve":{...}} */
    TALC_STATS_PROMETHEUS, /**< text exposition format 0.0.4, arena name as a label */
} talc_stats_format_t;

/** Write a snapshot of every arena (and the reserve) to `out`, and flush it. The snapshots sit
 *  in an OS mapping while they are printed; a thread cancelled in a write (a cancellation
 *  point) gives it back as it exits (a thread-specific key's destructor). Returns 0,
 *  -EINVAL, -ENOMEM (no memory for the snapshots), or -EIO if a write or the flush failed (an
 *  error flag `out` had before the call is not counted; on such a stream only the flush's
 *  failure shows, so clear the flag first, clearerr, to learn about the writes too). After a
 *  failed write nothing more is written and what the stream buffers of the arena (or
 *  Prometheus series) in progress is discarded (stdio would go on after an EINTR and leave a
 *  gap): the output ends short, and may end inside a unit (stdio hands the kernel whole
 *  buffers, whose edges fall anywhere, and a write may be partly taken): invalid JSON or
 *  exposition text, to be discarded by a reader of a call that failed. Takes the reserve's
 *  lock to read it. */
TALC_API int talc_stats_write(FILE *out, talc_stats_format_t format);

/** Write one arena's snapshot. Same results as talc_stats_write. */
TALC_API int talc_stats_write_arena(FILE *out, talc_arena_t *arena, talc_stats_format_t format);

/** Name of an OOM step ("reclaim", "grow", ...), for reports. */
TALC_API const char *talc_oom_step_name(talc_oom_step_t step);

#ifdef __cplusplus
}
#endif

#endif /* TALC_STATS_H */
