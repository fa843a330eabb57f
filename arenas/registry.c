/* registry.c — the set of live arenas: lookup by name and enumeration under RCU.
 *
 * Readers (talc_arena_find, talc_arena_foreach) run inside a liburcu read-side critical section
 * and follow links with acquire loads; they never block and never take a lock, so lookups and
 * stats never stall allocation. Writers (create, destroy) serialise on talc_reg_mutex, publish
 * with release stores, and after unlinking wait for a grace period before the arena is freed.
 *
 * Flavour: urcu-bp ("bulletproof"). Our callers are arbitrary threads of a daemon and its
 * libraries, which never call rcu_register_thread(); bp registers each reader thread by itself
 * on its first read lock. memb and signal need explicit registration, and qsbr needs every
 * thread to announce quiescent states. A read lock costs more in bp, but only lookups and
 * enumeration take it, never allocation.
 *
 * The library's own lookups (talc_registry_find_locked) and its enumerations (talc_registry_visit:
 * statistics, the shim's malloc_trim) take the registry lock instead of an RCU read: they must
 * not register a thread with liburcu-bp, which aborts when it cannot map room for it
 * (docs/arenas.md); the one thread the library registers is the one that loads it, at load
 * time (arenas/fork.c). A fault found inside a visit is reported after the lock's release.
 *
 * An arena joins the reserve's set (whose guaranteed minimums it protects) as add registers
 * it, under the registry lock, which fork's prepare handler holds: a child sees a new arena
 * registered and a member, or neither. (Until 2026-12-07 arena.c joined outside the lock: a
 * child forked in between kept an unregistered member, whose guarantee the reserve then
 * withheld from every arena for good, or a registered arena that was no member; found by a
 * review.) It leaves the set after remove, once the grace period has ended (destroy, arena.c),
 * just before its borrowed memory goes back: until then what it holds counts for the set (a
 * first version left under the lock, and for the length of the grace period another arena was
 * refused memory within its own minimum; the next review).
 *
 * Concurrency: find/foreach anywhere; add/remove serialise on the registry lock (rank: first;
 * the reserve's lock is taken inside it).
 * A foreach callback must not create arenas; remove inside one returns -EDEADLK (the grace
 * period would wait for the caller's own read-side section).
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <urcu/urcu-bp.h>

#include "arena_internal.h"
#include "reserve_internal.h"
#include "stats_snap.h"

#if defined(__SANITIZE_THREAD__)
#define TALC_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TALC_TSAN 1
#endif
#endif
#ifdef TALC_TSAN
#include <sanitizer/tsan_interface.h>
static char talc_reg_gp_token; /* tells TSan that readers happen before the reclaim */
#define TALC_TSAN_READ_DONE() __tsan_release(&talc_reg_gp_token)
#define TALC_TSAN_GP_DONE() __tsan_acquire(&talc_reg_gp_token)
#else
#define TALC_TSAN_READ_DONE() ((void)0)
#define TALC_TSAN_GP_DONE() ((void)0)
#endif

#define TALC_REG_BUCKETS 64u

talc_mutex_t talc_reg_mutex = TALC_MUTEX_INIT(TALC_RANK_REGISTRY);
static _Atomic(talc_arena_t *) talc_reg_head;
static talc_arena_t *talc_reg_tail; /* writers only */
static _Atomic(talc_arena_t *) talc_reg_bucket[TALC_REG_BUCKETS];

/* At most the first TALC_ARENA_NAME_MAX + 1 bytes: find is given any string, and strcmp with
 * a registered name (at most TALC_ARENA_NAME_MAX bytes) reads no further either. */
static unsigned talc_reg_hash(const char *name)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    const unsigned char *p = (const unsigned char *)name, *end = p + TALC_ARENA_NAME_MAX + 1u;
    for (; p < end && *p; p++)
        h = (h ^ *p) * 16777619u;
    return h % TALC_REG_BUCKETS;
}

/* acquire: the arena's contents, written before its release publication, are visible. */
static talc_arena_t *talc_reg_load(_Atomic(talc_arena_t *) *slot)
{
    return atomic_load_explicit(slot, memory_order_acquire);
}

/* release: publishes the arena (or the unlink) to readers. */
static void talc_reg_store(_Atomic(talc_arena_t *) *slot, talc_arena_t *a)
{
    atomic_store_explicit(slot, a, memory_order_release);
}

static talc_arena_t *talc_reg_lookup(const char *name)
{
    talc_arena_t *a = talc_reg_load(&talc_reg_bucket[talc_reg_hash(name)]);
    while (a && strcmp(a->name, name) != 0)
        a = talc_reg_load(&a->hash_next);
    return a;
}

talc_arena_t *talc_arena_find(const char *name)
{
    if (!name) {
        errno = EINVAL;
        return NULL;
    }
    (void)talc_arena_default(); /* the default arena is always findable */
    urcu_bp_read_lock();
    talc_arena_t *a = talc_reg_lookup(name);
    TALC_TSAN_READ_DONE();
    urcu_bp_read_unlock();
    if (!a)
        errno = ENOENT;
    return a;
}

size_t talc_arena_foreach(bool (*fn)(talc_arena_t *arena, void *ctx), void *ctx)
{
    if (!fn)
        return 0;
    (void)talc_arena_default();
    urcu_bp_read_lock();
    talc_ts.reading++; /* a remove inside would wait for this section */
    size_t n = talc_registry_walk(fn, ctx);
    talc_ts.reading--;
    TALC_TSAN_READ_DONE();
    urcu_bp_read_unlock();
    return n;
}

size_t talc_registry_visit(bool (*fn)(talc_arena_t *arena, void *ctx), void *ctx)
{
    (void)talc_arena_default(); /* its creation takes the registry lock */
    talc_mutex_lock(&talc_reg_mutex);
    talc_ts.reg_lock_mine = true;
    size_t n = talc_registry_walk(fn, ctx);
    talc_ts.reg_lock_mine = false;
    talc_mutex_unlock(&talc_reg_mutex); /* reports what fn's calls found (fatal.c) */
    return n;
}

int talc_registry_add(talc_arena_t *a, _Atomic(talc_arena_t *) *publish)
{
    talc_mutex_lock(&talc_reg_mutex);
    int rc = -EEXIST;
    if (!talc_reg_lookup(a->name)) {
        _Atomic(talc_arena_t *) *bucket = &talc_reg_bucket[talc_reg_hash(a->name)];
        atomic_store_explicit(&a->reg_next, NULL, memory_order_relaxed);
        atomic_store_explicit(&a->hash_next, talc_reg_load(bucket), memory_order_relaxed);
        talc_reg_store(talc_reg_tail ? &talc_reg_tail->reg_next : &talc_reg_head, a);
        talc_reg_tail = a;
        talc_reg_store(bucket, a);
        (void)talc_reserve_join(a); /* here, under the lock fork's prepare takes (below) */
        if (publish)
            talc_reg_store(publish, a);
        rc = 0;
    }
    talc_mutex_unlock(&talc_reg_mutex);
    return rc;
}

/* The first registered arena x other than a for which pred(x, a) holds, or NULL (registry
 * lock held). */
static talc_arena_t *talc_reg_match(bool (*pred)(const talc_arena_t *, const talc_arena_t *),
                                    const talc_arena_t *a)
{
    talc_arena_t *x = talc_reg_load(&talc_reg_head);
    while (x && (x == a || !pred(x, a)))
        x = talc_reg_load(&x->reg_next);
    return x;
}

/* Unlink a from a chain whose links are `next_of`; returns the predecessor (NULL = head). */
static talc_arena_t *talc_reg_unlink(_Atomic(talc_arena_t *) *head, talc_arena_t *a, bool hash)
{
    _Atomic(talc_arena_t *) *slot = head;
    talc_arena_t *prev = NULL;
    for (talc_arena_t *x = talc_reg_load(slot); x; x = talc_reg_load(slot)) {
        _Atomic(talc_arena_t *) *next = hash ? &x->hash_next : &x->reg_next;
        if (x == a) {
            talc_reg_store(slot, talc_reg_load(next));
            return prev;
        }
        prev = x;
        slot = next;
    }
    return prev;
}

int talc_registry_remove(talc_arena_t *a,
                         bool (*veto)(const talc_arena_t *other, const talc_arena_t *a))
{
    if (talc_ts.reading) /* inside foreach: the grace period below would wait for us */
        return -EDEADLK;
    talc_mutex_lock(&talc_reg_mutex);
    /* Under the lock, so no arena registered after this check can be missed by it. */
    if (veto && talc_reg_match(veto, a)) {
        talc_mutex_unlock(&talc_reg_mutex);
        return -EPERM;
    }
    talc_arena_t *prev = talc_reg_unlink(&talc_reg_head, a, false);
    if (talc_reg_tail == a)
        talc_reg_tail = prev;
    (void)talc_reg_unlink(&talc_reg_bucket[talc_reg_hash(a->name)], a, true);
    talc_mutex_unlock(&talc_reg_mutex);
    /* No reader still holds a. The wait polls (poll(2), a cancellation point) with liburcu's
     * grace-period lock held: a thread cancelled there left it held, and every later destroy
     * hung (a soak review, 2026-12-06). A grace period ends when the readers' sections do, so
     * a cancellation waits for the destroy to finish and acts at the next cancellation point. */
    int cancel_state;
    (void)pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel_state);
    urcu_bp_synchronize_rcu();
    (void)pthread_setcancelstate(cancel_state, NULL);
    TALC_TSAN_GP_DONE();
    return 0;
}

TALC_COLD talc_arena_t *talc_registry_find_locked(const char *name,
                                                  bool (*pred)(const talc_arena_t *,
                                                               const talc_arena_t *),
                                                  const talc_arena_t *a)
{
    talc_mutex_lock(&talc_reg_mutex);
    talc_arena_t *x = name ? talc_reg_lookup(name) : talc_reg_match(pred, a);
    talc_mutex_unlock(&talc_reg_mutex);
    return x;
}

size_t talc_registry_walk(bool (*fn)(talc_arena_t *a, void *ctx), void *ctx)
{
    size_t n = 0;
    for (talc_arena_t *a = talc_reg_load(&talc_reg_head); a; a = talc_reg_load(&a->reg_next)) {
        n++;
        if (!fn(a, ctx))
            break;
    }
    return n;
}
