/* dispatch.c — which arena and which stripe the calling thread uses.
 *
 * Arena: the innermost open scope, else the thread's bound arena, else the default arena.
 * Stripe: the home stripe of the thread's CPU (arena->cpu_stripe, built from the hwloc
 * topology so that CPUs sharing a cache share a stripe), plus a per-thread offset. When a
 * stripe's lock is found taken (trylock fails), the thread tries the other stripes with
 * trylock and moves its offset to the first one it gets: a contended thread drifts to a quiet
 * stripe and stays there (contention-adaptive, like Scudo's shared TSDs). It drifts among
 * its own CPU's stripes: with a stripe per CPU and spares, its home and every ncpus-th stripe
 * after it; with fewer stripes than CPUs, its home up to the next CPU's home. When that is
 * its home alone it drifts among all stripes; if they are all busy it blocks where it is. A
 * thread that drifted onto another core's stripe stayed there while its trylocks succeeded,
 * and the two cores passed that heap's lines to and fro (docs/arenas.md, "Four threads on
 * two cores"). The offset belongs to the arena and CPU it was learned on: a thread that
 * allocates from another arena, or runs on another CPU, starts again from home. In an arena
 * with thread caches every stripe lock is its CPU's home stripe's, without the offset
 * (talc_dispatch_lock_home): the caches take the contention away, and a drifted thread would
 * share lines with another CPU's threads. Requests of TALC_LARGE_MIN bytes or more go to the
 * arena's large stripe instead (talc_dispatch_lock_stripe), which the dispatcher never picks.
 *
 * Concurrency: the thread state is thread-local (initial-exec TLS: no allocation on first
 * access, safe inside malloc). Stripe locks are taken here and released by the caller.
 */
#include <errno.h>

#include "arena_internal.h"
#include "cpu_id.h"

/* The calling thread's state (arena_internal.h). */
__thread talc_tstate_t talc_ts __attribute__((tls_model("initial-exec")));

/* Keep talc_ts.route (arena_internal.h) equal to the innermost scope, else the binding. */
static void talc_route_update(void)
{
    talc_ts.route = talc_ts.depth ? talc_ts.scope[talc_ts.depth - 1u] : talc_ts.bound;
}

void talc_thread_bind(talc_arena_t *arena)
{
    talc_ts.bound = arena;
    talc_route_update();
}

TALC_COLD talc_arena_t *talc_thread_arena(void) { return talc_route(); }

int talc_scope_push(talc_arena_t *arena)
{
    if (talc_ts.depth >= TALC_SCOPE_MAX)
        return -ENOSPC;
    talc_ts.scope[talc_ts.depth++] = arena;
    talc_route_update();
    return 0;
}

int talc_scope_pop(void)
{
    if (!talc_ts.depth)
        return -ENOENT;
    talc_ts.depth--;
    talc_route_update();
    return 0;
}

TALC_COLD void talc_dispatch_forget(talc_arena_t *a)
{
    /* Only the calling thread's state can be reached; other threads must not use `a` after
     * destroy (talc_arena_destroy's contract). */
    if (talc_ts.bound == a)
        talc_ts.bound = NULL;
    for (unsigned i = 0; i < talc_ts.depth; i++)
        if (talc_ts.scope[i] == a)
            talc_ts.scope[i] = talc_arena_default();
    talc_route_update();
}

/* The stripes of the CPU whose home is `home` (talc_topology_stripe_of_cpu): with at least a
 * stripe per CPU, home = the CPU and the spares go round the CPUs; otherwise the stripes from
 * home up to the next CPU's home (a->home_span, built with the CPU map). O(1). */
static void talc_cpu_stripes(const talc_arena_t *a, unsigned home)
{
    talc_ts.c_home = home;
    talc_ts.c_stride = 1;
    if (a->nroute >= a->ncpus) {
        talc_ts.c_stride = a->ncpus;
        talc_ts.c_count = (a->nroute - home + a->ncpus - 1) / a->ncpus;
        return;
    }
    talc_ts.c_count = a->home_span[home];
}

/* Stripe `k` steps from home: among the CPU's stripes, or among all when it has one. */
static talc_stripe_t *talc_drift(talc_arena_t *a, unsigned k)
{
    unsigned i = talc_ts.c_count > 1 ? talc_ts.c_home + k % talc_ts.c_count * talc_ts.c_stride
                                     : (talc_ts.c_home + k) % a->nroute;
    return talc_arena_stripe(a, i);
}

/* The thread's stripe in `a` for CPU `cpu`, computed and remembered when the thread changes
 * CPU or arena. O(1). */
static talc_stripe_t *talc_home_slow(talc_arena_t *a, unsigned cpu)
{
    unsigned home = cpu < a->ncpus ? a->cpu_stripe[cpu] : cpu % a->nroute;
    talc_cpu_stripes(a, home);
    /* What the offset learned was about another arena or CPU: start again from home. */
    talc_ts.offset = 0;
    talc_stripe_t *s = talc_arena_stripe(a, home);
    talc_ts.c_id = a->id;
    talc_ts.c_cpu = cpu;
    talc_ts.c_stripe = s;
    return s;
}

static inline talc_stripe_t *talc_home_stripe(talc_arena_t *a)
{
    if (a->nroute == 1) /* one stripe: there is no CPU to look up */
        return talc_arena_stripe(a, 0);
    unsigned cpu = talc_cpu_cached();
    if (TALC_LIKELY(talc_ts.c_stripe && talc_ts.c_id == a->id && talc_ts.c_cpu == cpu))
        return talc_ts.c_stripe;
    return talc_home_slow(a, cpu);
}

/* Note a contended acquisition in the stripe's counters (we hold its lock). */
static void talc_note_contention(talc_stripe_t *s) { talc_stats_add(&s->st.contended, 1); }

/* Every stripe lock taken outside the fork handlers is counted when contended: until
 * 2026-12-06 the large stripe's, the caches' give-backs and depot flushes, usable_size, the OOM
 * chain's other stripes, trims and segment reclaims were not (found by a review). */
void talc_stripe_lock_noted(talc_stripe_t *s)
{
    if (!talc_stripe_trylock(s)) {
        talc_stripe_lock(s);
        talc_note_contention(s);
    }
}

/* The thread's stripe was busy: try the others it may drift to, move to the first one free. */
static talc_stripe_t *talc_lock_elsewhere(talc_arena_t *a, talc_stripe_t *s)
{
    /* One stripe: c_home and c_count were not computed for this arena (talc_home_stripe). */
    unsigned n = a->nroute == 1 ? 1u : talc_ts.c_count > 1 ? talc_ts.c_count : a->nroute;
    for (unsigned i = 1; i < n; i++) {
        talc_stripe_t *o = talc_drift(a, talc_ts.offset + i);
        if (talc_stripe_trylock(o)) {
            talc_ts.offset += i; /* stay on the quiet stripe next time */
            talc_ts.c_stripe = o;
            talc_note_contention(o);
            return o;
        }
    }
    talc_stripe_lock(s);
    talc_note_contention(s);
    return s;
}

static talc_stripe_t *talc_lock_any(talc_arena_t *a)
{
    talc_stripe_t *s = talc_home_stripe(a);
    if (TALC_LIKELY(talc_stripe_trylock(s)))
        return s;
    return talc_lock_elsewhere(a, s);
}

talc_stripe_t *talc_dispatch_lock_stripe(talc_arena_t *a, size_t n)
{
    if (TALC_UNLIKELY(n >= TALC_LARGE_MIN)) {
        talc_stripe_t *l = talc_large_stripe(a); /* not noted as the thread's last stripe: */
        talc_stripe_lock_noted(l);               /* its frees elsewhere are not remote */
        talc_ts.last_large = l;                  /* nor are its frees of its large blocks */
        return l;
    }
    /* With thread caches, the CPU's own stripe, as for the caches' fills: the few requests
     * that take a stripe lock there (aligned, large, misses) must not drift onto a stripe
     * another CPU's threads fill from (docs/arenas.md, "Contention"). */
    if (a->tc_on)
        return talc_dispatch_lock_home(a);
    talc_stripe_t *s = talc_lock_any(a);
    talc_ts.last = s;
    return s;
}

talc_stripe_t *talc_dispatch_lock_home(talc_arena_t *a)
{
    unsigned cpu = talc_cpu_cached();
    unsigned home = cpu < a->ncpus ? a->cpu_stripe[cpu] : cpu % a->nroute;
    talc_stripe_t *s = talc_arena_stripe(a, home); /* the CPU's own: no per-thread offset */
    talc_stripe_lock_noted(s);
    talc_ts.last = s;
    return s;
}
