/* cpu_id.c — the calling thread's CPU: glibc's rseq area, else sched_getcpu(), else 0, and a
 * per-thread cache for the slow path (cpu_id.h).
 *
 * Who calls it: the dispatcher, on every allocation. Concurrency: each thread touches only
 * its own rseq area (written by the kernel, read here with a relaxed load through atomic.h)
 * and its own thread-local cache (plain, as nothing else reads it). Async-signal-safe: a
 * signal handler that interrupts talc_cpu_countdown() may see or leave a cache one call off,
 * which is harmless. The thread-local (thread_state.h's object, shared with mutex.c) uses the
 * initial-exec model: no __tls_get_addr, which could allocate, under a malloc shim; its 24
 * bytes come from the static TLS surplus when the library is dlopen()ed.
 */
#define _GNU_SOURCE
#include "cpu_id.h"

#include <sched.h>
#include <stdint.h>

#include "atomic.h"
#include "thread_state.h"

#if defined(__has_include)
/* glibc >= 2.35, on targets where gcc and clang expand __builtin_thread_pointer() inline. */
#if __has_include(<sys/rseq.h>) \
    && (defined(__x86_64__) || defined(__aarch64__) || defined(__arm__) || defined(__riscv))
#include <sys/rseq.h>
#define TALC_CPU_HAVE_RSEQ 1
#endif
#endif
#ifndef TALC_CPU_HAVE_RSEQ
#define TALC_CPU_HAVE_RSEQ 0
#endif

#define TALC_CPU_UNKNOWN UINT32_MAX

/* The calling thread's platform state (thread_state.h): its CPU cache, here; its deferred
 * call, mutex.c's. */
#if defined(__GNUC__)
_Thread_local talc_pts_t talc_pts __attribute__((tls_model("initial-exec")));
#else
_Thread_local talc_pts_t talc_pts;
#endif

#if TALC_CPU_HAVE_RSEQ
/* The kernel's cpu_id for this thread, or TALC_CPU_UNKNOWN when glibc did not register rseq
 * (__rseq_size == 0) or the kernel has not filled it in (the -1 and -2 sentinels). */
static uint32_t talc_cpu_from_rseq(void)
{
    if (__rseq_size == 0)
        return TALC_CPU_UNKNOWN;
    const char *tp = __builtin_thread_pointer();
    const struct rseq *rs = (const void *)(tp + __rseq_offset);
    /* relaxed: the kernel rewrites cpu_id when it moves the thread; the value is a hint and
     * orders nothing */
    uint32_t id = talc_atomic_load_relaxed_u32_ext(&rs->cpu_id);
    return id < (uint32_t)RSEQ_CPU_ID_REGISTRATION_FAILED ? id : TALC_CPU_UNKNOWN;
}
#else
static uint32_t talc_cpu_from_rseq(void) { return TALC_CPU_UNKNOWN; }
#endif

static uint32_t talc_cpu_from_getcpu(void)
{
    int cpu = sched_getcpu();
    return cpu >= 0 ? (uint32_t)cpu : 0u;
}

unsigned talc_cpu_current(void)
{
    uint32_t id = talc_cpu_from_rseq();
    return id != TALC_CPU_UNKNOWN ? id : talc_cpu_from_getcpu();
}

unsigned talc_cpu_countdown(void)
{
    talc_cpu_cache_t *c = &talc_pts.cpu;
    if (c->left == 0) {
        c->cpu = talc_cpu_from_getcpu();
        c->left = TALC_CPU_CACHE_REFRESH;
    }
    c->left--;
    return c->cpu;
}

unsigned talc_cpu_cached(void)
{
    uint32_t id = talc_cpu_from_rseq();
    return id != TALC_CPU_UNKNOWN ? id : talc_cpu_countdown();
}

talc_cpu_source_t talc_cpu_source(void)
{
    if (talc_cpu_from_rseq() != TALC_CPU_UNKNOWN)
        return TALC_CPU_SOURCE_RSEQ;
    return sched_getcpu() >= 0 ? TALC_CPU_SOURCE_GETCPU : TALC_CPU_SOURCE_NONE;
}
