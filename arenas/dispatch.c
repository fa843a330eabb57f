/* dispatch.c — which arena and which stripe the calling thread uses.
 *
 * Arena: the innermost open scope, else the thread's bound arena, else the default arena.
 * Stripe: the home stripe of the thread's CPU (arena->cpu_stripe, built from the hwloc
 * topology so that CPUs sharing a cache share a stripe), plus a per-thread offset. When a
 * stripe's lock is found taken (trylock fails), the thread tries the other stripes with
 * trylock and moves its offset to the first one it gets: a contended thread drifts to a quiet
 * stripe and stays there (contention-adaptive, like Scudo's shared TSDs). Only if every stripe
 * is busy does it block, on its home stripe.
 *
 * Concurrency: the thread state is thread-local (initial-exec TLS: no allocation on first
 * access, safe inside malloc). Stripe locks are taken here and released by the caller.
 */
#include <errno.h>

#include "arena_internal.h"
#include "cpu_id.h"

typedef struct talc_tstate {
    talc_arena_t *bound;
    talc_arena_t *scope[TALC_SCOPE_MAX];
    unsigned depth;
    unsigned offset; /* added to the home stripe index; moved on contention */
    talc_stripe_t *last; /* the stripe this thread allocated from last */
} talc_tstate_t;

static __thread talc_tstate_t talc_ts __attribute__((tls_model("initial-exec")));

void talc_thread_bind(talc_arena_t *arena) { talc_ts.bound = arena; }

talc_arena_t *talc_thread_arena(void)
{
    if (talc_ts.depth)
        return talc_ts.scope[talc_ts.depth - 1u];
    if (talc_ts.bound)
        return talc_ts.bound;
    return talc_arena_default();
}

int talc_scope_push(talc_arena_t *arena)
{
    if (talc_ts.depth >= TALC_SCOPE_MAX)
        return -ENOSPC;
    talc_ts.scope[talc_ts.depth++] = arena;
    return 0;
}

int talc_scope_pop(void)
{
    if (!talc_ts.depth)
        return -ENOENT;
    talc_ts.depth--;
    return 0;
}

void talc_dispatch_forget(talc_arena_t *a)
{
    /* Only the calling thread's state can be reached; other threads must not use `a` after
     * destroy (talc_arena_destroy's contract). */
    if (talc_ts.bound == a)
        talc_ts.bound = NULL;
    for (unsigned i = 0; i < talc_ts.depth; i++)
        if (talc_ts.scope[i] == a)
            talc_ts.scope[i] = talc_arena_default();
}

static unsigned talc_home_stripe(const talc_arena_t *a)
{
    unsigned cpu = talc_cpu_cached();
    unsigned home = cpu < a->ncpus ? a->cpu_stripe[cpu] : cpu % a->nstripes;
    return (home + talc_ts.offset) % a->nstripes;
}

/* Note a contended acquisition in the stripe's counters (we hold its lock). */
static void talc_note_contention(talc_stripe_t *s)
{
    talc_stats_write_begin(&s->st);
    talc_stats_add(&s->st.contended, 1);
    talc_stats_write_end(&s->st);
}

talc_stripe_t *talc_dispatch_last(void) { return talc_ts.last; }

static talc_stripe_t *talc_lock_any(talc_arena_t *a)
{
    unsigned home = a->nstripes == 1 ? 0u : talc_home_stripe(a);
    talc_stripe_t *s = talc_arena_stripe(a, home);
    if (TALC_LIKELY(pthread_mutex_trylock(&s->lock) == 0))
        return s;
    for (unsigned i = 1; i < a->nstripes; i++) {
        unsigned k = (home + i) % a->nstripes;
        talc_stripe_t *o = talc_arena_stripe(a, k);
        if (pthread_mutex_trylock(&o->lock) == 0) {
            talc_ts.offset += i; /* stay on the quiet stripe next time */
            talc_note_contention(o);
            return o;
        }
    }
    pthread_mutex_lock(&s->lock);
    talc_note_contention(s);
    return s;
}

talc_stripe_t *talc_dispatch_lock_stripe(talc_arena_t *a)
{
    talc_stripe_t *s = talc_lock_any(a);
    talc_ts.last = s;
    return s;
}
