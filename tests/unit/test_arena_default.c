/* test_arena_default.c — the default arena's creation (arenas/arena.c, talc_default_init):
 * it is registered and published in one step, before its prefill, so
 *   - a callback the prefill runs (the soft budget's) finds it published;
 *   - a child forked during the creation has the default arena (it used to find "default"
 *     registered but unpublished, and every default allocation failed).
 * White-box: the default arena's configuration is preset through the malloc shim's internal
 * entry point (talc_arena_default_preset), with an initial size above the soft budget, so its
 * creation's prefill runs the callback at a known point. Each test is its own process (the
 * default arena is created once per process).
 *
 * Concurrency: one thread; the fork test adds a child process.
 */
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "../../arenas/arena_internal.h"
#include "arena_test.h"

static int dc_status = -1;

static void dc_preset(talc_budget_fn fn)
{
    talc_arena_config_t c = talc_arena_config_default("default");
    c.stripes = 2;
    c.initial_size = 2 * TEST_OS_SEGMENT;
    c.soft_budget = TEST_GRANULE;
    c.on_soft_budget = fn;
    cr_assert_eq(talc_arena_default_preset(&c), 0, "the default arena exists already");
}

/* A default allocation works, from the default arena: 0, or the step that failed. */
static int dc_allocate_default(void)
{
    void *p = talc_arena_malloc(NULL, 100);
    if (!p)
        return 1;
    int rc = talc_arena_of(p) == talc_arena_default() ? 0 : 2;
    talc_free(p);
    return rc;
}

static void dc_on_soft_allocate(talc_arena_t *a, size_t footprint, size_t soft, void *ctx)
{
    (void)footprint, (void)soft, (void)ctx;
    dc_status = a == talc_arena_default() ? dc_allocate_default() : 3;
}

/* The arena is published before the prefill runs the callback. Before 2026-12-04 it was not,
 * and this hung in pthread_once. (A soft-budget callback on the default arena is set only
 * through this internal preset; the shim's TALC_CONF sets none. What the order protects in a
 * daemon is the fork below.) */
Test(arena_default, a_callback_during_the_creation_may_allocate_from_it)
{
    test_watchdog(20);
    dc_preset(dc_on_soft_allocate);
    cr_assert_not_null(talc_arena_default());
    cr_assert_eq(dc_status, 0, "step %d", dc_status);
}

static void dc_on_soft_fork(talc_arena_t *a, size_t footprint, size_t soft, void *ctx)
{
    (void)a, (void)footprint, (void)soft, (void)ctx;
    pid_t pid = fork();
    if (pid == 0) {
        alarm(10);
        _exit(dc_allocate_default());
    }
    int st = 0;
    dc_status = pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) ? WEXITSTATUS(st) : 9;
}

/* Here the fork comes from the callback; in a daemon, from another thread at any point of the
 * creation: the fork's prepare waits for the registry lock, under which the arena is both
 * registered and published, so the child has both or neither (then it makes its own). */
Test(arena_default, a_child_forked_during_the_creation_has_a_default_arena)
{
    test_watchdog(30);
    dc_preset(dc_on_soft_fork);
    cr_assert_not_null(talc_arena_default());
    cr_assert_eq(dc_status, 0, "the child failed step %d", dc_status);
}
