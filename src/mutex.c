/* mutex.c — the slow paths of talc_mutex_t (mutex.h): spin, futex sleep and wake, and the
 * debug-build lock-rank checker.
 *
 * Spinning: a waiter first spins TALC_MUTEX_SPINS rounds reading the word, because the
 * allocator's critical sections are shorter than a futex round trip. It then marks the word 2
 * ("a waiter may sleep") and sleeps in FUTEX_WAIT until woken; the holder's unlock sees 2 and
 * wakes one waiter. A woken waiter takes the lock with 2, since others may still sleep.
 *
 * Deferral: talc_mutex_defer marks a held lock 2, so its release comes to talc_mutex_wake,
 * which then runs the thread's deferred call (one wake without a waiter is the only cost).
 * talc_mutex_take_deferred hands the call to a holder that has work to do first.
 *
 * Rank checker (TALC_DEBUG >= 1): a per-thread count of held locks per rank. Taking a lock
 * whose rank is not above every held rank, or releasing a rank not held, prints one line and
 * aborts.
 *
 * Concurrency: see mutex.h. The deferred call and the rank counts are thread-local
 * (initial-exec TLS: no allocation on first access).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/futex.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "mutex.h"
#include "thread_state.h"

/* Why 100: one round is a pause and a load (about 10-40 ns with PAUSE on x86); 100 rounds
 * cover a few critical sections of an allocation, and cost little next to a sleep. */
#define TALC_MUTEX_SPINS 100u

void talc_mutex_init(talc_mutex_t *m, talc_rank_t rank)
{
    atomic_init(&m->state, 0u);
    m->rank = (uint32_t)rank;
}

/* errno is kept: a wait that returns EAGAIN (the word changed) or EINTR is no error, and
 * the library's calls promise to leave errno alone on success (arena.h). */
static void talc_futex(talc_mutex_t *m, int op, uint32_t val)
{
    int saved = errno;
    /* The kernel reads the lock word itself; an _Atomic uint32_t has the plain layout. */
    (void)syscall(SYS_futex, (uint32_t *)(void *)&m->state, op, val, NULL, NULL, 0);
    errno = saved;
}

void talc_mutex_lock_slow(talc_mutex_t *m)
{
    for (unsigned i = 0; i < TALC_MUTEX_SPINS; i++) {
        talc_cpu_relax();
        if (talc_atomic_load_relaxed_u32(&m->state) == 0u &&
            talc_atomic_cas_acquire_u32(&m->state, 0u, 1u)) /* acquire: lock taken */
            return;
    }
    /* acquire: when the exchange finds 0 the lock is ours. */
    while (talc_atomic_exchange_acquire_u32(&m->state, 2u) != 0u)
        talc_futex(m, FUTEX_WAIT_PRIVATE, 2u); /* returns at once if the word is no longer 2 */
}

/* The deferred call (talc_mutex_defer) and the lock whose release runs it: this thread's
 * talc_pts.defer (thread_state.h). */

void talc_mutex_defer(talc_mutex_t *m, void (*fn)(void))
{
    /* Not held after all: there is no release to wait for, and a 2 left in a free word
     * would send the next locker to sleep for good. */
    if (talc_atomic_load_relaxed_u32(&m->state) == 0u) {
        fn();
        return;
    }
    talc_pts.defer.lock = m;
    talc_pts.defer.fn = fn;
    /* The holder's word is 1 or 2, and waiters only ever store 2: 2 sends the unlock here. */
    talc_atomic_store_relaxed_u32(&m->state, 2u);
}

void talc_mutex_wake(talc_mutex_t *m)
{
    talc_futex(m, FUTEX_WAKE_PRIVATE, 1u);
    if (__builtin_expect(talc_pts.defer.lock == m, 0)) {
        void (*fn)(void) = talc_pts.defer.fn;
        talc_pts.defer.lock = NULL;
        fn();
    }
}

talc_deferred_fn talc_mutex_take_deferred(talc_mutex_t *m)
{
    if (talc_pts.defer.lock != m)
        return NULL;
    talc_pts.defer.lock = NULL; /* the word stays 2: the release only wakes */
    return talc_pts.defer.fn;
}

void talc_mutex_lock_unranked(talc_mutex_t *m)
{
    if (!talc_atomic_cas_acquire_u32(&m->state, 0u, 1u)) /* acquire: lock taken */
        talc_mutex_lock_slow(m);
}

void talc_mutex_unlock_unranked(talc_mutex_t *m)
{
    if (talc_atomic_exchange_release_u32(&m->state, 0u) == 2u) /* release: section published */
        talc_mutex_wake(m);
}

/* ---- Rank checker -------------------------------------------------------------------------*/

static __thread uint16_t talc_held[TALC_RANK_COUNT] __attribute__((tls_model("initial-exec")));

static const char *const talc_rank_names[TALC_RANK_COUNT] = {
    "?", "registry", "tcache", "stripe", "grow", "reserve", "pagemap", "leaf",
};

static void talc_rank_say(const char *s)
{
    size_t n = 0;
    while (s[n])
        n++;
    if (write(2, s, n) < 0)
        return;
}

static const char *talc_rank_name(uint32_t rank)
{
    return talc_rank_names[rank < TALC_RANK_COUNT ? rank : 0];
}

static void talc_rank_violation(uint32_t rank, uint32_t held)
{
    talc_rank_say("talc: lock order violated: taking a ");
    talc_rank_say(talc_rank_name(rank));
    talc_rank_say(" lock while holding a ");
    talc_rank_say(talc_rank_name(held));
    talc_rank_say(" lock\n");
    abort();
}

void talc_rank_acquire(const talc_mutex_t *m)
{
    for (uint32_t r = m->rank; r < TALC_RANK_COUNT; r++)
        if (talc_held[r])
            talc_rank_violation(m->rank, r);
    talc_held[m->rank]++;
}

void talc_rank_release(const talc_mutex_t *m)
{
    if (m->rank >= TALC_RANK_COUNT || !talc_held[m->rank]) {
        talc_rank_say("talc: lock order violated: releasing a ");
        talc_rank_say(talc_rank_name(m->rank));
        talc_rank_say(" lock this thread does not hold\n");
        abort();
    }
    talc_held[m->rank]--;
}
