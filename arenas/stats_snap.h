/* stats_snap.h — snapshots of every registered arena at once, for the stats writers
 * (stats_write.c) and the malloc shim's malloc_info (shim/glibc_ext.c); and the walk over
 * the arenas that they and the shim's mallinfo2 and malloc_trim take.
 *
 * Concurrency: any thread; arenas may be created and destroyed meanwhile (the walk holds the
 * registry lock, which creation and destroy take). Nothing is printed while the snapshots are
 * taken.
 */
#ifndef TALC_STATS_SNAP_H
#define TALC_STATS_SNAP_H

#include <stddef.h>

#include "talc/stats.h"

typedef struct talc_snaps {
    talc_arena_stats_t *v;
    size_t n, cap;
} talc_snaps_t;

/* Fills sn with a snapshot of every arena, in an OS mapping (not malloc: the shim may be the
 * process's malloc) that the caller gives back with talc_snap_release. 0, or -ENOMEM. Sized
 * from a count and doubled while arenas created meanwhile fill it, so none is dropped.
 * Until then a thread-specific key holds the mapping: callers print the snapshots, and
 * write(2) is a cancellation point; the key's destructor unmaps it when the thread is
 * cancelled there (until 2026-12-06 such a thread left it mapped for good). */
int talc_snap_all(talc_snaps_t *sn);
void talc_snap_release(const talc_snaps_t *sn);

/* talc_arena_foreach under the registry lock (arenas/registry.c) instead of an RCU read: a
 * thread's first RCU read registers it with liburcu-bp, which aborts the process when it
 * cannot map room for that, and a daemon reads its statistics, or trims, exactly when memory
 * is short (docs/arenas.md, "Registry"). fn runs with the registry lock held: it takes no lock
 * ranked before the thread caches', makes no RCU read and calls no user code; a fault its
 * calls find under a stripe lock is reported after the registry lock's release (fatal.c).
 * talc_arena_get_stats and talc_arena_trim qualify. Returns the number of arenas visited. */
size_t talc_registry_visit(bool (*fn)(talc_arena_t *a, void *ctx), void *ctx);

#endif /* TALC_STATS_SNAP_H */
