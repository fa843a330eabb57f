/* stress_arena.c — the arena layer hammered from many threads, as a plain program (no
 * Criterion) so that it runs in every configuration, TSan included.
 *
 *   workers  allocate (malloc, calloc, aligned, realloc) in three fixed arenas, in a scoped
 *            arena (talc_scope_push / NULL arena) and in the bound one; pass blocks to each
 *            other through mailboxes so that most frees are cross-thread; check every block's
 *            contents and owner before freeing it; st-b and the scoped arena have thread
 *            caches, st-a and st-c none
 *   churn    creates, fills, looks up and destroys arenas (EBUSY, RELEASE_ALL), some borrowing
 *            from the reserve
 *   watcher  talc_arena_find / talc_arena_foreach (names must be valid), snapshots of the fixed
 *            arenas (self-consistent, totals never going down), the reserve's figures, the
 *            stats writers into a memory stream, talc_arena_trim on each fixed arena and
 *            the default one in turn, and every eighth pass talc_arena_trim_idle on all of
 *            them (the shim trimmer's form: it flags free chunks in one pass and decommits
 *            them in the next)
 * At the end every fixed arena must be back to zero live bytes and allocations with
 * allocs == frees == what the workers counted, and the reserve must be whole; and every thread
 * must have worked (worker ops, churn cycles and watcher passes all above 0, no thread that
 * could not be created).
 *
 * Usage: stress_arena [seconds]   or environment TALC_STRESS_SECONDS (default 2),
 *        TALC_STRESS_OPS (operations per worker, default unbounded: time decides) and
 *        TALC_SEED (the workers' random streams, default 0; printed for replay).
 * Exit status 0 if every check held, 1 otherwise (the first failures are printed).
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "talc/arena.h"
#include "talc/reserve.h"
#include "talc/stats.h"

#include "mailbox.h"
#include "rng.h"

#define WORKERS 4
#define FIXED 3
#define SCOPED FIXED /* index of the scoped arena in the counters */
#define NCOUNT (FIXED + 1)
#define SLOTS 32
#define CHURN_NAMES 6
#define GRANULE ((size_t)1 << TALC_PAGEMAP_SHIFT)

/* .seed is the byte every byte of the block holds; .arena indexes st.arenas. */
typedef test_block_t blk_t;

static struct stress {
    talc_arena_t *arenas[NCOUNT];
    test_mailbox_t box[WORKERS];
    atomic_ulong allocs[NCOUNT], frees[NCOUNT];
    atomic_int stop;
    atomic_uint failures;
    double seconds;
    unsigned long ops;
    uint64_t seed;
    struct timespec t0;
    atomic_ulong worker_ops, churn_cycles, watcher_passes;
} st;

static char churn_names[CHURN_NAMES][16];

__attribute__((format(printf, 1, 2))) static void fail(const char *fmt, ...)
{
    if (atomic_fetch_add(&st.failures, 1u) < 10) {
        va_list ap;
        va_start(ap, fmt);
        fputs("stress_arena: FAIL: ", stderr);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        va_end(ap);
    }
}

static double elapsed(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - st.t0.tv_sec) + (double)(t.tv_nsec - st.t0.tv_nsec) / 1e9;
}

static bool stopping(void) { return atomic_load_explicit(&st.stop, memory_order_acquire) != 0; }

/* ---- Workers ------------------------------------------------------------------------------*/

static void release(const blk_t *b)
{
    if (talc_arena_of(b->p) != st.arenas[b->arena])
        fail("block %p: wrong owner (arena %u)", (void *)b->p, b->arena);
    for (size_t i = 0; i < b->n; i += 1 + i / 8)
        if (b->p[i] != b->seed) {
            fail("block %p of %zu bytes: byte %zu is %u, not %u", (void *)b->p, b->n, i, b->p[i],
                 b->seed);
            break;
        }
    talc_free(b->p);
    atomic_fetch_add_explicit(&st.frees[b->arena], 1, memory_order_relaxed);
}

static bool post(unsigned to, const blk_t *b) { return test_mailbox_post(&st.box[to], b); }

static void drain(unsigned me)
{
    blk_t tmp[TEST_MAILBOX_CAP];
    unsigned n = test_mailbox_take(&st.box[me], tmp);
    for (unsigned i = 0; i < n; i++)
        release(&tmp[i]);
}

static size_t size_of(test_rng_t *r)
{
    unsigned k = (unsigned)test_rng_below(r, 100);
    if (k < 75)
        return 1 + test_rng_below(r, 300);
    if (k < 98)
        return 1 + test_rng_below(r, 16384);
    return 1 + test_rng_below(r, 3 * GRANULE);
}

/* One new block in arena index `ai` (SCOPED: through a scope and the NULL arena). */
static bool make(test_rng_t *r, unsigned ai, blk_t *b)
{
    b->n = size_of(r);
    b->arena = ai;
    b->seed = (uint32_t)(1 + test_rng_below(r, 255));
    if (ai == SCOPED) {
        if (talc_scope_push(st.arenas[SCOPED]) != 0) {
            fail("scope push");
            return false;
        }
        b->p = talc_arena_malloc(NULL, b->n);
        if (talc_scope_pop() != 0)
            fail("scope pop");
    } else {
        switch (test_rng_below(r, 3)) {
        case 0:
            b->p = talc_arena_calloc(st.arenas[ai], b->n, 1);
            break;
        case 1:
            b->p = talc_arena_aligned_alloc(st.arenas[ai], 256, b->n);
            break;
        default:
            b->p = talc_arena_malloc(st.arenas[ai], b->n);
            break;
        }
    }
    if (!b->p) {
        fail("allocation of %zu bytes in arena %u failed (errno %d)", b->n, ai, errno);
        return false;
    }
    atomic_fetch_add_explicit(&st.allocs[ai], 1, memory_order_relaxed);
    memset(b->p, (int)b->seed, b->n);
    return true;
}

static void resize(test_rng_t *r, blk_t *b)
{
    size_t n = size_of(r);
    unsigned char *q = talc_arena_realloc(NULL, b->p, n);
    if (!q) {
        fail("realloc to %zu failed", n);
        return;
    }
    size_t keep = n < b->n ? n : b->n;
    for (size_t i = 0; i < keep; i += 1 + i / 8)
        if (q[i] != b->seed) {
            fail("realloc lost byte %zu", i);
            break;
        }
    memset(q, (int)b->seed, n);
    b->p = q;
    b->n = n;
}

static void *worker(void *arg)
{
    unsigned me = (unsigned)(uintptr_t)arg;
    test_rng_t r;
    test_rng_seed(&r, st.seed + 0x5eed0000u + me);
    blk_t slot[SLOTS];
    unsigned used = 0;
    talc_thread_bind(st.arenas[me % FIXED]);
    unsigned long i = 0;
    for (; !stopping() && (st.ops == 0 || i < st.ops); i++) {
        unsigned op = (unsigned)test_rng_below(&r, 100);
        if (op < 40 && used < SLOTS) {
            if (make(&r, (unsigned)test_rng_below(&r, NCOUNT), &slot[used]))
                used++;
        } else if (op < 50 && used) {
            resize(&r, &slot[test_rng_below(&r, used)]);
        } else if (op < 80 && used) {
            unsigned k = (unsigned)test_rng_below(&r, used);
            unsigned to = (unsigned)test_rng_below(&r, WORKERS);
            if (to == me || !post(to, &slot[k]))
                release(&slot[k]);
            slot[k] = slot[--used];
        } else if (op < 92 && used) {
            unsigned k = (unsigned)test_rng_below(&r, used);
            release(&slot[k]);
            slot[k] = slot[--used];
        } else {
            drain(me);
        }
        if (talc_thread_arena() != st.arenas[me % FIXED])
            fail("worker %u: bound arena lost", me);
        if (st.ops == 0 && (i & 255) == 0 && elapsed() > st.seconds)
            atomic_store_explicit(&st.stop, 1, memory_order_release);
    }
    while (used)
        release(&slot[--used]);
    drain(me);
    atomic_fetch_add(&st.worker_ops, i);
    talc_thread_bind(NULL);
    return NULL;
}

/* ---- Churn: create / fill / destroy -------------------------------------------------------*/

static void *churn(void *arg)
{
    (void)arg;
    test_rng_t r;
    test_rng_seed(&r, st.seed + 0xc4u);
    talc_arena_t *live[CHURN_NAMES] = {0};
    void *held[CHURN_NAMES][8];
    do { /* once at least, so that churn_cycles shows the thread ran */
        unsigned k = (unsigned)test_rng_below(&r, CHURN_NAMES);
        if (!live[k]) {
            talc_arena_config_t c = talc_arena_config_default(churn_names[k]);
            c.stripes = 1 + (unsigned)test_rng_below(&r, 4);
            if (k % 2) {
                c.source = TALC_SOURCE_RESERVE;
                c.borrow_ceiling = 4 * GRANULE;
            }
            live[k] = talc_arena_create(&c);
            if (!live[k]) {
                fail("create %s: errno %d", churn_names[k], errno);
                continue;
            }
            if (talc_arena_find(churn_names[k]) != live[k])
                fail("created %s but cannot find it", churn_names[k]);
            for (int i = 0; i < 8; i++)
                held[k][i] = talc_arena_malloc(live[k], 1 + test_rng_below(&r, 4000));
        } else {
            if (talc_arena_destroy(live[k], 0) != -EBUSY)
                fail("destroy of %s with live blocks was not EBUSY", churn_names[k]);
            if (test_rng_chance(&r, 1, 2)) {
                for (int i = 0; i < 8; i++)
                    talc_free(held[k][i]);
                if (talc_arena_destroy(live[k], 0) != 0)
                    fail("destroy of empty %s", churn_names[k]);
            } else if (talc_arena_destroy(live[k], TALC_DESTROY_RELEASE_ALL) != 0) {
                fail("destroy of %s with RELEASE_ALL", churn_names[k]);
            }
            live[k] = NULL;
        }
        atomic_fetch_add(&st.churn_cycles, 1);
    } while (!stopping());
    for (unsigned k = 0; k < CHURN_NAMES; k++)
        if (live[k] && talc_arena_destroy(live[k], TALC_DESTROY_RELEASE_ALL) != 0)
            fail("final destroy of %s", churn_names[k]);
    return NULL;
}

/* ---- Watcher: lookups, enumeration, snapshots, writers ------------------------------------*/

static bool valid_name(const char *n)
{
    if (!strcmp(n, "default") || !strcmp(n, "st-a") || !strcmp(n, "st-b") || !strcmp(n, "st-c") ||
        !strcmp(n, "st-scope"))
        return true;
    for (unsigned k = 0; k < CHURN_NAMES; k++)
        if (!strcmp(n, churn_names[k]))
            return true;
    return false;
}

static bool visit(talc_arena_t *a, void *ctx)
{
    unsigned *n = ctx;
    const char *name = talc_arena_name(a);
    if (!valid_name(name))
        fail("foreach met an arena named \"%.40s\"", name);
    talc_arena_stats_t s;
    if (talc_arena_get_stats(a, &s) != 0 || strcmp(s.name, name) != 0)
        fail("snapshot of %s inside foreach", name);
    (*n)++;
    return true;
}

static void check_snapshot(unsigned i, talc_arena_stats_t *prev)
{
    talc_arena_stats_t s;
    if (talc_arena_get_stats(st.arenas[i], &s) != 0) {
        fail("get_stats %u", i);
        return;
    }
    if (s.live_allocs != s.allocs - s.frees || s.allocs < s.frees)
        fail("%s: live %zu != %llu - %llu", s.name, s.live_allocs, (unsigned long long)s.allocs,
             (unsigned long long)s.frees);
    if (s.failed != 0)
        fail("%s: failed %llu", s.name, (unsigned long long)s.failed);
    /* Never below the truth (talc/stats.h), so never "negative": a live_bytes past SIZE_MAX / 2
     * is a difference that wrapped (a take-back's bytes seen before the allocation's, which
     * weakly ordered hardware can show when bytes_out is published relaxed). */
    if (s.live_bytes > SIZE_MAX / 2)
        fail("%s: live_bytes %zu wrapped", s.name, s.live_bytes);
    /* With thread caches a snapshot may count a block freed while it was taken as live and
     * as free at once (talc/stats.h); without them the stripes' figures agree exactly. */
    bool cached = TALC_TCACHE && (i == 1 || i == SCOPED); /* st-b, st-scope: fixed_arena() */
    if (!cached && s.live_bytes + s.free_bytes > s.managed_bytes)
        fail("%s: live %zu + free %zu > managed %zu", s.name, s.live_bytes, s.free_bytes,
             s.managed_bytes);
    if (!cached && s.peak_bytes < s.live_bytes)
        fail("%s: peak %zu live %zu", s.name, s.peak_bytes, s.live_bytes);
    if (s.allocs < prev->allocs || s.frees < prev->frees || s.reallocs < prev->reallocs ||
        s.remote_frees < prev->remote_frees)
        fail("%s: a running total went down", s.name);
    *prev = s;
}

static void *watcher(void *arg)
{
    (void)arg;
    static char sink[1 << 17];
    talc_arena_stats_t prev[NCOUNT];
    memset(prev, 0, sizeof prev);
    const char *fixed[] = {"st-a", "st-b", "st-c", "st-scope"};
    unsigned long pass = 0;
    do { /* once at least, so that watcher_passes shows the thread ran */
        for (unsigned i = 0; i < NCOUNT; i++) {
            if (talc_arena_find(fixed[i]) != st.arenas[i])
                fail("find(%s) did not return the fixed arena", fixed[i]);
            check_snapshot(i, &prev[i]);
        }
        for (unsigned k = 0; k < CHURN_NAMES; k++)
            (void)talc_arena_find(churn_names[k]); /* may be there or not; never dereferenced */
        unsigned n = 0;
        (void)talc_arena_foreach(visit, &n);
        if (n < NCOUNT + 1)
            fail("foreach saw %u arenas", n);
        talc_reserve_stats_t r;
        talc_reserve_get_stats(&r);
        if (r.free + r.held != r.size || r.borrowed_total - r.returned_total != r.held)
            fail("reserve: size %zu free %zu held %zu", r.size, r.free, r.held);
        if (pass % 8 == 4) { /* trims run while the workers allocate and free there */
            unsigned k = (unsigned)(pass / 8 % (NCOUNT + 1));
            (void)talc_arena_trim(k == NCOUNT ? NULL : st.arenas[k]); /* NULL: the default */
        } else if (pass % 8 == 0) {
            for (unsigned k = 0; k < NCOUNT; k++)
                (void)talc_arena_trim_idle(st.arenas[k]);
            (void)talc_arena_trim_idle(talc_arena_default());
        }
        if (pass++ % 16 == 0) {
            FILE *f = fmemopen(sink, sizeof sink, "w");
            if (!f)
                continue;
            int rc = talc_stats_write(f, (talc_stats_format_t)(pass / 16 % 3));
            fclose(f);
            if (rc != 0)
                fail("stats writer: %d", rc);
        }
    } while (!stopping());
    atomic_store(&st.watcher_passes, pass);
    return NULL;
}

/* ---- Main ---------------------------------------------------------------------------------*/

static talc_arena_t *fixed_arena(const char *name, unsigned stripes, talc_tcache_mode_t tc)
{
    talc_arena_config_t c = talc_arena_config_default(name);
    c.stripes = stripes;
    c.thread_cache = tc;
    talc_arena_t *a = talc_arena_create(&c);
    if (!a) {
        fprintf(stderr, "stress_arena: create %s: errno %d\n", name, errno);
        exit(1);
    }
    return a;
}

static void start(pthread_t *t, void *(*fn)(void *), void *arg, const char *what)
{
    int rc = pthread_create(t, NULL, fn, arg);
    if (rc != 0) {
        fprintf(stderr, "stress_arena: FAIL: pthread_create (%s): %s\n", what, strerror(rc));
        exit(1);
    }
}

static void final_checks(void)
{
    /* A thread that did nothing would make every other check vacuous. */
    if (!atomic_load(&st.worker_ops) || !atomic_load(&st.churn_cycles) ||
        !atomic_load(&st.watcher_passes))
        fail("a thread did no work: %lu worker ops, %lu churn cycles, %lu watcher passes",
             atomic_load(&st.worker_ops), atomic_load(&st.churn_cycles),
             atomic_load(&st.watcher_passes));
    for (unsigned i = 0; i < NCOUNT; i++) {
        talc_arena_stats_t s;
        (void)talc_arena_get_stats(st.arenas[i], &s);
        unsigned long allocs = atomic_load(&st.allocs[i]), frees = atomic_load(&st.frees[i]);
        if (allocs != frees)
            fail("%s: the test made %lu blocks and freed %lu", s.name, allocs, frees);
#if TALC_COUNTERS
        if (s.live_bytes || s.live_allocs)
            fail("%s: %zu live bytes in %zu blocks at the end", s.name, s.live_bytes,
                 s.live_allocs);
        /* a moving realloc allocates and frees inside the library: >= what the test made */
        if (s.allocs != s.frees || s.allocs < allocs)
            fail("%s: allocs %llu frees %llu (the test made %lu)", s.name,
                 (unsigned long long)s.allocs, (unsigned long long)s.frees, allocs);
#endif
        if (talc_arena_destroy(st.arenas[i], 0) != 0)
            fail("%s: destroy at the end", s.name);
    }
    talc_reserve_stats_t r;
    talc_reserve_get_stats(&r);
    if (r.held != 0 || r.free != r.size)
        fail("reserve not whole at the end: %zu held", r.held);
}

int main(int argc, char **argv)
{
    const char *sec = argc > 1 ? argv[1] : getenv("TALC_STRESS_SECONDS");
    st.seconds = sec && *sec ? strtod(sec, NULL) : 2.0;
    const char *ops = getenv("TALC_STRESS_OPS");
    st.ops = ops && *ops ? strtoul(ops, NULL, 10) : 0;
    const char *seed = getenv("TALC_SEED");
    st.seed = seed && *seed ? strtoull(seed, NULL, 10) << 20 : 0;
    clock_gettime(CLOCK_MONOTONIC, &st.t0);
    /* A deadlock ends the run with SIGALRM (a failure) instead of hanging it. */
    alarm((unsigned)(st.seconds * 10.0) + 120u);
    for (unsigned k = 0; k < CHURN_NAMES; k++)
        snprintf(churn_names[k], sizeof churn_names[k], "st-churn-%u", k);
    if (talc_reserve_init(32 * GRANULE, 0) != 0) {
        fprintf(stderr, "stress_arena: reserve of %zu bytes: errno %d\n", 32 * GRANULE, errno);
        return 1;
    }
    st.arenas[0] = fixed_arena("st-a", 1, TALC_TCACHE_DEFAULT);
    st.arenas[1] = fixed_arena("st-b", 2, TALC_TCACHE_ON);
    st.arenas[2] = fixed_arena("st-c", 0, TALC_TCACHE_OFF);
    st.arenas[SCOPED] = fixed_arena("st-scope", 3, TALC_TCACHE_ON);
    for (unsigned i = 0; i < WORKERS; i++)
        pthread_mutex_init(&st.box[i].lock, NULL);
    pthread_t w[WORKERS], c, v;
    for (unsigned i = 0; i < WORKERS; i++)
        start(&w[i], worker, (void *)(uintptr_t)i, "worker");
    start(&c, churn, NULL, "churn");
    start(&v, watcher, NULL, "watcher");
    for (unsigned i = 0; i < WORKERS; i++)
        pthread_join(w[i], NULL);
    atomic_store_explicit(&st.stop, 1, memory_order_release); /* when ops ended the run */
    pthread_join(c, NULL);
    pthread_join(v, NULL);
    for (unsigned i = 0; i < WORKERS; i++)
        drain(i);
    final_checks();
    unsigned failures = atomic_load(&st.failures);
    fprintf(stderr,
            "stress_arena: TALC_SEED=%llu, %.1f s, %lu worker ops, %lu create/destroy cycles, "
            "%lu watcher passes: %s\n",
            (unsigned long long)(st.seed >> 20), elapsed(), atomic_load(&st.worker_ops),
            atomic_load(&st.churn_cycles), atomic_load(&st.watcher_passes),
            failures ? "FAILED" : "ok");
    return failures ? 1 : 0;
}
