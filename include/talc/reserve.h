/* talc/reserve.h — the process-wide reserve: memory set aside at start-up that arenas borrow
 * under policy when their own source runs dry, and give back as soon as they stop using it.
 *
 * Policy for a borrow of n bytes by arena A (config fields in talc/arena.h):
 *   - A's borrowed bytes stay within A's borrow_ceiling (0 = A never borrows);
 *   - after the borrow, the reserve keeps enough free memory for every other arena B with
 *     borrow_priority(B) >= borrow_priority(A) to reach its reserve_guaranteed minimum
 *     (a higher-priority arena may take what lower-priority arenas were guaranteed); when
 *     the minimums of A and those B exceed what the reserve can still give them (its size,
 *     less what lower-priority arenas hold and what those B hold above their minimums), they
 *     cannot all be met, and a borrow that keeps A within its own minimum leaves the B of
 *     A's own priority that excess less (first come, first served among equals, rather than
 *     part of the reserve lent to nobody); those of a higher priority keep theirs whole.
 * Borrowed memory goes back when its segment holds no block: with thread caches on, blocks
 * cached by threads count until the caches are flushed.
 * The free figure is exact at all times: free = size − Σ borrowed.
 *
 * Concurrency: every function may be called from any thread; they take the reserve lock.
 * Errors: negative errno values.
 */
#ifndef TALC_RESERVE_H
#define TALC_RESERVE_H

#include <stddef.h>

#include "talc/config.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TALC_RESERVE_PREFAULT 1u /**< touch every page at init (no faults later) */
#define TALC_RESERVE_MLOCK 2u    /**< lock the reserve in RAM (mlock); fails with -EPERM/-ENOMEM */

/** Set the reserve up once per process: `size` bytes (rounded up to the owner-map granule).
 *  Returns 0, -EALREADY if already set up, -EBUSY while another thread is setting it up (it
 *  may still fail: then a later call may try again), -EINVAL for size 0 or an unknown flag,
 *  -ENOMEM (also for a size above SIZE_MAX / 2, and when the kernel refuses to populate a
 *  TALC_RESERVE_PREFAULT reserve), or the mlock error (then nothing is kept). The mapping,
 *  mlock and populating run with no lock held: borrows, arena creations and
 *  talc_reserve_get_stats on other threads go on meanwhile and see an empty reserve (size and
 *  free zero) until it is complete. Setting the reserve up at start-up, before arenas need it,
 *  is still what makes it useful. A fork child inherits the reserve but not its TALC_RESERVE_MLOCK
 *  lock (mlock(2)). */
TALC_API int talc_reserve_init(size_t size, unsigned flags);

typedef struct talc_reserve_stats {
    size_t size;           /**< total bytes */
    size_t free;           /**< bytes not lent out */
    size_t held;           /**< bytes lent out now (size − free) */
    size_t borrowed_total; /**< bytes ever lent */
    size_t returned_total; /**< bytes ever given back */
    size_t denied;         /**< borrow requests refused by policy or exhaustion */
    size_t guaranteed;     /**< Σ of members' guaranteed minimums, each up to its
                                borrow ceiling (saturating) */
} talc_reserve_stats_t;

/** Copy the reserve's figures (nothing for NULL). O(1). Before talc_reserve_init all are zero
 *  but `denied` (borrows refused because there was no reserve yet) and `guaranteed` (arenas
 *  join as members when created, reserve or not). */
TALC_API void talc_reserve_get_stats(talc_reserve_stats_t *out);

#ifdef __cplusplus
}
#endif

#endif /* TALC_RESERVE_H */
