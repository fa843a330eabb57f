/* shim_contract.c — every function of the malloc shim and its errno contract, plus the start-up
 * and shut-down cases, as one plain program (docs/shim.md).
 *
 * Built twice (tests/shim/CMakeLists.txt): shim_contract links nothing of libtalc and runs
 * under LD_PRELOAD=libtalc-malloc.so; shim_contract_linked links libtalc-malloc.a whole
 * (link-time replacement) and, with SHIM_LINKED, also checks routing and TALC_CONF through the
 * talc API. run_shim.sh runs them and checks what only the outside sees: the exit status, the
 * line printed by the exit-time destructor, TALC_CONF warnings and the statistics file.
 *
 * Environment (set by run_shim.sh): SHIM_EXPECT_STRIPES=n (default arena stripes from
 * TALC_CONF), SHIM_EXPECT_ARENA=name (an arena TALC_CONF created, budget 16M),
 * SHIM_EXPECT_LINE=1 (TALC_CONF cache_aligned=1: blocks on their own cache lines).
 * Exit status 0 iff every check passed; failures are printed to stderr.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#ifdef SHIM_LINKED
#include "talc/arena.h"
#include "talc/stats.h"
#endif

/* The checks pass impossible sizes and read a block after a failed realloc on purpose: the
 * compiler's warnings about that are right in general and wrong here. mallinfo is deprecated
 * but part of the contract. */
#pragma GCC diagnostic ignored "-Wpragmas"
#pragma GCC diagnostic ignored "-Wunknown-warning-option"
#pragma GCC diagnostic ignored "-Walloc-size-larger-than="
#pragma GCC diagnostic ignored "-Wuse-after-free"
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

/* C23; glibc 2.36 does not declare them. Weak: under LD_PRELOAD the shim provides them. */
extern void free_sized(void *ptr, size_t size) __attribute__((weak));
extern void free_aligned_sized(void *ptr, size_t alignment, size_t size) __attribute__((weak));

#include "resident.h"
#include "shim_check.h"

static size_t env_size(const char *name)
{
    const char *v = getenv(name);
    return v ? (size_t)strtoull(v, NULL, 10) : 0;
}

static void fill(unsigned char *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)(seed + i * 31u);
}

static int same(const unsigned char *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != (unsigned char)(seed + i * 31u))
            return 0;
    return 1;
}

/* A value the compiler cannot see through: invalid arguments must reach the shim. */
static size_t opaque(size_t v)
{
    volatile size_t x = v;
    return x;
}

static int aligned(const void *p, size_t a) { return ((uintptr_t)p & (a - 1u)) == 0; }

/* ---- Start-up: constructor, a thread created before its first allocation -----------------*/

static char *ctor_block;
static pthread_t early_thread;
static atomic_int early_go, early_ok;

static void *early_main(void *arg)
{
    (void)arg;
    while (!atomic_load(&early_go))
        sched_yield();
    int ok = 1;
    for (unsigned i = 0; i < 2000 && ok; i++) {
        unsigned char *p = malloc(16u + i % 700u);
        ok = p != NULL;
        if (p) {
            fill(p, 16u + i % 700u, i);
            ok = same(p, 16u + i % 700u, i);
            free(p);
        }
    }
    atomic_store(&early_ok, ok);
    return NULL;
}

__attribute__((constructor(101))) static void early_ctor(void)
{
    ctor_block = malloc(64);
    if (ctor_block)
        strcpy(ctor_block, "allocated in a constructor");
    if (pthread_create(&early_thread, NULL, early_main, NULL) != 0)
        early_thread = 0;
}

static void test_startup(void)
{
    CHECK(ctor_block && strcmp(ctor_block, "allocated in a constructor") == 0, "ctor block");
    free(ctor_block);
    CHECK(early_thread != 0, "constructor could not start a thread");
    if (!early_thread)
        return;
    atomic_store(&early_go, 1);
    pthread_join(early_thread, NULL);
    CHECK(atomic_load(&early_ok) == 1, "a thread created in a constructor failed to allocate");
}

/* ---- malloc, calloc, usable size ----------------------------------------------------------*/

static void test_malloc(void)
{
    void *a = malloc(0), *b = malloc(0);
    CHECK(a && b && a != b, "malloc(0) must return unique pointers (%p %p)", a, b);
    free(a);
    free(b);
    for (size_t n = 1; n <= ((size_t)1 << 22); n = n * 3 + 1) {
        unsigned char *p = malloc(n);
        CHECK(p != NULL, "malloc(%zu)", n);
        if (!p)
            continue;
        CHECK(aligned(p, _Alignof(max_align_t)), "malloc(%zu) misaligned %p", n, (void *)p);
        CHECK(malloc_usable_size(p) >= n, "usable %zu < %zu", malloc_usable_size(p), n);
        fill(p, n, (unsigned)n);
        CHECK(same(p, n, (unsigned)n), "contents of malloc(%zu)", n);
        free(p);
    }
    CHECK(malloc_usable_size(NULL) == 0, "usable size of NULL");
    size_t huge[] = {SIZE_MAX, SIZE_MAX / 2, (size_t)PTRDIFF_MAX + 1u};
    for (unsigned i = 0; i < 3; i++) {
        errno = 0;
        void *p = malloc(huge[i]);
        CHECK(p == NULL && errno == ENOMEM, "malloc(%zu) = %p errno %d", huge[i], p, errno);
    }
}

static void test_calloc(void)
{
    unsigned char *d = malloc(4096);
    CHECK(d != NULL, "malloc");
    if (d)
        memset(d, 0xa5, 4096);
    free(d);
    for (size_t n = 1; n <= 4096; n *= 2) {
        unsigned char *p = calloc(n, 3);
        CHECK(p != NULL, "calloc(%zu, 3)", n);
        for (size_t i = 0; p && i < n * 3; i++)
            if (p[i]) {
                CHECK(0, "calloc(%zu, 3) byte %zu not zero", n, i);
                break;
            }
        free(p);
    }
    /* A large calloc takes a segment just mapped from the OS: zero already, left untouched
     * (the first and last pages hold headers; huge pages could make those 2 x 2 MiB). */
    size_t big = opaque((size_t)64 << 20), pages = 0, in = 0;
    unsigned char *b = calloc(1, big);
    CHECK(b != NULL, "calloc(64 MiB)");
    if (b) {
        in = test_resident_pages(b, big, false, &pages);
        CHECK(in < pages / 4, "calloc(64 MiB) made %zu of %zu pages resident", in, pages);
        for (size_t i = 0; i < big; i += sizeof(uint64_t))
            if (*(const uint64_t *)(const void *)(b + i)) {
                CHECK(0, "calloc(64 MiB) byte %zu not zero", i);
                break;
            }
        free(b);
    }
    void *z = calloc(0, 5);
    CHECK(z != NULL, "calloc(0, 5) returns a unique pointer");
    free(z);
    errno = 0;
    void *o = calloc(SIZE_MAX / 2 + 1, 2);
    CHECK(o == NULL && errno == ENOMEM, "calloc overflow: %p errno %d", o, errno);
}

/* ---- realloc, reallocarray ----------------------------------------------------------------*/

static void test_realloc(void)
{
    unsigned char *p = realloc(NULL, 10);
    CHECK(p != NULL, "realloc(NULL, 10)");
    if (!p)
        return;
    fill(p, 10, 7);
    size_t n = 10;
    for (size_t m = 100; m <= 300000; m *= 7) {
        unsigned char *q = realloc(p, m);
        CHECK(q != NULL, "realloc to %zu", m);
        if (!q)
            break;
        CHECK(same(q, n, 7), "realloc to %zu lost the contents", m);
        fill(q, m, 7);
        p = q;
        n = m;
    }
    unsigned char *s = realloc(p, 5);
    CHECK(s && same(s, 5, 7), "shrinking realloc");
    p = s ? s : p;
    errno = 0;
    void *f = realloc(p, SIZE_MAX / 2);
    CHECK(f == NULL && errno == ENOMEM, "huge realloc: %p errno %d", f, errno);
    CHECK(same(p, 5, 7), "failed realloc must leave the block intact");
    void *r0 = realloc(p, 0); /* glibc: frees p, returns NULL */
    CHECK(r0 == NULL, "realloc(p, 0) returned %p", r0);

    unsigned char *a = reallocarray(NULL, 10, 10);
    CHECK(a != NULL, "reallocarray(NULL, 10, 10)");
    if (a)
        fill(a, 100, 3);
    errno = 0;
    void *ov = reallocarray(a, SIZE_MAX / 4, 8);
    CHECK(ov == NULL && errno == ENOMEM, "reallocarray overflow: %p errno %d", ov, errno);
    CHECK(a && same(a, 100, 3), "reallocarray overflow must leave the block intact");
    unsigned char *b = reallocarray(a, 100, 100);
    CHECK(b && same(b, 100, 3), "reallocarray grow");
    free(b ? b : a);
}

/* ---- Aligned allocation -------------------------------------------------------------------*/

static void test_aligned_ok(void)
{
    for (size_t al = 1; al <= ((size_t)1 << 21); al <<= 1) {
        void *p = aligned_alloc(al, 100);
        CHECK(p && aligned(p, al), "aligned_alloc(%zu) = %p", al, p);
        free(p);
        p = memalign(al, 3000);
        CHECK(p && aligned(p, al), "memalign(%zu) = %p", al, p);
        free(p);
        if (al < sizeof(void *))
            continue;
        void *q = (void *)1;
        errno = 4242;
        int rc = posix_memalign(&q, al, 77);
        CHECK(rc == 0 && q && aligned(q, al), "posix_memalign(%zu) = %d %p", al, rc, q);
        CHECK(errno == 4242, "posix_memalign touched errno (%d)", errno);
        if (rc == 0) {
            memset(q, 1, 77);
            CHECK(malloc_usable_size(q) >= 77, "usable");
            free(q);
        }
    }
    long page = sysconf(_SC_PAGESIZE);
    void *v = valloc(10);
    CHECK(v && aligned(v, (size_t)page), "valloc %p", v);
    free(v);
    void *pv = pvalloc(1);
    CHECK(pv && aligned(pv, (size_t)page) && malloc_usable_size(pv) >= (size_t)page,
          "pvalloc(1) %p", pv);
    free(pv);
    pv = pvalloc(0);
    CHECK(pv && aligned(pv, (size_t)page), "pvalloc(0) %p", pv);
    free(pv);
    void *m = memalign(opaque(24), 10); /* glibc rounds 24 up to 32 */
    CHECK(m && aligned(m, 32), "memalign(24) %p", m);
    free(m);
}

static void test_aligned_errors(void)
{
    errno = 0;
    void *p = aligned_alloc(opaque(24), 48);
    CHECK(p == NULL && errno == EINVAL, "aligned_alloc(24) %p errno %d", p, errno);
    errno = 0;
    p = aligned_alloc(opaque(0), 16);
    CHECK(p == NULL && errno == EINVAL, "aligned_alloc(0) %p errno %d", p, errno);
    size_t bad[] = {0, 3, sizeof(void *) / 2, 24, 48};
    for (unsigned i = 0; i < 5; i++) {
        void *q = (void *)&p;
        errno = 4242;
        int rc = posix_memalign(&q, bad[i], 16);
        CHECK(rc == EINVAL && q == (void *)&p && errno == 4242,
              "posix_memalign(align %zu) = %d, errno %d", bad[i], rc, errno);
    }
    void *q = (void *)&p;
    errno = 4242;
    int rc = posix_memalign(&q, 64, SIZE_MAX / 2);
    CHECK(rc == ENOMEM && q == (void *)&p && errno == 4242, "posix_memalign huge = %d", rc);
    errno = 0;
    p = memalign(opaque(SIZE_MAX), 10);
    CHECK(p == NULL && errno == EINVAL, "memalign(SIZE_MAX) %p errno %d", p, errno);
    errno = 0;
    p = pvalloc(SIZE_MAX);
    CHECK(p == NULL && errno == ENOMEM, "pvalloc(SIZE_MAX) %p errno %d", p, errno);
    errno = 0;
    p = aligned_alloc(4096, SIZE_MAX / 2);
    CHECK(p == NULL && errno == ENOMEM, "aligned_alloc huge %p errno %d", p, errno);
}

/* ---- free and its sized forms; mallinfo2 --------------------------------------------------*/

static void test_free_and_mallinfo(void)
{
    free(NULL);
    void *e = malloc(10);
    errno = 4242;
    free(e);
    CHECK(errno == 4242, "free changed errno to %d", errno);
    CHECK(free_sized != NULL && free_aligned_sized != NULL, "free_sized not provided");

    struct mallinfo2 m0 = mallinfo2();
    enum { N = 64 };
    void *p[N];
    size_t sum = 0;
    for (unsigned i = 0; i < N; i++) {
        p[i] = i % 2 ? malloc(1u + 37u * i) : aligned_alloc(64, 1u + 37u * i);
        sum += 1u + 37u * i;
    }
    struct mallinfo2 m1 = mallinfo2();
    struct mallinfo m1i = mallinfo();
#if SHIM_COUNTERS
    CHECK(m1.uordblks - m0.uordblks == sum, "mallinfo2 live grew by %zu, allocated %zu",
          m1.uordblks - m0.uordblks, sum);
    CHECK(m1.arena >= m1.uordblks + m1.fordblks && m1.arena > 0,
          "managed %zu < live %zu + free %zu", m1.arena, m1.uordblks, m1.fordblks);
    CHECK(m1.fordblks == 0 || m1.ordblks > 0, "free bytes without free chunks");
    CHECK((size_t)m1i.uordblks == m1.uordblks && (size_t)m1i.arena == m1.arena,
          "mallinfo and mallinfo2 disagree");
#else
    (void)sum;
    CHECK(m1.uordblks == 0 && m1.arena == 0 && m1i.uordblks == 0,
          "counters are off: mallinfo2 and mallinfo must say 0");
#endif
    CHECK(m1.smblks == 0 && m1.hblks == 0 && m1.hblkhd == 0 && m1.usmblks == 0 && m1.fsmblks == 0 &&
              m1.keepcost == 0,
          "fields without a libtalc counterpart must be 0");
    for (unsigned i = 0; i < N; i++) {
        if (i % 3 == 0)
            free_sized ? free_sized(p[i], 1u + 37u * i) : free(p[i]);
        else if (i % 3 == 1)
            free_aligned_sized
                ? free_aligned_sized(p[i], i % 2 ? _Alignof(max_align_t) : 64, 1u + 37u * i)
                : free(p[i]);
        else
            free(p[i]);
    }
    struct mallinfo2 m2 = mallinfo2();
    CHECK(m2.uordblks == m0.uordblks, "live bytes %zu after freeing, %zu before", m2.uordblks,
          m0.uordblks);
    /* Freed memory written by the program: malloc_trim gives its pages back (1). */
    void *blocks[8];
    for (int i = 0; i < 8; i++) {
        blocks[i] = malloc(opaque(512u << 10));
        CHECK(blocks[i] != NULL, "malloc(512 KiB)");
        if (blocks[i])
            memset(blocks[i], 0x3c, 512u << 10);
    }
    for (int i = 0; i < 8; i++)
        free(blocks[i]);
    int trimmed = malloc_trim(0);
    CHECK(trimmed == 1, "malloc_trim after freeing 4 MiB returned %d", trimmed);
    CHECK(mallinfo2().uordblks == m0.uordblks, "malloc_trim changed the live bytes");
    CHECK(mallopt(M_MMAP_THRESHOLD, 1 << 20) == 0 && mallopt(M_ARENA_MAX, 1) == 0,
          "mallopt must report every parameter unsupported");
}

/* ---- malloc_info and malloc_stats: our figures, and proof that the shim is in use --------*/

static size_t read_all(FILE *f, char *buf, size_t cap)
{
    rewind(f);
    size_t n = fread(buf, 1, cap - 1, f);
    buf[n] = 0;
    return n;
}

static void test_malloc_info(void)
{
    static char buf[1 << 16];
    FILE *f = tmpfile();
    CHECK(f != NULL, "tmpfile");
    if (!f)
        return;
    CHECK(malloc_info(0, f) == 0, "malloc_info failed: errno %d", errno);
    read_all(f, buf, sizeof buf);
    CHECK(strstr(buf, "<malloc version=\"talc-1\">") != NULL,
          "malloc_info is not libtalc's: is the shim in use?\n%s", buf);
    CHECK(strstr(buf, "name=\"default\"") && strstr(buf, "name=\"bootstrap\""),
          "malloc_info lacks the default arena or the bootstrap heap\n%s", buf);
    char want[64];
    if (env_size("SHIM_EXPECT_STRIPES")) {
        snprintf(want, sizeof want, "name=\"default\" stripes=\"%zu\"",
                 env_size("SHIM_EXPECT_STRIPES"));
        CHECK(strstr(buf, want) != NULL, "TALC_CONF stripes not applied: want %s\n%s", want, buf);
    }
    const char *arena = getenv("SHIM_EXPECT_ARENA");
    if (arena) {
        snprintf(want, sizeof want, "name=\"%s\"", arena);
        CHECK(strstr(buf, want) != NULL, "TALC_CONF arena %s missing\n%s", arena, buf);
    }
    errno = 0;
    CHECK(malloc_info(1, f) == -1 && errno == EINVAL, "malloc_info(1) must fail EINVAL");
    errno = 0;
    CHECK(malloc_info(0, NULL) == -1 && errno == EINVAL, "malloc_info(NULL) must fail EINVAL");
    fclose(f);
    /* An error flag the stream had before is not this call's failure; a failed flush is. */
    f = fopen("/dev/null", "w");
    CHECK(f != NULL, "fopen /dev/null");
    if (f) {
        (void)fgetc(f); /* sets the error flag of a write-only stream */
        CHECK(ferror(f) && malloc_info(0, f) == 0, "malloc_info on a stream with an old error");
        fclose(f);
    }
    f = fopen("/dev/full", "w");
    if (f) {
        setvbuf(f, NULL, _IOFBF, 1u << 16);
        errno = 0;
        CHECK(malloc_info(0, f) == -1 && errno == ENOSPC, "malloc_info to /dev/full: errno %d",
              errno);
        fclose(f);
    }

    /* malloc_stats writes libtalc's text table to stderr */
    FILE *t = tmpfile();
    fflush(stderr);
    int saved = dup(2);
    if (!t || saved < 0 || dup2(fileno(t), 2) < 0) {
        CHECK(0, "cannot redirect stderr");
        return;
    }
    malloc_stats();
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    read_all(t, buf, sizeof buf);
    fclose(t);
    CHECK(strstr(buf, "arena") && strstr(buf, "default"), "malloc_stats wrote:\n%s", buf);
}

/* ---- cache-aligned mode (TALC_CONF cache_aligned=1) ---------------------------------------*/

static void test_cache_aligned(void)
{
    if (!env_size("SHIM_EXPECT_LINE"))
        return;
    long l = sysconf(_SC_LEVEL1_DCACHE_LINESIZE);
    size_t line = l >= 16 && l <= 4096 ? (size_t)l : 64;
    void *p[32];
    for (unsigned i = 0; i < 32; i++) {
        p[i] = malloc(1u + i);
        CHECK(p[i] && aligned(p[i], line), "cache-aligned mode: %p not on a %zu-byte line", p[i],
              line);
    }
    for (unsigned i = 0; i < 32; i++)
        free(p[i]);
}

/* ---- Threads: cross-thread frees, allocation at thread exit -------------------------------*/

enum { RING = 256, THREADS = 4, OPS = 20000 };
static struct {
    pthread_mutex_t lock;
    unsigned char *slot[RING];
    unsigned head, tail;
} ring = {.lock = PTHREAD_MUTEX_INITIALIZER};
static atomic_int thread_bad;

static void ring_put_or_free(unsigned char *p)
{
    pthread_mutex_lock(&ring.lock);
    unsigned char *old = NULL;
    if (ring.head - ring.tail == RING)
        old = ring.slot[ring.tail++ % RING];
    ring.slot[ring.head++ % RING] = p;
    pthread_mutex_unlock(&ring.lock);
    if (old) {
        if (!same(old + 1, old[0], old[0]))
            atomic_fetch_add(&thread_bad, 1);
        free(old); /* most likely allocated by another thread */
    }
}

static void *worker(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg;
    for (unsigned i = 0; i < OPS; i++) {
        seed = seed * 1103515245u + 12345u;
        size_t n = 1u + (seed >> 16) % 200u;
        unsigned char *p = malloc(n + 1u);
        if (!p) {
            atomic_fetch_add(&thread_bad, 1);
            continue;
        }
        p[0] = (unsigned char)n;
        fill(p + 1, n, (unsigned)n);
        ring_put_or_free(p);
    }
    return NULL;
}

static pthread_key_t exit_key;
static atomic_int exit_ok;

static void at_thread_exit(void *v)
{
    free(v);
    char *a = malloc(100);
    char *b = a ? realloc(a, 5000) : NULL;
    if (b) {
        memset(b, 'x', 5000);
        free(b);
        atomic_store(&exit_ok, 1);
    }
}

static void *exiting_thread(void *arg)
{
    (void)arg;
    pthread_setspecific(exit_key, malloc(32));
    return malloc(777); /* freed by main after the thread is gone */
}

static void test_threads(void)
{
    pthread_t t[THREADS];
    for (unsigned i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)(i + 1u));
    for (unsigned i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    while (ring.tail != ring.head)
        free(ring.slot[ring.tail++ % RING]);
    CHECK(atomic_load(&thread_bad) == 0, "%d damaged or failed blocks", atomic_load(&thread_bad));

    pthread_key_create(&exit_key, at_thread_exit);
    pthread_t x;
    void *left = NULL;
    pthread_create(&x, NULL, exiting_thread, NULL);
    pthread_join(x, &left);
    CHECK(left != NULL, "thread allocation");
    free(left);
    CHECK(atomic_load(&exit_ok) == 1, "allocation in a thread-exit destructor failed");
}

/* ---- mallinfo2 while other threads allocate ----------------------------------------------*/

static atomic_int churning;

static void *churner(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg;
    void *slot[256] = {0};
    for (unsigned i = 0; i < 100000; i++) {
        seed = seed * 1103515245u + 12345u;
        unsigned k = (seed >> 8) % 256;
        free(slot[k]);
        slot[k] = malloc(1 + (seed >> 16) % 2000);
    }
    for (unsigned k = 0; k < 256; k++)
        free(slot[k]);
    atomic_fetch_sub(&churning, 1);
    return NULL;
}

static void test_mallinfo_while_threads_allocate(void)
{
    pthread_t t[2];
    atomic_store(&churning, 2);
    for (unsigned i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, churner, (void *)(uintptr_t)(i + 7u));
    unsigned long calls = 0, bad = 0;
    struct mallinfo2 worst = {0};
    while (atomic_load(&churning) > 0) {
        struct mallinfo2 m = mallinfo2();
        calls++;
        if (m.arena < m.uordblks + m.fordblks && bad++ == 0)
            worst = m;
    }
    for (unsigned i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    CHECK(bad == 0,
          "%lu of %lu mallinfo2 calls had arena < uordblks + fordblks (first: %zu < "
          "%zu + %zu)",
          bad, calls, worst.arena, worst.uordblks, worst.fordblks);
}

/* ---- fork, and invalid pointers going to the fatal handler --------------------------------*/

static atomic_int spin_stop;

static void *spinner(void *arg)
{
    (void)arg;
    while (!atomic_load(&spin_stop))
        free(malloc(64 + (size_t)(rand() % 4000)));
    return NULL;
}

static void test_fork(void)
{
    pthread_t s[2];
    for (unsigned i = 0; i < 2; i++)
        pthread_create(&s[i], NULL, spinner, NULL);
    for (unsigned k = 0; k < 5; k++) {
        pid_t pid = fork();
        if (pid == 0) {
            alarm(20); /* a deadlocked child dies of SIGALRM instead of hanging the test */
            for (unsigned i = 0; i < 1000; i++)
                free(malloc(i + 1u));
            _exit(0);
        }
        int st = 0;
        waitpid(pid, &st, 0);
        CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "forked child status %#x", st);
    }
    atomic_store(&spin_stop, 1);
    for (unsigned i = 0; i < 2; i++)
        pthread_join(s[i], NULL);
}

/* Run fn in a child with stderr captured; expect SIGABRT and `want` in the message. */
static void expect_fatal(void (*fn)(void), const char *want)
{
    int fd[2];
    if (pipe(fd) != 0)
        return;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fd[1], 2);
        close(fd[0]);
        fn();
        _exit(0); /* not reached if the fatal handler aborted */
    }
    close(fd[1]);
    char msg[512];
    size_t len = 0;
    ssize_t n;
    while ((n = read(fd[0], msg + len, sizeof msg - 1 - len)) > 0) /* to EOF: the child writes */
        len += (size_t)n;                                          /* its line in pieces */
    msg[len] = 0;
    close(fd[0]);
    int st = 0;
    waitpid(pid, &st, 0);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT, "expected SIGABRT, status %#x", st);
    CHECK(strstr(msg, want) != NULL, "fatal message lacks \"%s\": %s", want, msg);
}

static void free_stack_pointer(void)
{
    char local[64];
    void *volatile p = local;
    free(p);
}

static void double_free(void)
{
    void *volatile p = malloc(100);
    free(p);
    free(p);
}

static void test_fatal(void)
{
    expect_fatal(free_stack_pointer, "free of a pointer no arena owns");
    expect_fatal(double_free, "arena \"default\"");
}

/* ---- Link-time form: routing and TALC_CONF through the talc API ---------------------------*/

#ifdef SHIM_LINKED
static bool sum_live(talc_arena_t *a, void *ctx)
{
    talc_arena_stats_t s;
    if (talc_arena_get_stats(a, &s) == 0)
        *(size_t *)ctx += s.live_bytes;
    return true;
}

static void test_linked(void)
{
    size_t live = 0;
    (void)talc_arena_foreach(sum_live, &live);
    CHECK(mallinfo2().uordblks == live, "mallinfo2 %zu != talc stats %zu", mallinfo2().uordblks,
          live);
    talc_arena_stats_t ds;
    talc_arena_get_stats(talc_arena_default(), &ds);
    if (env_size("SHIM_EXPECT_STRIPES"))
        CHECK(ds.stripes == env_size("SHIM_EXPECT_STRIPES"), "default stripes %u", ds.stripes);
    const char *name = getenv("SHIM_EXPECT_ARENA");
    if (!name)
        return;
    talc_arena_t *a = talc_arena_find(name);
    CHECK(a != NULL, "TALC_CONF arena %s not created", name);
    if (!a)
        return;
    talc_arena_stats_t s;
    talc_arena_get_stats(a, &s);
    CHECK(s.hard_budget == ((size_t)16 << 20), "budget %zu", s.hard_budget);
    talc_scope_push(a);
    void *p = malloc(1000);
    errno = 0;
    void *big = malloc((size_t)32 << 20); /* beyond the arena's 16M budget */
    talc_scope_pop();
    CHECK(p && talc_arena_of(p) == a, "malloc inside a scope must use the scoped arena");
    CHECK(big == NULL && errno == ENOMEM, "budget not enforced: %p errno %d", big, errno);
    void *q = malloc(1000);
    CHECK(q && talc_arena_of(q) == talc_arena_default(), "after the scope: default arena");
    free(p); /* goes to its owner, whatever the thread's arena now is */
    free(q);
    talc_arena_get_stats(a, &s);
    CHECK(s.live_allocs == 0, "free did not reach the owner arena (%zu live)", s.live_allocs);
}
#else
static void test_linked(void) {}
#endif

/* ---- Exit: atexit handlers and destructors allocate --------------------------------------*/

static int atexit_ok;

static int exit_alloc(void)
{
    char *p = malloc(1000);
    if (!p)
        return 0;
    memset(p, 'e', 1000);
    char *q = realloc(p, 100000);
    if (!q)
        return 0;
    void *r = calloc(10, 10);
    int ok = q[999] == 'e' && r != NULL;
    free(r);
    free(q);
    return ok;
}

static void at_exit_handler(void) { atexit_ok = exit_alloc(); }

__attribute__((destructor)) static void exit_destructor(void)
{
    if (!atexit_ok || !exit_alloc()) {
        fprintf(stderr, "FAIL: allocation at exit (atexit %d)\n", atexit_ok);
        _exit(3);
    }
    printf("shim_contract: exit-time allocation ok\n");
    fflush(stdout);
}

int main(void)
{
    test_startup();
    test_malloc();
    test_calloc();
    test_realloc();
    test_aligned_ok();
    test_aligned_errors();
    test_free_and_mallinfo();
    test_malloc_info();
    test_cache_aligned();
    test_linked();
    test_threads();
    test_mallinfo_while_threads_allocate();
    test_fork();
    test_fatal();
    atexit(at_exit_handler);
    if (failures) {
        fprintf(stderr, "shim_contract: %d checks failed\n", failures);
        return 1;
    }
    printf("shim_contract: all checks passed\n");
    return 0;
}
