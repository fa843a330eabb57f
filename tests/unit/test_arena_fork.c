/* test_arena_fork.c — fork() from a multithreaded process (DESIGN decision 7): while worker
 * threads allocate, free across threads, look arenas up and take snapshots in a loop, the main
 * thread forks several times. Each child allocates and frees in several arenas (including
 * blocks the parent allocated), creates, uses and destroys an arena, borrows from the reserve,
 * writes stats, and _exit(0)s; a child that deadlocks is killed by its alarm. The parent checks
 * every child's status and keeps going, then checks its own counters. A fork while a thread
 * cache splices in a list taken from a stripe's depot keeps the child's cached figures.
 *
 * Public API only; each test is its own process. TALC_ARENA_DIV cuts the fork count. */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "arena_test.h"
#include "last_round.h"
#include "rng.h"

#define WORKERS 4
#define NAR 3

static struct fk {
    talc_arena_t *a[NAR];
    atomic_int stop;
    test_fail_t fail;
    void *parent_blocks[16];
    pthread_mutex_t pass_lock;
    void *pass[64]; /* blocks handed between workers */
    unsigned npass;
} fk = {.fail = TEST_FAIL_INIT, .pass_lock = PTHREAD_MUTEX_INITIALIZER};

static void *fk_worker(void *arg)
{
    unsigned me = (unsigned)(uintptr_t)arg;
    test_rng_t r;
    test_rng_seed(&r, 31u + me);
    void *slot[32] = {0};
    while (!atomic_load_explicit(&fk.stop, memory_order_acquire)) {
        unsigned k = (unsigned)test_rng_below(&r, 32);
        if (slot[k]) {
            pthread_mutex_lock(&fk.pass_lock);
            void *other = fk.npass ? fk.pass[--fk.npass] : NULL;
            if (fk.npass < 64)
                fk.pass[fk.npass++] = slot[k]; /* another worker frees it */
            else
                talc_free(slot[k]);
            pthread_mutex_unlock(&fk.pass_lock);
            talc_free(other);
            slot[k] = NULL;
        } else {
            talc_arena_t *a = fk.a[test_rng_below(&r, NAR)];
            slot[k] = talc_arena_malloc(a, 1 + test_rng_below(&r, 20000));
            if (!slot[k])
                test_fail_note(&fk.fail, "worker %u: allocation failed", me);
        }
        if (test_rng_chance(&r, 1, 64)) {
            talc_arena_stats_t s;
            (void)talc_arena_get_stats(fk.a[me % NAR], &s);
            if (talc_arena_find("fork-b") != fk.a[1])
                test_fail_note(&fk.fail, "lookup failed in the parent");
        }
    }
    for (unsigned k = 0; k < 32; k++)
        talc_free(slot[k]);
    return NULL;
}

/* Everything a child does; returns its exit status (0 = all fine). */
static int child_body(int round)
{
    test_watchdog(10); /* a deadlock in the child ends with SIGALRM, which the parent reports */
    for (int i = 0; i < NAR; i++) {
        void *p[50];
        for (int k = 0; k < 50; k++) {
            p[k] = talc_arena_malloc(fk.a[i], 10 + (size_t)k * 97);
            if (!p[k] || talc_arena_of(p[k]) != fk.a[i])
                return 10 + i;
            memset(p[k], k, 10 + (size_t)k * 97);
        }
        for (int k = 0; k < 50; k++)
            talc_free(p[k]);
    }
    /* blocks the parent allocated before forking are the child's to free too */
    for (int i = 0; i < 16; i++)
        talc_free(fk.parent_blocks[i]);
    void *d = talc_arena_malloc(NULL, 1000);
    if (!d)
        return 20;
    talc_free(d);
    char name[32];
    snprintf(name, sizeof name, "child-%d", round);
    talc_arena_config_t c = talc_arena_config_default(name);
    c.stripes = 2;
    c.borrow_ceiling = 8 * TEST_GRANULE;
    talc_arena_t *n = talc_arena_create(&c);
    if (!n || talc_arena_find(name) != n)
        return 30;
    void *q = talc_arena_malloc(n, 3u << 20);
    if (!q)
        return 31;
    talc_free(q);
    if (talc_arena_destroy(n, 0) != 0 || talc_arena_find(name) != NULL)
        return 32;
    talc_arena_config_t rcfg = talc_arena_config_default("child-res");
    rcfg.source = TALC_SOURCE_RESERVE;
    rcfg.borrow_ceiling = 4 * TEST_GRANULE;
    talc_arena_t *ra = talc_arena_create(&rcfg);
    void *b = ra ? talc_arena_malloc(ra, 1000) : NULL;
    if (!b)
        return 40;
    talc_free(b);
    FILE *f = fopen("/dev/null", "w");
    if (!f || talc_stats_write(f, TALC_STATS_PROMETHEUS) != 0)
        return 50;
    fclose(f);
    return 0;
}

Test(arena_fork, fork_while_threads_allocate)
{
    test_watchdog(120);
    test_reserve_init(16 * TEST_GRANULE);
    const char *names[NAR] = {"fork-a", "fork-b", "fork-c"};
    for (int i = 0; i < NAR; i++)
        fk.a[i] = test_arena(names[i], (unsigned)i + 1);
    pthread_t t[WORKERS];
    for (unsigned i = 0; i < WORKERS; i++)
        cr_assert_eq(pthread_create(&t[i], NULL, fk_worker, (void *)(uintptr_t)i), 0);
    int forks = (int)(20 / test_env("TALC_ARENA_DIV", 1));
    forks = forks < 4 ? 4 : forks;
    for (int round = 0; round < forks; round++) {
        for (int i = 0; i < 16; i++)
            fk.parent_blocks[i] = talc_arena_malloc(fk.a[i % NAR], 64 + (size_t)i);
        usleep(2000); /* let the workers get going between forks */
        pid_t pid = fork();
        cr_assert_neq(pid, -1, "fork: errno %d", errno);
        if (pid == 0)
            _exit(child_body(round));
        /* the parent keeps allocating while the child runs */
        for (int i = 0; i < 16; i++)
            talc_free(fk.parent_blocks[i]);
        void *p = talc_arena_malloc(fk.a[round % NAR], 5000);
        cr_assert_not_null(p);
        talc_free(p);
        int status = 0;
        cr_assert_eq(waitpid(pid, &status, 0), pid);
        cr_assert(WIFEXITED(status), "child %d died of signal %d", round,
                  WIFSIGNALED(status) ? WTERMSIG(status) : 0);
        cr_assert_eq(WEXITSTATUS(status), 0, "child %d failed step %d", round, WEXITSTATUS(status));
    }
    atomic_store_explicit(&fk.stop, 1, memory_order_release);
    for (unsigned i = 0; i < WORKERS; i++)
        pthread_join(t[i], NULL);
    pthread_mutex_lock(&fk.pass_lock);
    while (fk.npass)
        talc_free(fk.pass[--fk.npass]);
    pthread_mutex_unlock(&fk.pass_lock);
    test_fail_none(&fk.fail);
    for (int i = 0; i < NAR; i++) {
        test_assert_empty(fk.a[i]);
        cr_assert_eq(talc_arena_destroy(fk.a[i], 0), 0);
    }
    cr_assert_null(talc_arena_find("child-0"), "the children's arenas stayed in the children");
    cr_assert_eq(test_reserve().held, 0);
}

Test(arena_fork, fork_before_any_arena_and_from_a_child)
{
    test_watchdog(30);
    pid_t pid = fork(); /* nothing created yet: the child still gets a default arena */
    if (pid == 0) {
        alarm(10);
        void *p = talc_arena_malloc(NULL, 100);
        talc_arena_t *a =
            talc_arena_create(&(talc_arena_config_t){.name = "grandparent", .numa_node = -1});
        if (!p || !a)
            _exit(1);
        pid_t g = fork(); /* and a child of the child */
        if (g == 0) {
            void *q = talc_arena_malloc(a, 100);
            _exit(q && talc_arena_of(q) == a ? 0 : 2);
        }
        int st = 0;
        if (waitpid(g, &st, 0) != g || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
            _exit(3);
        talc_free(p);
        _exit(talc_arena_destroy(a, 0) == 0 ? 0 : 4);
    }
    int status = 0;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status), "signal %d", WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    cr_assert_eq(WEXITSTATUS(status), 0, "step %d", WEXITSTATUS(status));
    void *p = talc_arena_malloc(NULL, 100);
    cr_assert_not_null(p);
    talc_free(p);
}

/* ---- A fork inside a thread cache's fill from a depot -------------------------------------*/

#if TALC_TCACHE && TALC_COUNTERS
/* A fill takes a stripe's parked list under the stripe lock and makes it the slot's list after
 * unlocking. A fork in between retires the filling thread's slot in the child: the list's
 * bytes must be counted in the depot or in the slot, never in neither. The window is held open
 * by making the list head's page inaccessible: the first access to it is the splice after the
 * unlock; the fault handler waits there while the main thread forks. */
#define FD_BLOCKS 128 /* the batch in which a thread that never allocated parks its frees */

static struct fork_depot {
    talc_arena_t *a;
    void *blocks[FD_BLOCKS];
    char *page;
    size_t page_size;
    atomic_int in_window, release;
} fd;

static void fd_on_segv(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    char *addr = si->si_addr;
    if (addr < fd.page || addr >= fd.page + fd.page_size) {
        signal(sig, SIG_DFL); /* a real fault: crash on return */
        return;
    }
    atomic_store(&fd.in_window, 1);
    while (!atomic_load(&fd.release))
        ;
    mprotect(fd.page, fd.page_size, PROT_READ | PROT_WRITE);
}

/* Frees the blocks (parked at the last free: a remote batch) and lives on until released:
 * since 2026-12-07 its exit would empty the depot. */
static void *fd_freer(void *arg)
{
    pthread_barrier_t *hold = arg;
    for (int i = 0; i < FD_BLOCKS; i++)
        talc_free(fd.blocks[i]);
    pthread_barrier_wait(hold);
    pthread_barrier_wait(hold);
    return NULL;
}

static void *fd_taker(void *arg)
{
    (void)arg;
    return talc_arena_malloc(fd.a, 48);
}

Test(arena_fork, a_fork_inside_a_fill_from_the_depot_keeps_the_cached_bytes)
{
    test_watchdog(30);
    talc_arena_config_t c = talc_arena_config_default("depot");
    c.stripes = 1;
    c.thread_cache = TALC_TCACHE_ON;
    fd.a = test_arena_cfg(&c);
    for (int i = 0; i < FD_BLOCKS; i++)
        fd.blocks[i] = talc_arena_malloc(fd.a, 48);
    talc_thread_cache_flush();
    pthread_t t, freer;
    static pthread_barrier_t hold;
    pthread_barrier_init(&hold, NULL, 2);
    cr_assert_eq(pthread_create(&freer, NULL, fd_freer, &hold), 0);
    pthread_barrier_wait(&hold);
    talc_arena_stats_t parked = test_stats(fd.a);
    cr_assert_eq(parked.cached_blocks, FD_BLOCKS, "the freer's blocks are parked");
    /* Each batch is parked LIFO over a LIFO list: the first block freed heads it. */
    fd.page_size = (size_t)sysconf(_SC_PAGESIZE);
    fd.page = (char *)((uintptr_t)fd.blocks[0] & ~(uintptr_t)(fd.page_size - 1));
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = fd_on_segv;
    sa.sa_flags = SA_SIGINFO;
    cr_assert_eq(sigaction(SIGSEGV, &sa, NULL), 0);
    cr_assert_eq(mprotect(fd.page, fd.page_size, PROT_NONE), 0);
    cr_assert_eq(pthread_create(&t, NULL, fd_taker, NULL), 0);
    while (!atomic_load(&fd.in_window))
        ;
    pid_t pid = fork();
    if (pid == 0) {
        alarm(10);
        talc_arena_stats_t s;
        if (talc_arena_get_stats(fd.a, &s) != 0)
            _exit(1);
        _exit(s.cached_bytes == parked.cached_bytes && s.cached_blocks == FD_BLOCKS ? 0 : 2);
    }
    atomic_store(&fd.release, 1);
    void *got = NULL;
    pthread_join(t, &got);
    int status = 0;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status), "signal %d", WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    cr_assert_eq(WEXITSTATUS(status), 0, "the child's cached figures lost the taken list");
    cr_assert_eq(got, fd.blocks[0], "the fill handed out the parked list's head");
    talc_free(got);
    pthread_barrier_wait(&hold);
    cr_assert_eq(pthread_join(freer, NULL), 0);
    pthread_barrier_destroy(&hold);
    test_assert_empty(fd.a);
}
#endif

#if TALC_TCACHE && TALC_COUNTERS
/* A thread's first cached call registers its cache under the caches' lock and, at a count of
 * registered caches, first looks for caches lost by threads gone in glibc's last destructor
 * round (tcache.c, talc_tc_reap). A fault it finds in one (a block overwritten while cached)
 * is reported at that lock's release, and the handler may fork. The child keeps the forking
 * thread's cache only: until 2026-12-06 the thread noted its cache after the release, so the
 * child took it for another thread's, put it in the pool, and the thread went on using it,
 * its counters out of the statistics (found by a review). Whichever thread's registration
 * meets the lost cache forks; in the child, that thread checks the live figures and exits. */
#define RF_HOLDERS 24
static struct rf {
    talc_arena_t *a;
    pthread_key_t late_key;
    pthread_barrier_t hold;
    atomic_int forked, child_status;
    bool in_child;
} rf;

static void rf_late_destructor(void *v)
{
    uintptr_t round = (uintptr_t)v;
    if (round < PTHREAD_DESTRUCTOR_ITERATIONS) { /* glibc's next round */
        (void)pthread_setspecific(rf.late_key, (void *)(round + 1u));
        return;
    }
    /* the last round: this thread's cache is made too late for its own destructor */
    char *keep = talc_arena_malloc(rf.a, 40), *q = talc_arena_malloc(rf.a, 40);
    (void)keep;
    talc_free(q);        /* q waits in the lost cache */
    memset(q - 8, 0, 8); /* overwritten there: its header */
}

static void *rf_late_worker(void *arg)
{
    (void)arg;
    (void)pthread_setspecific(rf.late_key, (void *)1);
    return NULL;
}

static void rf_handler(const talc_fault_info_t *info, void *ctx)
{
    (void)info;
    (void)ctx;
    if (atomic_fetch_add(&rf.forked, 1) != 0)
        return;
    pid_t pid = fork();
    if (pid == 0) {
        rf.in_child = true;
        alarm(10);
        return; /* back into the registration, then rf_holder's check */
    }
    int status = 0;
    bool ok = pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status);
    atomic_store(&rf.child_status, ok ? WEXITSTATUS(status) : 99);
}

static size_t rf_live(void)
{
    talc_arena_stats_t s;
    return talc_arena_get_stats(rf.a, &s) == 0 ? s.live_allocs : 0;
}

static void *rf_holder(void *arg)
{
    (void)arg;
    talc_free(talc_arena_malloc(rf.a, 100)); /* registers this thread's cache */
    if (rf.in_child) {                       /* the forking thread, alone in the child */
        size_t before = rf_live();
        for (int i = 0; i < 100; i++)
            if (!talc_arena_malloc(rf.a, 100))
                _exit(2);
        _exit(rf_live() == before + 100 ? 0 : 1);
    }
    (void)pthread_barrier_wait(&rf.hold); /* keep the cache registered */
    return NULL;
}

Test(arena_fork, a_handler_forking_while_a_thread_registers_its_cache_keeps_it)
{
    if (!LAST_ROUND_RUNS)
        cr_skip_test("ThreadSanitizer cannot run code in the last destructor round");
    talc_arena_config_t c = talc_arena_config_default("reaped");
    c.stripes = 1;
    c.thread_cache = TALC_TCACHE_ON;
    rf.a = test_arena_cfg(&c);
    talc_free(talc_arena_malloc(rf.a, 100)); /* the caches' key exists before late_key */
    cr_assert_eq(pthread_key_create(&rf.late_key, rf_late_destructor), 0);
    pthread_t t[RF_HOLDERS];
    cr_assert_eq(pthread_create(&t[0], NULL, rf_late_worker, NULL), 0);
    cr_assert_eq(pthread_join(t[0], NULL), 0);
    usleep(100000); /* its thread id gone, so that a look finds its cache lost */
    talc_set_fatal_handler(rf_handler, NULL);
    cr_assert_eq(pthread_barrier_init(&rf.hold, NULL, RF_HOLDERS + 1), 0);
    for (int i = 0; i < RF_HOLDERS; i++)
        cr_assert_eq(pthread_create(&t[i], NULL, rf_holder, NULL), 0);
    (void)pthread_barrier_wait(&rf.hold);
    for (int i = 0; i < RF_HOLDERS; i++)
        cr_assert_eq(pthread_join(t[i], NULL), 0);
    talc_set_fatal_handler(NULL, NULL);
    if (atomic_load(&rf.forked) == 0) /* (qemu-user: exited threads may linger as host threads) */
        cr_skip_test("no registration found the lost cache: nothing forked");
    cr_assert_eq(atomic_load(&rf.child_status), 0,
                 "the child's live figures lost its own cache (status %d)",
                 atomic_load(&rf.child_status));
}
#endif
