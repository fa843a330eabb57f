/* test_arena_basic.c — the arena layer end to end through the public API: registry, routing,
 * allocation from several threads with exact counters, budgets, the reserve and give-back,
 * destroy rules, the stats writers, and the fatal path for pointers no arena owns.
 *
 * Each Criterion test runs in its own process, so each starts with no arenas and no reserve. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "granule.h"
#include "talc/arena.h"
#include "talc/reserve.h"
#include "talc/stats.h"

static talc_arena_t *make(const char *name, unsigned stripes)
{
    talc_arena_config_t c = talc_arena_config_default(name);
    c.stripes = stripes;
    talc_arena_t *a = talc_arena_create(&c);
    cr_assert_not_null(a, "create %s: errno %d", name, errno);
    return a;
}

static talc_arena_stats_t stats_of(talc_arena_t *a)
{
    talc_arena_stats_t s;
    cr_assert_eq(talc_arena_get_stats(a, &s), 0);
    return s;
}

Test(arena, create_find_duplicate_destroy)
{
    talc_arena_t *net = make("net", 1);
    cr_assert_eq(talc_arena_find("net"), net);
    cr_assert_str_eq(talc_arena_name(net), "net");
    talc_arena_config_t c = talc_arena_config_default("net");
    errno = 0;
    cr_assert_null(talc_arena_create(&c));
    cr_assert_eq(errno, EEXIST);
    errno = 0;
    cr_assert_null(talc_arena_find("nope"));
    cr_assert_eq(errno, ENOENT);
    cr_assert_eq(talc_arena_destroy(net, 0), 0);
    cr_assert_null(talc_arena_find("net"));
    cr_assert_not_null(talc_arena_create(&c), "the name is free again");
}

Test(arena, bad_configs_are_einval)
{
    talc_arena_config_t c = talc_arena_config_default("");
    errno = 0;
    cr_assert_null(talc_arena_create(&c));
    cr_assert_eq(errno, EINVAL);
    c = talc_arena_config_default("a-name-that-is-far-too-long-for-an-arena");
    cr_assert_null(talc_arena_create(&c));
    c = talc_arena_config_default("buf");
    c.source = TALC_SOURCE_BUFFER; /* no buffer */
    cr_assert_null(talc_arena_create(&c));
    c = talc_arena_config_default("budget");
    c.hard_budget = 1 << 20;
    c.soft_budget = 2 << 20; /* soft above hard */
    cr_assert_null(talc_arena_create(&c));
    c = talc_arena_config_default("stripes");
    c.stripes = TALC_STRIPES_MAX + 1;
    cr_assert_null(talc_arena_create(&c));
    cr_assert_null(talc_arena_create(NULL));
    cr_assert_eq(talc_arena_destroy(talc_arena_default(), 0), -EINVAL);
}

Test(arena, destroy_busy_then_release_all)
{
    talc_arena_t *a = make("busy", 2);
    void *p = talc_arena_malloc(a, 100);
    cr_assert_not_null(p);
    cr_assert_eq(talc_arena_destroy(a, 0), -EBUSY);
    cr_assert_eq(talc_arena_find("busy"), a, "still registered after EBUSY");
    cr_assert_eq(talc_arena_destroy(a, TALC_DESTROY_RELEASE_ALL), 0);
    cr_assert_null(talc_arena_find("busy"));
}

Test(arena, free_finds_the_owner_and_charges_it)
{
    talc_arena_t *a = make("owner-a", 1), *b = make("owner-b", 1);
    void *p = talc_arena_malloc(a, 1000);
    void *q = talc_arena_calloc(b, 10, 100);
    cr_assert(p && q);
    for (size_t i = 0; i < 1000; i++)
        cr_assert_eq(((unsigned char *)q)[i], 0, "calloc zeroes");
    cr_assert_eq(talc_arena_of(p), a);
    cr_assert_eq(talc_arena_of(q), b);
    cr_assert_geq(talc_usable_size(p), 1000);
#if TALC_COUNTERS
    cr_assert_eq(stats_of(a).live_bytes, 1000);
    cr_assert_eq(stats_of(b).live_bytes, 1000);
#endif
    talc_free(q);
    talc_free(p);
#if TALC_COUNTERS
    cr_assert_eq(stats_of(a).live_bytes, 0);
    cr_assert_eq(stats_of(b).live_allocs, 0);
#endif
    cr_assert_null(talc_arena_of(&p), "a stack address belongs to no arena");
}

Test(arena, aligned_and_realloc_keep_contents)
{
    talc_arena_t *a = make("align", 1);
    for (size_t al = 1; al <= 65536; al <<= 1) {
        void *p = talc_arena_aligned_alloc(a, al, 100);
        cr_assert_not_null(p);
        cr_assert_eq((uintptr_t)p % al, 0, "align %zu", al);
        talc_free(p);
    }
    errno = 0;
    cr_assert_null(talc_arena_aligned_alloc(a, 3, 10));
    cr_assert_eq(errno, EINVAL);
    unsigned char *p = talc_arena_malloc(a, 10);
    memset(p, 0x5a, 10);
    p = talc_arena_realloc(NULL, p, 3 << 20); /* larger than a segment: moves */
    cr_assert_not_null(p);
    for (int i = 0; i < 10; i++)
        cr_assert_eq(p[i], 0x5a);
    cr_assert_eq(talc_arena_of(p), a, "realloc keeps the owner's arena");
    cr_assert_null(talc_arena_realloc(NULL, p, 0), "realloc to 0 frees");
#if TALC_COUNTERS
    cr_assert_eq(stats_of(a).live_allocs, 0);
#endif
}

typedef struct worker_arg {
    talc_arena_t *a;
    unsigned seed;
} worker_arg_t;

static void *worker(void *arg)
{
    worker_arg_t *w = arg;
    void *slot[128] = {0};
    unsigned s = w->seed;
    for (int i = 0; i < 20000; i++) {
        s = s * 1103515245u + 12345u;
        unsigned k = (s >> 8) & 127u;
        if (slot[k]) {
            talc_free(slot[k]);
            slot[k] = NULL;
        } else {
            size_t n = (s >> 16) % 3000u;
            slot[k] = talc_arena_malloc(w->a, n);
            cr_assert_not_null(slot[k]);
            memset(slot[k], (int)k, n);
        }
    }
    for (unsigned k = 0; k < 128; k++)
        talc_free(slot[k]);
    return NULL;
}

Test(arena, threads_in_two_arenas_end_at_exactly_zero)
{
    talc_arena_t *a = make("t-a", 2), *b = make("t-b", 0);
    pthread_t t[4];
    worker_arg_t args[4];
    for (unsigned i = 0; i < 4; i++) {
        args[i] = (worker_arg_t){(i & 1u) ? a : b, i + 1u};
        cr_assert_eq(pthread_create(&t[i], NULL, worker, &args[i]), 0);
    }
    for (unsigned i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
#if TALC_COUNTERS
    talc_arena_stats_t sa = stats_of(a), sb = stats_of(b);
    cr_assert_eq(sa.live_bytes + sa.live_allocs + sb.live_bytes + sb.live_allocs, 0);
    cr_assert_eq(sa.allocs, sa.frees);
    cr_assert_eq(sb.allocs, sb.frees);
    cr_assert_gt(sa.allocs, 0);
#endif
    cr_assert_eq(talc_arena_destroy(a, 0), 0);
    cr_assert_eq(talc_arena_destroy(b, 0), 0);
}

Test(arena, routing_bind_and_scopes)
{
    talc_arena_t *a = make("route-a", 1), *b = make("route-b", 1);
    cr_assert_eq(talc_thread_arena(), talc_arena_default());
    talc_thread_bind(a);
    cr_assert_eq(talc_thread_arena(), a);
    void *p = talc_arena_malloc(NULL, 8);
    cr_assert_eq(talc_arena_of(p), a);
    cr_assert_eq(talc_scope_push(b), 0);
    void *q = talc_arena_malloc(NULL, 8);
    cr_assert_eq(talc_arena_of(q), b);
    cr_assert_eq(talc_scope_pop(), 0);
    cr_assert_eq(talc_thread_arena(), a);
    cr_assert_eq(talc_scope_pop(), -ENOENT);
    for (int i = 0; i < TALC_SCOPE_MAX; i++)
        cr_assert_eq(talc_scope_push(b), 0);
    cr_assert_eq(talc_scope_push(b), -ENOSPC);
    for (int i = 0; i < TALC_SCOPE_MAX; i++)
        cr_assert_eq(talc_scope_pop(), 0);
    talc_thread_bind(NULL);
    cr_assert_eq(talc_thread_arena(), talc_arena_default());
    talc_free(p);
    talc_free(q);
}

Test(arena, hard_budget_then_reserve_then_give_back)
{
    cr_assert_eq(talc_reserve_init(TEST_SEGMENT_SCALED(4u << 20), 0), 0);
    cr_assert_eq(talc_reserve_init(TEST_SEGMENT_SCALED(4u << 20), 0), -EALREADY);
    talc_arena_config_t c = talc_arena_config_default("tight");
    c.stripes = 1;
    c.hard_budget = TEST_SEGMENT_SCALED(2u << 20);
    c.borrow_ceiling = TEST_SEGMENT_SCALED(2u << 20);
    talc_arena_t *a = talc_arena_create(&c);
    cr_assert_not_null(a);
    void *p[8] = {0};
    int got = 0;
    for (int i = 0; i < 8; i++) {
        p[i] = talc_arena_malloc(a, TEST_SEGMENT_SCALED(700000));
        got += p[i] != NULL;
    }
    talc_arena_stats_t s = stats_of(a);
    cr_assert_eq(got, 4, "2 MiB own + 2 MiB borrowed hold four 700 kB blocks");
    cr_assert_leq(s.source_bytes, c.hard_budget);
    cr_assert_eq(s.borrowed_bytes, TEST_SEGMENT_SCALED(2u << 20));
#if TALC_COUNTERS
    cr_assert_eq(s.failed, 4);
#endif
    talc_reserve_stats_t r;
    talc_reserve_get_stats(&r);
    cr_assert_eq(r.held, TEST_SEGMENT_SCALED(2u << 20));
    cr_assert_eq(r.free + r.held, r.size, "the reserve's free figure is exact");
    for (int i = 0; i < 8; i++)
        talc_free(p[i]);
    talc_reserve_get_stats(&r);
    cr_assert_eq(r.held, 0, "borrowed memory went back once unused");
    cr_assert_eq(stats_of(a).borrowed_bytes, 0);
    cr_assert_eq(r.returned_total, r.borrowed_total);
}

static int writer_output(talc_stats_format_t fmt, char *buf, size_t cap)
{
    FILE *f = fmemopen(buf, cap, "w");
    cr_assert_not_null(f);
    int rc = talc_stats_write(f, fmt);
    fclose(f);
    return rc;
}

Test(arena, stats_writers_name_every_arena)
{
    talc_arena_t *a = make("stats-x", 1);
    void *p = talc_arena_malloc(a, 123);
    static char buf[1 << 16];
    cr_assert_eq(writer_output(TALC_STATS_TEXT, buf, sizeof buf), 0);
    cr_assert_not_null(strstr(buf, "stats-x"));
    const char *live = TALC_COUNTERS ? "123" : "0"; /* counters compiled out: zeros */
    char want[128];
    cr_assert_eq(writer_output(TALC_STATS_JSON, buf, sizeof buf), 0);
    snprintf(want, sizeof want, "\"name\":\"stats-x\",\"stripes\":1,\"live_bytes\":%s", live);
    cr_assert_not_null(strstr(buf, want), "%s", buf);
    cr_assert_eq(writer_output(TALC_STATS_PROMETHEUS, buf, sizeof buf), 0);
    snprintf(want, sizeof want, "talc_arena_live_bytes{arena=\"stats-x\"} %s", live);
    cr_assert_not_null(strstr(buf, want));
    cr_assert_eq(talc_stats_write(NULL, TALC_STATS_TEXT), -EINVAL);
    talc_free(p);
}

Test(arena, free_of_unowned_pointer_aborts, .signal = SIGABRT)
{
    static char not_ours[64];
    talc_free(not_ours + 16);
}

typedef struct seen {
    int calls;
    talc_fault_t fault;
    const void *addr;
    char arena[32];
} seen_t;

static void record(const talc_fault_info_t *info, void *ctx)
{
    seen_t *s = ctx;
    s->calls++;
    s->fault = info->fault;
    s->addr = info->address;
    snprintf(s->arena, sizeof s->arena, "%s", info->heap_name);
}

Test(arena, fatal_handler_names_arena_and_address)
{
    static seen_t seen;
    talc_set_fatal_handler(record, &seen);
    static char not_ours[64];
    talc_free(not_ours);
    cr_assert_eq(seen.calls, 1);
    cr_assert_eq(seen.fault, TALC_FAULT_BAD_POINTER);
    cr_assert_eq(seen.addr, not_ours);
    cr_assert_str_eq(seen.arena, "unowned");
    talc_arena_t *a = make("faulty", 1);
    char *p = talc_arena_malloc(a, 64);
    talc_free(p);
    talc_free(p); /* double free: the segment is still the arena's */
    cr_assert_eq(seen.calls, 2);
    cr_assert_eq(seen.fault, TALC_FAULT_DOUBLE_FREE);
    cr_assert_str_eq(seen.arena, "faulty");
    talc_set_fatal_handler(NULL, NULL);
}
