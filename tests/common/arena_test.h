/* tests/common/arena_test.h — helpers for the Criterion tests of the arena layer
 * (tests/unit/test_arena_*.c): arenas made with an assertion, snapshots, a fault recorder for
 * talc_set_fatal_handler, a failure log that worker threads write instead of asserting, env
 * knobs for long runs, a watchdog so that a deadlock fails a test instead of hanging it,
 * mapped buffers for buffer arenas, and skips for what is too large at 1 GiB granules.
 *
 * Header-only (static functions); public API only. Each Criterion test runs in a process of
 * its own, so every test starts with only the default arena and no reserve.
 *
 * Who may use it: the arena tests. Concurrency: test_fail_note may be called from any thread;
 * everything else from the test's main thread.
 */
#ifndef TALC_TEST_ARENA_TEST_H
#define TALC_TEST_ARENA_TEST_H

#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "arena_one.h"
#include "granule.h"
#include "talc/arena.h"
#include "talc/platform.h"
#include "talc/reserve.h"
#include "talc/stats.h"

/* ---- Arenas -------------------------------------------------------------------------------*/

static inline talc_arena_t *test_arena_cfg(const talc_arena_config_t *c)
{
    errno = 0;
    talc_arena_t *a = talc_arena_create(c);
    cr_assert_not_null(a, "create \"%s\": errno %d", c->name, errno);
    return a;
}

static inline talc_arena_t *test_arena(const char *name, unsigned stripes)
{
    talc_arena_config_t c = talc_arena_config_default(name);
    c.stripes = stripes;
    return test_arena_cfg(&c);
}

/* A one-stripe arena with thread caches on. */
static inline talc_arena_t *test_cached_arena(const char *name)
{
    return test_arena_one(name, TALC_TCACHE_ON);
}

/* A one-stripe arena's configuration over the caller's buffer [mem, mem + size). */
static inline talc_arena_config_t test_buffer_config(const char *name, void *mem, size_t size)
{
    talc_arena_config_t c = talc_arena_config_default(name);
    c.source = TALC_SOURCE_BUFFER;
    c.buffer = mem;
    c.buffer_size = size;
    c.stripes = 1;
    return c;
}

static inline talc_arena_stats_t test_stats(talc_arena_t *a)
{
    talc_arena_stats_t s;
    cr_assert_eq(talc_arena_get_stats(a, &s), 0);
    return s;
}

static inline talc_reserve_stats_t test_reserve(void)
{
    talc_reserve_stats_t r;
    talc_reserve_get_stats(&r);
    return r;
}

/* Live figures are exact when counters are compiled in; otherwise they read zero. */
static inline void test_assert_empty(talc_arena_t *a)
{
    talc_arena_stats_t s = test_stats(a);
#if TALC_COUNTERS
    cr_assert_eq(s.live_bytes, 0, "%s: live_bytes %zu", s.name, s.live_bytes);
    cr_assert_eq(s.live_allocs, 0, "%s: live_allocs %zu", s.name, s.live_allocs);
    cr_assert_eq(s.allocs, s.frees, "%s: allocs %llu frees %llu", s.name,
                 (unsigned long long)s.allocs, (unsigned long long)s.frees);
#else
    cr_assert_eq(s.live_bytes + s.live_allocs + s.allocs + s.frees, 0);
#endif
}

/* ---- Faults -------------------------------------------------------------------------------*/

typedef struct test_fault_log {
    int calls;
    talc_fault_t fault;
    const void *addr;
    char arena[TALC_ARENA_NAME_MAX + 1];
    char what[128];
    talc_fault_t first_fault; /* the first call's fault and address */
    const void *first_addr;
} test_fault_log_t;

static inline void test_fault_record(const talc_fault_info_t *info, void *ctx)
{
    test_fault_log_t *l = ctx;
    if (l->calls++ == 0) {
        l->first_fault = info->fault;
        l->first_addr = info->address;
    }
    l->fault = info->fault;
    l->addr = info->address;
    snprintf(l->arena, sizeof l->arena, "%s", info->heap_name ? info->heap_name : "(null)");
    snprintf(l->what, sizeof l->what, "%s", info->what ? info->what : "(null)");
}

/* ---- Parked blocks ------------------------------------------------------------------------*/

/* A thread of its own frees b1 and b2 before it has allocated from their arena, then
 * allocates a block of another size there: that first allocation sends its remote list to
 * their stripe's depot, where they are parked. The thread then waits until test_park_done
 * (since 2026-12-07 its exit would empty the depots of the arenas it cached for). */
typedef struct test_parker {
    void *b1, *b2;
    talc_arena_t *a;
    pthread_t t;
    pthread_barrier_t hold;
} test_parker_t;

static inline void *test_parker(void *arg)
{
    test_parker_t *p = arg;
    talc_free(p->b1);
    if (p->b2)
        talc_free(p->b2);
    void *own = talc_arena_malloc(p->a, 200); /* (a size of its own: takes neither) */
    pthread_barrier_wait(&p->hold);           /* parked */
    pthread_barrier_wait(&p->hold);           /* test_park_done */
    talc_free(own);
    return NULL;
}

/* Park b1 and b2 (b2 may be NULL) of arena a (with caches) at their stripe's depot, by the
 * thread test_parker runs on; p must stay where it is until test_park_done(p). */
static inline void test_park(test_parker_t *p, talc_arena_t *a, void *b1, void *b2)
{
    *p = (test_parker_t){.b1 = b1, .b2 = b2, .a = a};
    cr_assert_eq(pthread_barrier_init(&p->hold, NULL, 2), 0);
    cr_assert_eq(pthread_create(&p->t, NULL, test_parker, p), 0);
    pthread_barrier_wait(&p->hold);
}

/* Two blocks of 5000 bytes of arena a parked by test_park; *warm receives a block the calling
 * thread allocated, so that it caches for a. */
static inline void test_park_two(test_parker_t *p, talc_arena_t *a, void **warm)
{
    *warm = talc_arena_malloc(a, 8);
    void *b1 = talc_arena_malloc(a, 5000), *b2 = talc_arena_malloc(a, 5000);
    cr_assert(*warm && b1 && b2);
    test_park(p, a, b1, b2);
}

/* The parking thread exits (its exit empties the depots of p->a). */
static inline void test_park_done(test_parker_t *p)
{
    pthread_barrier_wait(&p->hold);
    cr_assert_eq(pthread_join(p->t, NULL), 0);
    pthread_barrier_destroy(&p->hold);
}

/* ---- Kept segments ------------------------------------------------------------------------*/

/* Writes and frees 4 MiB of 100 KiB blocks in arena a (one stripe): several default segments
 * at 1 MiB, of which the stripe keeps some empty for reuse. Returns their bytes (the arena's
 * source_bytes then, not 0). */
static inline size_t test_empty_segments(talc_arena_t *a)
{
    enum { N = 40 };
    void *p[N];
    for (int i = 0; i < N; i++) {
        p[i] = talc_arena_malloc(a, 100u << 10);
        cr_assert_not_null(p[i]);
        memset(p[i], 0x11, 100u << 10);
    }
    for (int i = 0; i < N; i++)
        talc_free(p[i]);
    size_t kept = test_stats(a).source_bytes;
    cr_assert_gt(kept, 0, "the stripe keeps empty segments for reuse");
    return kept;
}

/* ---- Failures in worker threads -----------------------------------------------------------*/

/* Criterion's assertions must run on the test's main thread; workers note failures here and
 * the main thread asserts test_fail_none() after joining them. */
typedef struct test_fail {
    atomic_uint count;
    pthread_mutex_t lock;
    char first[256];
} test_fail_t;

#define TEST_FAIL_INIT                                                                             \
    {                                                                                              \
        0, PTHREAD_MUTEX_INITIALIZER, ""                                                           \
    }

__attribute__((format(printf, 2, 3))) static inline void test_fail_note(test_fail_t *f,
                                                                        const char *fmt, ...)
{
    if (atomic_fetch_add(&f->count, 1u) == 0) {
        pthread_mutex_lock(&f->lock);
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(f->first, sizeof f->first, fmt, ap);
        va_end(ap);
        pthread_mutex_unlock(&f->lock);
    }
}

#define test_fail_none(f)                                                                          \
    cr_assert_eq(atomic_load(&(f)->count), 0, "%u failures in threads; first: %s",                 \
                 atomic_load(&(f)->count), (f)->first)

/* ---- Knobs and watchdog -------------------------------------------------------------------*/

/* An unsigned from the environment (tests scale their work with it; SLOW_ENV sets it lower
 * under valgrind and qemu), or dflt. */
static inline unsigned long test_env(const char *name, unsigned long dflt)
{
    const char *v = getenv(name);
    if (!v || !*v)
        return dflt;
    char *end = NULL;
    unsigned long n = strtoul(v, &end, 10);
    return (end && *end == 0 && n > 0) ? n : dflt;
}

/* A deadlock kills the test with SIGALRM (a failure) instead of hanging until the ctest
 * timeout. Scaled by TALC_TEST_SLOW (set under valgrind and qemu). */
static inline void test_watchdog(unsigned seconds)
{
    alarm((unsigned)(seconds * test_env("TALC_TEST_SLOW", 1)));
}

/* ---- Buffers -----------------------------------------------------------------------------*/

/* A caller's buffer of `size` bytes for a buffer arena, starting `offset` bytes past a granule
 * boundary (offset < TEST_GRANULE). Mapped, not static: at 1 GiB granules a buffer of a few
 * granules is larger than a program's data can be. MAP_NORESERVE: only the pages a test
 * touches cost memory. Never unmapped: each test is a process of its own. */
static inline unsigned char *test_buffer_map(size_t size, size_t offset)
{
    size_t len = size + offset + TEST_GRANULE;
    void *m =
        mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    cr_assert_neq(m, MAP_FAILED, "mmap of %zu bytes: errno %d", len, errno);
    uintptr_t g = ((uintptr_t)m + TEST_GRANULE - 1) & ~(uintptr_t)(TEST_GRANULE - 1);
    return (unsigned char *)(g + offset);
}

/* ---- Too large at the build's granule ----------------------------------------------------*/

/* A test that would write more than this (blocks filling budgets or buffers of many granules:
 * tens of GiB at 1 GiB granules) is skipped, and says what it would write. */
#define TEST_WRITE_MAX ((size_t)2 << 30)

static inline void test_skip_writes_above(size_t bytes, const char *what)
{
    if (bytes > TEST_WRITE_MAX)
        cr_skip_test("granules of %zu MiB: %s would write %zu MiB", TEST_GRANULE >> 20, what,
                     bytes >> 20);
}

/* talc_reserve_init(size, 0), which must succeed, except that a reserve of 4 GiB or more
 * (16 granules at 1 GiB granules) may be more than the machine commits: that skips, saying so. */
static inline void test_reserve_init(size_t size)
{
    int rc = talc_reserve_init(size, 0);
    if (rc == -ENOMEM && size / 4 >= ((size_t)1 << 30)) /* 4 GiB, not a 32-bit size_t */
        cr_skip_test("granules of %zu MiB: the OS will not commit a reserve of %zu MiB",
                     TEST_GRANULE >> 20, size >> 20);
    cr_assert_eq(rc, 0, "talc_reserve_init(%zu): %d", size, rc);
}

#endif /* TALC_TEST_ARENA_TEST_H */
