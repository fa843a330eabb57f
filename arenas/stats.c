/* stats.c — snapshots of arenas: sums of the stripes' seqlock-protected counters plus the
 * arena-level figures (source, reserve, OOM steps).
 *
 * Concurrency: lock-free for the stripe counters (stripe_stats.c); the arena's source and
 * borrowed byte counts are read under its grow lock, which allocation takes only when growing.
 */
#include <errno.h>
#include <string.h>

#include "arena_internal.h"
#include "stripe_stats.h"
#include "talc/stats.h"

static const char *const talc_step_names[TALC_OOM_STEP_ABORT + 1] = {
    "end", "reclaim", "grow", "borrow", "fallback", "fail", "abort"};

const char *talc_oom_step_name(talc_oom_step_t step)
{
    return (unsigned)step <= TALC_OOM_STEP_ABORT ? talc_step_names[step] : "unknown";
}

static void talc_sum_stripe(talc_arena_stats_t *o, const talc_stripe_snapshot_t *s)
{
    o->live_bytes += s->live_bytes;
    o->live_allocs += s->live_allocs;
    o->peak_bytes += s->peak_bytes;
    o->allocs += s->allocs;
    o->frees += s->frees;
    o->reallocs += s->reallocs;
    o->failed += s->failed;
    o->managed_bytes += s->managed;
    o->free_bytes += s->free_bytes;
    o->free_chunks += s->free_chunks;
    o->lock_contended += s->contended;
    o->remote_frees += s->remote_frees;
}

int talc_arena_get_stats(talc_arena_t *a, talc_arena_stats_t *out)
{
    if (!a || !out || a->magic != TALC_ARENA_MAGIC)
        return -EINVAL;
    memset(out, 0, sizeof *out);
    memcpy(out->name, a->name, sizeof out->name);
    out->stripes = a->nstripes;
    for (unsigned i = 0; i < a->nstripes; i++) {
        talc_stripe_snapshot_t s;
        talc_stripe_stats_read(talc_arena_stripe(a, i), &s);
        talc_sum_stripe(out, &s);
    }
    talc_mutex_lock(&a->grow_lock);
    out->source_bytes = a->source_bytes;
    out->borrowed_bytes = a->borrowed_bytes;
    talc_mutex_unlock(&a->grow_lock);
    out->borrowed_total = talc_atomic_load_relaxed_size(&a->borrowed_total);
    out->returned_total = talc_atomic_load_relaxed_size(&a->returned_total);
    out->reserve_denied = talc_atomic_load_relaxed_size(&a->reserve_denied);
    out->hard_budget = a->cfg.hard_budget;
    out->soft_budget = a->cfg.soft_budget;
    for (unsigned k = 0; k <= TALC_OOM_STEP_ABORT; k++) {
        out->oom_runs[k] = talc_atomic_load_relaxed_size(&a->oom.steps[k]);
        out->oom_ok[k] = talc_atomic_load_relaxed_size(&a->oom.step_ok[k]);
    }
    return 0;
}
