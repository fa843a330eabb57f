/* stripe_stats.c — per-stripe counters behind a seqlock: exact, and readable while allocation
 * goes on.
 *
 * Writers hold the stripe lock, so there is one writer per stripe at a time. A write section
 * makes seq odd, updates fields with relaxed atomic stores, and makes seq even again with a
 * release store. A reader loads seq (acquire), copies the fields (relaxed), issues an acquire
 * fence and reloads seq; it retries if seq was odd or changed, yielding the CPU after a few
 * quick retries (the writer may be preempted). Readers never block writers.
 *
 * Concurrency: write functions need the stripe lock; talc_stripe_stats_read may run anywhere.
 */
#include <sched.h>

#include "arena_internal.h"
#include "heap_internal.h"
#include "stripe_stats.h"

/* With TALC_COUNTERS=0 the write sections and the engine copy compile to nothing: the stripe
 * counters stay zero and only the arena-level figures (source, reserve, OOM steps) remain. */
void talc_stats_write_begin(talc_stripe_stats_t *st)
{
#if !TALC_COUNTERS
    (void)st;
    return;
#endif
    uint32_t s = talc_atomic_load_relaxed_u32(&st->seq);
    talc_atomic_store_relaxed_u32(&st->seq, s + 1u);
    /* release fence: the odd seq becomes visible before any of the field stores below. */
    atomic_thread_fence(memory_order_release);
}

void talc_stats_write_end(talc_stripe_stats_t *st)
{
#if !TALC_COUNTERS
    (void)st;
    return;
#endif
    uint32_t s = talc_atomic_load_relaxed_u32(&st->seq);
    /* release: the field stores above become visible before the even seq. */
    talc_atomic_store_release_u32(&st->seq, s + 1u);
}

void talc_stats_sync_heap(talc_stripe_t *s)
{
#if !TALC_COUNTERS
    (void)s;
    return;
#endif
    /* Read the engine's fields in place (a full talc_heap_counters copy per operation cost
     * 16 % of an arena malloc+free pair). */
    const struct talc_heap *h = (const struct talc_heap *)(const void *)talc_stripe_heap(s);
    talc_atomic_store_relaxed_size(&s->st.live_allocs, h->cnt.live_allocs);
    talc_atomic_store_relaxed_size(&s->st.live_bytes, h->cnt.live_bytes);
    talc_atomic_store_relaxed_size(&s->st.peak_bytes, h->cnt.peak_live_bytes);
    talc_atomic_store_relaxed_size(&s->st.managed, h->cnt.managed_bytes);
    talc_atomic_store_relaxed_size(&s->st.free_bytes, h->chunk_bytes - h->used_bytes);
    talc_atomic_store_relaxed_size(&s->st.free_chunks, h->cnt.free_chunks);
}

#define TALC_RD(field) out->field = talc_atomic_load_relaxed_size(&st->field)

static void talc_stats_copy(talc_stripe_stats_t *st, talc_stripe_snapshot_t *out)
{
    TALC_RD(live_allocs);
    TALC_RD(live_bytes);
    TALC_RD(peak_bytes);
    TALC_RD(allocs);
    TALC_RD(frees);
    TALC_RD(reallocs);
    TALC_RD(failed);
    TALC_RD(managed);
    TALC_RD(free_bytes);
    TALC_RD(free_chunks);
    TALC_RD(contended);
    TALC_RD(remote_frees);
}

/* A writer can be preempted inside its write section (it holds the stripe lock, a mutex). A
 * reader that kept spinning would then burn the CPU the writer needs: after a few quick
 * retries it gives the CPU away on every further one. */
#define TALC_STATS_SPINS 32u

static void talc_stats_backoff(unsigned *tries)
{
    if (++*tries < TALC_STATS_SPINS)
        talc_cpu_relax();
    else
        sched_yield();
}

void talc_stripe_stats_read(talc_stripe_stats_t *st, talc_stripe_snapshot_t *out)
{
    unsigned tries = 0;
    for (;;) {
        /* acquire: the fields read below are at least as new as this seq. */
        uint32_t s1 = atomic_load_explicit(&st->seq, memory_order_acquire);
        if (s1 & 1u) {
            talc_stats_backoff(&tries);
            continue;
        }
        talc_stats_copy(st, out);
        /* acquire fence: the field loads above complete before seq is loaded again. */
        atomic_thread_fence(memory_order_acquire);
        if (talc_atomic_load_relaxed_u32(&st->seq) == s1)
            return;
        talc_stats_backoff(&tries);
    }
}
