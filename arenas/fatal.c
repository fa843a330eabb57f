/* fatal.c — the arena layer's one fatal path: invalid pointers and corruption.
 *
 * Every heap of every arena reports faults here, and so does talc_free for a pointer no arena
 * owns. The process-wide handler is replaceable (talc_set_fatal_handler); the default writes
 * one line to stderr with write(2) — no stdio, no allocation — and aborts.
 *
 * No lock is held while the handler runs (talc/arena.h), so that it may allocate, read
 * statistics, fork or longjmp. A stripe's heap reports faults while the stripe lock is held:
 * its hook (talc_fatal_stripe_handler) keeps the fault on the thread and defers the report to
 * the lock's release (talc_mutex_defer, src/mutex.h), or further: to the end of a thread
 * cache's give-back, which takes and releases the stripe locks of its blocks in turn (the
 * handler may use the cache: until 2026-12-06 it ran between two stripes, with the blocks
 * not yet given back off the list, lost for good if it longjmped; found by a review), to the
 * release of the thread caches' registry lock when a give-back runs under it, and of the arena
 * registry's lock when a trim runs inside talc_registry_visit (the shim's malloc_trim). A critical
 * section that meets several faults (a give-back of several corrupted cached blocks) reports the
 * first and then one fault saying there were more.
 *
 * Concurrency: the handler pair is published with a release store of a pointer to a pair,
 * read with an acquire load, so a fault on any thread sees a consistent (fn, ctx) unless two
 * more sets complete while it reads (talc_fatal_slots). A
 * held fault is thread-local. talc_fatal_lock serialises setters; the fork handlers take it
 * (arenas/fork.c), so a child can always set a handler.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arena_internal.h"
#include "fork_internal.h"
#include "tcache.h"

typedef struct talc_fatal_pair {
    talc_fatal_fn fn;
    void *ctx;
} talc_fatal_pair_t;

/* Two slots alternate so that one new pair does not overwrite the one a racing fault may be
 * reading. Two sets in a row do: a fault that loaded slot 0, then saw two sets complete
 * before it read fn and ctx, could read a mix of the newest pair and the first (and the
 * fields are plain: a data race in C11's terms). Handlers change rarely (at start-up and in
 * tests), so this stays (review of 2026-12-04). */
static talc_fatal_pair_t talc_fatal_slots[2];
static _Atomic(talc_fatal_pair_t *) talc_fatal_current;
talc_mutex_t talc_fatal_lock = TALC_MUTEX_INIT(TALC_RANK_LEAF); /* fork_internal.h */

void talc_set_fatal_handler(talc_fatal_fn fn, void *ctx)
{
    talc_mutex_lock(&talc_fatal_lock);
    talc_fatal_pair_t *cur = atomic_load_explicit(&talc_fatal_current, memory_order_relaxed);
    talc_fatal_pair_t *next =
        cur == &talc_fatal_slots[0] ? &talc_fatal_slots[1] : &talc_fatal_slots[0];
    next->fn = fn;
    next->ctx = ctx;
    /* release: a fault that loads `next` sees its fields. */
    atomic_store_explicit(&talc_fatal_current, fn ? next : NULL, memory_order_release);
    talc_mutex_unlock(&talc_fatal_lock);
}

static void talc_put(const char *s)
{
    size_t n = strlen(s);
    while (n) {
        ssize_t w = write(2, s, n);
        if (w <= 0)
            return;
        s += w;
        n -= (size_t)w;
    }
}

static void talc_put_hex(uintptr_t v)
{
    char buf[2 + 2 * sizeof v + 1];
    char *p = buf + sizeof buf - 1;
    *p = 0;
    do {
        *--p = "0123456789abcdef"[v & 15u];
        v >>= 4;
    } while (v);
    *--p = 'x';
    *--p = '0';
    talc_put(p);
}

static void talc_fatal_default(const talc_fault_info_t *info)
{
    talc_put("libtalc: fatal: ");
    talc_put(info->what ? info->what : "fault");
    talc_put(" (arena \"");
    talc_put(info->heap_name ? info->heap_name : "?");
    talc_put("\", address ");
    talc_put_hex((uintptr_t)info->address);
    talc_put(")\n");
    abort();
}

void talc_fatal_report(talc_fault_t f, const char *arena, const void *addr, const char *what)
{
    talc_fault_info_t info = {f, arena, addr, what};
    /* acquire: pairs with the release in talc_set_fatal_handler. */
    talc_fatal_pair_t *h = atomic_load_explicit(&talc_fatal_current, memory_order_acquire);
    if (h && h->fn) {
        /* The handler allocates for itself (oom.c: the realloc hint); a realloc whose chain
         * goes on after it returned (a damaged cached block) has its hint back, so that its
         * failure is counted once (arena_alloc.c). */
        size_t extra = talc_ts.grow_extra;
        talc_ts.grow_extra = 0;
        h->fn(&info, h->ctx);
        talc_ts.grow_extra = extra;
        return;
    }
    talc_fatal_default(&info);
}

/* talc_ts.held_fault (talc_tstate_t, arena_internal.h): a fault a stripe's heap reported while
 * this thread held the stripe lock, waiting for the release (talc_mutex_defer), and how many
 * came in that critical section. */

void talc_fatal_held_report(void)
{
    if (talc_ts.tc_giving) /* the give-back reports it when it ends (tcache.c) */
        return;
    talc_mutex_t *outer = talc_tcache_lock_mine();
    if (!outer && talc_ts.reg_lock_mine) /* a trim inside talc_registry_visit (malloc_trim) */
        outer = &talc_reg_mutex;
    if (outer) { /* a give-back under the thread caches' registry lock: wait for that too */
        talc_mutex_defer(outer, talc_fatal_held_report);
        return;
    }
    talc_fault_info_t f = talc_ts.held_fault.info;
    unsigned n = talc_ts.held_fault.count;
    talc_ts.held_fault.count = 0;
    talc_fatal_report(f.fault, f.heap_name, f.address, f.what);
    if (n > 1)
        talc_fatal_report(TALC_FAULT_CORRUPTION, f.heap_name, NULL,
                          "more faults in the same critical section (not reported one by one)");
}

void talc_fatal_stripe_handler(const talc_fault_info_t *info, void *ctx)
{
    talc_stripe_t *s = ctx;
    if (talc_ts.held_fault.count++ == 0)
        talc_ts.held_fault.info = *info;
    talc_mutex_defer(&s->lock, talc_fatal_held_report);
}
