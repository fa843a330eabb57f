/* wl_heap_efficiency.c — Talc's heap-efficiency benchmark (v5 benches/heap_efficiency.rs),
 * re-implemented from its description (shared/reference/talc-algorithm.md §9.5).
 *
 * One allocator instance over the 128 MiB arena; R rounds (Talc: 300). Each round repeats
 * actions uniform over 0..=9 until an allocation fails:
 *   0-4  allocate tb_gen_size(10000) with tb_gen_align(); failure ends the round;
 *   5    free a random live block (none live: nothing);
 *   6-9  realloc a random live block to uniform[1, 100000), keeping its alignment; failure
 *        ends the round (none live: nothing).
 * At the end of a round: used += Σ requested sizes of the live blocks, total += 128 MiB; then
 * everything is freed. Result = used / total in %: the average fraction of the arena that holds
 * requested bytes at the first OOM.
 *
 * For allocators with byte accounting (ours with counters) the rest of the arena at each OOM is
 * split into free_pct (bytes in free chunks: fragmentation), overhead_pct (allocated chunks
 * beyond the requested bytes: headers, rounding, unsplittable tails) and meta_pct (control
 * block, span header, fence), so used + free + overhead + meta = 100 %.
 *
 * Only arena-bounded allocators (ours) can be measured: a peer without a 128 MiB bound never
 * fails, so it has no "first OOM"; peers get an "n/a" record.
 *
 * Concurrency: runs on the bench thread only.
 */
#include <stdio.h>
#include <string.h>

#include "bench.h"
#include "tb_clock.h"
#include "tb_rng.h"

#define HE_MAX_SIZE 10000
#define HE_REALLOC_MAX 100000
#define HE_TABLE_CAP ((size_t)1 << 20)

/* One round; returns the requested bytes live at the first failure. */
static uint64_t he_round(const tb_allocator_t *a, void *inst, tb_blocks_t *b, tb_rng_t *rng)
{
    for (;;) {
        uint64_t action = tb_rng_below(rng, 10);
        if (action < 5) {
            size_t size = (size_t)tb_gen_size(rng, HE_MAX_SIZE);
            uint32_t align = tb_gen_align(rng);
            void *p = b->len < b->cap ? a->alloc(inst, size, align) : NULL;
            if (p == NULL)
                break;
            b->v[b->len++] = (tb_block_t){p, (uint32_t)size, align};
        } else if (b->len == 0) {
            continue;
        } else if (action == 5) {
            tb_block_t blk = tb_blocks_take(b, tb_rng_below(rng, b->len));
            a->free(inst, blk.ptr, blk.size, blk.align);
        } else {
            tb_block_t *blk = &b->v[tb_rng_below(rng, b->len)];
            size_t n = (size_t)tb_rng_range(rng, 1, HE_REALLOC_MAX);
            void *q = a->realloc(inst, blk->ptr, blk->size, blk->align, n);
            if (q == NULL)
                break;
            blk->ptr = q;
            blk->size = (uint32_t)n;
        }
    }
    uint64_t used = 0;
    for (size_t i = 0; i < b->len; i++)
        used += b->v[i].size;
    return used;
}

/* Sums over rounds of where the arena's bytes were at each first OOM (from a->stats). */
typedef struct he_split {
    double free, overhead, meta, free_chunks;
    bool known;
} he_split_t;

static void he_split_add(he_split_t *sp, const tb_allocator_t *a, void *inst)
{
    tb_heap_stats_t st;
    if (!a->stats || !a->stats(inst, &st))
        return;
    sp->known = true;
    sp->free += (double)st.free_bytes;
    sp->overhead += (double)(st.managed_bytes - st.free_bytes - st.live_bytes);
    sp->meta += (double)(TB_ARENA_BYTES - st.managed_bytes);
    sp->free_chunks += (double)st.free_chunks;
}

static void he_record(const tb_run_t *run, const char *alloc, const char *metric, const char *unit,
                      double value, bool na)
{
    tb_record_t r = {.higher_is_better = strcmp(metric, "used_pct") == 0, .na = na, .value = value};
    snprintf(r.workload, sizeof r.workload, "heap_efficiency");
    snprintf(r.params, sizeof r.params,
             "{\"rounds\":%d,\"arena_bytes\":%zu,\"max_size\":%d,\"realloc_max\":%d,"
             "\"seed\":%llu}",
             run->params->he_rounds, TB_ARENA_BYTES, HE_MAX_SIZE, HE_REALLOC_MAX,
             (unsigned long long)run->params->seed);
    snprintf(r.allocator, sizeof r.allocator, "%s", alloc);
    snprintf(r.metric, sizeof r.metric, "%s", metric);
    snprintf(r.unit, sizeof r.unit, "%s", unit);
    tb_record(&r);
}

/* The breakdown: used + free + overhead + meta = 100 % of the arena at the first OOM. */
static void he_record_split(const tb_run_t *run, const char *alloc, const he_split_t *sp)
{
    double total = (double)run->params->he_rounds * (double)TB_ARENA_BYTES;
    he_record(run, alloc, "free_pct", "%", 100.0 * sp->free / total, false);
    he_record(run, alloc, "overhead_pct", "%", 100.0 * sp->overhead / total, false);
    he_record(run, alloc, "meta_pct", "%", 100.0 * sp->meta / total, false);
    he_record(run, alloc, "free_chunks", "chunks", sp->free_chunks / run->params->he_rounds, false);
}

static void he_run(const tb_run_t *run, const tb_allocator_t *a, tb_blocks_t *blocks)
{
    uint64_t t0 = tb_now_ns();
    tb_rng_t rng = tb_rng_seed(run->params->seed, 3, HE_MAX_SIZE, 0);
    void *inst = a->begin(run->arena, TB_ARENA_BYTES);
    if (inst == NULL)
        return;
    double used = 0, total = 0;
    he_split_t split = {0};
    for (int round = 0; round < run->params->he_rounds; round++) {
        used += (double)he_round(a, inst, blocks, &rng);
        total += (double)TB_ARENA_BYTES;
        he_split_add(&split, a, inst);
        tb_blocks_free_all(blocks, a, inst);
    }
    a->end(inst);
    he_record(run, a->name, "used_pct", "%", 100.0 * used / total, false);
    if (split.known)
        he_record_split(run, a->name, &split);
    char more[128] = "";
    if (split.known)
        snprintf(more, sizeof more, "; at OOM free %.2f %%, chunk overhead %.2f %%",
                 100.0 * split.free / total, 100.0 * split.overhead / total);
    tb_progress("heap_efficiency %s: %.2f %% (%d rounds, %.1f s%s)", a->name, 100.0 * used / total,
                run->params->he_rounds, (double)(tb_now_ns() - t0) / 1e9, more);
}

void tb_heap_efficiency(const tb_run_t *run)
{
    tb_blocks_t blocks;
    tb_blocks_init(&blocks, HE_TABLE_CAP);
    for (int k = 0; k < run->nallocs; k++) {
        const tb_allocator_t *a = run->allocs[k];
        if (a->bounded) {
            he_run(run, a, &blocks);
        } else {
            he_record(run, a->name, "used_pct", "%", 0, true);
            tb_progress("heap_efficiency %s: n/a (not arena-bounded)", a->name);
        }
    }
    tb_unmap(blocks.v, blocks.cap * sizeof(tb_block_t));
}
