/* cpu_id.h — which CPU the calling thread is running on, cheaply.
 *
 * Who calls it: the dispatcher, to pick a stripe (topology.h) on every allocation. The answer
 * is a hint: the thread may migrate the moment after, so callers must stay correct with any
 * value (stripes have locks); a stale value costs only locality.
 *
 * Concurrency: any thread, any time; each thread reads only its own state (the kernel's rseq
 * area for the thread, or its own cache). Async-signal-safe. No allocation.
 *
 * Sources, best first:
 *   rseq    glibc >= 2.35 registers an rseq area for every thread and exports its offset from
 *           the thread pointer (__rseq_offset, __rseq_size in <sys/rseq.h>); the kernel keeps
 *           its cpu_id current. One relaxed load; no system call.
 *   getcpu  sched_getcpu(): a vDSO call on x86_64, a system call on aarch64 (no vDSO getcpu).
 *           Used when rseq is unavailable: older glibc or musl, rseq disabled by
 *           GLIBC_TUNABLES=glibc.pthread.rseq=0, or qemu-user (no rseq syscall; glibc then
 *           sets __rseq_size to 0).
 *   none    0.
 */
#ifndef TALC_CPU_ID_H
#define TALC_CPU_ID_H

/* Calls between two sched_getcpu() refreshes in talc_cpu_cached(). Why 64: a getcpu system
 * call (aarch64, or any host without a vDSO for it) costs 100-300 ns, about the price of an
 * allocation; once per 64 calls it is a few ns each. A thread is normally migrated at most
 * once per scheduler slice (milliseconds), while 64 allocations take microseconds, so the
 * cached value is stale for a tiny fraction of calls, and a stale value costs only locality. */
#define TALC_CPU_CACHE_REFRESH 64u

typedef enum talc_cpu_source {
    TALC_CPU_SOURCE_RSEQ,
    TALC_CPU_SOURCE_GETCPU,
    TALC_CPU_SOURCE_NONE,
} talc_cpu_source_t;

/* The CPU the calling thread runs on (< the number of possible CPUs), from rseq, else
 * sched_getcpu(), else 0. Always current when it returns. Cost: one load with rseq. */
unsigned talc_cpu_current(void);

/* Like talc_cpu_current(), but without rseq the value comes from a per-thread cache refreshed
 * every TALC_CPU_CACHE_REFRESH calls (so it may be that many calls stale). With rseq it is the
 * rseq value (always current, and as cheap as the cache). */
unsigned talc_cpu_cached(void);

/* The per-thread cache behind talc_cpu_cached() when rseq is unavailable; public for tests.
 * The first call in a thread, and every TALC_CPU_CACHE_REFRESH-th call after it, asks
 * sched_getcpu(); the others return the cached value. */
unsigned talc_cpu_countdown(void);

/* The source talc_cpu_current() uses in this thread. */
talc_cpu_source_t talc_cpu_source(void);

#endif /* TALC_CPU_ID_H */
