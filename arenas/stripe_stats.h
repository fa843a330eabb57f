/* stripe_stats.h — a consistent copy of one stripe's counters (arenas/stripe_stats.c).
 * Concurrency: talc_stripe_stats_read runs lock-free beside the stripe's writers. */
#ifndef TALC_STRIPE_STATS_H
#define TALC_STRIPE_STATS_H

#include <stddef.h>

#include "arena_internal.h"

typedef struct talc_stripe_snapshot {
    size_t bytes_in, bytes_out; /* requested bytes the stripe's users allocated and freed */
    size_t peak_bytes;
    size_t allocs, frees, reallocs, failed;
    size_t managed, free_bytes, free_chunks;
    size_t contended, remote_frees;
    size_t tc_moved;       /* blocks in thread caches from this stripe (mod 2^N) */
    size_t tc_depot_bytes; /* chunk bytes of cached blocks parked in its depot */
} talc_stripe_snapshot_t;

void talc_stripe_stats_read(talc_stripe_t *s, talc_stripe_snapshot_t *out);

#endif /* TALC_STRIPE_STATS_H */
