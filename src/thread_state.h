/* thread_state.h — the platform layer's per-thread state, as one thread-local object: the
 * CPU id cache (cpu_id.c) and the deferred call of a held lock (mutex.c). Each thread-local
 * object costs the shared library a load-time relocation (24 bytes of text), so the two share
 * one. Defined in cpu_id.c.
 *
 * Concurrency: each thread touches only its own (initial-exec TLS: no allocation on first
 * access, safe inside malloc).
 */
#ifndef TALC_THREAD_STATE_H
#define TALC_THREAD_STATE_H

#include <stdint.h>

struct talc_mutex;

/* cpu_id.c's cache of sched_getcpu() */
typedef struct talc_cpu_cache {
    uint32_t cpu;  /* last value from sched_getcpu() */
    uint32_t left; /* calls before the next refresh; 0 = refresh now */
} talc_cpu_cache_t;

/* mutex.c's deferred call (talc_mutex_defer) */
typedef struct talc_defer {
    struct talc_mutex *lock; /* the lock whose release runs fn */
    void (*fn)(void);
} talc_defer_t;

typedef struct talc_pts {
    talc_cpu_cache_t cpu;
    talc_defer_t defer;
} talc_pts_t;

#if defined(__GNUC__)
extern _Thread_local talc_pts_t talc_pts __attribute__((tls_model("initial-exec")));
#else
extern _Thread_local talc_pts_t talc_pts;
#endif

#endif /* TALC_THREAD_STATE_H */
