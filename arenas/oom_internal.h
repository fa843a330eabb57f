/* oom_internal.h — the out-of-memory policy chain (arenas/oom.c) and the allocation entry it
 * retries through. Concurrency: called with no lock held. */
#ifndef TALC_OOM_INTERNAL_H
#define TALC_OOM_INTERNAL_H

#include <stddef.h>

#include "arena_internal.h"

/* The arenas whose chains a request has run, as a list on the stack from the arena a FALLBACK
 * step hopped into back to the one asked (up == NULL, depth 0). A fallback hop skips an arena
 * on it: its chain (and reclaim callback) already ran for this request. Kept on the stack,
 * not per thread, so that user code the chain calls starts paths of its own. */
typedef struct talc_oom_path {
    const struct talc_oom_path *up;
    const talc_arena_t *arena;
    unsigned depth; /* fallback hops from the arena asked (bounded) */
} talc_oom_path_t;

/* Allocate n bytes at alignment align (0 = default) from a, running a's chain on failure.
 * from: the path of the arena whose FALLBACK step asks, NULL for a request that starts here. */
void *talc_arena_alloc_impl(talc_arena_t *a, size_t n, size_t align, const talc_oom_path_t *from);
/* Allocate from the locked stripe s without the chain; updates its counters. */
void *talc_stripe_alloc(talc_stripe_t *s, size_t n, size_t align);
/* Run a's policy chain for a failed request; returns the block or NULL with errno ENOMEM. */
void *talc_oom_chain(talc_arena_t *a, size_t n, size_t align, const talc_oom_path_t *from);
/* Call a's soft-budget callback (after a growth crossed the soft budget; no lock held). */
void talc_oom_soft_budget_fire(talc_arena_t *a);
/* Count a failed allocation in a's statistics (one of its stripes, locked meanwhile). */
void talc_oom_failed(talc_arena_t *a);
/* a's ABORT step: the fatal handler, told TALC_FAULT_OUT_OF_MEMORY (unless that would re-enter
 * it from its own user code); errno ENOMEM if it returns. a NULL: nothing (a realloc's chain
 * put no ABORT step off: talc_ts.abort_waits). */
void talc_oom_abort(talc_arena_t *a);

#endif /* TALC_OOM_INTERNAL_H */
