/* stress_locked.c — one locked heap (talc/heap_locked.h) shared by real threads, as a plain
 * program (no Criterion) so that it runs in every configuration, TSan included.
 *
 *   workers  share a table of block slots: any worker takes any block, so most frees and
 *            reallocs are cross-thread. alloc, alloc_aligned (also invalid aligns and sizes),
 *            free, realloc (small; large, from TALC_REALLOC_UNLOCKED_COPY bytes, whose copy
 *            runs outside the lock; to 0; beyond any span), usable_size (its slack scribbled),
 *            rewrite. Every block's pattern and alignment is checked when it is taken, and a
 *            realloc's result must hold the old contents; a shrink must stay in place
 *   spans    claims pool buffers (talc_locked_claim, or acquire + talc_heap_claim), truncates
 *            live spans and scribbles the cut tail, extends them back, releases empty spans
 *            and scribbles them, and runs talc_heap_check, all under talc_locked_acquire
 *   reader   talc_locked_counters at any time: running totals never go down, figures sane
 *   OOM hook runs under the lock: extends a truncated span back, or claims a pool buffer
 * At quiescent points (every thread parked at a barrier, the main thread checking) and at the
 * end of each phase: talc_heap_check() == 0 under acquire; the counters equal the threads'
 * tallies exactly (allocations, failures, bytes, live blocks, spans, managed bytes); no two
 * blocks overlap (nor share a cache line in cache-aligned mode); every block lies in a span
 * and holds its pattern. Every thread must have done a minimum of work in every phase, and
 * the run must have made unlocked copies, claims and OOM calls: else it checked nothing.
 *
 * Phases: the built-in spinlock, a pthread-mutex talc_lock_ops_t (which also checks that the
 * OOM hook runs with the lock held, and that lock and unlock pair up), and the spinlock in
 * cache-aligned mode (cache_line 64). The spinlock does not yield: its phases run 2 workers
 * on machines with fewer than 6 CPUs, 4 otherwise; the mutex phase always runs 4.
 *
 * Concurrency rules of the test itself: a slot's fields belong to the thread that moved its
 * state to BUSY (acquire) until it stores FULL or EMPTY (release). The pool buffers' table,
 * the expected span totals and the OOM figures are guarded by the heap lock. The workers'
 * tallies are read by the main thread only at quiescent points, after the barrier.
 *
 * Usage: stress_locked [seconds]   or environment TALC_STRESS_SECONDS (default 2: the whole
 *        run, split over the three phases; a phase also goes on until every thread did its
 *        minimum) and TALC_SEED (default 1; printed for replay).
 * Exit status 0 if every check held; on the first failure it prints what failed, where, the
 * phase and the seed, and exits 1.
 */
#include <errno.h>
#include <inttypes.h>
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

#include "talc/heap.h"
#include "talc/heap_locked.h"

#include "pattern.h"
#include "rng.h"

#include "asan_poison.h" /* pool buffers are poisoned while no span holds them */

#define WORKERS_MAX 4
#define NSLOTS 256
#define NBUF 32
#define BUF_MAX ((size_t)512 << 10)
#define HEAP_SIZE ((size_t)2 << 20)
#define BIG                                                                                        \
    ((size_t)TALC_REALLOC_UNLOCKED_COPY > 16384 ? (size_t)TALC_REALLOC_UNLOCKED_COPY               \
                                                : (size_t)16384)
#define ERRNO_SENTINEL 7771
#define MIN_WORKER_OPS 300ul /* per worker and phase */
#define MIN_OTHER_OPS 50ul   /* span thread and reader, per phase */

typedef struct phase {
    const char *name;
    bool mutex;
    size_t cache_line;
    unsigned workers;
} phase_t;

/* A block slot. EMPTY/FULL: free to take; BUSY: one worker's. */
enum { EMPTY = 0, FULL = 1, BUSY = 2 };
typedef struct slot {
    atomic_int state;
    unsigned char *p;
    size_t n, align;
    uint32_t seed;
} slot_t;

/* A pool buffer: FREE in the pool, CLAIMING (the span thread's, being claimed), LIVE (a span),
 * CUTTING (truncated, its tail being scribbled), TRUNCATED, RELEASING (released, scribbled). */
enum { FREE = 0, CLAIMING, LIVE, CUTTING, TRUNCATED, RELEASING };
typedef struct buf {
    unsigned char *raw; /* BUF_MAX bytes from aligned_alloc */
    unsigned char *mem; /* what is claimed: raw, or raw + 8..48 (claim aligns it) */
    size_t size;
    int state;
    talc_span_t *span;
    unsigned char *end; /* the span's end while truncated */
} buf_t;

typedef struct tally {
    uint64_t allocs, failed, bytes; /* expected total_allocs, failed_allocs, total_bytes */
    uint64_t moved_big, grow_inplace, realloc_fail;
} tally_t;

typedef struct worker {
    pthread_t t;
    unsigned id;
    atomic_ulong ops; /* relaxed: progress, read by the main thread while running */
    tally_t c;
} worker_t;

/* The mutex lock: a pthread mutex that notes which thread holds it. */
static struct {
    pthread_mutex_t m;
    atomic_int holders; /* relaxed: a count checked by its only writers, under the mutex */
    atomic_ulong locks, unlocks;
} ml = {.m = PTHREAD_MUTEX_INITIALIZER};
static _Thread_local bool ml_mine;

static struct stress {
    const phase_t *ph;
    unsigned phase_no;
    uint64_t seed;
    double seconds;
    talc_locked_heap_t *lh;
    unsigned char *heap_mem;
    slot_t slots[NSLOTS];
    buf_t bufs[NBUF];
    /* guarded by the heap lock: */
    uint64_t spans_exp, managed_exp;
    unsigned long oom_calls, oom_gains;
    /* the span thread's and the reader's (read after join or at quiescent points): */
    unsigned long claims, releases, truncs, extends, checks, reads;
    atomic_ulong span_ops, reader_ops; /* relaxed: progress */
    worker_t workers[WORKERS_MAX];
    atomic_bool stop, pause; /* relaxed: the barriers order what matters */
    pthread_barrier_t park, resume;
    unsigned long quiescent;
    tally_t total; /* all phases, for the summary */
    unsigned long total_claims, total_oom_calls, total_truncs;
} st;

#define FAIL(...) stress_fail(__LINE__, __VA_ARGS__)

__attribute__((format(printf, 2, 3), noreturn)) static void stress_fail(int line, const char *fmt,
                                                                        ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr,
            "stress_locked: FAIL at stress_locked.c:%d (phase %s, TALC_SEED=%" PRIu64 "): ", line,
            st.ph ? st.ph->name : "-", st.seed);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    fflush(stderr);
    _Exit(1); /* other threads may be inside the heap: no exit handlers */
}

static void ml_lock(void *ctx)
{
    (void)ctx;
    pthread_mutex_lock(&ml.m);
    if (atomic_fetch_add_explicit(&ml.holders, 1, memory_order_relaxed) != 0)
        FAIL("two holders of the mutex lock");
    ml_mine = true;
    atomic_fetch_add_explicit(&ml.locks, 1, memory_order_relaxed);
}

static void ml_unlock(void *ctx)
{
    (void)ctx;
    if (!ml_mine)
        FAIL("unlock by a thread that does not hold the lock");
    ml_mine = false;
    atomic_fetch_add_explicit(&ml.unlocks, 1, memory_order_relaxed);
    atomic_fetch_sub_explicit(&ml.holders, 1, memory_order_relaxed);
    pthread_mutex_unlock(&ml.m);
}

static bool lock_held_by_me(void) { return !st.ph->mutex || ml_mine; } /* spin: cannot tell */

static size_t base_align(void) { return st.ph->cache_line ? st.ph->cache_line : TALC_MIN_ALIGN; }

static void check_errno(const char *what)
{
    if (errno != ERRNO_SENTINEL) /* talc/heap.h: the engine does not touch errno */
        FAIL("%s changed errno to %d", what, errno);
}

static size_t span_bytes(talc_heap_t *h, talc_span_t *s)
{
    talc_span_info_t in;
    talc_span_get_info(h, s, &in);
    return (size_t)((unsigned char *)in.end - (unsigned char *)in.base);
}

/* ---- Pool buffers and the OOM hook (heap lock held) ---------------------------------------*/

static int pool_take(test_rng_t *r)
{
    unsigned start = (unsigned)test_rng_below(r, NBUF);
    for (unsigned i = 0; i < NBUF; i++) {
        unsigned k = (start + i) % NBUF;
        if (st.bufs[k].state == FREE)
            return (int)k;
    }
    return -1;
}

/* Extend truncated buffer k back to its full size; bytes gained. */
static size_t buf_extend(talc_heap_t *h, buf_t *b)
{
    unsigned char *full = b->mem + b->size, *old = b->end;
    UNPOISON(old, (size_t)(full - old));
    unsigned char *ne = talc_span_extend(h, b->span, full);
    if (!ne || ne < old || ne > full)
        FAIL("extend to %p returned %p (old end %p)", (void *)full, (void *)ne, (void *)old);
    st.managed_exp += (uint64_t)(ne - old);
    b->state = LIVE;
    return (size_t)(ne - old);
}

static void buf_claimed(talc_heap_t *h, buf_t *b, talc_span_t *s)
{
    if (!s)
        FAIL("claim of %zu bytes at %p failed", b->size, (void *)b->mem);
    st.spans_exp++;
    st.managed_exp += span_bytes(h, s);
    b->span = s;
    b->state = LIVE;
}

static _Thread_local test_rng_t hook_rng;
static _Thread_local bool hook_rng_set;

static talc_oom_verdict_t oom_hook(talc_heap_t *h, size_t size, size_t align, void *ctx)
{
    (void)align;
    (void)ctx;
    if (!lock_held_by_me())
        FAIL("OOM hook without the lock");
    st.oom_calls++;
    for (int k = 0; k < NBUF; k++)
        if (st.bufs[k].state == TRUNCATED && buf_extend(h, &st.bufs[k]) > 0) {
            st.oom_gains++;
            return TALC_OOM_RETRY;
        }
    if (!hook_rng_set) {
        test_rng_seed(&hook_rng, st.seed + (uint64_t)(uintptr_t)&hook_rng);
        hook_rng_set = true;
    }
    int k = pool_take(&hook_rng);
    if (k < 0 || st.bufs[k].size < size / 2) /* 1 GiB: no buffer will do */
        return TALC_OOM_FAIL;
    buf_t *b = &st.bufs[k];
    UNPOISON(b->mem, b->size);
    buf_claimed(h, b, talc_heap_claim(h, b->mem, b->size));
    st.oom_gains++;
    return TALC_OOM_RETRY;
}

/* ---- Workers --------------------------------------------------------------------------------*/

static void park(void)
{
    pthread_barrier_wait(&st.park);
    pthread_barrier_wait(&st.resume);
}

/* Parks if the main thread asked; true when the thread must end. */
static bool pause_or_stop(void)
{
    if (atomic_load_explicit(&st.pause, memory_order_relaxed))
        park();
    return atomic_load_explicit(&st.stop, memory_order_relaxed);
}

static void verify_block(const slot_t *s, const char *when)
{
    if (((uintptr_t)s->p & (s->align - 1)) != 0)
        FAIL("%s: block %p not aligned to %zu", when, (void *)s->p, s->align);
    size_t off = test_pattern_check(s->p, s->n, s->seed);
    if (off != s->n)
        FAIL("%s: block %p (%zu bytes, seed %" PRIu32 ") differs at offset %zu", when, (void *)s->p,
             s->n, s->seed, off);
}

static size_t pick_size(test_rng_t *r, bool big)
{
    if (big)
        return BIG + (size_t)test_rng_below(r, 6 * BIG);
    unsigned k = (unsigned)test_rng_below(r, 10);
    return k == 0 ? 0 : (size_t)test_rng_below(r, k < 7 ? 512 : 5000);
}

static void put(slot_t *s, int state) /* release: publishes the slot's fields */
{
    atomic_store_explicit(&s->state, state, memory_order_release);
}

/* A realloc's target size: mostly ordinary, sometimes 0, unrepresentable or beyond any span. */
static size_t realloc_size(test_rng_t *r, const slot_t *s)
{
    bool big = s->n >= BIG ? test_rng_below(r, 4) != 0 : test_rng_below(r, 3) == 0;
    size_t m = pick_size(r, big);
    if (test_rng_below(r, 50) == 0)
        return 0;
    if (test_rng_below(r, 200) == 0)
        return SIZE_MAX / 2 + (size_t)test_rng_below(r, 1000);
    if (test_rng_below(r, 100) == 0)
        return (size_t)1 << 30; /* a large block's failed unlocked allocation, then the heap's */
    return m;
}

static void do_realloc(worker_t *w, test_rng_t *r, slot_t *s)
{
    size_t m = realloc_size(r, s);
    errno = ERRNO_SENTINEL;
    unsigned char *q = talc_locked_realloc(st.lh, s->p, m);
    check_errno("realloc");
    if (m == 0) {
        if (q)
            FAIL("realloc(%p, 0) returned %p", (void *)s->p, (void *)q);
        put(s, EMPTY);
        return;
    }
    if (!q) {
        w->c.failed++;
        w->c.realloc_fail++;
        verify_block(s, "after a failed realloc");
        put(s, FULL);
        return;
    }
    size_t keep = m < s->n ? m : s->n, off = test_pattern_check(q, keep, s->seed);
    if (off != keep)
        FAIL("realloc %p (%zu bytes) -> %p (%zu): contents differ at offset %zu", (void *)s->p,
             s->n, (void *)q, m, off);
    if (((uintptr_t)q & (base_align() - 1)) != 0)
        FAIL("realloc result %p not aligned to %zu", (void *)q, base_align());
    if (q != s->p) {
        if (m <= s->n)
            FAIL("shrink %zu -> %zu moved the block %p -> %p", s->n, m, (void *)s->p, (void *)q);
        w->c.allocs++;
        w->c.bytes += m;
        w->c.moved_big += s->n >= BIG;
        s->align = base_align();
    } else if (m > s->n) {
        w->c.bytes += m - s->n;
        w->c.grow_inplace++;
    }
    test_pattern_fill_range(q, keep, m, s->seed);
    s->p = q;
    s->n = m;
    put(s, FULL);
}

static void use_full(worker_t *w, test_rng_t *r, slot_t *s)
{
    verify_block(s, "take");
    unsigned op = (unsigned)test_rng_below(r, 100);
    if (op < 30) {
        errno = ERRNO_SENTINEL;
        talc_locked_free(st.lh, s->p);
        check_errno("free");
        put(s, EMPTY);
    } else if (op < 70) {
        do_realloc(w, r, s);
    } else if (op < 85) {
        errno = ERRNO_SENTINEL;
        size_t us = talc_locked_usable_size(st.lh, s->p);
        check_errno("usable_size");
        if (us < s->n)
            FAIL("usable_size(%p) = %zu < %zu", (void *)s->p, us, s->n);
        memset(s->p + s->n, 0xA5, us - s->n); /* the slack is the caller's too */
        put(s, FULL);
    } else {
        s->seed = (uint32_t)test_rng_next(r);
        test_pattern_fill(s->p, s->n, s->seed);
        put(s, FULL);
    }
}

/* Calls that must fail: a zero or non-power-of-two alignment, a size beyond any heap. */
static void *alloc_invalid(test_rng_t *r)
{
    size_t n = pick_size(r, false);
    if (test_rng_below(r, 3) == 0)
        return talc_locked_alloc(st.lh, SIZE_MAX - (size_t)test_rng_below(r, 4096));
    size_t bad = test_rng_below(r, 2) ? 0 : (size_t)48 << test_rng_below(r, 6);
    return talc_locked_alloc_aligned(st.lh, n, bad);
}

static void fill_empty(worker_t *w, test_rng_t *r, slot_t *s)
{
    size_t n = pick_size(r, test_rng_below(r, 100) < 35), align = base_align();
    unsigned how = (unsigned)test_rng_below(r, 100);
    unsigned char *p;
    errno = ERRNO_SENTINEL;
    if (how < 25) {
        size_t a = (size_t)1 << (4 + test_rng_below(r, 13)); /* 16 B .. 64 KiB */
        a = a < TALC_MIN_ALIGN ? TALC_MIN_ALIGN : a;
        p = talc_locked_alloc_aligned(st.lh, n, a);
        align = a > align ? a : align;
    } else if (how < 28) {
        if ((p = alloc_invalid(r)) != NULL)
            FAIL("an invalid allocation returned %p", (void *)p);
    } else if (how < 35) {
        p = talc_locked_realloc(st.lh, NULL, n);
    } else {
        p = talc_locked_alloc(st.lh, n);
    }
    check_errno("alloc");
    if (!p) {
        w->c.failed++;
        put(s, EMPTY);
        return;
    }
    if (((uintptr_t)p & (align - 1)) != 0)
        FAIL("alloc(%zu, align %zu) = %p misaligned", n, align, (void *)p);
    w->c.allocs++;
    w->c.bytes += n;
    s->p = p;
    s->n = n;
    s->align = align;
    s->seed = (uint32_t)test_rng_next(r);
    test_pattern_fill(p, n, s->seed);
    put(s, FULL);
}

static void *worker_main(void *arg)
{
    worker_t *w = arg;
    test_rng_t r;
    test_rng_seed(&r, st.seed * 1000003u + w->id);
    while (!pause_or_stop()) {
        atomic_fetch_add_explicit(&w->ops, 1, memory_order_relaxed);
        slot_t *s = &st.slots[test_rng_below(&r, NSLOTS)];
        int full = FULL, empty = EMPTY;
        /* acquire: the slot's fields as its last owner left them */
        if (atomic_compare_exchange_strong_explicit(&s->state, &full, BUSY, memory_order_acquire,
                                                    memory_order_relaxed))
            use_full(w, &r, s);
        else if (atomic_compare_exchange_strong_explicit(
                     &s->state, &empty, BUSY, memory_order_acquire, memory_order_relaxed))
            fill_empty(w, &r, s);
    }
    return NULL;
}

/* ---- The span thread ----------------------------------------------------------------------*/

static void span_claim(test_rng_t *r)
{
    talc_heap_t *h = talc_locked_acquire(st.lh);
    int k = pool_take(r);
    if (k < 0) {
        talc_locked_release(st.lh);
        return;
    }
    buf_t *b = &st.bufs[k];
    UNPOISON(b->mem, b->size);
    if (test_rng_below(r, 2)) {
        buf_claimed(h, b, talc_heap_claim(h, b->mem, b->size));
    } else { /* claimed outside our critical section: the buffer is ours meanwhile */
        b->state = CLAIMING;
        talc_locked_release(st.lh);
        errno = ERRNO_SENTINEL;
        talc_span_t *s = talc_locked_claim(st.lh, b->mem, b->size);
        check_errno("talc_locked_claim");
        h = talc_locked_acquire(st.lh);
        buf_claimed(h, b, s);
    }
    talc_locked_release(st.lh);
    st.claims++;
}

/* Moves buffer b from `busy` to `next` under the lock after scribbling [from, its end). */
static void scribble(buf_t *b, unsigned char *from, int value, int next)
{
    size_t n = (size_t)(b->mem + b->size - from);
    memset(from, value, n); /* no block may live there any more: a worker would notice */
    POISON(from, n);
    (void)talc_locked_acquire(st.lh);
    b->state = next;
    talc_locked_release(st.lh);
}

/* Release buffer k's span if it is empty, else truncate it (to its lowest end or between). */
static void span_cut(test_rng_t *r)
{
    talc_heap_t *h = talc_locked_acquire(st.lh);
    buf_t *b = &st.bufs[test_rng_below(r, NBUF)];
    if (b->state != LIVE) {
        talc_locked_release(st.lh);
        return;
    }
    talc_span_info_t in;
    talc_span_get_info(h, b->span, &in);
    if (in.empty) {
        int rc = talc_span_release(h, b->span);
        if (rc != 0)
            FAIL("release of an empty span: %d", rc);
        b->state = RELEASING;
        talc_locked_release(st.lh);
        scribble(b, b->mem, 0xEE, FREE);
        st.releases++;
        return;
    }
    unsigned char *want = NULL, *res = in.reserved, *end = in.end;
    if (test_rng_below(r, 2) && end > res)
        want = res + test_rng_below(r, (uint64_t)(end - res));
    unsigned char *ne = talc_span_truncate(h, b->span, want);
    if (!ne || ne < res || ne > end)
        FAIL("truncate returned %p (reserved %p, end %p)", (void *)ne, in.reserved, in.end);
    b->end = ne;
    b->state = CUTTING;
    talc_locked_release(st.lh);
    scribble(b, ne, 0xDB, TRUNCATED);
    st.truncs++;
}

static void span_op(test_rng_t *r)
{
    unsigned op = (unsigned)test_rng_below(r, 100);
    if (op < 20) {
        span_claim(r);
    } else if (op < 60) {
        span_cut(r);
    } else if (op < 85) {
        talc_heap_t *h = talc_locked_acquire(st.lh);
        buf_t *b = &st.bufs[test_rng_below(r, NBUF)];
        if (b->state == TRUNCATED) {
            buf_extend(h, b);
            st.extends++;
        }
        talc_locked_release(st.lh);
    } else { /* whenever the lock is free the heap is whole */
        const void *where = NULL;
        int rc = talc_heap_check(talc_locked_acquire(st.lh), &where);
        talc_locked_release(st.lh);
        if (rc != 0)
            FAIL("talc_heap_check = %d at %p (concurrent)", rc, where);
        st.checks++;
    }
}

static void *span_main(void *arg)
{
    (void)arg;
    test_rng_t r;
    test_rng_seed(&r, st.seed * 31337u);
    while (!pause_or_stop()) {
        atomic_fetch_add_explicit(&st.span_ops, 1, memory_order_relaxed);
        span_op(&r);
    }
    return NULL;
}

/* ---- The counter reader -------------------------------------------------------------------*/

static void check_running(const talc_heap_counters_t *c, const talc_heap_counters_t *prev)
{
#if TALC_COUNTERS
    if (c->total_allocs < prev->total_allocs || c->total_bytes < prev->total_bytes ||
        c->total_spans < prev->total_spans || c->total_managed < prev->total_managed ||
        c->failed_allocs < prev->failed_allocs || c->peak_live_bytes < prev->peak_live_bytes)
        FAIL("a running total went down");
    if (c->live_allocs > c->total_allocs || c->live_bytes > c->peak_live_bytes)
        FAIL("live %zu blocks / %zu bytes, total %" PRIu64 " peak %zu", c->live_allocs,
             c->live_bytes, c->total_allocs, c->peak_live_bytes);
    if (c->free_bytes > c->managed_bytes || c->live_bytes > c->managed_bytes)
        FAIL("free %zu / live %zu > managed %zu", c->free_bytes, c->live_bytes, c->managed_bytes);
    if (c->live_spans > c->total_spans || c->live_spans == 0)
        FAIL("live_spans %zu, total %" PRIu64, c->live_spans, c->total_spans);
#else
    (void)c;
    (void)prev;
#endif
}

static void *reader_main(void *arg)
{
    (void)arg;
    talc_heap_counters_t prev = {0}, c;
    while (!pause_or_stop()) {
        atomic_fetch_add_explicit(&st.reader_ops, 1, memory_order_relaxed);
        errno = ERRNO_SENTINEL;
        talc_locked_counters(st.lh, &c);
        check_errno("counters");
        check_running(&c, &prev);
        prev = c;
        st.reads++;
        for (volatile int i = 0; i < 2000; i++) /* leave the lock to the others for a while */
            ;
    }
    return NULL;
}

/* ---- Quiescent checks (every other thread parked) -----------------------------------------*/

typedef struct iv {
    uintptr_t lo, hi;
} iv_t;

static int iv_cmp(const void *a, const void *b)
{
    const iv_t *x = a, *y = b;
    return x->lo < y->lo ? -1 : x->lo > y->lo;
}

static size_t walk_spans(talc_heap_t *h, talc_span_info_t *sp, size_t *managed)
{
    size_t n = 0;
    *managed = 0;
    for (talc_span_t *s = talc_heap_next_span(h, NULL); s; s = talc_heap_next_span(h, s)) {
        if (n == NBUF + 1)
            FAIL("more spans than buffers");
        talc_span_get_info(h, s, &sp[n]);
        *managed += (size_t)((unsigned char *)sp[n].end - (unsigned char *)sp[n].base);
        n++;
    }
    return n;
}

/* The live blocks as intervals [p, p + usable); each checked against the spans. */
static size_t collect_blocks(talc_heap_t *h, const talc_span_info_t *sp, size_t nsp, iv_t *iv,
                             size_t *bytes)
{
    size_t live = 0;
    *bytes = 0;
    for (unsigned k = 0; k < NSLOTS; k++) {
        const slot_t *s = &st.slots[k];
        int state = atomic_load_explicit(&s->state, memory_order_acquire);
        if (state == BUSY)
            FAIL("slot %u busy at a quiescent point", k);
        if (state != FULL)
            continue;
        verify_block(s, "quiescent");
        size_t us = talc_heap_usable_size(h, s->p);
        if (us < s->n)
            FAIL("usable_size(%p) = %zu < %zu", (void *)s->p, us, s->n);
        iv[live] = (iv_t){(uintptr_t)s->p, (uintptr_t)s->p + us};
        bool inside = false;
        for (size_t j = 0; j < nsp; j++)
            inside |=
                iv[live].lo >= (uintptr_t)sp[j].base && iv[live].hi <= (uintptr_t)sp[j].reserved;
        if (!inside)
            FAIL("block %p+%zu lies in no span", (void *)s->p, us);
        *bytes += s->n;
        live++;
    }
    return live;
}

static void check_overlap(iv_t *iv, size_t live)
{
    size_t cl = st.ph->cache_line;
    qsort(iv, live, sizeof iv[0], iv_cmp);
    for (size_t i = 1; i < live; i++)
        if (iv[i].lo < iv[i - 1].hi || (cl && iv[i].lo / cl <= (iv[i - 1].hi - 1) / cl))
            FAIL("blocks overlap%s: [%#" PRIxPTR ", %#" PRIxPTR ") and [%#" PRIxPTR ", %#" PRIxPTR
                 ")",
                 cl ? " or share a cache line" : "", iv[i - 1].lo, iv[i - 1].hi, iv[i].lo,
                 iv[i].hi);
}

static void check_counters(const talc_heap_counters_t *c, size_t live, size_t live_bytes,
                           size_t nspans, size_t managed)
{
#if TALC_COUNTERS
    tally_t t = {0};
    for (unsigned i = 0; i < st.ph->workers; i++) {
        t.allocs += st.workers[i].c.allocs;
        t.failed += st.workers[i].c.failed;
        t.bytes += st.workers[i].c.bytes;
    }
    if (c->live_allocs != live || c->live_bytes != live_bytes)
        FAIL("live %zu blocks / %zu bytes, the counters say %zu / %zu", live, live_bytes,
             c->live_allocs, c->live_bytes);
    if (c->total_allocs != t.allocs || c->failed_allocs != t.failed || c->total_bytes != t.bytes)
        FAIL("total_allocs %" PRIu64 " failed_allocs %" PRIu64 " total_bytes %" PRIu64
             ", the workers counted %" PRIu64 " %" PRIu64 " %" PRIu64,
             c->total_allocs, c->failed_allocs, c->total_bytes, t.allocs, t.failed, t.bytes);
    if (c->live_spans != nspans || c->managed_bytes != managed)
        FAIL("live_spans %zu managed %zu, the walk found %zu %zu", c->live_spans, c->managed_bytes,
             nspans, managed);
    if (c->total_spans != st.spans_exp || c->total_managed != st.managed_exp)
        FAIL("total_spans %" PRIu64 " total_managed %" PRIu64 ", expected %" PRIu64 " %" PRIu64,
             c->total_spans, c->total_managed, st.spans_exp, st.managed_exp);
    if (c->peak_live_bytes < c->live_bytes)
        FAIL("peak_live_bytes %zu below live %zu", c->peak_live_bytes, c->live_bytes);
#else
    (void)c, (void)live, (void)live_bytes, (void)nspans, (void)managed;
#endif
}

static void quiescent_check(void)
{
    static iv_t iv[NSLOTS];
    talc_span_info_t sp[NBUF + 1];
    size_t managed, live_bytes;
    talc_heap_t *h = talc_locked_acquire(st.lh);
    const void *where = NULL;
    int rc = talc_heap_check(h, &where);
    if (rc != 0)
        FAIL("talc_heap_check = %d at %p", rc, where);
    talc_heap_counters_t c;
    talc_heap_counters(h, &c);
    size_t nspans = walk_spans(h, sp, &managed);
    size_t live = collect_blocks(h, sp, nspans, iv, &live_bytes);
    check_overlap(iv, live);
    check_counters(&c, live, live_bytes, nspans, managed);
    talc_locked_release(st.lh);
    st.quiescent++;
}

/* ---- Phases ---------------------------------------------------------------------------------*/

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void start(pthread_t *t, void *(*fn)(void *), void *arg)
{
    int rc = pthread_create(t, NULL, fn, arg);
    if (rc != 0)
        FAIL("pthread_create: %s", strerror(rc));
}

static void setup_phase(const phase_t *ph)
{
    static uint64_t buf_seed;
    memset(st.slots, 0, sizeof st.slots);
    st.ph = ph;
    st.spans_exp = 1;
    st.oom_calls = st.oom_gains = 0;
    st.claims = st.releases = st.truncs = st.extends = st.checks = st.reads = 0;
    st.quiescent = 0;
    atomic_store(&st.span_ops, 0);
    atomic_store(&st.reader_ops, 0);
    atomic_store(&st.stop, false);
    atomic_store(&st.pause, false);
    test_rng_t r;
    test_rng_seed(&r, st.seed + ++buf_seed);
    UNPOISON(st.heap_mem, HEAP_SIZE);
    for (int k = 0; k < NBUF; k++) {
        buf_t *b = &st.bufs[k];
        size_t odd = k % 3 == 1 ? 8 * (1 + (size_t)test_rng_below(&r, 6)) : 0;
        b->mem = b->raw + odd;
        b->size = BUF_MAX / 8 + (size_t)test_rng_below(&r, BUF_MAX - BUF_MAX / 8 - 64);
        b->state = FREE;
        POISON(b->raw, BUF_MAX);
    }
    talc_heap_opts_t opts = {
        .name = "stress_locked", .cache_line = ph->cache_line, .oom = oom_hook};
    talc_lock_ops_t ops = {ml_lock, ml_unlock, NULL};
    st.lh = talc_locked_heap_init(st.heap_mem, HEAP_SIZE, &opts, ph->mutex ? &ops : NULL);
    if (!st.lh)
        FAIL("talc_locked_heap_init");
    talc_heap_t *h = talc_locked_acquire(st.lh);
    st.managed_exp = span_bytes(h, talc_heap_first_span(h));
    talc_locked_release(st.lh);
}

/* Parks every other thread, checks, and lets them go on (or end, with `last`). */
static void pause_and_check(bool last)
{
    atomic_store_explicit(&st.pause, true, memory_order_relaxed);
    pthread_barrier_wait(&st.park);
    atomic_store_explicit(&st.pause, false, memory_order_relaxed);
    atomic_store_explicit(&st.stop, last, memory_order_relaxed);
    quiescent_check();
    pthread_barrier_wait(&st.resume);
}

static bool enough_work(void)
{
    for (unsigned i = 0; i < st.ph->workers; i++)
        if (atomic_load_explicit(&st.workers[i].ops, memory_order_relaxed) < MIN_WORKER_OPS)
            return false;
    return atomic_load_explicit(&st.span_ops, memory_order_relaxed) >= MIN_OTHER_OPS &&
           atomic_load_explicit(&st.reader_ops, memory_order_relaxed) >= MIN_OTHER_OPS;
}

static void run_threads(double seconds)
{
    unsigned n = st.ph->workers;
    pthread_t span_t, reader_t;
    pthread_barrier_init(&st.park, NULL, n + 3);
    pthread_barrier_init(&st.resume, NULL, n + 3);
    for (unsigned i = 0; i < n; i++) {
        worker_t *w = &st.workers[i];
        memset(&w->c, 0, sizeof w->c);
        w->id = st.phase_no * WORKERS_MAX + i;
        atomic_store_explicit(&w->ops, 0, memory_order_relaxed); /* before the thread exists */
        start(&w->t, worker_main, w);
    }
    start(&span_t, span_main, NULL);
    start(&reader_t, reader_main, NULL);
    double t0 = now(), next = t0 + seconds / 6;
    while (now() - t0 < seconds || !enough_work()) {
        usleep(5000);
        if (now() >= next) {
            pause_and_check(false);
            next = now() + seconds / 6;
        }
    }
    pause_and_check(true);
    for (unsigned i = 0; i < n; i++)
        pthread_join(st.workers[i].t, NULL);
    pthread_join(span_t, NULL);
    pthread_join(reader_t, NULL);
    pthread_barrier_destroy(&st.park);
    pthread_barrier_destroy(&st.resume);
}

static void add_totals(void)
{
    for (unsigned i = 0; i < st.ph->workers; i++) {
        const tally_t *c = &st.workers[i].c;
        st.total.allocs += c->allocs;
        st.total.failed += c->failed;
        st.total.moved_big += c->moved_big;
        st.total.grow_inplace += c->grow_inplace;
        st.total.realloc_fail += c->realloc_fail;
    }
    st.total_claims += st.claims;
    st.total_oom_calls += st.oom_calls;
    st.total_truncs += st.truncs;
}

static void run_phase(const phase_t *ph, double seconds)
{
    double t0 = now();
    unsigned long locks0 = atomic_load(&ml.locks);
    setup_phase(ph);
    run_threads(seconds);
    for (unsigned k = 0; k < NSLOTS; k++) /* the heap must come back whole and empty */
        if (atomic_load(&st.slots[k].state) == FULL) {
            talc_locked_free(st.lh, st.slots[k].p);
            atomic_store(&st.slots[k].state, EMPTY);
        }
    quiescent_check();
    if (ph->mutex &&
        (atomic_load(&ml.locks) == locks0 || atomic_load(&ml.locks) != atomic_load(&ml.unlocks)))
        FAIL("mutex: %lu locks, %lu unlocks", atomic_load(&ml.locks), atomic_load(&ml.unlocks));
    add_totals();
    unsigned long ops = 0;
    for (unsigned i = 0; i < ph->workers; i++)
        ops += atomic_load(&st.workers[i].ops);
    fprintf(stderr,
            "stress_locked: phase %-6s %u workers %.1f s: %lu ops, %lu quiescent checks, "
            "oom %lu calls %lu gains, spans: %lu claims %lu releases %lu truncates %lu extends "
            "%lu checks, %lu counter reads\n",
            ph->name, ph->workers, now() - t0, ops, st.quiescent, st.oom_calls, st.oom_gains,
            st.claims, st.releases, st.truncs, st.extends, st.checks, st.reads);
}

int main(int argc, char **argv)
{
    const char *sec = argc > 1 ? argv[1] : getenv("TALC_STRESS_SECONDS");
    st.seconds = sec && *sec ? strtod(sec, NULL) : 2.0;
    const char *seed = getenv("TALC_SEED");
    st.seed = seed && *seed ? strtoull(seed, NULL, 10) : 1;
    alarm((unsigned)(st.seconds * 10.0) + 300u); /* a deadlock ends in SIGALRM, not a hang */
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned spin_workers = ncpu >= 6 ? 4 : 2;
    const phase_t phases[] = {{"spin", false, 0, spin_workers},
                              {"mutex", true, 0, 4},
                              {"spin64", false, 64, spin_workers}};
    fprintf(stderr,
            "stress_locked: TALC_SEED=%" PRIu64 ", %.1f s, %ld CPUs, "
            "TALC_REALLOC_UNLOCKED_COPY=%zu, large blocks from %zu B, heap %zu B, %d buffers "
            "of <= %zu B\n",
            st.seed, st.seconds, ncpu, (size_t)TALC_REALLOC_UNLOCKED_COPY, BIG, HEAP_SIZE, NBUF,
            BUF_MAX);
    st.heap_mem = aligned_alloc(64, HEAP_SIZE);
    for (int k = 0; k < NBUF; k++)
        st.bufs[k].raw = aligned_alloc(64, BUF_MAX);
    for (int k = 0; k < NBUF; k++)
        if (!st.heap_mem || !st.bufs[k].raw)
            FAIL("out of memory for the test's buffers");
    for (unsigned i = 0; i < sizeof phases / sizeof phases[0]; i++) {
        st.phase_no = i;
        run_phase(&phases[i], st.seconds * (i == 2 ? 0.2 : 0.4));
    }
    st.ph = NULL;
    if (st.total.moved_big == 0 || st.total_claims == 0 || st.total_oom_calls == 0 ||
        st.total_truncs == 0)
        FAIL("checked too little: %" PRIu64 " unlocked copies, %lu claims, %lu OOM calls, "
             "%lu truncates",
             st.total.moved_big, st.total_claims, st.total_oom_calls, st.total_truncs);
    fprintf(stderr,
            "stress_locked: TALC_SEED=%" PRIu64 ": %" PRIu64 " allocations (%" PRIu64
            " failed), %" PRIu64 " large blocks moved (copied outside the lock), %" PRIu64
            " grown in place, %" PRIu64 " failed reallocs: ok\n",
            st.seed, st.total.allocs, st.total.failed, st.total.moved_big, st.total.grow_inplace,
            st.total.realloc_fail);
    for (int k = 0; k < NBUF; k++) {
        UNPOISON(st.bufs[k].raw, BUF_MAX);
        free(st.bufs[k].raw);
    }
    UNPOISON(st.heap_mem, HEAP_SIZE);
    free(st.heap_mem);
    return 0;
}
