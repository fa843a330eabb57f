/* wl_microbench.c — Talc's microbench (v5 benches/microbench.rs), re-implemented from its
 * description (shared/reference/talc-algorithm.md §9.5): the cost of single calls.
 *
 * Per allocator and slice: a fresh instance; warm-up = allocate and free 8*i bytes (align 8)
 * for i = 1..9999; then for the slice's time:
 *   allocate tb_gen_size(0x8000) with tb_gen_align(), timing the call (tb_clock.h brackets:
 *   lfence+rdtsc ... rdtscp+lfence on x86_64);
 *   on failure free all but 50 blocks (untimed);
 *   when more than 50 are live and a 1-in-10 coin hits, or more than 600 are live, free 8
 *   random blocks, timing each free.
 * Talc runs one 1 s slice; we split the time into slices interleaved across allocators (rotated
 * order) and pool the per-call times into one exact histogram per allocator and call kind.
 * Reported: p1/p25/p50/p75/p99 of alloc ticks, of free ticks, and their sum per percentile
 * (Talc's "alloc+free" figure). Ticks include the bracket's own cost (reported separately as
 * timer_overhead, not subtracted — as in Talc).
 *
 * Concurrency: runs on the bench thread only.
 */
#include <stdio.h>
#include <string.h>

#include "bench.h"
#include "tb_clock.h"
#include "tb_rng.h"

#define MB_MAX_SIZE 0x8000
#define MB_KEEP 50
#define MB_MAX_LIVE 600
#define MB_FREE_BURST 8
#define MB_HIST ((size_t)1 << 20) /* exact up to 2^20 - 1 ticks, clamped above */

typedef struct mb_hist {
    uint32_t *count; /* MB_HIST buckets */
    uint64_t n;
} mb_hist_t;

static inline void mb_hist_add(mb_hist_t *h, uint64_t ticks)
{
    h->count[ticks < MB_HIST ? ticks : MB_HIST - 1]++;
    h->n++;
}

/* Smallest tick value v with at least ceil(pct% of n) samples <= v. */
static double mb_hist_pct(const mb_hist_t *h, double pct)
{
    if (h->n == 0)
        return 0;
    uint64_t need = (uint64_t)(pct / 100.0 * (double)h->n + 0.999999);
    if (need == 0)
        need = 1;
    uint64_t seen = 0;
    for (size_t v = 0; v < MB_HIST; v++)
        if ((seen += h->count[v]) >= need)
            return (double)v;
    return (double)(MB_HIST - 1);
}

static void mb_free_random(const tb_allocator_t *a, void *inst, tb_blocks_t *b, tb_rng_t *rng,
                           mb_hist_t *hf)
{
    for (int i = 0; i < MB_FREE_BURST && b->len > 0; i++) {
        tb_block_t blk = tb_blocks_take(b, tb_rng_below(rng, b->len));
        uint64_t t0 = tb_ticks_begin();
        a->free(inst, blk.ptr, blk.size, blk.align);
        mb_hist_add(hf, tb_ticks_end() - t0);
    }
}

static void mb_warm_up(const tb_allocator_t *a, void *inst)
{
    for (size_t i = 1; i < 10000; i++) {
        void *p = a->alloc(inst, 8 * i, 8);
        if (p)
            a->free(inst, p, 8 * i, 8);
    }
}

static void mb_slice(const tb_run_t *run, const tb_allocator_t *a, tb_blocks_t *b, int slice,
                     mb_hist_t *ha, mb_hist_t *hf)
{
    tb_rng_t rng = tb_rng_seed(run->params->seed, 4, MB_MAX_SIZE, (uint64_t)slice);
    void *inst = a->begin(run->arena, TB_ARENA_BYTES);
    if (inst == NULL) {
        tb_progress("microbench %s: could not start slice %d: its samples are missing", a->name,
                    slice);
        return;
    }
    mb_warm_up(a, inst);
    uint64_t dur = (uint64_t)run->params->mb_slice_ms * 1000000u, start = tb_now_ns();
    while (tb_now_ns() - start < dur) {
        size_t size = (size_t)tb_gen_size(&rng, MB_MAX_SIZE);
        uint32_t align = tb_gen_align(&rng);
        uint64_t t0 = tb_ticks_begin();
        void *p = a->alloc(inst, size, align);
        mb_hist_add(ha, tb_ticks_end() - t0);
        if (p == NULL) {
            while (b->len > MB_KEEP) {
                tb_block_t blk = tb_blocks_take(b, b->len - 1);
                a->free(inst, blk.ptr, blk.size, blk.align);
            }
            continue;
        }
        b->v[b->len++] = (tb_block_t){p, (uint32_t)size, align};
        if ((b->len > MB_KEEP && tb_rng_below(&rng, 10) == 0) || b->len > MB_MAX_LIVE)
            mb_free_random(a, inst, b, &rng, hf);
    }
    tb_blocks_free_all(b, a, inst);
    a->end(inst);
}

/* Median cost of an empty bracket, in ticks. */
static double mb_timer_overhead(void)
{
    mb_hist_t h = {tb_map(MB_HIST * sizeof(uint32_t)), 0};
    for (int i = 0; i < 100000; i++) {
        uint64_t t0 = tb_ticks_begin();
        mb_hist_add(&h, tb_ticks_end() - t0);
    }
    double v = mb_hist_pct(&h, 50);
    tb_unmap(h.count, MB_HIST * sizeof(uint32_t));
    return v;
}

static void mb_record(const tb_run_t *run, const char *alloc, const char *metric, double v,
                      const char *unit)
{
    tb_record_t r = {.higher_is_better = false, .value = v};
    snprintf(r.workload, sizeof r.workload, "microbench");
    snprintf(r.params, sizeof r.params,
             "{\"max_size\":%d,\"slices\":%d,\"slice_ms\":%d,\"arena_bytes\":%zu,"
             "\"seed\":%llu}",
             MB_MAX_SIZE, run->params->mb_slices, run->params->mb_slice_ms, TB_ARENA_BYTES,
             (unsigned long long)run->params->seed);
    snprintf(r.allocator, sizeof r.allocator, "%s", alloc);
    snprintf(r.metric, sizeof r.metric, "%s", metric);
    snprintf(r.unit, sizeof r.unit, "%s", unit);
    tb_record(&r);
}

static void mb_report(const tb_run_t *run, const tb_allocator_t *a, const mb_hist_t *ha,
                      const mb_hist_t *hf)
{
    static const double pcts[] = {1, 25, 50, 75, 99};
    char metric[40], msg[256];
    int len = snprintf(msg, sizeof msg, "microbench %s: alloc+free", a->name);
    for (size_t i = 0; i < sizeof pcts / sizeof pcts[0]; i++) {
        double pa = mb_hist_pct(ha, pcts[i]), pf = mb_hist_pct(hf, pcts[i]);
        snprintf(metric, sizeof metric, "alloc_p%g", pcts[i]);
        mb_record(run, a->name, metric, pa, TB_TICK_UNIT);
        snprintf(metric, sizeof metric, "free_p%g", pcts[i]);
        mb_record(run, a->name, metric, pf, TB_TICK_UNIT);
        snprintf(metric, sizeof metric, "sum_p%g", pcts[i]);
        mb_record(run, a->name, metric, pa + pf, TB_TICK_UNIT);
        len += snprintf(msg + len, sizeof msg - (size_t)len, " p%g=%.0f", pcts[i], pa + pf);
    }
    mb_record(run, a->name, "alloc_calls", (double)ha->n, "calls");
    mb_record(run, a->name, "free_calls", (double)hf->n, "calls");
    snprintf(msg + len, sizeof msg - (size_t)len, " %s (%llu allocs)", TB_TICK_UNIT,
             (unsigned long long)ha->n);
    tb_progress("%s", msg);
}

void tb_microbench(const tb_run_t *run)
{
    int n = run->nallocs;
    mb_hist_t ha[8], hf[8];
    for (int k = 0; k < n; k++) {
        ha[k] = (mb_hist_t){tb_map(MB_HIST * sizeof(uint32_t)), 0};
        hf[k] = (mb_hist_t){tb_map(MB_HIST * sizeof(uint32_t)), 0};
    }
    tb_blocks_t blocks;
    tb_blocks_init(&blocks, MB_MAX_LIVE + MB_FREE_BURST + 2);
    for (int s = 0; s < run->params->mb_slices; s++)
        for (int j = 0; j < n; j++) {
            int k = (j + s) % n;
            mb_slice(run, run->allocs[k], &blocks, s, &ha[k], &hf[k]);
        }
    for (int k = 0; k < n; k++) {
        mb_report(run, run->allocs[k], &ha[k], &hf[k]);
        tb_unmap(ha[k].count, MB_HIST * sizeof(uint32_t));
        tb_unmap(hf[k].count, MB_HIST * sizeof(uint32_t));
    }
    mb_record(run, "timer", "timer_overhead", mb_timer_overhead(), TB_TICK_UNIT);
    tb_unmap(blocks.v, blocks.cap * sizeof(tb_block_t));
}
