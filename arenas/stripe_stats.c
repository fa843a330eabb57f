/* stripe_stats.c — per-stripe counters behind a seqlock: exact, and readable while allocation
 * goes on. This file is the read side; the write side is inline in arena_internal.h.
 *
 * Writers hold the stripe lock, so there is one writer per stripe at a time, and the lock
 * holder is always inside a write section (talc_stripe_lock). A write section makes seq odd,
 * updates fields with relaxed atomic stores — the stripe's totals here and the heap engine's
 * own live counters — and makes seq even again with a release store. A reader loads seq
 * (acquire), copies the fields (relaxed), issues an acquire fence and reloads seq; it retries
 * if seq was odd or changed, yielding the CPU after a few quick retries (the writer may be
 * preempted). Readers never block writers.
 *
 * Concurrency: writers need the stripe lock; talc_stripe_stats_read may run anywhere.
 */
#include <sched.h>

#include "arena_internal.h"
#include "stripe_stats.h"

#define TALC_RD(field) out->field = talc_atomic_load_relaxed_size(&st->field)
/* The heap's counters are plain size_t fields that the engine stores with relaxed atomic
 * stores (heap_internal.h, TALC_PUBLISH); load them the same way. */
#define TALC_RD_HEAP(lv) __atomic_load_n(&(lv), __ATOMIC_RELAXED)

static void talc_stats_copy(talc_stripe_t *s, talc_stripe_snapshot_t *out)
{
    talc_stripe_stats_t *st = &s->st;
    const struct talc_heap *h = (const struct talc_heap *)(const void *)talc_stripe_heap(s);
    TALC_RD(allocs);
    TALC_RD(frees);
    TALC_RD(reallocs);
    TALC_RD(failed);
    TALC_RD(contended);
    TALC_RD(remote_frees);
    TALC_RD(tc_moved);
    out->tc_depot_bytes = talc_atomic_load_relaxed_size(&s->depot.bytes);
    out->bytes_in =
        TALC_CNT_RD64(h->cnt.total_bytes) - talc_atomic_load_relaxed_size(&st->tc_in_bytes);
    out->bytes_out = TALC_CNT_RD(h->bytes_out) - talc_atomic_load_relaxed_size(&st->tc_out_bytes);
    out->peak_bytes = TALC_RD_HEAP(h->cnt.peak_live_bytes);
    out->managed = TALC_RD_HEAP(h->cnt.managed_bytes);
    out->free_chunks = TALC_RD_HEAP(h->cnt.free_chunks);
    out->free_bytes = TALC_RD_HEAP(h->chunk_bytes) - TALC_RD_HEAP(h->used_bytes);
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

void talc_stripe_stats_read(talc_stripe_t *s, talc_stripe_snapshot_t *out)
{
    talc_stripe_stats_t *st = &s->st;
    unsigned tries = 0;
    for (;;) {
        /* acquire: the fields read below are at least as new as this seq. */
        uint32_t s1 = atomic_load_explicit(&st->seq, memory_order_acquire);
        if (s1 & 1u) {
            talc_stats_backoff(&tries);
            continue;
        }
        talc_stats_copy(s, out);
        /* acquire fence: the field loads above complete before seq is loaded again. */
        atomic_thread_fence(memory_order_acquire);
        if (talc_atomic_load_relaxed_u32(&st->seq) == s1)
            return;
        talc_stats_backoff(&tries);
    }
}
