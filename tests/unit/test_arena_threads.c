/* test_arena_threads.c — the arena layer under concurrency (talc/arena.h matrix): many threads
 * allocating across several arenas with cross-thread frees, then every counter exact (live
 * figures zero, allocs == frees, allocs == what the threads counted); remote frees counted;
 * create / find / destroy races (a lookup returns the arena or NULL, never garbage; stable
 * arenas are always found and always enumerated); an arena is whole once findable (a finder
 * destroys it while its creator returns); concurrent creates of one name; snapshots
 * taken while allocating are self-consistent; borrowing from the reserve by several threads.
 *
 * Public API only; each test is its own process. Workers never call Criterion assertions:
 * they note failures (arena_test.h) and the main thread asserts after joining them.
 * TALC_ARENA_DIV (SLOW_ENV under valgrind and qemu) divides the work. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "arena_test.h"
#include "cpu_pin.h"
#include "mailbox.h"
#include "pattern.h"
#include "rng.h"

static unsigned long work(unsigned long n)
{
    unsigned long d = test_env("TALC_ARENA_DIV", 1);
    return n / d ? n / d : 1;
}

/* Workers' random streams start from TALC_SEED (default 0), logged by each test for replay
 * (thread interleavings still differ from run to run). */
static uint64_t seed(uint64_t salt) { return ((uint64_t)test_env("TALC_SEED", 0) << 20) + salt; }

static void log_seed(void) { cr_log_info("TALC_SEED=%lu", test_env("TALC_SEED", 0)); }

/* ---- Many threads, many arenas, cross-thread frees ----------------------------------------*/

#define NTHREADS 8
#define NARENAS 4
#define SLOTS 48

typedef test_block_t block_t; /* .arena indexes mt.arenas; .seed is the test_pattern seed */

static struct mt {
    talc_arena_t *arenas[NARENAS];
    test_mailbox_t box[NTHREADS];
    atomic_ulong allocs[NARENAS];
    atomic_ulong frees[NARENAS];
    unsigned long rounds;
    pthread_barrier_t start;
    test_fail_t fail;
} mt = {.fail = TEST_FAIL_INIT};

static void check_and_free(const block_t *b)
{
    if (talc_arena_of(b->p) != mt.arenas[b->arena])
        test_fail_note(&mt.fail, "block %p: owner %p, expected arena %u", b->p,
                       (void *)talc_arena_of(b->p), b->arena);
    size_t bad = test_pattern_check(b->p, b->n, b->seed);
    if (bad != b->n)
        test_fail_note(&mt.fail, "block %p of %zu bytes damaged at %zu", b->p, b->n, bad);
    talc_free(b->p);
    atomic_fetch_add_explicit(&mt.frees[b->arena], 1, memory_order_relaxed);
}

static bool post(unsigned to, const block_t *b) { return test_mailbox_post(&mt.box[to], b); }

static void drain(unsigned me)
{
    block_t tmp[TEST_MAILBOX_CAP];
    unsigned n = test_mailbox_take(&mt.box[me], tmp);
    for (unsigned i = 0; i < n; i++)
        check_and_free(&tmp[i]);
}

static size_t pick_size(test_rng_t *r)
{
    unsigned k = (unsigned)test_rng_below(r, 100);
    if (k < 70)
        return 1 + test_rng_below(r, 256);
    if (k < 95)
        return 1 + test_rng_below(r, 8192);
    if (k < 99)
        return 1 + test_rng_below(r, 128 * 1024);
    return (1u << 20) + test_rng_below(r, 1u << 20); /* an oversized segment of its own */
}

static void *alloc_one(test_rng_t *r, talc_arena_t *a, size_t n)
{
    switch (test_rng_below(r, 4)) {
    case 0:
        return talc_arena_calloc(a, 1, n);
    case 1:
        return talc_arena_aligned_alloc(a, (size_t)64 << test_rng_below(r, 6), n);
    default:
        return talc_arena_malloc(a, n);
    }
}

static void *mt_worker(void *arg)
{
    unsigned me = (unsigned)(uintptr_t)arg;
    test_rng_t r;
    test_rng_seed(&r, seed(1000u + me));
    block_t slot[SLOTS];
    unsigned used = 0;
    pthread_barrier_wait(&mt.start);
    for (unsigned long i = 0; i < mt.rounds; i++) {
        unsigned op = (unsigned)test_rng_below(&r, 100);
        if (op < 45 && used < SLOTS) {
            block_t b;
            b.arena = (unsigned)test_rng_below(&r, NARENAS);
            b.n = pick_size(&r);
            b.seed = (uint32_t)test_rng_next(&r);
            b.p = alloc_one(&r, mt.arenas[b.arena], b.n);
            if (!b.p) {
                test_fail_note(&mt.fail, "allocation of %zu failed (errno %d)", b.n, errno);
                continue;
            }
            atomic_fetch_add_explicit(&mt.allocs[b.arena], 1, memory_order_relaxed);
            test_pattern_fill(b.p, b.n, b.seed);
            slot[used++] = b;
        } else if (op < 75 && used) {
            unsigned k = (unsigned)test_rng_below(&r, used);
            unsigned to = (unsigned)test_rng_below(&r, NTHREADS);
            if (to == me || !post(to, &slot[k]))
                check_and_free(&slot[k]);
            slot[k] = slot[--used];
        } else if (op < 92 && used) {
            unsigned k = (unsigned)test_rng_below(&r, used);
            check_and_free(&slot[k]);
            slot[k] = slot[--used];
        } else {
            drain(me);
        }
    }
    while (used)
        check_and_free(&slot[--used]);
    drain(me);
    return NULL;
}

Test(arena_threads, cross_thread_frees_end_at_exactly_zero)
{
    log_seed();
    test_watchdog(60);
    const char *names[NARENAS] = {"mt-one", "mt-two", "mt-auto", "mt-many"};
    unsigned stripes[NARENAS] = {1, 2, 0, 16};
    for (unsigned i = 0; i < NARENAS; i++) {
        talc_arena_config_t c = talc_arena_config_default(names[i]);
        c.stripes = stripes[i];
        c.thread_cache = i % 2 ? TALC_TCACHE_ON : TALC_TCACHE_OFF; /* with and without */
        mt.arenas[i] = test_arena_cfg(&c);
        pthread_mutex_init(&mt.box[i].lock, NULL);
    }
    for (unsigned i = NARENAS; i < NTHREADS; i++)
        pthread_mutex_init(&mt.box[i].lock, NULL);
    mt.rounds = work(20000);
    pthread_barrier_init(&mt.start, NULL, NTHREADS);
    pthread_t t[NTHREADS];
    for (unsigned i = 0; i < NTHREADS; i++)
        cr_assert_eq(pthread_create(&t[i], NULL, mt_worker, (void *)(uintptr_t)i), 0);
    for (unsigned i = 0; i < NTHREADS; i++)
        pthread_join(t[i], NULL);
    for (unsigned i = 0; i < NTHREADS; i++)
        drain(i); /* blocks posted to threads that had already finished */
    test_fail_none(&mt.fail);
    for (unsigned i = 0; i < NARENAS; i++) {
        talc_arena_stats_t s = test_stats(mt.arenas[i]);
        unsigned long allocs = atomic_load(&mt.allocs[i]);
        cr_assert_eq(atomic_load(&mt.frees[i]), allocs, "%s: the test lost blocks", s.name);
        cr_assert_gt(allocs, 0);
#if TALC_COUNTERS
        cr_assert_eq(s.live_bytes, 0, "%s: %zu live bytes", s.name, s.live_bytes);
        cr_assert_eq(s.live_allocs, 0, "%s: %zu live blocks", s.name, s.live_allocs);
        cr_assert_eq(s.allocs, allocs, "%s: counted %llu allocations, the threads made %lu", s.name,
                     (unsigned long long)s.allocs, allocs);
        cr_assert_eq(s.frees, allocs, "%s: %llu frees", s.name, (unsigned long long)s.frees);
        cr_assert_eq(s.failed, 0);
        cr_assert_leq(s.remote_frees, s.frees);
        cr_assert_gt(s.peak_bytes, 0);
#endif
        cr_assert_eq(talc_arena_destroy(mt.arenas[i], 0), 0, "%s: nothing live", s.name);
    }
}

/* ---- Remote frees -------------------------------------------------------------------------*/
/* A free is remote when it goes into a stripe other than the one the freeing thread last
 * allocated from (talc/stats.h). The threads are pinned to two CPUs as well, so that the
 * count is the same if "remote" means "another home stripe" (with 64 stripes, one per CPU). */

typedef struct remote_arg {
    talc_arena_t *a;
    int cpu;
    void **p;
    int from, to; /* alloc (from < 0: -from blocks) or free p[from..to) */
    int rc;
} remote_arg_t;

static void *remote_worker(void *arg)
{
    remote_arg_t *w = arg;
    w->rc = test_pin_cpu(w->cpu) ? 0 : -1;
    if (w->rc != 0)
        return NULL;
    if (w->from < 0) {
        for (int i = 0; i < -w->from; i++)
            w->p[i] = talc_arena_malloc(w->a, 100);
        for (int i = 0; i < w->to; i++) /* the allocating thread frees its first `to` itself */
            talc_free(w->p[i]);
    } else {
        for (int i = w->from; i < w->to; i++)
            talc_free(w->p[i]);
    }
    return NULL;
}

static int run_pinned(remote_arg_t *w)
{
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, remote_worker, w), 0);
    pthread_join(t, NULL);
    return w->rc;
}

Test(arena_threads, remote_frees_are_counted)
{
    int cpus[2];
    if (test_allowed_cpus(cpus, 2) < 2)
        cr_skip_test("needs two CPUs");
    talc_arena_t *a = test_arena("remote", TALC_STRIPES_MAX);
    enum { N = 200, OWN = 50 };
    static void *p[N];
    remote_arg_t alloc = {a, cpus[0], p, -N, OWN, 0};
    if (run_pinned(&alloc) != 0)
        cr_skip_test("cannot pin threads");
    const int on = TALC_COUNTERS; /* counters compiled out: every figure reads zero */
    talc_arena_stats_t s = test_stats(a);
    cr_assert_eq(s.frees, on * OWN);
    cr_assert_eq(s.remote_frees, 0, "frees by the allocating thread are local");
    remote_arg_t rfree = {a, cpus[1], p, OWN, N, 0};
    cr_assert_eq(run_pinned(&rfree), 0);
    s = test_stats(a);
    cr_assert_eq(s.frees, on * N);
    cr_assert_eq(s.remote_frees, on * (N - OWN), "remote frees: %llu of %d",
                 (unsigned long long)s.remote_frees, N - OWN);
    test_assert_empty(a);
    talc_arena_t *one = test_arena("remote-one", 1);
    void *q = talc_arena_malloc(one, 10);
    talc_free(q);
    cr_assert_eq(test_stats(one).remote_frees, 0);
}

/* ---- Create / find / destroy races --------------------------------------------------------*/

#define RACERS 4
#define CHURN 4   /* names each racer creates and destroys over and over */
#define STABLE 24 /* arenas that live through the whole test */
#define SEEN_MAX 64

typedef struct seen_ptr {
    talc_arena_t *p[SEEN_MAX];
    unsigned n;
} seen_ptr_t;

static struct race {
    char churn_names[RACERS][CHURN][24];
    char stable_names[STABLE][24];
    talc_arena_t *stable[STABLE];
    /* every arena ever created under a churn name (written by its owner only) */
    talc_arena_t *history[RACERS][CHURN][4096];
    unsigned nhistory[RACERS][CHURN];
    /* what lookups returned, per looker and name (bounded: repeats are folded) */
    seen_ptr_t seen[RACERS + 2][RACERS][CHURN];
    atomic_int stop;
    unsigned long rounds;
    pthread_barrier_t start;
    test_fail_t fail;
    atomic_ulong finds_hit, finds_miss, foreach_passes;
} rc = {.fail = TEST_FAIL_INIT};

static void note_seen(seen_ptr_t *s, talc_arena_t *p)
{
    for (unsigned i = 0; i < s->n; i++)
        if (s->p[i] == p)
            return;
    if (s->n < SEEN_MAX)
        s->p[s->n++] = p;
}

static bool known_name(const char *n)
{
    if (strcmp(n, "default") == 0)
        return true;
    for (unsigned i = 0; i < STABLE; i++)
        if (strcmp(n, rc.stable_names[i]) == 0)
            return true;
    for (unsigned t = 0; t < RACERS; t++)
        for (unsigned k = 0; k < CHURN; k++)
            if (strcmp(n, rc.churn_names[t][k]) == 0)
                return true;
    return false;
}

typedef struct walk {
    unsigned stable_seen;
    unsigned next_stable; /* stable arenas must come in creation order */
    bool bad;
    char bad_name[40];
} walk_t;

static bool walk_fn(talc_arena_t *a, void *ctx)
{
    walk_t *w = ctx;
    const char *n = talc_arena_name(a);
    if (strnlen(n, TALC_ARENA_NAME_MAX + 1) > TALC_ARENA_NAME_MAX || !known_name(n)) {
        w->bad = true;
        snprintf(w->bad_name, sizeof w->bad_name, "%.32s", n);
        return false;
    }
    for (unsigned i = w->next_stable; i < STABLE; i++)
        if (a == rc.stable[i]) {
            if (i != w->next_stable) {
                w->bad = true;
                snprintf(w->bad_name, sizeof w->bad_name, "order at %s", n);
            }
            w->next_stable = i + 1;
            w->stable_seen++;
        }
    talc_arena_stats_t s;
    if (talc_arena_get_stats(a, &s) != 0 || strcmp(s.name, n) != 0) {
        w->bad = true;
        snprintf(w->bad_name, sizeof w->bad_name, "stats of %.20s", n);
    }
    return true;
}

static void look_around(unsigned me, test_rng_t *r)
{
    for (unsigned t = 0; t < RACERS; t++)
        for (unsigned k = 0; k < CHURN; k++) {
            talc_arena_t *p = talc_arena_find(rc.churn_names[t][k]);
            if (p)
                note_seen(&rc.seen[me][t][k], p);
            atomic_fetch_add_explicit(p ? &rc.finds_hit : &rc.finds_miss, 1, memory_order_relaxed);
        }
    unsigned i = (unsigned)test_rng_below(r, STABLE);
    talc_arena_t *s = talc_arena_find(rc.stable_names[i]);
    if (s != rc.stable[i])
        test_fail_note(&rc.fail, "stable arena %s: found %p, not %p", rc.stable_names[i], (void *)s,
                       (void *)rc.stable[i]);
    walk_t w = {0, 0, false, ""};
    (void)talc_arena_foreach(walk_fn, &w);
    if (w.bad)
        test_fail_note(&rc.fail, "foreach met a bad arena: %s", w.bad_name);
    else if (w.stable_seen != STABLE)
        test_fail_note(&rc.fail, "foreach saw %u of %u stable arenas", w.stable_seen, STABLE);
    atomic_fetch_add_explicit(&rc.foreach_passes, 1, memory_order_relaxed);
}

static void *racer(void *arg)
{
    unsigned me = (unsigned)(uintptr_t)arg;
    test_rng_t r;
    test_rng_seed(&r, seed(77u + me));
    talc_arena_t *mine[CHURN] = {0};
    pthread_barrier_wait(&rc.start);
    for (unsigned long i = 0; i < rc.rounds; i++) {
        unsigned k = (unsigned)test_rng_below(&r, CHURN);
        if (!mine[k]) {
            talc_arena_config_t c = talc_arena_config_default(rc.churn_names[me][k]);
            c.stripes = 1 + (unsigned)test_rng_below(&r, 3);
            mine[k] = talc_arena_create(&c);
            if (!mine[k]) {
                test_fail_note(&rc.fail, "create %s: errno %d", c.name, errno);
                continue;
            }
            if (rc.nhistory[me][k] < 4096)
                rc.history[me][k][rc.nhistory[me][k]++] = mine[k];
            void *p = talc_arena_malloc(mine[k], 100);
            if (test_rng_chance(&r, 1, 2))
                talc_free(p); /* else destroy releases it */
        } else {
            int d = talc_arena_destroy(mine[k], TALC_DESTROY_RELEASE_ALL);
            if (d != 0)
                test_fail_note(&rc.fail, "destroy %s: %d", rc.churn_names[me][k], d);
            mine[k] = NULL;
        }
        look_around(me, &r);
    }
    for (unsigned k = 0; k < CHURN; k++)
        if (mine[k] && talc_arena_destroy(mine[k], TALC_DESTROY_RELEASE_ALL) != 0)
            test_fail_note(&rc.fail, "final destroy of %s", rc.churn_names[me][k]);
    return NULL;
}

static void *looker(void *arg)
{
    unsigned me = (unsigned)(uintptr_t)arg;
    test_rng_t r;
    test_rng_seed(&r, seed(999u + me));
    static char sink[1 << 16];
    pthread_barrier_wait(&rc.start);
    while (!atomic_load_explicit(&rc.stop, memory_order_acquire)) {
        look_around(me, &r);
        if (me == RACERS + 1) { /* a stats writer, as a daemon's monitoring thread would run */
            FILE *f = fmemopen(sink, sizeof sink, "w");
            if (f) {
                (void)talc_stats_write(f, TALC_STATS_JSON);
                fclose(f);
            }
        }
    }
    return NULL;
}

Test(arena_threads, create_find_destroy_race)
{
    log_seed();
    test_watchdog(90);
    for (unsigned i = 0; i < STABLE; i++) {
        snprintf(rc.stable_names[i], sizeof rc.stable_names[i], "stable-%u", i);
        rc.stable[i] = test_arena(rc.stable_names[i], 1);
    }
    for (unsigned t = 0; t < RACERS; t++)
        for (unsigned k = 0; k < CHURN; k++)
            snprintf(rc.churn_names[t][k], sizeof rc.churn_names[t][k], "churn-%u-%u", t, k);
    rc.rounds = work(250);
    pthread_barrier_init(&rc.start, NULL, RACERS + 2);
    pthread_t t[RACERS + 2];
    for (unsigned i = 0; i < RACERS; i++)
        cr_assert_eq(pthread_create(&t[i], NULL, racer, (void *)(uintptr_t)i), 0);
    for (unsigned i = RACERS; i < RACERS + 2; i++)
        cr_assert_eq(pthread_create(&t[i], NULL, looker, (void *)(uintptr_t)i), 0);
    for (unsigned i = 0; i < RACERS; i++)
        pthread_join(t[i], NULL);
    atomic_store_explicit(&rc.stop, 1, memory_order_release);
    for (unsigned i = RACERS; i < RACERS + 2; i++)
        pthread_join(t[i], NULL);
    test_fail_none(&rc.fail);
    /* every pointer a lookup returned was an arena created under that very name */
    for (unsigned me = 0; me < RACERS + 2; me++)
        for (unsigned o = 0; o < RACERS; o++)
            for (unsigned k = 0; k < CHURN; k++) {
                const seen_ptr_t *s = &rc.seen[me][o][k];
                for (unsigned i = 0; i < s->n; i++) {
                    bool ok = false;
                    for (unsigned h = 0; h < rc.nhistory[o][k] && !ok; h++)
                        ok = rc.history[o][k][h] == s->p[i];
                    cr_assert(ok, "find(\"%s\") returned %p, never an arena of that name",
                              rc.churn_names[o][k], (void *)s->p[i]);
                }
            }
    cr_assert_gt(atomic_load(&rc.finds_hit), 0, "lookups never raced with a live arena");
    cr_assert_gt(atomic_load(&rc.finds_miss), 0);
    /* only the stable arenas (and the default one) remain */
    walk_t w = {0, 0, false, ""};
    cr_assert_eq(talc_arena_foreach(walk_fn, &w), STABLE + 1);
    cr_assert_not(w.bad);
    for (unsigned t2 = 0; t2 < RACERS; t2++)
        for (unsigned k = 0; k < CHURN; k++)
            cr_assert_null(talc_arena_find(rc.churn_names[t2][k]));
}

/* ---- A finder destroys what another thread is creating ------------------------------------*/

static struct create_vs_destroy {
    atomic_bool done;
    unsigned long created, destroyed;
    test_fail_t fail;
} cd;

static void *cd_creator(void *arg)
{
    (void)arg;
    talc_arena_config_t c = talc_arena_config_default("young");
    c.stripes = 2;
    c.initial_size = 2u << 20;                        /* prefilled at creation */
    c.borrow_ceiling = TEST_SEGMENT_SCALED(1u << 20); /* joins the reserve at creation */
    c.reserve_guaranteed = 256u << 10;
    for (unsigned long i = work(3000); i > 0; i--) {
        errno = 0;
        if (talc_arena_create(&c))
            cd.created++;
        else if (errno != EEXIST)
            test_fail_note(&cd.fail, "create: errno %d", errno);
    }
    atomic_store(&cd.done, true);
    return NULL;
}

static void *cd_destroyer(void *arg)
{
    (void)arg;
    while (!atomic_load(&cd.done)) {
        talc_arena_t *a = talc_arena_find("young");
        if (a && talc_arena_destroy(a, 0) == 0)
            cd.destroyed++;
    }
    return NULL;
}

/* An arena is findable only once it is whole (joined the reserve, prefilled): the finder may
 * destroy it at once (the creator used to finish setting it up after publishing it, and wrote
 * into the unmapped arena or left it on the reserve's member list). */
Test(arena_threads, an_arena_is_whole_when_it_can_be_found)
{
    test_watchdog(90);
    test_reserve_init(8u << 20);
    pthread_t c, d;
    cr_assert_eq(pthread_create(&c, NULL, cd_creator, NULL), 0);
    cr_assert_eq(pthread_create(&d, NULL, cd_destroyer, NULL), 0);
    while (!atomic_load(&cd.done))
        (void)test_reserve(); /* walks the reserve's member list */
    pthread_join(c, NULL);
    pthread_join(d, NULL);
    test_fail_none(&cd.fail);
    talc_arena_t *left = talc_arena_find("young");
    if (left)
        cr_assert_eq(talc_arena_destroy(left, 0), 0);
    cr_assert_eq(cd.created, cd.destroyed + (left != NULL));
    talc_reserve_stats_t r = test_reserve();
    cr_assert_eq(r.guaranteed, 0, "every member left the reserve");
    cr_assert_eq(r.held, 0, "every borrowed byte came back");
}

/* ---- One name, many creators --------------------------------------------------------------*/

static struct contest {
    pthread_barrier_t go;
    char name[32];
    talc_arena_t *won[RACERS];
    int err[RACERS];
    unsigned long rounds;
} ct;

static void *contender(void *arg)
{
    unsigned me = (unsigned)(uintptr_t)arg;
    for (unsigned long r = 0; r < ct.rounds; r++) {
        pthread_barrier_wait(&ct.go); /* main set the name */
        talc_arena_config_t c = talc_arena_config_default(ct.name);
        errno = 0;
        ct.won[me] = talc_arena_create(&c);
        ct.err[me] = errno;
        pthread_barrier_wait(&ct.go); /* main checks and destroys */
    }
    return NULL;
}

Test(arena_threads, one_name_has_one_creator)
{
    test_watchdog(60);
    ct.rounds = work(200);
    pthread_barrier_init(&ct.go, NULL, RACERS + 1);
    pthread_t t[RACERS];
    for (unsigned i = 0; i < RACERS; i++)
        cr_assert_eq(pthread_create(&t[i], NULL, contender, (void *)(uintptr_t)i), 0);
    for (unsigned long r = 0; r < ct.rounds; r++) {
        snprintf(ct.name, sizeof ct.name, "contested-%lu", r % 3);
        pthread_barrier_wait(&ct.go);
        pthread_barrier_wait(&ct.go);
        talc_arena_t *winner = NULL;
        int wins = 0;
        for (unsigned i = 0; i < RACERS; i++) {
            if (ct.won[i]) {
                wins++;
                winner = ct.won[i];
            } else {
                cr_assert_eq(ct.err[i], EEXIST, "round %lu: errno %d", r, ct.err[i]);
            }
        }
        cr_assert_eq(wins, 1, "round %lu: %d creators won", r, wins);
        cr_assert_eq(talc_arena_find(ct.name), winner);
        cr_assert_eq(talc_arena_destroy(winner, 0), 0);
    }
    for (unsigned i = 0; i < RACERS; i++)
        pthread_join(t[i], NULL);
}

/* ---- Snapshots while allocating -----------------------------------------------------------*/

static struct snap {
    talc_arena_t *a;
    atomic_int stop;
    unsigned long rounds;
    test_fail_t fail;
    atomic_ulong snapshots; /* both readers count */
} sn = {.fail = TEST_FAIL_INIT};

static void *snap_alloc(void *arg)
{
    test_rng_t r;
    test_rng_seed(&r, seed((uintptr_t)arg));
    void *slot[64] = {0};
    for (unsigned long i = 0; i < sn.rounds; i++) {
        unsigned k = (unsigned)test_rng_below(&r, 64);
        if (slot[k]) {
            if (test_rng_chance(&r, 1, 4)) {
                void *q = talc_arena_realloc(sn.a, slot[k], pick_size(&r));
                if (q)
                    slot[k] = q;
            } else {
                talc_free(slot[k]);
                slot[k] = NULL;
            }
        } else {
            slot[k] = alloc_one(&r, sn.a, pick_size(&r));
            if (!slot[k])
                test_fail_note(&sn.fail, "allocation failed");
        }
    }
    for (unsigned k = 0; k < 64; k++)
        talc_free(slot[k]);
    return NULL;
}

static void check_snapshot(const talc_arena_stats_t *s, const talc_arena_stats_t *prev)
{
    if (s->live_allocs != s->allocs - s->frees)
        test_fail_note(&sn.fail, "live %zu != allocs %llu - frees %llu", s->live_allocs,
                       (unsigned long long)s->allocs, (unsigned long long)s->frees);
    if (s->live_bytes + s->free_bytes > s->managed_bytes)
        test_fail_note(&sn.fail, "live %zu + free %zu > managed %zu", s->live_bytes, s->free_bytes,
                       s->managed_bytes);
    if ((s->free_chunks == 0) != (s->free_bytes == 0))
        test_fail_note(&sn.fail, "%zu free chunks hold %zu bytes", s->free_chunks, s->free_bytes);
    if (s->peak_bytes < s->live_bytes)
        test_fail_note(&sn.fail, "peak %zu < live %zu", s->peak_bytes, s->live_bytes);
    if (s->allocs < prev->allocs || s->frees < prev->frees || s->reallocs < prev->reallocs ||
        s->remote_frees < prev->remote_frees || s->lock_contended < prev->lock_contended)
        test_fail_note(&sn.fail, "a running total went down");
    if (s->remote_frees > s->frees || s->failed != 0 || s->stripes != 4)
        test_fail_note(&sn.fail, "remote %llu frees %llu failed %llu stripes %u",
                       (unsigned long long)s->remote_frees, (unsigned long long)s->frees,
                       (unsigned long long)s->failed, s->stripes);
    if (strcmp(s->name, "snapped") != 0)
        test_fail_note(&sn.fail, "name %s", s->name);
}

static void *snap_reader(void *arg)
{
    (void)arg;
    talc_arena_stats_t prev, s;
    memset(&prev, 0, sizeof prev);
    while (!atomic_load_explicit(&sn.stop, memory_order_acquire)) {
        if (talc_arena_get_stats(sn.a, &s) != 0) {
            test_fail_note(&sn.fail, "get_stats failed");
            break;
        }
        check_snapshot(&s, &prev);
        prev = s;
        atomic_fetch_add_explicit(&sn.snapshots, 1, memory_order_relaxed);
    }
    return NULL;
}

Test(arena_threads, snapshots_while_allocating_are_consistent)
{
    log_seed();
    test_watchdog(60);
    sn.a = test_arena("snapped", 4);
    sn.rounds = work(30000);
    pthread_t alloc[4], reader[2];
    for (unsigned i = 0; i < 2; i++)
        cr_assert_eq(pthread_create(&reader[i], NULL, snap_reader, NULL), 0);
    for (unsigned i = 0; i < 4; i++)
        cr_assert_eq(pthread_create(&alloc[i], NULL, snap_alloc, (void *)(uintptr_t)(i + 5)), 0);
    for (unsigned i = 0; i < 4; i++)
        pthread_join(alloc[i], NULL);
    atomic_store_explicit(&sn.stop, 1, memory_order_release);
    for (unsigned i = 0; i < 2; i++)
        pthread_join(reader[i], NULL);
    test_fail_none(&sn.fail);
    cr_assert_gt(atomic_load(&sn.snapshots), 0);
    test_assert_empty(sn.a);
}

/* ---- Borrowing from several threads -------------------------------------------------------*/

static struct borrow {
    talc_arena_t *a[3];
    size_t ceiling[3];
    atomic_int stop;
    unsigned long rounds;
    test_fail_t fail;
} bw = {.fail = TEST_FAIL_INIT};

static void *borrow_worker(void *arg)
{
    unsigned me = (unsigned)(uintptr_t)arg;
    test_rng_t r;
    test_rng_seed(&r, seed(4242u + me));
    talc_arena_t *a = bw.a[me % 3];
    void *slot[32] = {0};
    for (unsigned long i = 0; i < bw.rounds; i++) {
        unsigned k = (unsigned)test_rng_below(&r, 32);
        if (slot[k]) {
            talc_free(slot[k]);
            slot[k] = NULL;
        } else {
            slot[k] = talc_arena_malloc(a, 1 + test_rng_below(&r, 3 * TEST_GRANULE));
            /* NULL is fine: the reserve and the ceilings run out */
        }
    }
    for (unsigned k = 0; k < 32; k++)
        talc_free(slot[k]);
    return NULL;
}

static void *borrow_monitor(void *arg)
{
    (void)arg;
    while (!atomic_load_explicit(&bw.stop, memory_order_acquire)) {
        talc_reserve_stats_t r = test_reserve();
        if (r.free + r.held != r.size || r.held > r.size)
            test_fail_note(&bw.fail, "reserve: free %zu held %zu size %zu", r.free, r.held, r.size);
        for (unsigned i = 0; i < 3; i++) {
            talc_arena_stats_t s;
            if (talc_arena_get_stats(bw.a[i], &s) != 0 || s.borrowed_bytes > bw.ceiling[i] ||
                s.source_bytes > s.hard_budget)
                test_fail_note(&bw.fail, "%s: borrowed %zu of %zu, source %zu of %zu", s.name,
                               s.borrowed_bytes, bw.ceiling[i], s.source_bytes, s.hard_budget);
        }
    }
    return NULL;
}

Test(arena_threads, borrowing_from_several_threads)
{
    log_seed();
    test_watchdog(60);
    test_reserve_init(24 * TEST_GRANULE);
    for (unsigned i = 0; i < 3; i++) {
        char name[16];
        snprintf(name, sizeof name, "lender-%u", i);
        talc_arena_config_t c = talc_arena_config_default(name);
        c.stripes = 2;
        c.hard_budget = 8 * TEST_GRANULE;
        c.borrow_ceiling = bw.ceiling[i] = (4 + 4 * i) * TEST_GRANULE;
        c.borrow_priority = i;
        c.reserve_guaranteed = i == 2 ? 4 * TEST_GRANULE : 0;
        bw.a[i] = test_arena_cfg(&c);
    }
    bw.rounds = work(20000);
    pthread_t t[6], mon;
    cr_assert_eq(pthread_create(&mon, NULL, borrow_monitor, NULL), 0);
    for (unsigned i = 0; i < 6; i++)
        cr_assert_eq(pthread_create(&t[i], NULL, borrow_worker, (void *)(uintptr_t)i), 0);
    for (unsigned i = 0; i < 6; i++)
        pthread_join(t[i], NULL);
    atomic_store_explicit(&bw.stop, 1, memory_order_release);
    pthread_join(mon, NULL);
    test_fail_none(&bw.fail);
    talc_reserve_stats_t r = test_reserve();
    cr_assert_eq(r.held, 0, "everything went back: %zu held", r.held);
    cr_assert_eq(r.returned_total, r.borrowed_total);
    cr_assert_gt(r.borrowed_total, 0, "nobody borrowed");
    for (unsigned i = 0; i < 3; i++) {
        talc_arena_stats_t s = test_stats(bw.a[i]);
        cr_assert_eq(s.borrowed_bytes, 0);
        cr_assert_eq(s.returned_total, s.borrowed_total);
        test_assert_empty(bw.a[i]);
        cr_log_info("%s: %llu allocs, %llu failed, borrowed %llu", s.name,
                    (unsigned long long)s.allocs, (unsigned long long)s.failed,
                    (unsigned long long)s.borrowed_total);
    }
}
