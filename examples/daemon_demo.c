/* daemon_demo.c — a small daemon whose three subsystems each allocate from their own arena.
 *
 *   daemon_demo [seconds]   (default 3, or TALC_DEMO_SECONDS=<seconds> in the environment;
 *                            `make demo` passes its DEMO_SECONDS as the argument)
 *
 * The subsystems and the arenas they use:
 *
 *   net      2 threads receive "packets": many small buffers (64..1535 bytes) that live for a
 *            few dozen packets. Every 8th packet becomes a request for the parser.
 *            Arena "net": OS memory, two stripes per core (auto), a 16 MiB hard budget, and a
 *            1 MiB slice of the reserve guaranteed to it at high priority (it never needs it
 *            here; the guarantee is visible in the reserve line of the counters).
 *   parser   2 threads take requests off a queue, parse them and free them. A request is
 *            allocated by a net thread and freed by a parser thread: a cross-thread free,
 *            charged to the arena that owns the block ("parser"), whichever thread frees it.
 *            Arena "parser": OS memory, auto stripes, no budget, and per-thread caches
 *            (thread_cache ON): most of its small blocks are served and freed without a lock,
 *            and the "cached" column shows what the caches hold (not live, not free).
 *   cache    parsed results are cached (hash table + LRU list), and 1 janitor thread expires
 *            old entries. Arena "cache" is deliberately tight: a 2 MiB hard budget, a 1.5 MiB
 *            soft budget with a callback, and the right to borrow up to 1 MiB from the
 *            process-wide reserve when the budget is used up. Its out-of-memory policy is
 *            GROW (up to the hard budget), BORROW (up to the ceiling), RECLAIM (the callback
 *            evicts least-recently-used entries), FAIL: a cache should use its budget before it
 *            evicts. Borrowed memory goes back to the reserve as soon as it is empty. After
 *            a soft-budget warning the janitor evicts harder and trims the arena
 *            (talc_arena_trim), so the evicted entries' pages go back to the OS.
 *
 * Three ways of choosing an arena are shown: net and parser threads bind themselves to their
 * arena (talc_thread_bind), a net thread opens a scope while it builds a request for the parser
 * (talc_scope_push/pop: what a subsystem does around third-party code), and the cache names its
 * arena explicitly (talc_arena_malloc(cache_arena, n)). Every block, whatever its arena, is
 * freed with talc_free.
 *
 * The main thread is the monitor: every second it prints every arena's counters
 * (talc_stats_write, TEXT) and a line of the demo's own figures. When the time is up it stops
 * the threads in order (net, then parser once the queue is drained, then the janitor), empties
 * the cache, and checks that every arena is back to zero live bytes and allocations and that
 * the reserve has everything back. It then destroys the arenas, which must succeed (a busy
 * arena refuses with -EBUSY). Exit status 0 iff every check held.
 *
 * The sizes above are those of owner-map granules up to 1 MiB (the default is 64 KiB); with
 * larger ones (up to 16 MiB, the bound of TALC_PAGEMAP_SHIFT) each scales with the granule
 * (SEGMENT below).
 *
 * Lock order in this program: queue lock and cache lock are never held together, and neither
 * is held while allocating from the cache arena (its reclaim callback takes the cache lock).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "talc/arena.h"
#include "talc/config.h"
#include "talc/reserve.h"
#include "talc/stats.h"

#define KiB ((size_t)1024)
#define MiB (1024 * KiB)

#define NET_THREADS 2
#define PARSER_THREADS 2
#define NET_WINDOW 64            /* packets a net thread keeps in flight */
#define QUEUE_CAP 256            /* requests waiting for a parser */
#define KEYSPACE (1536u * SCALE) /* distinct cache keys: about 1.2 times what "cache" holds */
#define CACHE_BUCKETS 1024u
#define CACHE_TTL_NS 250000000u /* the janitor expires entries older than 250 ms */

/* The sizes below are for OS segments of 1 MiB, as with owner-map granules up to 1 MiB
 * (talc/config.h, TALC_PAGEMAP_SHIFT; this build's value). With larger granules a segment is
 * one granule and a budget below a granule is refused, so every size, and the key space that
 * keeps "cache" at its budget, scales with the segment. */
#define GRANULE ((size_t)1 << TALC_PAGEMAP_SHIFT)
#define SEGMENT (GRANULE > MiB ? GRANULE : MiB)
#define SCALE (SEGMENT / MiB)

#define RESERVE_BYTES (4 * SEGMENT)
#define CACHE_HARD_BUDGET (2 * SEGMENT)
#define CACHE_SOFT_BUDGET (3 * SEGMENT / 2)
#define CACHE_BORROW_CEILING (1 * SEGMENT)
#define NET_HARD_BUDGET (16 * SEGMENT)
#define NET_GUARANTEED (1 * SEGMENT)

static talc_arena_t *net_arena, *parser_arena, *cache_arena;
static atomic_bool stopping;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void sleep_ns(uint64_t ns)
{
    struct timespec ts = {(time_t)(ns / 1000000000u), (long)(ns % 1000000000u)};
    nanosleep(&ts, NULL);
}

static void sleep_until(uint64_t t)
{
    uint64_t now = now_ns();
    if (t > now)
        sleep_ns(t - now);
}

/* xorshift64: each thread has its own generator. */
static uint64_t rnd(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static size_t rnd_between(uint64_t *s, size_t lo, size_t hi) /* [lo, hi) */
{
    return lo + (size_t)(rnd(s) % (hi - lo));
}

/* ---- The demo's own figures (printed beside the arena counters) ---------------------------*/

static struct {
    atomic_ulong packets, requests, parsed;
    atomic_ulong cache_hits, cache_inserts, cache_full;
    atomic_ulong evicted_ttl, evicted_reclaim, evicted_pressure;
    atomic_ulong trimmed_kib; /* given back to the OS by the janitor's talc_arena_trim */
    atomic_ulong reclaim_calls, soft_budget_calls;
} demo;

static void count(atomic_ulong *c, unsigned long n)
{
    atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

static unsigned long get(atomic_ulong *c) { return atomic_load_explicit(c, memory_order_relaxed); }

/* ---- Requests and the queue from net to parser ---------------------------------------------*/

typedef struct request {
    uint32_t key;
    size_t len;
    unsigned char data[]; /* a copy of the packet */
} request_t;

static struct {
    pthread_mutex_t lock;
    pthread_cond_t not_empty, not_full;
    request_t *slot[QUEUE_CAP];
    unsigned head, len;
    bool closed;
} queue = {.lock = PTHREAD_MUTEX_INITIALIZER,
           .not_empty = PTHREAD_COND_INITIALIZER,
           .not_full = PTHREAD_COND_INITIALIZER};

/* Wait for room, then enqueue. False if the queue was closed (the caller keeps the request). */
static bool queue_push(request_t *r)
{
    pthread_mutex_lock(&queue.lock);
    while (queue.len == QUEUE_CAP && !queue.closed)
        pthread_cond_wait(&queue.not_full, &queue.lock);
    bool ok = !queue.closed;
    if (ok) {
        queue.slot[(queue.head + queue.len++) % QUEUE_CAP] = r;
        pthread_cond_signal(&queue.not_empty);
    }
    pthread_mutex_unlock(&queue.lock);
    return ok;
}

/* Wait for a request; NULL once the queue is closed and empty. */
static request_t *queue_pop(void)
{
    pthread_mutex_lock(&queue.lock);
    while (queue.len == 0 && !queue.closed)
        pthread_cond_wait(&queue.not_empty, &queue.lock);
    request_t *r = NULL;
    if (queue.len > 0) {
        r = queue.slot[queue.head];
        queue.head = (queue.head + 1) % QUEUE_CAP;
        queue.len--;
        pthread_cond_signal(&queue.not_full);
    }
    pthread_mutex_unlock(&queue.lock);
    return r;
}

static void queue_close(void)
{
    pthread_mutex_lock(&queue.lock);
    queue.closed = true;
    pthread_cond_broadcast(&queue.not_empty);
    pthread_cond_broadcast(&queue.not_full);
    pthread_mutex_unlock(&queue.lock);
}

/* ---- The cache: a hash table with an LRU list, its blocks in the "cache" arena -------------*/

typedef struct entry {
    struct entry *hnext;       /* hash chain */
    struct entry *prev, *next; /* LRU list: head = most recently used */
    uint32_t key;
    size_t size;
    uint64_t born_ns;
    unsigned char value[];
} entry_t;

static struct {
    pthread_mutex_t lock;
    entry_t *bucket[CACHE_BUCKETS];
    entry_t *mru, *lru;
    size_t entries;
    atomic_bool pressure; /* set by the soft-budget callback, cleared by the janitor */
} cache = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void lru_unlink(entry_t *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        cache.mru = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        cache.lru = e->prev;
}

static void lru_push_front(entry_t *e)
{
    e->prev = NULL;
    e->next = cache.mru;
    if (cache.mru)
        cache.mru->prev = e;
    cache.mru = e;
    if (!cache.lru)
        cache.lru = e;
}

/* Remove e from the table and the list (lock held). The caller frees it after unlocking. */
static void cache_remove_locked(entry_t *e)
{
    entry_t **pp = &cache.bucket[e->key % CACHE_BUCKETS];
    while (*pp != e)
        pp = &(*pp)->hnext;
    *pp = e->hnext;
    lru_unlink(e);
    cache.entries--;
}

/* Free a chain of removed entries (linked through hnext), without the cache lock. */
static size_t free_chain(entry_t *e)
{
    size_t bytes = 0;
    while (e) {
        entry_t *next = e->hnext;
        bytes += e->size;
        talc_free(e);
        e = next;
    }
    return bytes;
}

/* Evict from the LRU end until `bytes` are gone or `max_age_ns` (0 = any age) stops us.
 * Returns the evicted entries as a chain for free_chain. */
static entry_t *cache_evict_locked(size_t bytes, uint64_t max_age_ns, unsigned long *n)
{
    entry_t *chain = NULL;
    size_t got = 0;
    uint64_t now = now_ns();
    *n = 0;
    while (cache.lru && got < bytes) {
        entry_t *e = cache.lru;
        if (max_age_ns && now - e->born_ns < max_age_ns)
            break;
        cache_remove_locked(e);
        got += e->size;
        e->hnext = chain;
        chain = e;
        ++*n;
    }
    return chain;
}

static bool cache_get(uint32_t key)
{
    pthread_mutex_lock(&cache.lock);
    entry_t *e = cache.bucket[key % CACHE_BUCKETS];
    while (e && e->key != key)
        e = e->hnext;
    if (e) {
        lru_unlink(e);
        lru_push_front(e);
    }
    pthread_mutex_unlock(&cache.lock);
    return e != NULL;
}

/* Insert (or replace) key. The entry is allocated before the lock is taken: the allocation may
 * run the cache arena's reclaim callback, which takes the lock itself. */
static void cache_put(uint32_t key, const unsigned char *value, size_t size)
{
    entry_t *e = talc_arena_malloc(cache_arena, sizeof *e + size);
    if (!e) { /* budget, borrow ceiling and reclaim all exhausted: drop the result */
        count(&demo.cache_full, 1);
        return;
    }
    e->key = key;
    e->size = size;
    e->born_ns = now_ns();
    memcpy(e->value, value, size);

    pthread_mutex_lock(&cache.lock);
    entry_t *old = cache.bucket[key % CACHE_BUCKETS];
    while (old && old->key != key)
        old = old->hnext;
    if (old) /* another parser got there first: replace its entry */
        cache_remove_locked(old);
    e->hnext = cache.bucket[key % CACHE_BUCKETS];
    cache.bucket[key % CACHE_BUCKETS] = e;
    lru_push_front(e);
    cache.entries++;
    pthread_mutex_unlock(&cache.lock);

    if (old)
        talc_free(old);
    count(&demo.cache_inserts, 1);
}

/* Empty the cache (shutdown). */
static void cache_clear(void)
{
    unsigned long n;
    pthread_mutex_lock(&cache.lock);
    entry_t *chain = cache_evict_locked(SIZE_MAX, 0, &n);
    pthread_mutex_unlock(&cache.lock);
    free_chain(chain);
}

/* The cache arena's reclaim callback: the arena is out of budget and borrow ceiling, so evict
 * least-recently-used entries. Runs on the allocating (parser) thread with no allocator lock
 * held. Evicts a little more than asked: the freed blocks may sit in another stripe than the
 * one the retry will use. */
static size_t cache_reclaim(talc_arena_t *arena, size_t wanted, void *ctx)
{
    (void)arena;
    (void)ctx;
    size_t target = wanted < 64 * KiB ? 64 * KiB : wanted;
    unsigned long n;
    pthread_mutex_lock(&cache.lock);
    entry_t *chain = cache_evict_locked(target, 0, &n);
    pthread_mutex_unlock(&cache.lock);
    count(&demo.reclaim_calls, 1);
    count(&demo.evicted_reclaim, n);
    return free_chain(chain);
}

/* The cache arena's soft-budget callback: its footprint crossed 1.5 MiB. Once per crossing (it
 * re-arms below 7/8 of the soft budget). Tell the janitor to trim the cache. */
static void cache_soft_budget(talc_arena_t *arena, size_t bytes, size_t soft, void *ctx)
{
    (void)ctx;
    count(&demo.soft_budget_calls, 1);
    atomic_store_explicit(&cache.pressure, true, memory_order_relaxed);
    printf("  [%s] soft budget crossed: %zu bytes (soft budget %zu); janitor will trim\n",
           talc_arena_name(arena), bytes, soft);
}

/* ---- Worker threads ------------------------------------------------------------------------*/

/* net: receive packets into short-lived buffers; turn every 8th into a request. */
static void *net_thread(void *arg)
{
    uint64_t seed = 0x9e3779b97f4a7c15u * ((uintptr_t)arg + 1);
    void *window[NET_WINDOW] = {0};
    talc_thread_bind(net_arena); /* talc_arena_malloc(NULL, ...) now means "net" */
    for (unsigned long i = 0; !atomic_load_explicit(&stopping, memory_order_relaxed); i++) {
        size_t len = rnd_between(&seed, 64, 1536);
        unsigned char *pkt = talc_arena_malloc(NULL, len);
        if (!pkt)
            continue;
        memset(pkt, (int)(i & 0xff), len);
        count(&demo.packets, 1);
        if (i % 8 == 0) {
            /* Build the request in the parser's arena: a scope routes this thread's
             * allocations there, as it would for a library call made on the parser's behalf. */
            request_t *r;
            if (talc_scope_push(parser_arena) == 0) {
                r = talc_arena_malloc(NULL, sizeof *r + len);
                talc_scope_pop();
            } else { /* no room for another scope: name the arena instead */
                r = talc_arena_malloc(parser_arena, sizeof *r + len);
            }
            if (r) {
                uint32_t a = (uint32_t)(rnd(&seed) % KEYSPACE);
                uint32_t b = (uint32_t)(rnd(&seed) % KEYSPACE);
                r->key = a < b ? a : b; /* skewed towards small keys: some are hot */
                r->len = len;
                memcpy(r->data, pkt, len);
                if (queue_push(r))
                    count(&demo.requests, 1);
                else
                    talc_free(r); /* shutting down */
            }
        }
        /* The buffer lives for NET_WINDOW packets, then the slot is reused. */
        talc_free(window[i % NET_WINDOW]);
        window[i % NET_WINDOW] = pkt;
    }
    for (unsigned i = 0; i < NET_WINDOW; i++)
        talc_free(window[i]);
    talc_thread_bind(NULL);
    return NULL;
}

/* parser: parse requests (freeing blocks another thread allocated) and feed the cache. */
static void *parser_thread(void *arg)
{
    (void)arg;
    unsigned char *scratch = NULL; /* grows with talc_arena_realloc as requests demand */
    size_t scratch_len = 0;
    talc_thread_bind(parser_arena);
    request_t *r;
    while ((r = queue_pop()) != NULL) {
        if (scratch_len < 2 * r->len) {
            unsigned char *bigger = talc_arena_realloc(NULL, scratch, 2 * r->len);
            if (bigger) {
                scratch = bigger;
                scratch_len = 2 * r->len;
            }
        }
        /* "Parse": the result is 256..4351 bytes, depending on the key. */
        size_t result_len = 256 + (r->key * 2654435761u) % 4096u;
        uint32_t key = r->key;
        if (scratch_len >= 2 * r->len) {
            memcpy(scratch, r->data, r->len);
            memcpy(scratch + r->len, r->data, r->len);
        }
        talc_free(r); /* allocated by a net thread: a cross-thread free into "parser" */
        count(&demo.parsed, 1);
        if (cache_get(key)) {
            count(&demo.cache_hits, 1);
            continue;
        }
        unsigned char result[4352];
        memset(result, (int)key, result_len);
        cache_put(key, result, result_len);
    }
    talc_free(scratch);
    talc_thread_bind(NULL);
    return NULL;
}

/* cache janitor: expire old entries; after a soft-budget warning, evict harder and give the
 * freed pages back to the OS (talc_arena_trim). */
static void *janitor_thread(void *arg)
{
    (void)arg;
    while (!atomic_load_explicit(&stopping, memory_order_relaxed)) {
        sleep_ns(10000000); /* 10 ms */
        bool trim = atomic_exchange_explicit(&cache.pressure, false, memory_order_relaxed);
        unsigned long expired, trimmed = 0;
        pthread_mutex_lock(&cache.lock);
        entry_t *chain = cache_evict_locked(SIZE_MAX, CACHE_TTL_NS, &expired);
        entry_t *more = trim ? cache_evict_locked(CACHE_HARD_BUDGET / 4, 0, &trimmed) : NULL;
        pthread_mutex_unlock(&cache.lock);
        free_chain(chain);
        free_chain(more);
        if (trim) /* the evicted entries' pages go back to the OS */
            count(&demo.trimmed_kib, talc_arena_trim(cache_arena) >> 10);
        count(&demo.evicted_ttl, expired);
        count(&demo.evicted_pressure, trimmed);
    }
    return NULL;
}

/* ---- Setting the arenas up -----------------------------------------------------------------*/

static talc_arena_t *create_or_die(const talc_arena_config_t *c)
{
    talc_arena_t *a = talc_arena_create(c);
    if (!a) {
        fprintf(stderr, "daemon_demo: cannot create arena \"%s\": %s\n", c->name, strerror(errno));
        exit(1);
    }
    return a;
}

static void create_arenas(void)
{
    talc_arena_config_t net = talc_arena_config_default("net");
    net.hard_budget = NET_HARD_BUDGET;
    net.borrow_ceiling = NET_GUARANTEED;
    net.reserve_guaranteed = NET_GUARANTEED; /* kept for "net" whatever the cache borrows */
    net.borrow_priority = 1;
    net_arena = create_or_die(&net);

    talc_arena_config_t parser = talc_arena_config_default("parser");
    parser.thread_cache = TALC_TCACHE_ON;
    parser_arena = create_or_die(&parser);

    talc_arena_config_t cache_cfg = talc_arena_config_default("cache");
    cache_cfg.hard_budget = CACHE_HARD_BUDGET;
    cache_cfg.soft_budget = CACHE_SOFT_BUDGET;
    cache_cfg.on_soft_budget = cache_soft_budget;
    cache_cfg.borrow_ceiling = CACHE_BORROW_CEILING;
    cache_cfg.borrow_priority = 0;
    cache_cfg.reclaim = cache_reclaim;
    cache_cfg.oom_chain[0] = TALC_OOM_STEP_GROW;
    cache_cfg.oom_chain[1] = TALC_OOM_STEP_BORROW;
    cache_cfg.oom_chain[2] = TALC_OOM_STEP_RECLAIM;
    cache_cfg.oom_chain[3] = TALC_OOM_STEP_FAIL;
    cache_arena = create_or_die(&cache_cfg);
}

/* ---- Monitor -------------------------------------------------------------------------------*/

/* The counters at t seconds; after shutdown (when the threads are gone and the cache is empty)
 * if `after` is set. */
static void print_counters(double t, bool after)
{
    printf("\n--- t = %.1f s%s ----------------------------------------------------------\n", t,
           after ? ", after shutdown" : "");
    talc_stats_write(stdout, TALC_STATS_TEXT);
    talc_arena_stats_t p;
    talc_arena_get_stats(parser_arena, &p);
    pthread_mutex_lock(&cache.lock);
    size_t entries = cache.entries;
    pthread_mutex_unlock(&cache.lock);
    printf("net/parser: %lu packets, %lu requests, %lu parsed (%llu freed by a thread of "
           "another stripe than the allocating one)\n",
           get(&demo.packets), get(&demo.requests), get(&demo.parsed),
           (unsigned long long)p.remote_frees);
    printf("cache: %zu entries, %lu hits, %lu inserts, %lu dropped (no memory); evicted: %lu "
           "expired, %lu by reclaim (%lu calls), %lu after soft-budget warnings (%lu; %lu KiB "
           "then trimmed back to the OS)\n",
           entries, get(&demo.cache_hits), get(&demo.cache_inserts), get(&demo.cache_full),
           get(&demo.evicted_ttl), get(&demo.evicted_reclaim), get(&demo.reclaim_calls),
           get(&demo.evicted_pressure), get(&demo.soft_budget_calls), get(&demo.trimmed_kib));
    fflush(stdout);
}

static double run_seconds(int argc, char **argv)
{
    const char *s = argc > 1 ? argv[1] : getenv("TALC_DEMO_SECONDS");
    double v = s ? strtod(s, NULL) : 3.0;
    if (!(v > 0 && v <= 3600)) {
        fprintf(stderr, "usage: daemon_demo [seconds]   (0 < seconds <= 3600; default 3)\n");
        exit(2);
    }
    return v;
}

/* ---- Shutdown checks -----------------------------------------------------------------------*/

/* Every arena back to zero live bytes and blocks, nothing left borrowed. Returns failures. */
static int check_arena(talc_arena_t *a)
{
    talc_arena_stats_t s;
    if (talc_arena_get_stats(a, &s) != 0) {
        fprintf(stderr, "daemon_demo: cannot read the counters of %s\n", talc_arena_name(a));
        return 1;
    }
    int bad = 0;
    if (s.live_bytes != 0 || s.live_allocs != 0) {
        fprintf(stderr, "daemon_demo: arena %s still has %zu live bytes in %zu blocks\n", s.name,
                s.live_bytes, s.live_allocs);
        bad++;
    }
    if (s.borrowed_bytes != 0) {
        fprintf(stderr, "daemon_demo: arena %s still holds %zu bytes of the reserve\n", s.name,
                s.borrowed_bytes);
        bad++;
    }
    return bad;
}

static int destroy_arena(talc_arena_t *a, const char *name)
{
    int rc = talc_arena_destroy(a, 0);
    if (rc != 0) {
        fprintf(stderr, "daemon_demo: destroying %s failed: %s\n", name, strerror(-rc));
        return 1;
    }
    if (talc_arena_find(name) != NULL) {
        fprintf(stderr, "daemon_demo: %s is still registered after destroy\n", name);
        return 1;
    }
    return 0;
}

/* A thread the demo cannot run without: a daemon that fails to start one stops, rather than
 * joining a thread that does not exist later. */
static void start_thread(pthread_t *t, void *(*fn)(void *), void *arg)
{
    int rc = pthread_create(t, NULL, fn, arg);
    if (rc != 0) {
        fprintf(stderr, "daemon_demo: pthread_create: %s\n", strerror(rc));
        exit(1);
    }
}

int main(int argc, char **argv)
{
    double seconds = run_seconds(argc, argv);
    setvbuf(stdout, NULL, _IOLBF, 0);
    int rc = talc_reserve_init(RESERVE_BYTES, TALC_RESERVE_PREFAULT);
    if (rc != 0) {
        fprintf(stderr, "daemon_demo: talc_reserve_init: %s\n", strerror(-rc));
        return 1;
    }
    create_arenas();
    printf("daemon_demo: %d net, %d parser, 1 cache janitor thread for %.1f s; reserve %zu "
           "bytes; cache hard budget %zu, soft %zu, borrow ceiling %zu\n",
           NET_THREADS, PARSER_THREADS, seconds, RESERVE_BYTES, CACHE_HARD_BUDGET,
           CACHE_SOFT_BUDGET, CACHE_BORROW_CEILING);
#if !TALC_COUNTERS
    printf("(built with TALC_COUNTERS=0: per-stripe counters read 0)\n");
#endif

    pthread_t net[NET_THREADS], parser[PARSER_THREADS], janitor;
    for (uintptr_t i = 0; i < NET_THREADS; i++)
        start_thread(&net[i], net_thread, (void *)i);
    for (uintptr_t i = 0; i < PARSER_THREADS; i++)
        start_thread(&parser[i], parser_thread, (void *)i);
    start_thread(&janitor, janitor_thread, NULL);

    /* Monitor: counters once a second (the last at the end of the run), then once more after
     * shutdown. */
    uint64_t t0 = now_ns(), end = t0 + (uint64_t)(seconds * 1e9);
    for (uint64_t tick = t0 + 1000000000u; tick <= end; tick += 1000000000u) {
        sleep_until(tick);
        print_counters((double)(now_ns() - t0) / 1e9, false);
    }
    sleep_until(end);

    /* Shutdown, in dependency order. */
    atomic_store(&stopping, true);
    queue_close(); /* net threads blocked on a full queue give up; parsers drain what is left */
    for (int i = 0; i < NET_THREADS; i++)
        pthread_join(net[i], NULL);
    for (int i = 0; i < PARSER_THREADS; i++)
        pthread_join(parser[i], NULL);
    pthread_join(janitor, NULL);
    cache_clear();
    print_counters((double)(now_ns() - t0) / 1e9, true);

    int bad = check_arena(net_arena) + check_arena(parser_arena) + check_arena(cache_arena);
    talc_reserve_stats_t res;
    talc_reserve_get_stats(&res);
    if (res.held != 0) {
        fprintf(stderr, "daemon_demo: the reserve still lends %zu bytes\n", res.held);
        bad++;
    }
    bad += destroy_arena(net_arena, "net");
    bad += destroy_arena(parser_arena, "parser");
    bad += destroy_arena(cache_arena, "cache");
    if (bad) {
        fprintf(stderr, "daemon_demo: %d check(s) failed\n", bad);
        return 1;
    }
    printf("\ndaemon_demo: clean exit: every arena back to 0 live bytes, the reserve whole "
           "(%zu of %zu bytes free, %zu lent and returned in all), arenas destroyed\n",
           res.free, res.size, res.returned_total);
    return 0;
}
