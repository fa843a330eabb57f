/* boot.c — the bootstrap heap: a Talc heap over a static buffer that serves the allocations
 * made while the shim initialises the library.
 *
 * Why: the first malloc of a process initialises libtalc (default arena, hwloc topology,
 * fork handlers). dlopen, hwloc, stdio and pthread_atfork call malloc inside that work; sending
 * those calls to the dispatcher would re-enter talc_arena_default()'s pthread_once on the same
 * thread and deadlock. While the shim's state is INITING, every allocation (from any thread)
 * comes from here instead. The buffer is a static array: its address range identifies its
 * blocks, so free/realloc/malloc_usable_size recognise them without touching the owner map
 * (talc_free would send them to the fatal handler as unowned). It is .bss: pages the heap
 * never touches cost nothing, and once start-up is over (READY) talc_boot_trim gives back the
 * pages inside its free chunks, so that start-up's peak does not stay resident. When it is
 * full (hwloc on a machine with hundreds of CPUs) one overflow mapping becomes a second span,
 * whose range identifies its blocks in the same way.
 *
 * The heap is the library's own engine (src/heap*.c), so frees during start-up are real frees
 * and the buffer holds the peak of start-up allocation, not its sum (391 allocations, a peak
 * of 48 KiB live, one block of 2.3 KiB that the dynamic loader keeps at the end, on a 2-CPU
 * x86_64 VM).
 *
 * Concurrency: one spinlock (test-and-set, yielding) around every heap call; no other lock is
 * taken while it is held, and nothing in the heap engine allocates or blocks. A fault goes to
 * the fatal handler after the lock is released, never under it. After start-up
 * only frees of bootstrap blocks come here. Fork: shim/init.c's handlers hold the lock across
 * fork and the child re-initialises it.
 */
#include <errno.h>
#include <sched.h>
#include <stdalign.h>
#include <stdint.h>
#include <string.h>

#include "arena_internal.h" /* talc_fatal_report: faults go to the process-wide handler */
#include "os_mem.h"
#include "shim_internal.h"

alignas(64) unsigned char talc_boot_mem[TALC_SHIM_BOOT_SIZE];

/* The overflow region: mapped, and claimed as the heap's second span, the first time the
 * buffer has no room. hwloc's load peaks at about 2 KiB per CPU thread, so the buffer alone
 * ran out between 384 and 512 of them (hwloc's synthetic topologies), and every process
 * started under the shim on such a machine crashed inside hwloc, which does not check
 * malloc's result (2026-12-04). Untouched pages of the mapping cost nothing. Published once,
 * under the lock; talc_boot_owns reads it. */
#ifndef TALC_SHIM_BOOT_OVERFLOW
#define TALC_SHIM_BOOT_OVERFLOW ((size_t)64 << 20)
#endif
uintptr_t talc_boot_ext_base;
size_t talc_boot_ext_size;
static talc_heap_t *talc_boot_heap;    /* under talc_boot_lock; NULL until first use */
static talc_atomic_u32 talc_boot_lock; /* 0 free, 1 held */

static void talc_boot_acquire(void)
{
    /* acquire: the heap's state written by the previous holder is visible. */
    while (talc_atomic_exchange_acquire_u32(&talc_boot_lock, 1u) != 0u) {
        while (talc_atomic_load_relaxed_u32(&talc_boot_lock) != 0u)
            sched_yield();
    }
}

/* A fault the heap found in a critical section (a bad pointer freed, a damaged header),
 * reported once the lock is free: the handler may longjmp, fork or allocate, and a lock it
 * left held would stop every later bootstrap call, and fork (init.c's prepare handler takes
 * it). The first of a section's faults is kept (a section meets at most one: one heap call).
 * Under the lock. */
static talc_fault_info_t talc_boot_fault_info;
static bool talc_boot_fault_held;

static void talc_boot_fault(const talc_fault_info_t *info, void *ctx)
{
    (void)ctx;
    if (!talc_boot_fault_held)
        talc_boot_fault_info = *info;
    talc_boot_fault_held = true;
}

static void talc_boot_release(void)
{
    talc_fault_info_t f = talc_boot_fault_info;
    bool report = talc_boot_fault_held;
    talc_boot_fault_held = false;
    /* release: publishes this critical section's heap writes to the next holder. */
    talc_atomic_store_release_u32(&talc_boot_lock, 0u);
    if (TALC_UNLIKELY(report))
        talc_fatal_report(f.fault, f.heap_name, f.address, f.what);
}

/* The heap's OOM hook (lock held): map and claim the overflow region, once, for any thread.
 * (Until 2026-12-05 only for the thread that runs the start-up, the others waiting for READY:
 * a thread that the initialiser waits for, such as one a library constructor run by hwloc's
 * dlopen starts and joins, then waited for ever.) A request it cannot hold either waits for
 * READY on another thread (init.c). */
static talc_oom_verdict_t talc_boot_grow(talc_heap_t *h, size_t size, size_t align, void *ctx)
{
    (void)size;
    (void)align;
    (void)ctx;
    if (__atomic_load_n(&talc_boot_ext_size, __ATOMIC_RELAXED) != 0)
        return TALC_OOM_FAIL;
    void *m = talc_os_map(TALC_SHIM_BOOT_OVERFLOW, 0);
    if (!m)
        return TALC_OOM_FAIL;
    if (!talc_heap_claim(h, m, TALC_SHIM_BOOT_OVERFLOW)) {
        talc_os_unmap(m, TALC_SHIM_BOOT_OVERFLOW);
        return TALC_OOM_FAIL;
    }
    __atomic_store_n(&talc_boot_ext_base, (uintptr_t)m, __ATOMIC_RELAXED);
    __atomic_store_n(&talc_boot_ext_size, TALC_SHIM_BOOT_OVERFLOW, __ATOMIC_RELEASE);
    return TALC_OOM_RETRY;
}

/* The heap, created on first use (lock held). */
static talc_heap_t *talc_boot_get(void)
{
    if (TALC_UNLIKELY(!talc_boot_heap)) {
        talc_heap_opts_t o;
        memset(&o, 0, sizeof o);
        o.name = "bootstrap";
        o.oom = talc_boot_grow;
        o.shrink_in_place = true;  /* a bootstrap block's shrink never moves (malloc.c) */
        o.fatal = talc_boot_fault; /* reported after the lock: talc_boot_release */
        talc_boot_heap = talc_heap_init(talc_boot_mem, sizeof talc_boot_mem, &o);
    }
    return talc_boot_heap;
}

void *talc_boot_alloc(size_t size, size_t align)
{
    talc_boot_acquire();
    talc_heap_t *h = talc_boot_get();
    void *p = NULL;
    if (h)
        p = align > TALC_MIN_ALIGN ? talc_heap_alloc_aligned(h, size, align)
                                   : talc_heap_alloc(h, size);
    talc_boot_release();
    if (!p)
        errno = ENOMEM;
    return p;
}

void talc_boot_free(void *p)
{
    talc_boot_acquire();
    talc_heap_free(talc_boot_get(), p);
    talc_boot_release();
}

size_t talc_boot_usable_size(const void *p)
{
    talc_boot_acquire();
    size_t n = talc_heap_usable_size(talc_boot_get(), p);
    talc_boot_release();
    return n;
}

void *talc_boot_realloc(void *p, size_t size)
{
    talc_boot_acquire();
    void *q = talc_heap_realloc(talc_boot_get(), p, size ? size : 1u);
    talc_boot_release();
    if (!q)
        errno = ENOMEM;
    return q;
}

/* Walk visitor: decommit the whole pages of a free chunk that lie past its links and before
 * its footer (the only bytes of a free chunk the heap reads). The buffer is .bss: those pages
 * are anonymous and read back as zeros if the heap ever hands them out again. */
static bool talc_boot_trim_chunk(const talc_span_t *span, void *ptr, size_t size, bool used,
                                 void *ctx)
{
    (void)span;
    (void)ctx;
    uintptr_t page = talc_os_page_size();
    uintptr_t lo = ((uintptr_t)ptr + 2u * sizeof(void *) + page - 1u) & ~(page - 1u);
    uintptr_t hi = ((uintptr_t)ptr + size - TALC_HDR) & ~(page - 1u);
    if (!used && hi > lo)
        (void)talc_os_decommit((void *)lo, hi - lo); /* a failure only keeps the pages */
    return true;
}

void talc_boot_trim(void)
{
    talc_boot_acquire();
    if (talc_boot_heap)
        (void)talc_heap_walk(talc_boot_heap, talc_boot_trim_chunk, NULL);
    talc_boot_release();
}

const talc_heap_t *talc_boot_heap_peek(void)
{
    talc_boot_acquire();
    const talc_heap_t *h = talc_boot_heap;
    talc_boot_release();
    return h;
}

void talc_boot_counters(talc_heap_counters_t *out)
{
    talc_boot_acquire();
    if (talc_boot_heap)
        talc_heap_counters(talc_boot_heap, out);
    else
        memset(out, 0, sizeof *out);
    talc_boot_release();
}

void talc_boot_lock_for_fork(void) { talc_boot_acquire(); }

void talc_boot_unlock_after_fork(void) { talc_boot_release(); }
