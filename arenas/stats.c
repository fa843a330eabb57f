/* stats.c — snapshots of arenas: sums of the stripes' seqlock-protected counters, the thread
 * caches' share (tcache.c), and the arena-level figures (source, reserve, OOM steps).
 *
 * Concurrency: lock-free for the stripe counters (stripe_stats.c); the caches' share is read
 * under the cache registry lock, which allocation takes only on a thread's first use of an
 * arena and when a thread exits; the arena's source and
 * borrowed byte counts are read under its grow lock, which allocation takes only when growing.
 */
#include <errno.h>
#include <string.h>

#include "arena_internal.h"
#include "tcache.h"
#include "stripe_stats.h"
#include "talc/stats.h"

static const char *const talc_step_names[TALC_OOM_STEP_ABORT + 1] = {
    "end", "reclaim", "grow", "borrow", "fallback", "fail", "abort"};

const char *talc_oom_step_name(talc_oom_step_t step)
{
    return (unsigned)step <= TALC_OOM_STEP_ABORT ? talc_step_names[step] : "unknown";
}

/* Blocks a stripe moved into thread caches are allocated in its heap but not live. The sums
 * below run mod 2^N: a stripe's part and a cache's part may each be "negative" (a block
 * allocated through a stripe, freed into a cache and given back from there); their total is
 * not. */
static void talc_sum_stripe(talc_arena_stats_t *o, const talc_stripe_snapshot_t *s)
{
    o->live_bytes += s->live_bytes - s->tc_mbytes;
    o->live_allocs += s->live_allocs - s->tc_moved;
    o->cached_blocks += s->tc_moved;
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

/* The thread caches' share (talc_tc_slot_t): every cache event changes the counters of one
 * unit, a stripe or a cache, and a snapshot reads each unit's at once, so within a snapshot
 * live_allocs == allocs − frees holds exactly, caches or not. */
static void talc_add_caches(talc_arena_t *a, talc_arena_stats_t *o)
{
    if (!a->tc_on)
        return;
    talc_tcache_sums_t c;
    talc_tcache_sums(a, &c);
    o->allocs += c.allocs;
    o->frees += c.frees;
    o->remote_frees += c.remote;
    o->live_allocs += c.allocs - c.frees;
    o->live_bytes += c.adj;
    o->cached_blocks += c.frees - c.allocs;
    o->cached_bytes = c.held;
}

/* A figure summed mod 2^N from parts taken at slightly different moments is never below zero
 * at rest; between the parts it may be, by what moved meanwhile. */
static size_t talc_clamp0(size_t x)
{
    return (ptrdiff_t)x < 0 ? 0 : x;
}

static void talc_clamp_live(talc_arena_stats_t *o)
{
    o->live_allocs = talc_clamp0(o->live_allocs);
    o->live_bytes = talc_clamp0(o->live_bytes);
    o->cached_blocks = talc_clamp0(o->cached_blocks);
    o->cached_bytes = talc_clamp0(o->cached_bytes);
}

int talc_arena_get_stats(talc_arena_t *a, talc_arena_stats_t *out)
{
    if (!a || !out || a->magic != TALC_ARENA_MAGIC)
        return -EINVAL;
    memset(out, 0, sizeof *out);
    memcpy(out->name, a->name, sizeof out->name);
    out->stripes = a->nstripes;
    /* Caches first: a block is then seen freed but not allocated only if a cache handed it
     * out and a stripe took it back meanwhile (a thread without a cache freed it), which is
     * rare; the reverse order would miss every stripe allocation freed into a cache. */
    talc_add_caches(a, out);
    for (unsigned i = 0; i < a->nstripes; i++) {
        talc_stripe_snapshot_t s;
        talc_stripe_stats_read(talc_arena_stripe(a, i), &s);
        talc_sum_stripe(out, &s);
    }
    talc_clamp_live(out);
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
