/* fork.c — fork() in a multithreaded process leaves parent and child able to allocate.
 *
 * One set of pthread_atfork handlers, registered once (not per arena: glibc's atfork table is
 * finite). prepare takes every allocator lock in rank order: registry, the thread caches'
 * registry, then for each arena (creation order) its stripe locks and its grow lock, then the
 * reserve lock, then the owner-map writer lock, then the two leaf locks (the default arena's
 * preset, the fatal handler's setter); and it lets liburcu-bp prepare too. The parent
 * releases them in reverse order. The child re-initialises them: it has only the forking
 * thread, which holds them all (and no waiter to wake); then it retires the caches of the
 * threads it does not have (arenas/tcache.c). These handlers take the locks outside the
 * rank checker (mutex.h): holding every lock at once, arena after arena, is their documented
 * order.
 *
 * The handlers stay registered until the process ends (talc_atfork). pthread_atfork files
 * them under the calling library's DSO handle, and glibc's exit drops them at that library's
 * __cxa_finalize, which runs before its priority destructors (the shim's statistics) and
 * while other threads still run and fork: a fork whose prepare had taken every lock lost its
 * parent handler and left the registry lock held (the statistics then waited for ever), a
 * child forked afterwards inherited locks held mid-update, and glibc's own walk of the table,
 * which it shrank under that walk, aborted the process ("array index 0 not less than array
 * length 0"): 3 to 7 runs in 100 of a program forking in a loop while it exits (until
 * 2026-12-07; tests/shim/shim_fork_exit.c). Two things make the handlers safe to keep:
 *   - the object that holds libtalc is never unloaded. libtalc.so and the shim are linked
 *     -z nodelete; a library that links libtalc.a is made so at load time (dlopen with
 *     RTLD_NOLOAD | RTLD_NODELETE), since dlclose would leave the handlers (and the caches'
 *     thread-exit destructor) pointing at unmapped code (a review's plugin crashed the host's
 *     next fork, 50 runs in 50);
 *   - liburcu-bp keeps its reader registry: it unmaps it when its last reference goes, which
 *     its own destructor can be, and urcu_bp_after_fork_child then walked unmapped memory in
 *     a child forked during exit (7 rounds in 200 of a review's program). Each registered
 *     thread holds a reference, so libtalc registers the thread that loads it (the main
 *     thread, unless a thread dlopens libtalc and then exits before the process does). At
 *     load, not at exit: registering maps memory, and liburcu-bp aborts when it cannot, which
 *     turned an exit out of memory into SIGABRT; and it takes liburcu-bp's registry lock, which
 *     a fork child still holds while a handler registered before libtalc's runs, so exit()
 *     from such a handler hung (both found by a review of a first version).
 * The handlers are registered at load time (a constructor) so that a library's handlers
 * registered later run outside libtalc's: prepare before libtalc's takes the locks, the
 * others after libtalc's released or re-initialised them, and so they may allocate (they
 * deadlocked when registered before libtalc's first use, found by the same review).
 *
 * Concurrency: prepare runs on the forking thread while others may allocate; it blocks until
 * each lock is free, so no heap is mid-update in the child.
 */
#define _GNU_SOURCE /* dladdr1, RTLD_NODELETE */
#include <dlfcn.h>
#include <link.h>
#include <stdbool.h>
#include <pthread.h>
#include <stdint.h>
#include <urcu/urcu-bp.h>

#include "arena_internal.h"
#include "tcache.h"
#include "fork_internal.h"
#include "reserve_internal.h"

/* What a fork handler does to each arena's locks (ctx of talc_fork_arena). */
enum { TALC_FORK_LOCK, TALC_FORK_UNLOCK, TALC_FORK_REINIT };

/* One walker for the three handlers: stripe locks, then the grow lock; released in reverse. */
static bool talc_fork_arena(talc_arena_t *a, void *ctx)
{
    int op = (int)(intptr_t)ctx;
    if (op == TALC_FORK_UNLOCK)
        talc_mutex_unlock_unranked(&a->grow_lock);
    for (unsigned k = 0; k < a->nstripes; k++) {
        unsigned i = op == TALC_FORK_UNLOCK ? a->nstripes - 1u - k : k;
        talc_mutex_t *m = &talc_arena_stripe(a, i)->lock;
        if (op == TALC_FORK_LOCK)
            talc_mutex_lock_unranked(m);
        else if (op == TALC_FORK_UNLOCK)
            talc_mutex_unlock_unranked(m);
        else
            talc_mutex_init(m, TALC_RANK_STRIPE);
    }
    if (op == TALC_FORK_LOCK)
        talc_mutex_lock_unranked(&a->grow_lock);
    else if (op == TALC_FORK_REINIT)
        talc_mutex_init(&a->grow_lock, TALC_RANK_GROW);
    return true;
}

/* Every arena's locks, in creation order (registry lock held). */
static void talc_fork_arenas(int op)
{
    (void)talc_registry_walk(talc_fork_arena, (void *)(intptr_t)op);
}

static void talc_fork_prepare(void)
{
    urcu_bp_before_fork();
    talc_mutex_lock_unranked(&talc_reg_mutex);
    talc_tcache_fork_lock();
    talc_fork_arenas(TALC_FORK_LOCK);
    talc_reserve_lock();
    talc_seg_pagemap_lock();
    talc_mutex_lock_unranked(&talc_default_cfg_lock);
    talc_mutex_lock_unranked(&talc_fatal_lock);
}

static void talc_fork_parent(void)
{
    talc_mutex_unlock_unranked(&talc_fatal_lock);
    talc_mutex_unlock_unranked(&talc_default_cfg_lock);
    talc_seg_pagemap_unlock();
    talc_reserve_unlock();
    talc_fork_arenas(TALC_FORK_UNLOCK);
    talc_tcache_fork_unlock();
    talc_mutex_unlock_unranked(&talc_reg_mutex);
    urcu_bp_after_fork_parent();
}

static void talc_fork_child(void)
{
    talc_mutex_init(&talc_fatal_lock, TALC_RANK_LEAF);
    talc_mutex_init(&talc_default_cfg_lock, TALC_RANK_LEAF);
    talc_seg_pagemap_reinit();
    talc_reserve_reinit_lock();
    talc_fork_arenas(TALC_FORK_REINIT);
    talc_mutex_init(&talc_reg_mutex, TALC_RANK_REGISTRY);
    urcu_bp_after_fork_child();
    talc_tcache_fork_child(); /* with every lock usable again */
}

#if defined(__GLIBC__) && !defined(__UCLIBC__)
/* glibc's registration behind pthread_atfork; a NULL handle belongs to no DSO, so no
 * __cxa_finalize removes it. Exported by libc.so.6 since GLIBC_2.3.2. Only for code that is
 * never unloaded (talc_fork_pin). */
extern int __register_atfork(void (*prepare)(void), void (*parent)(void), void (*child)(void),
                             void *dso_handle); // NOLINT(bugprone-reserved-identifier)
#endif

int talc_atfork(void (*prepare)(void), void (*parent)(void), void (*child)(void))
{
#if defined(__GLIBC__) && !defined(__UCLIBC__)
    return __register_atfork(prepare, parent, child, NULL);
#else
    return pthread_atfork(prepare, parent, child); /* (musl never unregisters) */
#endif
}

#if defined(__GLIBC__) && !defined(__UCLIBC__)
/* Whether the object's dynamic section says -z nodelete. */
static bool talc_fork_nodelete(const struct link_map *lm)
{
    for (const ElfW(Dyn) *d = lm->l_ld; d->d_tag != DT_NULL; d++)
        if (d->d_tag == DT_FLAGS_1)
            return (d->d_un.d_val & DF_1_NODELETE) != 0;
    return false;
}
#endif

/* The object holding this code (whatever linked libtalc.a) is never unloaded from now on. Not
 * for the program or an object linked -z nodelete (libtalc.so, the shim), which need nothing:
 * dlopen allocates (its thread's error buffer), and the shim's exit statistics showed that
 * block live. NOLOAD: a name that no longer finds the object changes nothing. */
static void talc_fork_pin(void)
{
#if defined(__GLIBC__) && !defined(__UCLIBC__) /* (musl's dlclose unloads nothing) */
    Dl_info info;
    struct link_map *lm = NULL;
    if (!dladdr1((void *)(uintptr_t)talc_fork_pin, &info, (void **)&lm, RTLD_DL_LINKMAP) || !lm ||
        !lm->l_name[0] || !info.dli_fname || talc_fork_nodelete(lm))
        return;
    (void)dlopen(info.dli_fname, RTLD_LAZY | RTLD_NOLOAD | RTLD_NODELETE);
#endif
}

static pthread_once_t talc_fork_once = PTHREAD_ONCE_INIT;

static void talc_fork_register(void)
{
    (void)talc_atfork(talc_fork_prepare, talc_fork_parent, talc_fork_child);
}

void talc_fork_init(void) { pthread_once(&talc_fork_once, talc_fork_register); }

/* At load time (the file's banner says why); inside the dlopen that loads the library, when
 * it is loaded so, which makes the pin's dlopen a nested one. The pin only here: a dlopen
 * made before the object's constructors have started runs them, and the shim's start-up,
 * which an early malloc (libstdc++'s) begins before them, waited on its own pthread_once
 * (found by the shim's C++ test while this was written). */
__attribute__((constructor)) static void talc_fork_at_load(void)
{
    talc_fork_pin();
    talc_fork_init();
    urcu_bp_register_thread(); /* the banner says why */
}
