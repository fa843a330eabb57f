/* trimmer.c — TALC_CONF's trim_ms: a background thread that gives back to the OS, every
 * trim_ms milliseconds, the memory that has stayed unused since its previous pass
 * (talc_shim_trim_all(true): talc_arena_trim_idle on every arena: the empty segments kept for
 * reuse and the whole pages inside free chunks that nothing has changed since are unmapped or
 * decommitted; the blocks parked at depots stay for the next fills). Memory goes back after
 * trim_ms to twice that of disuse; memory in use is left alone, so a short period costs few
 * page faults (until 2026-12-06 each pass did what malloc_trim(0) does, to everything free at
 * that moment).
 *
 * Why: blocks that idle threads keep cached pin the segments they sit in, and the free pages
 * around them stay resident: 4 threads that freed 100 MB each and then waited kept 205-249 MB
 * resident (docs/shim.md, "Background trim"). Nothing else runs in an idle process to give
 * that back. Off by default: a thread is not something a preloaded library should add to
 * every program unasked.
 *
 * When it starts: at the first allocation after the shim is READY (init.c leaves the state
 * READY_SPAWN when trim_ms is set), never inside the start-up (which runs inside some
 * malloc, possibly under another library's lock) and never under an allocator lock:
 * pthread_create allocates. A fork child has only the forking thread: the shim's fork handler
 * puts the state back to READY_SPAWN there, so the child's first allocation starts its own.
 * The thread is detached, blocks every signal (a process-directed signal goes to the
 * program's threads, as before), is named "talc-trim", and never exits; it does not allocate.
 *
 * Concurrency: talc_trimmer_start runs on the one thread that moved the state from
 * READY_SPAWN to READY (init.c). The thread takes the registry lock and stripe locks as
 * malloc_trim does (a fork waits for its pass to end: arenas/trim.c bounds how long it holds
 * a stripe).
 */
#define _GNU_SOURCE /* pthread_setname_np */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <time.h>

#include "shim_internal.h"

/* Its stack: the trim is shallow, but a fault it finds runs the program's fatal handler here,
 * which may format a message. */
#define TALC_TRIMMER_STACK ((size_t)256 << 10)

/* arg: the period in milliseconds, as a pointer-sized integer. */
static void *talc_trimmer_main(void *arg)
{
    unsigned ms = (unsigned)(uintptr_t)arg;
    struct timespec period = {(time_t)(ms / 1000u), (long)(ms % 1000u) * 1000000L};
    for (;;) {
        struct timespec left = period;
        while (clock_nanosleep(CLOCK_MONOTONIC, 0, &left, &left) == EINTR)
            ;
        (void)talc_shim_trim_all(true);
    }
    return NULL;
}

int talc_trimmer_start(unsigned ms)
{
    pthread_attr_t attr;
    int err = pthread_attr_init(&attr);
    if (err != 0)
        return err;
    size_t least = (size_t)PTHREAD_STACK_MIN; /* a long on some targets */
    size_t stack = TALC_TRIMMER_STACK < least ? least : TALC_TRIMMER_STACK;
    (void)pthread_attr_setstacksize(&attr, stack);
    (void)pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    /* The new thread inherits the creator's signal mask: all blocked for it, then restored. */
    sigset_t all, old;
    sigfillset(&all);
    bool masked = pthread_sigmask(SIG_SETMASK, &all, &old) == 0;
    pthread_t t;
    int saved = errno;
    err = pthread_create(&t, &attr, talc_trimmer_main, (void *)(uintptr_t)ms);
    if (masked)
        (void)pthread_sigmask(SIG_SETMASK, &old, NULL);
    (void)pthread_attr_destroy(&attr);
    if (err == 0)
        (void)pthread_setname_np(t, "talc-trim");
    errno = saved; /* the allocation that started it must not see a changed errno */
    return err;
}
