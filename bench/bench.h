/* bench.h — shared declarations of the heap-engine benchmark harness (talc_bench).
 *
 * What lives here: the allocator adapter interface every compared allocator implements
 * (tb_allocator_t), the run parameters (tb_params_t, filled from a preset), the block table the
 * workloads keep their live blocks in, and the result recorder (report.c).
 *
 * Who may include it: the files of bench/ only. Nothing here is installed or used by the
 * library. Concurrency: the harness runs every heap workload on one dedicated bench thread (see
 * main.c); nothing here is thread-safe and nothing needs to be. The arena workloads
 * (bench_arena.h) run worker threads, each with its own tb_ra_ctx_t and block table; records
 * are written by the bench thread only.
 */
#ifndef TALC_BENCH_H
#define TALC_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tb_rng.h"

/* ---- Allocator adapters ------------------------------------------------------------------- */

/* Byte accounting of an arena-bounded allocator (from talc_heap_counters). */
typedef struct tb_heap_stats {
    size_t managed_bytes; /* bytes under management (arena minus control block and fences) */
    size_t free_bytes;    /* bytes in free chunks */
    size_t free_chunks;
    size_t live_bytes; /* requested bytes of live blocks */
} tb_heap_stats_t;

/* One allocator under test. Every call of the workloads goes through these pointers, for every
 * allocator alike, so the adapter overhead (one indirect call) is the same for all of them.
 *
 *   setup   once per process, on the bench thread; returns false if the allocator is not
 *           available here (a peer library missing): it is then skipped and reported absent.
 *   begin   a fresh instance for one trial. `arena`/`arena_size` is the pre-touched buffer for
 *           arena-bounded allocators (ours); peers ignore it. Returns NULL on failure.
 *   end     after the workload has freed every live block.
 *   alloc   size > 0, align a power of two (<= 16 means "the default alignment").
 *   free    the size and alignment the block was allocated with (sized-free peers use them).
 *   realloc keeps the block's alignment `align`, like Rust's GlobalAlloc::realloc that Talc's
 *           benchmarks call; returns NULL (block unchanged) on failure.
 */
typedef struct tb_allocator {
    const char *name; /* short id used in JSON and tables */
    const char *desc; /* one line for the README-style header of the summary */
    bool bounded;     /* allocates only inside `arena` (heap efficiency is meaningful) */
    bool (*setup)(void);
    void *(*begin)(void *arena, size_t arena_size);
    void (*end)(void *inst);
    void *(*alloc)(void *inst, size_t size, size_t align);
    void (*free)(void *inst, void *ptr, size_t size, size_t align);
    void *(*realloc)(void *inst, void *ptr, size_t old_size, size_t align, size_t new_size);
    /* Optional (NULL for peers): where the arena's bytes are, for the heap-efficiency
     * breakdown. Returns false if the allocator keeps no such numbers (counters off). */
    bool (*stats)(void *inst, struct tb_heap_stats *out);
} tb_allocator_t;

/* Adapters. Ours come from adapter_talc.c, built twice: the TALC_COUNTERS=0 copy has every
 * global symbol prefixed with "nc_" (see CMakeLists.txt), hence the second pair of names. */
const tb_allocator_t *talc_bench_adapter_plain(void);
const tb_allocator_t *talc_bench_adapter_locked(void);
const tb_allocator_t *talc_bench_adapter_inplace(void);
const tb_allocator_t *nc_talc_bench_adapter_plain(void);
const tb_allocator_t *tb_adapter_glibc(void);
const tb_allocator_t *tb_adapter_mimalloc(void);
const tb_allocator_t *tb_adapter_jemalloc(void);
const tb_allocator_t *tb_adapter_null(void); /* harness floor, opt-in */

/* The allocator every ratio is taken against ("ours"): the plain talc_heap_* adapter. */
#define TB_OURS "talc"

/* ---- Parameters ---------------------------------------------------------------------------- */

typedef struct tb_params {
    const char *preset;
    uint64_t seed;
    /* random actions (Talc random_actions.rs) */
    int ra_trials, ra_trial_ms, ra_warmup_ms;
    /* heap efficiency (Talc heap_efficiency.rs) */
    int he_rounds;
    /* microbench (Talc microbench.rs): total time split into interleaved slices */
    int mb_slices, mb_slice_ms;
    /* high-alignment guard (Talc's high_alignment_test, our 5x target) */
    int ha_reps;
    /* arena workloads (bench_arena.h): trials per thread count, ms per trial, warm-up ms,
     * the thread-local workload's max sizes, the producer/consumer max size, and the stripes
     * of our shared arena (0 = auto, the default; an experiment knob) */
    int ar_trials, ar_trial_ms, ar_warmup_ms;
    int ar_max[4], ar_nmax;
    int pc_max;
    int ar_stripes;
    int ar_max_threads; /* experiment knob: skip thread counts above it (0 = none skipped) */
} tb_params_t;

#define TB_ARENA_BYTES ((size_t)1 << 27)     /* 128 MiB, as Talc's benches */
#define TB_BIG_ARENA_BYTES ((size_t)1 << 28) /* 256 MiB, the high-alignment guard */

/* ---- The run ------------------------------------------------------------------------------ */

struct tb_mt_allocator;

typedef struct tb_run {
    const tb_params_t *params;
    const tb_allocator_t *allocs[8];
    int nallocs;
    const struct tb_mt_allocator *mt_allocs[12]; /* the arena workloads' allocators */
    int mt_nallocs;
    unsigned char *arena;  /* TB_BIG_ARENA_BYTES, 64-aligned, touched every 1 KiB */
    const char *workloads; /* comma list filter, NULL = all */
} tb_run_t;

/* Progress line on stderr: "[bench] <what>". */
void tb_progress(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Workloads (wl_*.c). Each records its results through tb_record(). */
void tb_random_actions(const tb_run_t *run, bool with_realloc);
void tb_heap_efficiency(const tb_run_t *run);
void tb_microbench(const tb_run_t *run);
void tb_high_alignment(const tb_run_t *run);

/* ---- Live-block table --------------------------------------------------------------------- */

typedef struct tb_block {
    void *ptr;
    uint32_t size;
    uint32_t align;
} tb_block_t;

typedef struct tb_blocks {
    tb_block_t *v;
    size_t len, cap;
} tb_blocks_t;

/* Allocated once with mmap, outside every allocator under test (so glibc's arena only ever
 * holds blocks of the workload). */
void tb_blocks_init(tb_blocks_t *b, size_t cap);
/* Free every live block through `a` and empty the table. */
void tb_blocks_free_all(tb_blocks_t *b, const tb_allocator_t *a, void *inst);

/* Swap-remove entry i and return it. */
static inline tb_block_t tb_blocks_take(tb_blocks_t *b, size_t i)
{
    tb_block_t out = b->v[i];
    b->v[i] = b->v[--b->len];
    return out;
}

/* ---- Random actions (wl_random_actions.c), shared with the arena workloads ----------------- */

#define TB_RA_BATCH 100    /* actions between two reads of the clock (or the stop flag) */
#define TB_RA_MIN_LIVE 300 /* below this many live blocks, always allocate */

/* One thread's random-actions state. `a` may be any table with tb_allocator_t's alloc, free
 * and realloc (the arena workloads wrap their multi-threaded adapters in one). */
typedef struct tb_ra_ctx {
    const tb_allocator_t *a;
    void *inst;
    tb_blocks_t *blocks;
    tb_rng_t rng;
    uint64_t max;
    uint64_t nactions; /* 7 with realloc, 6 without */
} tb_ra_ctx_t;

/* One batch of TB_RA_BATCH actions (Talc's mix); returns the successful operations. */
uint64_t tb_ra_batch(tb_ra_ctx_t *c);

/* mmap'd zeroed memory for harness tables; aborts on failure. */
void *tb_map(size_t bytes);
void tb_unmap(void *p, size_t bytes);

/* ---- Results (report.c) ------------------------------------------------------------------- */

/* One measured number: workload x allocator x metric. `params` is a JSON object text (the
 * workload's parameters). `samples` (may be NULL/0) are the per-trial values behind `value`. */
typedef struct tb_record {
    char workload[48];
    char params[320];
    char allocator[32];
    char metric[40];
    double value;
    char unit[24];
    bool higher_is_better;
    bool na; /* the metric does not apply to this allocator ("n/a" in the tables) */
    double samples[64];
    int nsamples;
    /* Random actions: the bench thread's minor page faults per timed run, mean over the trials
     * (getrusage); has_minflt is false for the records that do not measure them. */
    double minflt;
    bool has_minflt;
} tb_record_t;

void tb_record(const tb_record_t *r);
/* The value recorded for (workload, params, allocator, metric), or NaN. */
double tb_lookup(const char *workload, const char *params, const char *allocator,
                 const char *metric);
/* Write <dir>/<workload file>.json and <dir>/summary.md, print the summary to stdout. */
int tb_report_write(const char *dir, const tb_run_t *run, const char *commit);

/* Counters-cost pairs (random actions): per trial, ours with and without counters. */
void tb_note_counter_pair(double with_counters, double without_counters);

/* The record for (workload, params (NULL = any), allocator, metric), or NULL. */
const tb_record_t *tb_find(const char *workload, const char *params, const char *allocator,
                           const char *metric);
/* x ÷ y: median of per-sample ratios when both have the same number of samples (trial t of
 * each ran in the same interleaved round), else the ratio of the values; NaN if n/a. */
double tb_paired_ratio(const tb_record_t *x, const tb_record_t *y);
/* Median of v[0..n), n > 0 (sorts v). */
double tb_median(double *v, int n);

/* Summary text (report.c): a growing buffer and printf into it. */
typedef struct tb_text {
    char *s;
    size_t len, cap;
} tb_text_t;
void tb_put(tb_text_t *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "PASS", "MISS", or "n/a" when not known. */
const char *tb_verdict(bool known, bool pass);
/* `v` with `prec` decimals and `suffix` into `out`, or an em dash when NaN/inf. */
const char *tb_num(char *out, size_t n, int prec, double v, const char *suffix);
/* `v` as it is printed with `prec` decimals (NaN and inf unchanged). A verdict is taken on
 * the figure the table shows: 1.004, printed 1.00, does not pass "> 1.00". */
double tb_shown(double v, int prec);

#endif /* TALC_BENCH_H */
