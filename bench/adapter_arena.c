/* adapter_arena.c — our arena layer behind the multi-threaded adapter interface
 * (bench_arena.h).
 *
 * Three allocators:
 *   talc-arena     one arena for all worker threads, stripes from the topology (the default,
 *                  `stripes = 0`; an experiment can force a count with --arena-stripes), which
 *                  is how a daemon's subsystem arena is used: several threads, one arena;
 *   talc-arena-pt  one arena per worker thread with one stripe (no CPU lookup, the lock is
 *                  uncontended unless another thread frees into it): the configuration that
 *                  matches jemalloc's "explicit arena per thread";
 *   talc-arena-tc  one arena for all threads, auto stripes, with the per-thread cache
 *                  (thread_cache = TALC_TCACHE_ON): the configuration that matches jemalloc's
 *                  explicit arenas with a thread cache.
 * Calls: talc_arena_malloc / talc_arena_aligned_alloc (alignment > 16) on the thread's arena,
 * talc_free from whichever thread frees, talc_arena_realloc (alignment <= 16; above, alloc
 * aligned + copy + free, as glibc's adapter does, since the arena API has no aligned realloc).
 * Arenas are created once and kept for the whole run, like the peers' arenas, heaps and thread
 * caches: every trial ends with all blocks freed, so each starts from the same warm state.
 *
 * This file is compiled twice (CMakeLists.txt), like adapter_talc.c: with the library as
 * configured, and with the variant's definitions (by default TALC_COUNTERS=0) into an object
 * whose global symbols all get the prefix "nc_", so the two arena layers — each with its own
 * registry, owner map and default arena — live side by side in one process. The variant's
 * allocators are named after it ("talc-nocounters-arena", "talc-nocounters-arena-pt").
 *
 * Concurrency: setup on the bench thread; thread_init and the calls on worker threads.
 */
#include <stdio.h>
#include <string.h>

#include "bench_arena.h"
#include "talc/arena.h"

#ifndef TB_TALC_NAME
#define TB_TALC_NAME "talc"
#endif
#ifdef TB_TALC_VARIANT_DEFS /* the variant copy: say what it was built with */
#define TB_BUILT " [built with " TB_TALC_VARIANT_DEFS "]"
#else
#define TB_BUILT ""
#endif

static unsigned arena_stripes; /* shared arena: 0 = auto */
static talc_arena_t *shared_arena, *tc_arena;
static talc_arena_t *pt_arena[TB_MT_MAX_THREADS];

void talc_bench_mt_set_stripes(unsigned stripes) { arena_stripes = stripes; }

/* The one arena all threads share, created on first setup. */
static bool make_shared(talc_arena_t **a, const char *name, talc_tcache_mode_t tc)
{
    if (*a)
        return true;
    talc_arena_config_t c = talc_arena_config_default(name);
    c.stripes = arena_stripes;
    c.thread_cache = tc;
    *a = talc_arena_create(&c);
    return *a != NULL;
}

static bool shared_setup(void)
{
    return make_shared(&shared_arena, "bench-shared", TALC_TCACHE_OFF);
}

static void *shared_thread_init(int tid)
{
    (void)tid;
    return shared_arena;
}

static bool tc_setup(void) { return make_shared(&tc_arena, "bench-tcache", TALC_TCACHE_ON); }

static void *tc_thread_init(int tid)
{
    (void)tid;
    return tc_arena;
}

/* After each trial, as jemalloc-arena-tcache's adapter flushes its tcache: the next trial
 * starts with empty caches (bench_arena.h, quiesce). */
static void tc_quiesce(void *h)
{
    (void)h;
    talc_thread_cache_flush();
}

static void *arena_alloc(void *h, size_t size, size_t align)
{
    if (align <= TALC_MIN_ALIGN)
        return talc_arena_malloc(h, size);
    return talc_arena_aligned_alloc(h, align, size);
}

static void arena_free(void *h, void *p, size_t size, size_t align)
{
    (void)h;
    (void)size;
    (void)align;
    talc_free(p);
}

static void *arena_realloc(void *h, void *p, size_t old_size, size_t align, size_t new_size)
{
    if (align <= TALC_MIN_ALIGN)
        return talc_arena_realloc(h, p, new_size);
    void *q = talc_arena_aligned_alloc(h, align, new_size);
    if (q == NULL)
        return NULL;
    memcpy(q, p, old_size < new_size ? old_size : new_size);
    talc_free(p);
    return q;
}

static const tb_mt_allocator_t shared_adapter = {
    .name = TB_TALC_NAME "-arena",
    .desc = "one talc arena for all threads, auto stripes (talc_arena_malloc, talc_free)" TB_BUILT,
    .setup = shared_setup,
    .thread_init = shared_thread_init,
    .alloc = arena_alloc,
    .free = arena_free,
    .realloc = arena_realloc,
};

const tb_mt_allocator_t *talc_bench_mt_shared(void) { return &shared_adapter; }

static const tb_mt_allocator_t tc_adapter = {
    .name = TB_TALC_NAME "-arena-tc",
    .desc = "one talc arena for all threads, auto stripes, thread caches on" TB_BUILT,
    .setup = tc_setup,
    .thread_init = tc_thread_init,
    .quiesce = tc_quiesce,
    .alloc = arena_alloc,
    .free = arena_free,
    .realloc = arena_realloc,
};

const tb_mt_allocator_t *talc_bench_mt_tcache(void) { return &tc_adapter; }

static bool pt_setup(void) { return true; }

/* On the worker: its own arena, "bench-pt-<tid>", one stripe. */
static void *pt_thread_init(int tid)
{
    if (pt_arena[tid] == NULL) {
        char name[32];
        snprintf(name, sizeof name, "bench-pt-%d", tid);
        talc_arena_config_t c = talc_arena_config_default(name);
        c.stripes = 1;
        pt_arena[tid] = talc_arena_create(&c);
    }
    return pt_arena[tid];
}

static const tb_mt_allocator_t pt_adapter = {
    .name = TB_TALC_NAME "-arena-pt",
    .desc = "one talc arena per thread, 1 stripe each (talc_arena_malloc, talc_free)" TB_BUILT,
    .setup = pt_setup,
    .thread_init = pt_thread_init,
    .alloc = arena_alloc,
    .free = arena_free,
    .realloc = arena_realloc,
};

const tb_mt_allocator_t *talc_bench_mt_per_thread(void) { return &pt_adapter; }
