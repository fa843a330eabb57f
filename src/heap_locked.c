/* heap_locked.c — one heap behind a lock (talc/heap_locked.h).
 *
 * The built-in lock is a test-and-test-and-set spinlock: the exchange (acquire) orders the
 * critical section after the previous holder's release store; waiters spin on relaxed loads so
 * the line stays shared until it is freed. A pluggable lock replaces it for RTOS mutexes etc.
 * realloc copies large blocks outside the lock (TALC_REALLOC_UNLOCKED_COPY).
 *
 * Concurrency: every function may run concurrently with every other on the same locked heap.
 */
#include <string.h>

#include "atomic.h"
#include "heap_internal.h"
#include "talc/heap_locked.h"

struct talc_locked_heap {
    talc_lock_ops_t ops;
    bool builtin;         /* ops is the built-in spinlock: take it inline, no indirect call */
    talc_atomic_u32 spin; /* built-in lock word: 0 free, 1 held */
    alignas(max_align_t) struct talc_heap heap;
};

static void talc_spin_lock(void *ctx)
{
    talc_atomic_u32 *l = ctx;
    /* acquire: the critical section starts after the previous holder's release. */
    while (talc_atomic_exchange_acquire_u32(l, 1u) != 0u)
        while (talc_atomic_load_relaxed_u32(l) != 0u)
            talc_cpu_relax();
}

static void talc_spin_unlock(void *ctx)
{
    talc_atomic_store_release_u32(ctx, 0u); /* release: publishes the critical section */
}

size_t talc_locked_heap_footprint(void)
{
    return (sizeof(struct talc_locked_heap) + TALC_GRAIN - 1) & ~(TALC_GRAIN - 1);
}

talc_locked_heap_t *talc_locked_heap_init(void *mem, size_t size, const talc_heap_opts_t *opts,
                                          const talc_lock_ops_t *lock)
{
    if (!mem || size < talc_locked_heap_footprint() || ((uintptr_t)mem & (TALC_GRAIN - 1)))
        return NULL;
    if (lock && (!lock->lock || !lock->unlock))
        return NULL;
    struct talc_locked_heap *lh = mem;
    /* The heap's control block goes at its slot; spans start after the whole locked block. */
    if (!talc_heap_init(&lh->heap, talc_heap_footprint(), opts))
        return NULL;
    atomic_init(&lh->spin, 0u);
    lh->ops = lock ? *lock : (talc_lock_ops_t){talc_spin_lock, talc_spin_unlock, &lh->spin};
    lh->builtin = !lock;
    size_t fp = talc_locked_heap_footprint();
    if (size > fp)
        lh->heap.first_span = talc_heap_claim(&lh->heap, (char *)mem + fp, size - fp);
    return lh;
}

talc_heap_t *talc_locked_acquire(talc_locked_heap_t *lh)
{
    /* acquire: as in talc_spin_lock; the uncontended case costs one exchange, no call. */
    if (TALC_LIKELY(lh->builtin) && talc_atomic_exchange_acquire_u32(&lh->spin, 1u) == 0u)
        return &lh->heap;
    lh->ops.lock(lh->ops.ctx);
    return &lh->heap;
}

void talc_locked_release(talc_locked_heap_t *lh)
{
    if (TALC_LIKELY(lh->builtin))
        talc_atomic_store_release_u32(&lh->spin, 0u); /* release: publishes the section */
    else
        lh->ops.unlock(lh->ops.ctx);
}

void *talc_locked_alloc(talc_locked_heap_t *lh, size_t size)
{
    void *p = talc_heap_alloc(talc_locked_acquire(lh), size);
    talc_locked_release(lh);
    return p;
}

void *talc_locked_alloc_aligned(talc_locked_heap_t *lh, size_t size, size_t align)
{
    void *p = talc_heap_alloc_aligned(talc_locked_acquire(lh), size, align);
    talc_locked_release(lh);
    return p;
}

void talc_locked_free(talc_locked_heap_t *lh, void *ptr)
{
    if (!ptr)
        return;
    talc_heap_free(talc_locked_acquire(lh), ptr);
    talc_locked_release(lh);
}

size_t talc_locked_usable_size(talc_locked_heap_t *lh, const void *ptr)
{
    size_t n = talc_heap_usable_size(talc_locked_acquire(lh), ptr);
    talc_locked_release(lh);
    return n;
}

talc_span_t *talc_locked_claim(talc_locked_heap_t *lh, void *base, size_t size)
{
    talc_heap_t *h = talc_locked_acquire(lh);
#if TALC_DEBUG >= 1
    /* The engine checks its own control block; the lock part in front of it is ours. */
    uintptr_t b = (uintptr_t)base, l = (uintptr_t)lh;
    if (base && b < l + talc_locked_heap_footprint() && l - b < size) {
        talc_heap_fault(h, TALC_FAULT_BAD_SPAN, base, "claimed range overlaps the locked heap");
        talc_locked_release(lh);
        return NULL;
    }
#endif
    talc_span_t *s = talc_heap_claim(h, base, size);
    talc_locked_release(lh);
    return s;
}

void talc_locked_counters(talc_locked_heap_t *lh, talc_heap_counters_t *out)
{
    talc_heap_counters(talc_locked_acquire(lh), out);
    talc_locked_release(lh);
}

/* A block that grows out of place. A small one: talc_heap_realloc under the lock, with all its
 * fallbacks (sliding down into a free chunk below, the OOM hook). A large one is copied outside
 * the lock: allocate under it, copy, free under it; if the allocation fails (its OOM hook ran),
 * talc_heap_realloc under the lock still gets its chance to slide the block down. */
static void *talc_locked_move(talc_locked_heap_t *lh, talc_heap_t *h, void *ptr, size_t size,
                              size_t old)
{
    size_t keep = old < size ? old : size;
#if TALC_REALLOC_UNLOCKED_COPY > 0
    bool unlocked = keep >= TALC_REALLOC_UNLOCKED_COPY;
#else /* off: no comparison that gcc's -Wtype-limits would call always true */
    bool unlocked = false;
#endif
    void *np = unlocked ? talc_heap_alloc(h, size) : NULL;
    if (!np) {
        if (unlocked) /* one realloc, counted once: by talc_heap_realloc if it fails too */
            TALC_CNT(h, failed_allocs, -= 1);
        np = talc_heap_realloc(h, ptr, size);
        talc_locked_release(lh);
        return np;
    }
    talc_locked_release(lh);
    memcpy(np, ptr, keep);
    talc_heap_free(talc_locked_acquire(lh), ptr);
    talc_locked_release(lh);
    return np;
}

void *talc_locked_realloc(talc_locked_heap_t *lh, void *ptr, size_t size)
{
    if (!ptr)
        return talc_locked_alloc(lh, size);
    if (size == 0) {
        talc_locked_free(lh, ptr);
        return NULL;
    }
    talc_heap_t *h = talc_locked_acquire(lh);
    size_t old = talc_heap_usable_size(h, ptr);
    if (old == 0 || talc_heap_resize_in_place(h, ptr, size)) {
        talc_locked_release(lh);
        return old ? ptr : NULL; /* a bad pointer was reported by usable_size */
    }
    return talc_locked_move(lh, h, ptr, size, old);
}
