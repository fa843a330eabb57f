/* test_mutex.c — the allocator's lock (src/mutex.h): mutual exclusion under contention (the
 * futex sleep and wake path included), trylock, fork-handler (unranked) use, and the lock-rank
 * checker: with TALC_DEBUG >= 1 taking locks out of rank order or releasing a lock not held
 * aborts; without it, neither is checked. A deferred call runs once, after its lock's
 * release. The futex path keeps the caller's errno (seen through an interposed syscall()). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "mutex.h"

#define THREADS 4
#define ROUNDS 20000

static talc_mutex_t shared = TALC_MUTEX_INIT(TALC_RANK_STRIPE);
static unsigned long counter; /* plain: only the lock protects it */
static unsigned long sleepers_seen;
/* All hammers start together: started one by one, the first could finish its rounds before
 * the next exists (thread creation under qemu takes long), and nobody would ever wait. */
static pthread_barrier_t start_line;

static void pause_briefly(void)
{
    struct timespec ts = {0, 200000}; /* 0.2 ms: long enough that waiters go to sleep */
    nanosleep(&ts, NULL);
}

static void *hammer(void *arg)
{
    uintptr_t id = (uintptr_t)arg;
    pthread_barrier_wait(&start_line);
    for (unsigned i = 0; i < ROUNDS; i++) {
        talc_mutex_lock(&shared);
        unsigned long c = counter;
        if (i % 2000 == id) /* now and then hold the lock across a sleep */
            pause_briefly();
        if (atomic_load_explicit(&shared.state, memory_order_relaxed) == 2u)
            sleepers_seen++;
        counter = c + 1;
        talc_mutex_unlock(&shared);
    }
    return NULL;
}

Test(mutex, excludes_under_contention_and_wakes_sleepers)
{
    pthread_t t[THREADS];
    cr_assert_eq(pthread_barrier_init(&start_line, NULL, THREADS), 0);
    for (uintptr_t i = 0; i < THREADS; i++)
        cr_assert_eq(pthread_create(&t[i], NULL, hammer, (void *)i), 0);
    for (unsigned i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    pthread_barrier_destroy(&start_line);
    cr_assert_eq(counter, (unsigned long)THREADS * ROUNDS);
    /* A holder sleeping 0.2 ms outlasts the spin: some waiter must have marked the word. */
    cr_assert_gt(sleepers_seen, 0, "no waiter ever reached the futex path");
    cr_assert_eq(atomic_load(&shared.state), 0u);
}

/* syscall() seen by the lock: while `futex_errno` is set, a futex call leaves EAGAIN in errno
 * whatever it returned, as a wait that found the word changed does. */
static atomic_bool futex_errno;
static atomic_uint futex_calls;

long syscall(long n, ...)
{
    static long (*real)(long, ...);
    if (!real)
        real = (long (*)(long, ...))dlsym(RTLD_NEXT, "syscall");
    va_list ap;
    long a[6];
    va_start(ap, n);
    for (int i = 0; i < 6; i++)
        a[i] = va_arg(ap, long);
    va_end(ap);
    long r = real(n, a[0], a[1], a[2], a[3], a[4], a[5]);
    if (n == SYS_futex && atomic_load(&futex_errno)) {
        atomic_fetch_add(&futex_calls, 1);
        errno = EAGAIN;
    }
    return r;
}

static talc_mutex_t errno_lock = TALC_MUTEX_INIT(TALC_RANK_STRIPE);

static void *errno_waiter(void *arg)
{
    errno = 4242;
    talc_mutex_lock(&errno_lock); /* sleeps: the main thread holds it */
    *(int *)arg = errno;
    talc_mutex_unlock(&errno_lock);
    return NULL;
}

/* A futex wait returning EAGAIN or EINTR is no error: a lock taken, or released, leaves errno
 * as it was (found 2026-12-05: talc_arena_destroy returned 0 with errno EAGAIN). */
Test(mutex, the_futex_path_keeps_errno)
{
    int seen = 0;
    pthread_t t;
    talc_mutex_lock(&errno_lock);
    atomic_store(&futex_errno, true);
    cr_assert_eq(pthread_create(&t, NULL, errno_waiter, &seen), 0);
    while (atomic_load(&errno_lock.state) != 2u) /* the waiter is going to sleep */
        sched_yield();
    errno = 4343;
    talc_mutex_unlock(&errno_lock); /* wakes it: a futex call here too */
    cr_assert_eq(errno, 4343, "unlock: errno %d", errno);
    pthread_join(t, NULL);
    atomic_store(&futex_errno, false);
    cr_assert_geq(atomic_load(&futex_calls), 2, "the wait and the wake went to the kernel");
    cr_assert_eq(seen, 4242, "lock: errno %d", seen);
}

Test(mutex, trylock_fails_while_held)
{
    talc_mutex_t m;
    talc_mutex_init(&m, TALC_RANK_GROW);
    cr_assert(talc_mutex_trylock(&m));
    cr_assert_not(talc_mutex_trylock(&m));
    talc_mutex_unlock(&m);
    cr_assert(talc_mutex_trylock(&m));
    talc_mutex_unlock(&m);
    cr_assert_eq(atomic_load(&m.state), 0u);
}

Test(mutex, ranks_taken_in_order_pass)
{
    talc_mutex_t reg = TALC_MUTEX_INIT(TALC_RANK_REGISTRY);
    talc_mutex_t stripe = TALC_MUTEX_INIT(TALC_RANK_STRIPE);
    talc_mutex_t grow = TALC_MUTEX_INIT(TALC_RANK_GROW);
    talc_mutex_t leaf = TALC_MUTEX_INIT(TALC_RANK_LEAF);
    talc_mutex_lock(&reg);
    talc_mutex_lock(&stripe);
    cr_assert(talc_mutex_trylock(&grow));
    talc_mutex_lock(&leaf);
    talc_mutex_unlock(&leaf);
    talc_mutex_unlock(&grow);
    talc_mutex_unlock(&stripe);
    talc_mutex_unlock(&reg);
    /* After releasing, a lower rank may be taken again. */
    talc_mutex_lock(&stripe);
    talc_mutex_unlock(&stripe);
}

Test(mutex, unranked_locks_are_outside_the_checker)
{
    talc_mutex_t a = TALC_MUTEX_INIT(TALC_RANK_GROW);
    talc_mutex_t b = TALC_MUTEX_INIT(TALC_RANK_STRIPE);
    talc_mutex_lock_unranked(&a);
    talc_mutex_lock_unranked(&b); /* out of order, as fork's arena-after-arena sweep is */
    cr_assert_not(talc_mutex_trylock(&b));
    talc_mutex_unlock_unranked(&b);
    talc_mutex_unlock_unranked(&a);
    talc_mutex_lock(&b);
    talc_mutex_unlock(&b);
}

/* ---- Deferral: a call that runs once the lock is released (the fatal path's) ------------ */

static int deferred_runs;
static talc_mutex_t *deferred_seen_free; /* set by the call: was its lock free by then? */
static bool deferred_lock_was_free;
static void deferred(void)
{
    deferred_runs++;
    if (deferred_seen_free)
        deferred_lock_was_free = talc_atomic_load_relaxed_u32(&deferred_seen_free->state) == 0u;
}

Test(mutex, a_deferred_call_runs_once_after_the_release)
{
    talc_mutex_t outer = TALC_MUTEX_INIT(TALC_RANK_STRIPE);
    talc_mutex_t inner = TALC_MUTEX_INIT(TALC_RANK_GROW);
    deferred_runs = 0;
    deferred_seen_free = &outer;
    talc_mutex_lock(&outer);
    talc_mutex_defer(&outer, deferred);
    talc_mutex_lock(&inner);
    talc_mutex_unlock(&inner); /* another lock's release does not run it */
    cr_assert_eq(deferred_runs, 0);
    talc_mutex_unlock(&outer);
    cr_assert_eq(deferred_runs, 1);
    cr_assert(deferred_lock_was_free, "it ran after the lock was free");
    cr_assert(talc_mutex_trylock(&outer), "the lock is free and usable");
    talc_mutex_unlock(&outer);
    cr_assert_eq(deferred_runs, 1, "once");
}

Test(mutex, a_call_deferred_on_a_free_lock_runs_at_once)
{
    talc_mutex_t m = TALC_MUTEX_INIT(TALC_RANK_STRIPE);
    deferred_runs = 0;
    deferred_seen_free = NULL;
    talc_mutex_defer(&m, deferred);
    cr_assert_eq(deferred_runs, 1);
    cr_assert(talc_mutex_trylock(&m), "the word was left free");
    talc_mutex_unlock(&m);
    cr_assert_eq(deferred_runs, 1);
}

static void out_of_order(void)
{
    talc_mutex_t grow = TALC_MUTEX_INIT(TALC_RANK_GROW);
    talc_mutex_t stripe = TALC_MUTEX_INIT(TALC_RANK_STRIPE);
    talc_mutex_lock(&grow);
    talc_mutex_lock(&stripe); /* a stripe after a grow lock: rank order broken */
    talc_mutex_unlock(&stripe);
    talc_mutex_unlock(&grow);
}

static void same_rank_twice(void)
{
    talc_mutex_t s1 = TALC_MUTEX_INIT(TALC_RANK_STRIPE);
    talc_mutex_t s2 = TALC_MUTEX_INIT(TALC_RANK_STRIPE);
    talc_mutex_lock(&s1);
    (void)talc_mutex_trylock(&s2); /* two stripes at once: not allowed either */
    talc_mutex_unlock(&s2);
    talc_mutex_unlock(&s1);
}

static void release_not_held(void)
{
    talc_mutex_t m = TALC_MUTEX_INIT(TALC_RANK_RESERVE);
    talc_mutex_unlock(&m);
}

#if TALC_DEBUG >= 1
/* The check runs before the wait: a thread taking a lock it holds aborts with the report
 * (it hung before 2026-12-04, the check coming after the acquisition). */
static void self_deadlock(void)
{
    talc_mutex_t m = TALC_MUTEX_INIT(TALC_RANK_STRIPE);
    talc_mutex_lock(&m);
    talc_mutex_lock(&m);
}
Test(mutex, taking_a_held_lock_again_aborts_instead_of_hanging, .signal = SIGABRT, .timeout = 60)
{
    self_deadlock();
}
Test(mutex, out_of_order_aborts, .signal = SIGABRT) { out_of_order(); }
Test(mutex, same_rank_twice_aborts, .signal = SIGABRT) { same_rank_twice(); }
Test(mutex, release_not_held_aborts, .signal = SIGABRT) { release_not_held(); }
#else
/* Release builds do not pay for the checker: the same sequences run to completion. */
Test(mutex, out_of_order_is_unchecked_in_release) { out_of_order(); }
Test(mutex, same_rank_twice_is_unchecked_in_release) { same_rank_twice(); }
Test(mutex, release_not_held_is_unchecked_in_release) { release_not_held(); }
#endif
