/* bench_arena.h — the multi-threaded half of talc_bench: arena benchmarks.
 *
 * Two workloads run through allocators that several threads use at once (wl_arena.c):
 *   arena_thread_local       Talc's random actions on 1, 2 and 4 threads, each thread on its
 *                            own blocks (allocates, reallocs and frees only what it allocated);
 *   arena_producer_consumer  pairs of threads: one allocates, passes each block through a
 *                            bounded single-producer/single-consumer ring, the other frees it.
 *
 * An allocator under test implements tb_mt_allocator_t. Each worker thread gets its own handle
 * (thread_init, called once on that thread and kept for the whole run), and every call gets the
 * handle of the thread making it: a block allocated by thread A and freed by thread B is freed
 * with B's handle (that is what "free from any thread" means).
 *
 * Who may include it: bench/ only. Concurrency: alloc/free/realloc run on worker threads at
 * the same time, each with its own handle; setup runs once on the bench thread first.
 */
#ifndef TALC_BENCH_ARENA_H
#define TALC_BENCH_ARENA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bench.h"

#define TB_MT_MAX_THREADS 4 /* worker pool size: the largest thread count measured */

typedef struct tb_mt_allocator {
    const char *name; /* short id used in JSON and tables */
    const char *desc; /* one line for the summary's list of allocators */
    /* Once, on the bench thread, before any worker uses it. False = unavailable (skipped). */
    bool (*setup)(void);
    /* Once per worker thread `tid` (0..TB_MT_MAX_THREADS-1), on that thread: its handle. */
    void *(*thread_init)(int tid);
    /* After each trial, on each participating worker, once its blocks are freed (e.g. flush
     * a thread cache so the next trial starts alike). May be NULL. */
    void (*quiesce)(void *h);
    void *(*alloc)(void *h, size_t size, size_t align); /* align <= 16: the plain call */
    void (*free)(void *h, void *p, size_t size, size_t align);
    /* Keeps the alignment `align` (like Rust's GlobalAlloc::realloc); NULL = unchanged. */
    void *(*realloc)(void *h, void *p, size_t old_size, size_t align, size_t new_size);
} tb_mt_allocator_t;

/* Ours (adapter_arena.c, compiled twice like adapter_talc.c: the variant's copy is prefixed
 * "nc_"). Knob: stripes of the shared arena (0 = auto from the topology). */
const tb_mt_allocator_t *talc_bench_mt_shared(void);
const tb_mt_allocator_t *talc_bench_mt_per_thread(void);
const tb_mt_allocator_t *talc_bench_mt_tcache(void);
void talc_bench_mt_set_stripes(unsigned stripes);
const tb_mt_allocator_t *nc_talc_bench_mt_shared(void);
const tb_mt_allocator_t *nc_talc_bench_mt_per_thread(void);
const tb_mt_allocator_t *nc_talc_bench_mt_tcache(void);
void nc_talc_bench_mt_set_stripes(unsigned stripes);

/* Peers (adapter_peers.c). */
const tb_mt_allocator_t *tb_mt_glibc(void);
const tb_mt_allocator_t *tb_mt_mimalloc(void);
const tb_mt_allocator_t *tb_mt_jemalloc(void);        /* arena per thread, no tcache */
const tb_mt_allocator_t *tb_mt_jemalloc_tcache(void); /* arena + explicit tcache per thread */
const tb_mt_allocator_t *tb_mt_jemalloc_shared(void); /* one arena for all threads, no tcache */

/* Names the targets and ratios use. */
#define TB_MT_OURS "talc-arena"             /* every arena ratio is taken against it */
#define TB_MT_OURS_PT "talc-arena-pt"       /* ours, one arena per thread */
#define TB_MT_OURS_TC "talc-arena-tc"       /* ours, one arena, thread caches */
#define TB_MT_JE "jemalloc-arena"           /* the target's peer: explicit arena per thread */
#define TB_MT_JE_TC "jemalloc-arena-tcache" /* the same with jemalloc's thread cache */

/* Thread counts measured: threads of the thread-local workload, pairs of producer/consumer. */
#define TB_AR_THREADS                                                                              \
    {                                                                                              \
        1, 2, 4                                                                                    \
    }
#define TB_AR_NTHREADS 3
#define TB_PC_PAIRS                                                                                \
    {                                                                                              \
        1, 2                                                                                       \
    }
#define TB_PC_NPAIRS 2

/* The params JSON text of an arena record (the key report_arena.c looks records up by).
 * threads = all threads (2 per producer/consumer pair); max = the size generator's max. */
void tb_arena_params(char *out, size_t n, const tb_params_t *p, bool pc, int threads, uint64_t max);

/* Workloads (wl_arena.c) and their section of the summary (report_arena.c). */
void tb_arena_thread_local(const tb_run_t *run);
void tb_arena_producer_consumer(const tb_run_t *run);
void tb_arena_summary_allocators(tb_text_t *t, const tb_run_t *run);
void tb_arena_summary_targets(tb_text_t *t, const tb_run_t *run);
void tb_arena_summary_tables(tb_text_t *t, const tb_run_t *run);
/* Counters cost pairs: CPU-time throughput of ours with and without counters, one trial. */
void tb_note_arena_counter_pair(double with_counters, double without_counters, bool wall);

#endif /* TALC_BENCH_ARENA_H */
