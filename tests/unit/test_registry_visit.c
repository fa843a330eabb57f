/* test_registry_visit.c — the library's own walk over the arenas (talc_registry_visit,
 * arenas/stats_snap.h), which the statistics and the shim's malloc_trim take under the registry
 * lock instead of an RCU read (a thread's first RCU read can abort the process: test_arena_rcu).
 *
 * A fault that a trim finds inside the walk (here: a block parked at its stripe's depot whose
 * link was overwritten after its free) is found under a stripe lock, inside the caches' lock,
 * inside the registry lock. It must be reported after all three are released: the fatal
 * handler runs with no lock held (talc/arena.h), so it may create and destroy an arena, which
 * take the registry lock. Reported under it, the handler would wait for a lock its own thread
 * holds (or, with TALC_DEBUG >= 1, abort on the lock order). White-box: the test calls
 * talc_registry_visit with a visitor that trims, as the shim's malloc_trim does, and reads
 * whether the registry lock is free while the handler runs.
 *
 * Concurrency: the test thread, and one thread that frees two blocks and exits.
 */
#include <criterion/criterion.h>

#include "../../arenas/arena_internal.h"
#include "../../arenas/stats_snap.h"
#include "arena_test.h"

#if TALC_TCACHE /* a build without thread caches has no depot, and a trim then reports nothing */
typedef struct handler_log {
    test_fault_log_t rec;
    bool registry_free;   /* the registry lock was free when the handler ran */
    int created, removed; /* an arena made and destroyed inside the handler */
} handler_log_t;

static handler_log_t hl;

static void handler(const talc_fault_info_t *info, void *ctx)
{
    handler_log_t *l = ctx;
    test_fault_record(info, &l->rec);
    l->registry_free = talc_mutex_is_free(&talc_reg_mutex);
    talc_arena_config_t c = talc_arena_config_default("in-handler");
    c.stripes = 1;
    talc_arena_t *a = talc_arena_create(&c);
    l->created += a != NULL;
    if (a)
        l->removed += talc_arena_destroy(a, 0) == 0;
}

static bool trim_visit(talc_arena_t *a, void *ctx)
{
    *(size_t *)ctx += talc_arena_trim(a);
    return true;
}

Test(registry_visit, a_fault_a_trim_finds_is_reported_after_the_walk, .timeout = 60)
{
    memset(&hl, 0, sizeof hl);
    talc_set_fatal_handler(handler, &hl);
    talc_arena_config_t c = talc_arena_config_default("visited");
    c.stripes = 1;
    c.thread_cache = TALC_TCACHE_ON;
    talc_arena_t *a = test_arena_cfg(&c);
    void *warm;
    static test_parker_t p;
    test_park_two(&p, a, &warm);
    uintptr_t wild = (uintptr_t)0x4141414141414141u;
    memcpy(p.b1, &wild, sizeof wild); /* b1's link, written after its free */

    size_t bytes = 0;
    size_t n = talc_registry_visit(trim_visit, &bytes);
    cr_assert_geq(n, 2, "the default arena and this one");
    cr_assert_eq(hl.rec.calls, 1, "%d reports (%s)", hl.rec.calls, hl.rec.what);
    cr_assert_eq(hl.rec.fault, TALC_FAULT_CORRUPTION);
    cr_assert_eq(hl.rec.addr, p.b1);
    cr_assert_str_eq(hl.rec.arena, "visited");
    cr_assert(hl.registry_free, "the handler ran with the registry lock held");
    cr_assert_eq(hl.created, 1, "an arena created inside the handler");
    cr_assert_eq(hl.removed, 1, "and destroyed");
    cr_assert(talc_mutex_is_free(&talc_reg_mutex));
    cr_assert_null(talc_arena_find("in-handler"));

    for (int i = 0; i < 4; i++) { /* neither the damaged block nor its link is handed out */
        void *q = talc_arena_malloc(a, 5000);
        cr_assert(q && q != p.b1 && q != (void *)wild);
        talc_free(q);
    }
    talc_free(warm);
    test_park_done(&p);
    talc_set_fatal_handler(NULL, NULL);
}

#endif

/* Without a fault the walk visits every arena once, in creation order, and stops where the
 * visitor says. */
static bool count_to_two(talc_arena_t *a, void *ctx)
{
    (void)a;
    return ++*(int *)ctx < 2;
}

static bool note_order(talc_arena_t *a, void *ctx)
{
    talc_arena_t **seen = ctx;
    for (int i = 0; i < 3; i++)
        if (!seen[i]) {
            seen[i] = a;
            break;
        }
    return true;
}

Test(registry_visit, visits_in_creation_order_and_stops_when_told)
{
    talc_arena_t *x = test_arena("visit-x", 1), *y = test_arena("visit-y", 1);
    talc_arena_t *seen[4] = {NULL, NULL, NULL, NULL};
    size_t n = talc_registry_visit(note_order, seen);
    cr_assert_eq(n, 3, "the default arena, x and y: %zu", n);
    cr_assert_eq(seen[0], talc_arena_default());
    cr_assert_eq(seen[1], x);
    cr_assert_eq(seen[2], y);
    int k = 0;
    cr_assert_eq(talc_registry_visit(count_to_two, &k), 2);
    cr_assert_eq(k, 2);
    cr_assert(talc_mutex_is_free(&talc_reg_mutex));
    cr_assert_eq(talc_arena_destroy(x, 0), 0);
    cr_assert_eq(talc_arena_destroy(y, 0), 0);
}
