/* mutex.h — the allocator's lock: a futex mutex taken inline, with lock ranks.
 *
 * Fast path: one CAS to take, one exchange to release (a pthread_mutex_t pair cost 8 ns
 * against 3 ns for these, docs/arenas.md). Slow path (mutex.c): spin briefly, since critical
 * sections are a few dozen ns, then sleep on a futex (Drepper's three-state mutex: 0 free,
 * 1 held, 2 held and a waiter may sleep; unlock wakes one waiter only in state 2).
 *
 * Ranks: every lock has one (talc_rank_t); a thread may only take a lock of a higher rank
 * than every lock it holds. With TALC_DEBUG >= 1 this is checked on every acquisition (before
 * a blocking one waits: a self-deadlock aborts instead of hanging) and a violation prints one
 * line naming both ranks and aborts. talc_mutex_lock_unranked is for the
 * fork handlers, which take every lock at once in a documented order (arenas/fork.c).
 *
 * Concurrency: the usual mutex rules. The lock word is private memory (FUTEX_PRIVATE). Not
 * recursive; unlock only from the owning thread. No allocation; async-signal-unsafe.
 */
#ifndef TALC_MUTEX_H
#define TALC_MUTEX_H

#include <stdbool.h>
#include <stdint.h>

#include "atomic.h"
#include "talc/config.h"

/* The lock order, lowest first (talc/arena.h states it for users). */
typedef enum talc_rank {
    TALC_RANK_REGISTRY = 1, /* arenas/registry.c */
    TALC_RANK_TCACHE,       /* the thread caches' registry (arenas/tcache.c) */
    TALC_RANK_STRIPE,       /* a stripe's heap (arena_internal.h) */
    TALC_RANK_GROW,         /* an arena's source and budget */
    TALC_RANK_RESERVE,      /* the process reserve */
    TALC_RANK_PAGEMAP,      /* the owner map's writers */
    TALC_RANK_LEAF,         /* takes nothing after it (the fatal-handler slot) */
    TALC_RANK_COUNT
} talc_rank_t;

typedef struct talc_mutex {
    talc_atomic_u32 state; /* 0 free, 1 held, 2 held and a waiter may sleep */
    uint32_t rank;         /* talc_rank_t */
} talc_mutex_t;

#define TALC_MUTEX_INIT(rank)                                                                      \
    {                                                                                              \
        0u, (rank)                                                                                 \
    }

void talc_mutex_init(talc_mutex_t *m, talc_rank_t rank);

/* Out of line: the contended path, the futex wake, and the debug rank bookkeeping. */
void talc_mutex_lock_slow(talc_mutex_t *m);
void talc_mutex_wake(talc_mutex_t *m);
void talc_rank_acquire(const talc_mutex_t *m);
void talc_rank_release(const talc_mutex_t *m);

/* Take m if it is free. Returns true iff taken. */
static inline bool talc_mutex_trylock(talc_mutex_t *m)
{
    /* acquire: the critical section starts after the previous holder's release. */
    bool ok = talc_atomic_cas_acquire_u32(&m->state, 0u, 1u);
#if TALC_DEBUG >= 1
    if (ok)
        talc_rank_acquire(m);
#endif
    return ok;
}

/* Take m, sleeping if need be. The rank is checked (and noted) before the lock is taken, so
 * that a thread about to wait for a lock it holds itself, or for a lock of a lower rank,
 * aborts with the report instead of hanging. */
static inline void talc_mutex_lock(talc_mutex_t *m)
{
#if TALC_DEBUG >= 1
    talc_rank_acquire(m);
#endif
    if (!talc_atomic_cas_acquire_u32(&m->state, 0u, 1u)) /* acquire: as in trylock */
        talc_mutex_lock_slow(m);
}

/* Have fn run on the calling thread right after it releases m, which it holds: the release
 * then takes its slow path (talc_mutex_wake). One deferral per thread at a time; a later one
 * replaces it. For work that must not run under the lock: the fatal handler (arenas/fatal.c).
 * If m turns out not to be held (its word is 0), fn runs at once. */
void talc_mutex_defer(talc_mutex_t *m, void (*fn)(void));

/* The call this thread deferred to the release of m (held), taken back: the release will not
 * run it, the caller runs it after its own work that follows the release. NULL if none. For
 * work that must not be lost when the deferred call does not return (a fatal handler may
 * longjmp): the stripes' munmap after their release (arenas/segment.c). */
typedef void (*talc_deferred_fn)(void);
talc_deferred_fn talc_mutex_take_deferred(talc_mutex_t *m);

/* Hints, read relaxed: whether a thread may be sleeping on m (a talc_mutex_defer also makes it
 * look so), and whether m is free now. For a holder that releases m in the middle of long work
 * and would give a sleeping waiter the chance to take it (arenas/trim.c). */
static inline bool talc_mutex_has_sleepers(talc_mutex_t *m)
{
    return talc_atomic_load_relaxed_u32(&m->state) == 2u;
}
static inline bool talc_mutex_is_free(talc_mutex_t *m)
{
    return talc_atomic_load_relaxed_u32(&m->state) == 0u;
}

/* Take and release m outside the rank bookkeeping (fork handlers only). */
void talc_mutex_lock_unranked(talc_mutex_t *m);
void talc_mutex_unlock_unranked(talc_mutex_t *m);

static inline void talc_mutex_unlock(talc_mutex_t *m)
{
#if TALC_DEBUG >= 1
    talc_rank_release(m);
#endif
    /* release: publishes the critical section to the next holder. */
    if (talc_atomic_exchange_release_u32(&m->state, 0u) == 2u)
        talc_mutex_wake(m);
}

#endif /* TALC_MUTEX_H */
