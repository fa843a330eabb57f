/* stats.c — snapshots of arenas: sums of the stripes' seqlock-protected counters, the thread
 * caches' share (tcache.c), and the arena-level figures (source, reserve, OOM steps); and the
 * snapshots of every arena at once that the writers print (stats_snap.h).
 *
 * Concurrency: lock-free for the stripe counters (stripe_stats.c); the caches' share is read
 * under the caches' registry lock, which allocation takes only on a thread's first use of an
 * arena, on a slot change and when a thread exits; the arena's source and borrowed byte counts
 * are read without its grow lock (which is held across mmap), with relaxed loads of figures
 * that segment.c stores with relaxed stores under it.
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "arena_internal.h"
#include "os_mem.h"
#include "stats_snap.h"
#include "tcache.h"
#include "stripe_stats.h"
#include "talc/stats.h"

/* Inline strings, not pointers: a table of pointers costs a load-time relocation each. */
static const char talc_step_names[TALC_OOM_STEP_ABORT + 1][9] = {
    "end", "reclaim", "grow", "borrow", "fallback", "fail", "abort"};

const char *talc_oom_step_name(talc_oom_step_t step)
{
    return (unsigned)step <= TALC_OOM_STEP_ABORT ? talc_step_names[step] : "unknown";
}

/* The live figures are differences of running totals: allocations − frees, requested bytes
 * allocated − requested bytes freed. Without thread caches a block is allocated and freed in
 * its stripe, so one seqlock read of each stripe gives figures that agree with each other
 * (live bytes + free bytes ≤ managed bytes, live ≤ peak). With caches a block may be
 * allocated in one unit (a stripe, a thread's cache) and freed in another, so a snapshot
 * reads every unit's frees first and every unit's allocations after (talc_read_two_phase):
 * any free it counts happened after its allocation, which the second phase then counts too.
 * Its live figures are then never below the truth while threads allocate (they may be above
 * it by what was allocated during the snapshot), and exact at rest. Either way
 * live_allocs == allocs − frees in every snapshot. */

/* Everything but the frees and the bytes freed. */
static void talc_add_ins(talc_arena_stats_t *o, const talc_stripe_snapshot_t *s, size_t *bytes_in)
{
    o->allocs += s->allocs;
    *bytes_in += s->bytes_in;
    o->cached_blocks += s->tc_moved; /* the blocks moved into caches from this stripe */
#if TALC_COUNTERS /* without, cached_bytes stays 0 as managed and free do (stats.h's sum) */
    o->cached_bytes += s->tc_depot_bytes; /* those of them parked in its depot */
#endif
    o->peak_bytes += s->peak_bytes;
    o->reallocs += s->reallocs;
    o->failed += s->failed;
    o->managed_bytes += s->managed;
    o->free_bytes += s->free_bytes;
    o->free_chunks += s->free_chunks;
    o->lock_contended += s->contended;
    o->remote_frees += s->remote_frees;
}

static void talc_read_one_phase(talc_arena_t *a, talc_arena_stats_t *o, size_t *bytes_in,
                                size_t *bytes_out)
{
    for (unsigned i = 0; i < a->nstripes; i++) {
        talc_stripe_snapshot_t s;
        talc_stripe_stats_read(talc_arena_stripe(a, i), &s);
        o->frees += s.frees;
        *bytes_out += s.bytes_out;
        talc_add_ins(o, &s, bytes_in);
    }
}

static void talc_read_two_phase(talc_arena_t *a, talc_arena_stats_t *o, size_t *bytes_in,
                                size_t *bytes_out)
{
    /* Phase 1: the frees and bytes freed of every cache and stripe. The caches' frees start
     * the cached-blocks figure: blocks the caches took back and did not hand out again. */
    talc_tcache_sums_t c;
    talc_tcache_sums_out(a, &c);
    o->frees = c.frees;
    o->cached_blocks = c.frees;
    *bytes_out = c.bytes_out;
    for (unsigned i = 0; i < a->nstripes; i++) {
        talc_stripe_snapshot_t s;
        talc_stripe_stats_read(talc_arena_stripe(a, i), &s);
        o->frees += s.frees;
        *bytes_out += s.bytes_out;
    }
    /* Phase 1's loads complete before phase 2's (the caches' loads are acquire and each
     * stripe read ends with an acquire fence; this makes the order explicit). */
    atomic_thread_fence(memory_order_seq_cst);
    /* Phase 2: allocations, bytes allocated and every other figure. */
    for (unsigned i = 0; i < a->nstripes; i++) {
        talc_stripe_snapshot_t s;
        talc_stripe_stats_read(talc_arena_stripe(a, i), &s);
        talc_add_ins(o, &s, bytes_in);
    }
    talc_tcache_sums_in(a, &c);
    o->allocs += c.allocs;
    *bytes_in += c.bytes_in;
    o->remote_frees += c.remote;
    o->reallocs += c.reallocs;
#if TALC_COUNTERS
    o->cached_bytes += c.held;
#endif
    o->cached_blocks -= c.allocs;
    if ((ptrdiff_t)o->cached_blocks < 0) /* its parts were read at two moments */
        o->cached_blocks = 0;
}

/* Each unit's totals are size_t counters that wrap on their own (at 2^32 on a 32-bit target);
 * summed in 64 bits they would be neither the true total nor that total modulo 2^32. Reduced
 * to size_t, each sum is the true total modulo 2^N, as the arena-level totals are, and two
 * snapshots' difference taken in size_t is exact. A no-op where size_t has 64 bits. */
static void talc_wrap_totals(talc_arena_stats_t *o)
{
    o->allocs = (size_t)o->allocs;
    o->frees = (size_t)o->frees;
    o->reallocs = (size_t)o->reallocs;
    o->failed = (size_t)o->failed;
    o->lock_contended = (size_t)o->lock_contended;
    o->remote_frees = (size_t)o->remote_frees;
}

static void talc_read_live(talc_arena_t *a, talc_arena_stats_t *o)
{
    size_t bytes_out = 0, bytes_in = 0;
    if (a->tc_on)
        talc_read_two_phase(a, o, &bytes_in, &bytes_out);
    else
        talc_read_one_phase(a, o, &bytes_in, &bytes_out);
    talc_wrap_totals(o);
    o->live_allocs = (size_t)(o->allocs - o->frees);
    o->live_bytes = bytes_in - bytes_out;
}

int talc_arena_get_stats(talc_arena_t *a, talc_arena_stats_t *out)
{
    if (!a || !out || a->magic != TALC_ARENA_MAGIC)
        return -EINVAL;
    memset(out, 0, sizeof *out);
    memcpy(out->name, a->name, sizeof out->name);
    out->stripes = a->nroute; /* the large stripe is not counted (talc/stats.h) */
    talc_read_live(a, out);
    /* Without the grow lock, which is held across mmap: each figure is exact, the pair may be
     * a segment apart while one is being taken or given back. */
    out->source_bytes = __atomic_load_n(&a->source_bytes, __ATOMIC_RELAXED);
    out->borrowed_bytes = __atomic_load_n(&a->borrowed_bytes, __ATOMIC_RELAXED);
    out->borrowed_total = talc_atomic_load_relaxed_size(&a->borrowed_total);
    out->returned_total = talc_atomic_load_relaxed_size(&a->returned_total);
    out->reserve_denied = talc_atomic_load_relaxed_size(&a->reserve_denied);
    out->trims = talc_atomic_load_relaxed_size(&a->trims);
    out->trimmed_bytes = talc_atomic_load_relaxed_size(&a->trimmed_bytes);
    out->hard_budget = a->cfg.hard_budget;
    out->soft_budget = a->cfg.soft_budget;
    /* Outcomes first, with acquire (oom.c counts a run, then its outcome with release), so
     * that a step running meanwhile cannot show more outcomes than runs. */
    for (unsigned k = 0; k <= TALC_OOM_STEP_ABORT; k++) {
        out->oom_ok[k] = talc_atomic_load_acquire_size(&a->oom.step_ok[k]);
        out->oom_failed[k] = talc_atomic_load_acquire_size(&a->oom.step_failed[k]);
        out->oom_runs[k] = talc_atomic_load_relaxed_size(&a->oom.steps[k]);
    }
    return 0;
}

/* ---- Every arena at once (stats_snap.h) ---------------------------------------------------*/

static bool talc_snap_one(talc_arena_t *a, void *ctx)
{
    talc_snaps_t *s = ctx;
    if (s->n < s->cap && talc_arena_get_stats(a, &s->v[s->n]) == 0)
        s->n++;
    return s->n < s->cap;
}

static bool talc_count_one(talc_arena_t *a, void *ctx)
{
    (void)a;
    (void)ctx;
    return true;
}

/* A snapshot mapping starts with this header; the snapshots follow. */
typedef struct talc_snap_head {
    size_t bytes;
    struct talc_snap_head *outer; /* the thread's mapping held before (a handler's nested call) */
} talc_snap_head_t;

static pthread_key_t talc_snap_key;
static pthread_once_t talc_snap_once = PTHREAD_ONCE_INIT;
static bool talc_snap_key_ok;

static void talc_snap_unmap(void *m) /* the key's destructor: the thread exits while it prints */
{
    for (talc_snap_head_t *h = m, *o; h; h = o) {
        o = h->outer;
        talc_os_unmap(h, h->bytes);
    }
}

static void talc_snap_make_key(void)
{
    talc_snap_key_ok = pthread_key_create(&talc_snap_key, talc_snap_unmap) == 0;
}

int talc_snap_all(talc_snaps_t *sn)
{
    size_t cap = talc_registry_visit(talc_count_one, NULL) + 16u;
    for (;;) {
        size_t bytes = sizeof(talc_snap_head_t) + cap * sizeof(talc_arena_stats_t);
        talc_snap_head_t *h = talc_os_map(bytes, 0);
        if (!h)
            return -ENOMEM;
        h->bytes = bytes;
        sn->v = (talc_arena_stats_t *)(void *)(h + 1);
        sn->n = 0;
        sn->cap = cap;
        (void)talc_registry_visit(talc_snap_one, sn);
        if (sn->n < cap) {
            pthread_once(&talc_snap_once, talc_snap_make_key);
            if (talc_snap_key_ok) {
                h->outer = pthread_getspecific(talc_snap_key);
                (void)pthread_setspecific(talc_snap_key, h); /* no memory: not held */
            }
            return 0;
        }
        talc_os_unmap(h, bytes);
        cap *= 2u;
    }
}

void talc_snap_release(const talc_snaps_t *sn)
{
    talc_snap_head_t *h = (talc_snap_head_t *)(void *)sn->v - 1;
    if (talc_snap_key_ok && pthread_getspecific(talc_snap_key) == h)
        (void)pthread_setspecific(talc_snap_key, h->outer);
    talc_os_unmap(h, h->bytes);
}
