/* test_reserve_setup.c — the reserve's set-up (arenas/reserve.c, talc_reserve_init_with): it
 * maps, locks and populates with no lock held, so that while it runs
 *   - the reserve's figures can be read (all zero), every other set-up gets -EBUSY, and an arena
 *     that borrows is created and refused (ENOMEM) instead of waiting;
 *   - a child forked then can set a reserve up of its own;
 * and a set-up that fails keeps nothing and can be tried again.
 * White-box: the reserve is mapped through a test's ops (talc_reserve_init_with), whose map
 * runs these checks on the thread doing the set-up, in the middle of it. Before 2026-12-05
 * the set-up held the reserve lock there, and each of these calls waited for it for good (the
 * watchdog, and for the fork a timed join, turn that into a failure). Each test is its own
 * process (one reserve per process).
 *
 * Concurrency: one thread; the fork test adds a thread that forks, and a child process.
 */
#define _GNU_SOURCE /* pthread_timedjoin_np */
#include <errno.h>
#include <pthread.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "../../arenas/reserve_internal.h"
#include "arena_test.h"

typedef struct rs_ops {
    talc_os_ops_t ops;
    unsigned maps, unmaps;
    unsigned fail_at;     /* the map call (1-based) that fails; 0 = none */
    void (*during)(void); /* runs inside the first map, before it maps */
} rs_ops_t;

static void *rs_map(size_t size, size_t align, void *ctx)
{
    rs_ops_t *o = ctx;
    unsigned call = ++o->maps;
    if (call == 1 && o->during)
        o->during();
    if (call == o->fail_at) {
        errno = ENOMEM;
        return NULL;
    }
    return talc_os_map(size, align);
}

static void rs_unmap(void *p, size_t size, void *ctx)
{
    ((rs_ops_t *)ctx)->unmaps++;
    talc_os_unmap(p, size);
}

static rs_ops_t rs_make(void (*during)(void), unsigned fail_at)
{
    const talc_os_ops_t *d = talc_os_default_ops();
    rs_ops_t o = {.ops = *d, .fail_at = fail_at, .during = during};
    o.ops.map = rs_map;
    o.ops.unmap = rs_unmap;
    return o;
}

static int rs_init(rs_ops_t *o, size_t size, unsigned flags)
{
    o->ops.ctx = o;
    return talc_reserve_init_with(&o->ops, size, flags);
}

/* ---- Inside a set-up ----------------------------------------------------------------------*/

static int rs_during_ran;

static void rs_check_meanwhile(void)
{
    talc_reserve_stats_t r = test_reserve();
    cr_assert_eq(r.size + r.free + r.held, 0, "an incomplete reserve reads as none");
    cr_assert_eq(talc_reserve_init(TEST_GRANULE, 0), -EBUSY, "a second set-up meanwhile");
    /* the refused call must not have cleared the claim (found 2026-12-05: a third one set a
     * reserve up, and the first then published its own over it) */
    cr_assert_eq(talc_reserve_init(TEST_GRANULE, 0), -EBUSY, "a third set-up meanwhile");
    talc_arena_config_t c = talc_arena_config_default("borrower");
    c.source = TALC_SOURCE_RESERVE;
    c.stripes = 1;
    c.borrow_ceiling = 4 * TEST_GRANULE;
    talc_arena_t *a = test_arena_cfg(&c);
    errno = 0;
    cr_assert_null(talc_arena_malloc(a, 100), "nothing to borrow yet");
    cr_assert_eq(errno, ENOMEM);
    cr_assert_eq(talc_arena_destroy(a, 0), 0);
    rs_during_ran++;
}

Test(reserve_setup, holds_no_lock_while_it_maps)
{
    test_watchdog(20);
    rs_ops_t o = rs_make(rs_check_meanwhile, 0);
    cr_assert_eq(rs_init(&o, 8 * TEST_GRANULE, TALC_RESERVE_PREFAULT), 0);
    cr_assert_eq(rs_during_ran, 1);
    talc_reserve_stats_t r = test_reserve();
    cr_assert_eq(r.size, 8 * TEST_GRANULE);
    cr_assert_eq(r.free, r.size);
    cr_assert_eq(talc_reserve_init(TEST_GRANULE, 0), -EALREADY, "complete now");
    cr_assert_eq(o.maps, 2, "the reserve and its bitmap");
    cr_assert_eq(o.unmaps, 0);
}

static int rs_fork_status = -1;

/* On its own thread: liburcu-bp's fork preparation blocks every signal, so a fork that waits
 * for a lock would not even let the watchdog end it; the set-up's thread gives up on this one. */
static void *rs_fork_thread(void *unused)
{
    (void)unused;
    pid_t pid = fork();
    if (pid == 0) {
        /* The set-up under way belongs to a thread the child does not have. */
        int rc = talc_reserve_init(2 * TEST_GRANULE, 0);
        _exit(rc == 0 && test_reserve().size == 2 * TEST_GRANULE ? 0 : 1);
    }
    if (pid > 0 && waitpid(pid, &rs_fork_status, 0) != pid)
        rs_fork_status = -1;
    return NULL;
}

static void rs_fork_meanwhile(void)
{
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, rs_fork_thread, NULL), 0);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += (time_t)(10 * test_env("TALC_TEST_SLOW", 1)); /* before the watchdog */
    cr_assert_eq(pthread_timedjoin_np(t, NULL, &until), 0, "fork during the set-up hung");
    int status = rs_fork_status;
    cr_assert(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
              "the child could not set a reserve up (status %#x)", (unsigned)status);
    rs_during_ran++;
}

Test(reserve_setup, a_child_forked_meanwhile_can_set_one_up)
{
    test_watchdog(30);
    rs_ops_t o = rs_make(rs_fork_meanwhile, 0);
    cr_assert_eq(rs_init(&o, 4 * TEST_GRANULE, 0), 0);
    cr_assert_eq(rs_during_ran, 1);
    cr_assert_eq(test_reserve().size, 4 * TEST_GRANULE, "the parent's own set-up completed");
}

/* ---- A failed set-up ----------------------------------------------------------------------*/

Test(reserve_setup, a_failed_map_keeps_nothing_and_can_be_retried)
{
    for (unsigned fail_at = 1; fail_at <= 2; fail_at++) {
        rs_ops_t o = rs_make(NULL, fail_at);
        cr_assert_eq(rs_init(&o, 4 * TEST_GRANULE, 0), -ENOMEM, "map %u refused", fail_at);
        cr_assert_eq(o.unmaps, o.maps - 1, "map %u refused: every mapping made is undone", fail_at);
        cr_assert_eq(test_reserve().size, 0);
    }
    rs_ops_t o = rs_make(NULL, 0);
    cr_assert_eq(rs_init(&o, 4 * TEST_GRANULE, 0), 0, "a later set-up is not refused");
    cr_assert_eq(test_reserve().size, 4 * TEST_GRANULE);
}
