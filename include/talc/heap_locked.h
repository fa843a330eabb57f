/* talc/heap_locked.h — a heap shared by threads: one talc_heap_t behind a pluggable lock
 * (Talc's TalcLock; the plain talc_heap_t is its TalcCell).
 *
 * Concurrency: every function here may be called from any thread at any time, concurrently
 * with any other function here on the same locked heap, with each block in one call at a time
 * (the caller's to ensure: realloc copies outside the lock, so a free, realloc or usable_size
 * of the block another thread is reallocating may go unreported, the copy may hold free-list
 * links, and realloc's free of the old block may free another thread's new one). Each takes
 * the lock once for O(1) work; realloc drops it while copying blocks of
 * TALC_REALLOC_UNLOCKED_COPY bytes or more. The built-in spinlock spins without yielding (it
 * makes no OS call): with more threads than CPUs, give a lock that sleeps (a pthread mutex).
 * The OOM hook and the fatal handler run with the lock held: they must not call back into
 * this locked heap (the OOM hook gets the inner talc_heap_t and may claim/extend on it), and a
 * fatal handler that longjmps out must call talc_locked_release first.
 *
 * Errors and costs: as the talc_heap_* function of the same name (talc/heap.h), plus the lock.
 */
#ifndef TALC_HEAP_LOCKED_H
#define TALC_HEAP_LOCKED_H

#include <stdbool.h>
#include <stddef.h>

#include "talc/config.h"
#include "talc/heap.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct talc_locked_heap talc_locked_heap_t;

/** A lock: lock() blocks until held, unlock() releases. ctx is passed to both. */
typedef struct talc_lock_ops {
    void (*lock)(void *ctx);
    void (*unlock)(void *ctx);
    void *ctx;
} talc_lock_ops_t;

/** Bytes the control block needs (heap + lock), constant for a build. */
TALC_API size_t talc_locked_heap_footprint(void);

/** As talc_heap_init, with the control block and lock at `mem`. `lock` NULL = the built-in
 *  test-and-test-and-set spinlock (no OS calls); it is copied. NULL on the same conditions as
 *  talc_heap_init, and for a `lock` whose lock or unlock function is NULL. */
TALC_API talc_locked_heap_t *talc_locked_heap_init(void *mem, size_t size,
                                                   const talc_heap_opts_t *opts,
                                                   const talc_lock_ops_t *lock);

TALC_API void *talc_locked_alloc(talc_locked_heap_t *lh, size_t size) TALC_MALLOC_ATTR
    TALC_NONNULL(1);
TALC_API void *talc_locked_alloc_aligned(talc_locked_heap_t *lh, size_t size,
                                         size_t align) TALC_MALLOC_ATTR TALC_NONNULL(1);
TALC_API void talc_locked_free(talc_locked_heap_t *lh, void *ptr) TALC_NONNULL(1);
/** As talc_heap_realloc, except that a shrink always stays in place (it resizes in place
 * first, whatever opts.shrink_in_place says), and that a block of TALC_REALLOC_UNLOCKED_COPY
 * bytes or more that must move is copied outside the lock into a block allocated first; if
 * that allocation fails (after the OOM hook), talc_heap_realloc runs under the lock, which
 * may still slide the block down into a free chunk below (and asks the OOM hook again). */
TALC_API void *talc_locked_realloc(talc_locked_heap_t *lh, void *ptr, size_t size) TALC_NONNULL(1);
TALC_API size_t talc_locked_usable_size(talc_locked_heap_t *lh, const void *ptr) TALC_NONNULL(1);
TALC_API talc_span_t *talc_locked_claim(talc_locked_heap_t *lh, void *base, size_t size)
    TALC_NONNULL(1);
TALC_API void talc_locked_counters(talc_locked_heap_t *lh, talc_heap_counters_t *out)
    TALC_NONNULL(1, 2);

/** Take the lock and return the inner heap, for span management or checks under the lock.
 *  Every talc_locked_acquire must be paired with talc_locked_release on the same thread, with
 *  no talc_locked_* call in between. */
TALC_API talc_heap_t *talc_locked_acquire(talc_locked_heap_t *lh) TALC_NONNULL(1);
TALC_API void talc_locked_release(talc_locked_heap_t *lh) TALC_NONNULL(1);

#ifdef __cplusplus
}
#endif

#endif /* TALC_HEAP_LOCKED_H */
