/* stress_arena_budget.c — threads that keep running into arenas' hard budgets: the
 * out-of-memory path under contention (docs/arenas.md, "Out-of-memory policy": GROW takes the
 * other stripes' free memory and gives back their kept segments before it fails).
 *
 * Four workers allocate (malloc and 256-byte aligned, 16 B to 2 KiB and 64 KiB blocks) and
 * free at random in two arenas of four stripes with a 6 MiB hard budget each (with 1 MiB
 * segments; budget and 64 KiB blocks scale with larger granules), one with thread caches and
 * one without, so that they are refused most of the time once the budgets are
 * reached. Checked: every refusal is NULL + ENOMEM; every block keeps its writer's pattern until
 * it is freed; no snapshot shows an arena above its budget; at the end nothing is live,
 * allocations equal frees, refusals were counted (with counters), and both arenas are
 * destroyed cleanly. A plain program, so that it runs under TSan too.
 *
 * Usage: stress_arena_budget [seconds]   or environment TALC_STRESS_SECONDS (default 2) and
 *        TALC_SEED (the workers' random streams, default 0; printed for replay).
 * Exit status 0 if every check held, 1 otherwise (the first failures are printed).
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "talc/arena.h"
#include "talc/stats.h"

#include "granule.h"
#include "rng.h"

#define WORKERS 4
#define SLOTS 768
#define BUDGET TEST_SEGMENT_SCALED((size_t)6 << 20)
#define LARGE TEST_SEGMENT_SCALED((size_t)64 << 10) /* one block in four: the budget is hit */

static talc_arena_t *arenas[2];
static atomic_int stop, failures;
static double seconds = 2.0;
static uint64_t seed;

__attribute__((format(printf, 1, 2))) static void fail(const char *fmt, ...)
{
    if (atomic_fetch_add(&failures, 1) >= 10)
        return;
    va_list ap;
    va_start(ap, fmt);
    fputs("stress_arena_budget: FAIL ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

typedef struct slot {
    unsigned char *p;
    size_t n;
    unsigned char tag;
} slot_t;

typedef struct worker {
    unsigned id;
    unsigned long allocs, refusals;
} worker_t;

static void drop(slot_t *s)
{
    size_t k = s->n < 16 ? s->n : 16;
    for (size_t i = 0; i < k; i++)
        if (s->p[i] != s->tag || s->p[s->n - 1 - i] != s->tag) {
            fail("block %p (%zu bytes) lost its pattern", (void *)s->p, s->n);
            break;
        }
    talc_free(s->p);
    s->p = NULL;
}

static void check_budget(void)
{
    for (unsigned i = 0; i < 2; i++) {
        talc_arena_stats_t s;
        if (talc_arena_get_stats(arenas[i], &s) != 0)
            fail("snapshot of arena %u", i);
        else if (s.source_bytes > BUDGET)
            fail("%s holds %zu bytes, above its budget", s.name, s.source_bytes);
    }
}

static void *worker(void *arg)
{
    worker_t *w = arg;
    test_rng_t r;
    test_rng_seed(&r, seed + w->id);
    static __thread slot_t slots[SLOTS];
    for (unsigned long op = 0; !atomic_load_explicit(&stop, memory_order_relaxed); op++) {
        uint64_t x = test_rng_next(&r);
        slot_t *s = &slots[x % SLOTS];
        if (s->p) {
            drop(s);
            continue;
        }
        size_t n = (x >> 20) % 4u == 0 ? LARGE + (size_t)(x >> 40) % 4096u
                                       : 16u + (size_t)(x >> 40) % 2032u;
        talc_arena_t *a = arenas[(x >> 10) & 1u];
        errno = 0;
        void *p = (x >> 11) & 1u ? talc_arena_malloc(a, n) : talc_arena_aligned_alloc(a, 256, n);
        if (!p) {
            if (errno != ENOMEM)
                fail("a refusal with errno %d", errno);
            w->refusals++;
            continue;
        }
        w->allocs++;
        s->p = p;
        s->n = n;
        s->tag = (unsigned char)(w->id * 64u + (op & 63u));
        memset(p, s->tag, n < 32 ? n : 16);
        if (n >= 32)
            memset((char *)p + n - 16, s->tag, 16);
        if ((op & 1023u) == 0)
            check_budget();
    }
    for (unsigned i = 0; i < SLOTS; i++)
        if (slots[i].p)
            drop(&slots[i]);
    talc_thread_cache_flush();
    return NULL;
}

static talc_arena_t *budget_arena(const char *name, talc_tcache_mode_t cache)
{
    talc_arena_config_t c = talc_arena_config_default(name);
    c.stripes = 4;
    c.hard_budget = BUDGET;
    c.thread_cache = cache;
    talc_arena_t *a = talc_arena_create(&c);
    if (!a)
        fail("creating %s: errno %d", name, errno);
    return a;
}

int main(int argc, char **argv)
{
    const char *sec = argc > 1 ? argv[1] : getenv("TALC_STRESS_SECONDS");
    if (sec && *sec)
        seconds = strtod(sec, NULL);
    const char *sd = getenv("TALC_SEED");
    seed = sd && *sd ? strtoull(sd, NULL, 10) << 20 : 0;
    alarm((unsigned)(seconds * 10.0) + 120u); /* a deadlock fails the run instead of hanging */
    arenas[0] = budget_arena("sb-plain", TALC_TCACHE_OFF);
    arenas[1] = budget_arena("sb-cached", TALC_TCACHE_ON);
    if (!arenas[0] || !arenas[1])
        return 1;
    worker_t w[WORKERS];
    pthread_t t[WORKERS];
    for (unsigned i = 0; i < WORKERS; i++) {
        w[i] = (worker_t){.id = i};
        pthread_create(&t[i], NULL, worker, &w[i]);
    }
    struct timespec ts = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};
    nanosleep(&ts, NULL);
    atomic_store(&stop, 1);
    unsigned long allocs = 0, refusals = 0;
    for (unsigned i = 0; i < WORKERS; i++) {
        pthread_join(t[i], NULL);
        allocs += w[i].allocs;
        refusals += w[i].refusals;
    }
    if (refusals == 0)
        fail("no allocation was refused: the budgets were never reached");
    for (unsigned i = 0; i < 2; i++) {
        talc_arena_stats_t s;
        talc_arena_get_stats(arenas[i], &s);
        if (s.live_allocs || s.live_bytes)
            fail("%s: %zu blocks, %zu bytes live at the end", s.name, s.live_allocs, s.live_bytes);
#if TALC_COUNTERS
        if (s.allocs != s.frees)
            fail("%s: allocs %llu, frees %llu", s.name, (unsigned long long)s.allocs,
                 (unsigned long long)s.frees);
        if (s.failed == 0)
            fail("%s: no refusal counted", s.name);
#endif
        if (talc_arena_destroy(arenas[i], 0) != 0)
            fail("%s: destroy at the end", s.name);
    }
    int n = atomic_load(&failures);
    printf("stress_arena_budget: TALC_SEED=%llu, %.1f s, %lu allocations, %lu refusals: %s\n",
           (unsigned long long)(seed >> 20), seconds, allocs, refusals, n ? "FAILED" : "ok");
    return n ? 1 : 0;
}
