/* test_arena_rcu.c — the registry reads the library makes by itself, with the address space
 * exhausted, on a thread that has never read the registry (docs/arenas.md, "Registry").
 *
 * liburcu-bp registers a thread on its first read-side section, in a registry of reader slots
 * it maps eight at a time (then chunks twice as large), and aborts the process when it cannot
 * map one. A FALLBACK step (which runs exactly when memory is short), an arena's creation and
 * its destruction each made an RCU read until 2026-12-06: a daemon at its commit limit or
 * RLIMIT_AS died with SIGABRT there, instead of getting its block from the fallback arena,
 * ENOMEM from create, or its arena destroyed. They now look names up under the registry lock.
 *
 * How: the test thread and seven more read the registry (talc_arena_find; the seven stay
 * alive), which fills liburcu-bp's first chunk of reader slots; a ninth thread, started before,
 * waits while the test caps the address space at what is mapped now (RLIMIT_AS), then
 * allocates from an arena until the FALLBACK step serves it, creates an arena, writes the
 * statistics of every arena (talc_stats_write, which enumerates the arenas: with an RCU read
 * until 2026-12-06, under the registry lock since; a daemon prints its statistics exactly when
 * memory runs short) and destroys an arena. Only its results are recorded there; the checks
 * run after the cap is lifted. The code before each change died in that thread with SIGABRT
 * (each step is reached once those before it pass). Where RLIMIT_AS is not applied to mappings
 * (qemu-user: a probe mmap succeeds under the cap) the test is skipped, and under the sanitizers,
 * whose runtimes map memory lazily in a running thread (TSan's signal context, ASan's alternate
 * signal stack), which the cap makes fail.
 *
 * Also, everywhere: threads that reach the FALLBACK step for the first time together all get
 * the fallback arena (the one that finds it keeps it for the others: a race TSan watches), and
 * the arena stays protected from destroy.
 *
 * Public API only. Concurrency: the test thread, seven parked readers and a worker; or the
 * test thread and SPILLERS threads.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/resource.h>

#include <criterion/criterion.h>

#include "arena_test.h"
#include "talc/stats.h"

#define KIB ((size_t)1 << 10)
#define BLOCK TEST_GRANULE_SCALED(10 * KIB)
#define MAXB 512
#define READERS 7 /* with the test thread, liburcu-bp's first chunk of slots (INIT_NR_THREADS) */
#define SPILLERS 4
#define SPILLS 8 /* blocks each spiller takes through the FALLBACK step */

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define SANITIZED 1
#endif
#endif
#ifndef SANITIZED
#define SANITIZED 0
#endif

static sem_t readers_in, readers_out, ready, go, done;

static void *parked_reader(void *arg)
{
    (void)arg;
    (void)talc_arena_find("spare"); /* registers this thread with liburcu-bp */
    sem_post(&readers_in);
    sem_wait(&readers_out);
    return NULL;
}

/* What the worker saw under the cap, checked by the test thread afterwards. */
typedef struct worker_out {
    talc_arena_t *main, *spare, *doomed;
    void *blk[MAXB];
    int k;       /* blocks from main before the spill */
    void *spill; /* the block the FALLBACK step got from spare */
    talc_arena_t *created;
    int create_errno;
    int destroyed; /* talc_arena_destroy's result */
    FILE *out;     /* /dev/null, unbuffered: opened before the cap */
    int stats_rc;  /* talc_stats_write's result */
} worker_out_t;

static void *worker(void *arg)
{
    worker_out_t *w = arg;
    sem_post(&ready); /* running: what starting a thread maps (a sanitizer's stacks) is mapped */
    sem_wait(&go);
    while (w->k < MAXB) {
        void *p = talc_arena_malloc(w->main, BLOCK);
        if (!p || talc_arena_of(p) != w->main) {
            w->spill = p;
            break;
        }
        w->blk[w->k++] = p;
    }
    talc_arena_config_t c = talc_arena_config_default("late");
    c.stripes = 1;
    errno = 0;
    w->created = talc_arena_create(&c);
    w->create_errno = errno;
    w->stats_rc = talc_stats_write(w->out, TALC_STATS_JSON); /* before destroy unmaps */
    w->destroyed = talc_arena_destroy(w->doomed, 0);
    sem_post(&done);
    return NULL;
}

/* main: a budget of 4 granules, GROW then FALLBACK to "spare", then FAIL. */
static talc_arena_t *make_main(void)
{
    talc_arena_config_t c = talc_arena_config_default("main");
    c.stripes = 1;
    c.hard_budget = 4 * TEST_GRANULE;
    c.oom_chain[0] = TALC_OOM_STEP_GROW;
    c.oom_chain[1] = TALC_OOM_STEP_FALLBACK;
    c.oom_chain[2] = TALC_OOM_STEP_FAIL;
    c.fallback = "spare";
    return test_arena_cfg(&c);
}

/* spare, then main; spare keeps an empty segment to serve spills from without mapping. */
static void make_pair(talc_arena_t **main, talc_arena_t **spare)
{
    *spare = test_arena("spare", 1);
    *main = make_main();
    void *warm = talc_arena_malloc(*spare, BLOCK);
    cr_assert_not_null(warm);
    talc_free(warm);
}

static size_t vm_size(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    cr_assert_not_null(f);
    char line[256];
    size_t kib = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmSize: %zu kB", &kib) == 1)
            break;
    fclose(f);
    cr_assert_gt(kib, 0, "VmSize in /proc/self/status");
    return kib << 10;
}

static pthread_t start(void *(*fn)(void *), void *arg)
{
    pthread_attr_t small;
    pthread_attr_init(&small);
    pthread_attr_setstacksize(&small, (size_t)256 << 10);
    pthread_t t;
    cr_assert_eq(pthread_create(&t, &small, fn, arg), 0);
    pthread_attr_destroy(&small);
    return t;
}

Test(arena_rcu, library_lookups_register_no_thread_when_the_address_space_is_exhausted)
{
    if (SANITIZED)
        cr_skip_test("a sanitizer's runtime maps memory lazily, which the cap makes fail");
    test_watchdog(60);
    static worker_out_t w;
    make_pair(&w.main, &w.spare);
    w.doomed = test_arena("doomed", 1);
    w.out = fopen("/dev/null", "w");
    cr_assert_not_null(w.out);
    setvbuf(w.out, NULL, _IONBF, 0);

    (void)talc_arena_find("spare"); /* the test thread's slot */
    sem_init(&readers_in, 0, 0);
    sem_init(&readers_out, 0, 0);
    sem_init(&ready, 0, 0);
    sem_init(&go, 0, 0);
    sem_init(&done, 0, 0);
    pthread_t readers[READERS];
    for (int i = 0; i < READERS; i++)
        readers[i] = start(parked_reader, NULL);
    for (int i = 0; i < READERS; i++)
        sem_wait(&readers_in);
    pthread_t t = start(worker, &w);
    sem_wait(&ready);

    struct rlimit old;
    cr_assert_eq(getrlimit(RLIMIT_AS, &old), 0);
    size_t vm = vm_size();
    struct rlimit cap = {vm, old.rlim_max};
    cr_assert_eq(setrlimit(RLIMIT_AS, &cap), 0);
    void *probe =
        mmap(NULL, (size_t)1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    bool capped = probe == MAP_FAILED;
    if (capped) {
        sem_post(&go);
        sem_wait(&done);
    } else {
        munmap(probe, (size_t)1 << 20);
    }
    cr_assert_eq(setrlimit(RLIMIT_AS, &old), 0);
    if (!capped)
        sem_post(&go);
    pthread_join(t, NULL);
    for (int i = 0; i < READERS; i++)
        sem_post(&readers_out);
    for (int i = 0; i < READERS; i++)
        pthread_join(readers[i], NULL);
    fclose(w.out);
    if (!capped)
        cr_skip_test("RLIMIT_AS is not applied to mappings here (qemu-user)");

    cr_assert_not_null(w.spill, "no block after %d from main", w.k);
    cr_assert_eq(talc_arena_of(w.spill), w.spare, "the FALLBACK step served it");
    cr_assert_null(w.created, "no room for an arena under the cap");
    cr_assert_eq(w.create_errno, ENOMEM);
    cr_assert_eq(w.destroyed, 0, "destroy: %d", w.destroyed);
    /* no room for the snapshots' mapping, or (a page left) the statistics written */
    cr_assert(w.stats_rc == -ENOMEM || w.stats_rc == 0, "stats: %d", w.stats_rc);
    cr_assert_null(talc_arena_find("doomed"));
    talc_free(w.spill);
    while (w.k)
        talc_free(w.blk[--w.k]);
    test_assert_empty(w.main);
    test_assert_empty(w.spare);
}

typedef struct spiller {
    talc_arena_t *main;
    sem_t *go;
    void *blk[SPILLS];
    int from_main; /* blocks main served itself: none, it is full */
} spiller_t;

static void *spiller(void *arg)
{
    spiller_t *sp = arg;
    sem_wait(sp->go);
    for (int i = 0; i < SPILLS; i++) {
        sp->blk[i] = talc_arena_malloc(sp->main, BLOCK);
        sp->from_main += sp->blk[i] && talc_arena_of(sp->blk[i]) == sp->main;
    }
    return NULL;
}

Test(arena_rcu, threads_reaching_the_fallback_step_together_all_get_the_fallback_arena)
{
    test_watchdog(60);
    /* main first, full, while its fallback does not exist yet: no FALLBACK step has found it */
    talc_arena_t *main = make_main();
    static void *blk[MAXB];
    int k = 0;
    while (k < MAXB && (blk[k] = talc_arena_malloc(main, BLOCK)) != NULL)
        k++;
    cr_assert_lt(k, MAXB, "main never filled up");
    cr_assert_gt(k, 0);
    talc_arena_t *spare = test_arena("spare", 1);
    talc_arena_stats_t s0 = test_stats(main);

    sem_t start_all;
    sem_init(&start_all, 0, 0);
    static spiller_t sp[SPILLERS];
    pthread_t t[SPILLERS];
    for (int i = 0; i < SPILLERS; i++) {
        sp[i] = (spiller_t){.main = main, .go = &start_all};
        t[i] = start(spiller, &sp[i]);
    }
    for (int i = 0; i < SPILLERS; i++)
        sem_post(&start_all);
    for (int i = 0; i < SPILLERS; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < SPILLERS; i++) {
        cr_assert_eq(sp[i].from_main, 0, "spiller %d: main is full", i);
        for (int j = 0; j < SPILLS; j++) {
            cr_assert_not_null(sp[i].blk[j], "spiller %d, block %d", i, j);
            cr_assert_eq(talc_arena_of(sp[i].blk[j]), spare, "spiller %d, block %d", i, j);
            talc_free(sp[i].blk[j]);
        }
    }
    talc_arena_stats_t s1 = test_stats(main);
    cr_assert_eq(s1.oom_ok[TALC_OOM_STEP_FALLBACK] - s0.oom_ok[TALC_OOM_STEP_FALLBACK],
                 (uint64_t)(SPILLERS * SPILLS));
    cr_assert_eq(talc_arena_destroy(spare, 0), -EPERM, "main names spare as its fallback");
    while (k)
        talc_free(blk[--k]);
    cr_assert_eq(talc_arena_destroy(main, 0), 0);
    cr_assert_eq(talc_arena_destroy(spare, 0), 0, "nothing names spare any more");
}
