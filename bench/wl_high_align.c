/* wl_high_align.c — the high-alignment guard (Talc's high_alignment_test, the regression test
 * for its issue #44; shared/reference/talc-algorithm.md §9.4 and §11 item 13).
 *
 * On a fresh instance over a 256 MiB arena: allocate 16384 blocks of (4096 B, align 1) and free
 * them (the "low" phase), then 16384 of (1 B, align 4096) and free them (the "high" phase).
 * Each phase is timed with the monotonic clock; ratio = high / low. Repeated, allocators
 * interleaved with rotating order; the reported figures are medians over repetitions.
 * Target for ours: ratio <= 5 (Talc: typically 1.1-2x).
 *
 * Concurrency: runs on the bench thread only.
 */
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"
#include "tb_clock.h"

#define HA_COUNT 16384
#define HA_MAX_REPS 64

/* Allocate HA_COUNT x (size, align) then free them all; ns taken, failures in *fails. */
static uint64_t ha_phase(const tb_allocator_t *a, void *inst, void **ptrs, size_t size,
                         size_t align, int *fails)
{
    uint64_t t0 = tb_now_ns();
    for (int i = 0; i < HA_COUNT; i++) {
        ptrs[i] = a->alloc(inst, size, align);
        *fails += ptrs[i] == NULL;
    }
    for (int i = 0; i < HA_COUNT; i++)
        if (ptrs[i])
            a->free(inst, ptrs[i], size, align);
    return tb_now_ns() - t0;
}

static int ha_cmp(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

static double ha_median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, ha_cmp);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* failed: an instance could not be made, or an allocation failed (a phase with fewer
 * allocations is faster): no figure (n/a), not a median over incomparable runs. */
static void ha_record(const char *alloc, const char *metric, const char *unit, double *samples,
                      int n, bool failed)
{
    tb_record_t r = {.higher_is_better = false, .nsamples = n, .na = failed};
    for (int i = 0; i < n; i++)
        r.samples[i] = samples[i];
    r.value = ha_median(samples, n);
    snprintf(r.workload, sizeof r.workload, "high_alignment");
    snprintf(r.params, sizeof r.params,
             "{\"count\":%d,\"low\":\"4096 B align 1\",\"high\":\"1 B align 4096\","
             "\"arena_bytes\":%zu,\"reps\":%d}",
             HA_COUNT, TB_BIG_ARENA_BYTES, n);
    snprintf(r.allocator, sizeof r.allocator, "%s", alloc);
    snprintf(r.metric, sizeof r.metric, "%s", metric);
    snprintf(r.unit, sizeof r.unit, "%s", unit);
    tb_record(&r);
}

void tb_high_alignment(const tb_run_t *run)
{
    int n = run->nallocs, reps = run->params->ha_reps;
    if (reps > HA_MAX_REPS)
        reps = HA_MAX_REPS;
    void **ptrs = tb_map(HA_COUNT * sizeof(void *));
    static double low[8][HA_MAX_REPS], high[8][HA_MAX_REPS], ratio[8][HA_MAX_REPS];
    int fails[8] = {0};
    for (int r = 0; r < reps; r++)
        for (int j = 0; j < n; j++) {
            int k = (j + r) % n;
            const tb_allocator_t *a = run->allocs[k];
            void *inst = a->begin(run->arena, TB_BIG_ARENA_BYTES);
            if (inst == NULL) {
                fails[k]++;
                continue;
            }
            low[k][r] = (double)ha_phase(a, inst, ptrs, 4096, 1, &fails[k]) / 1e6;
            high[k][r] = (double)ha_phase(a, inst, ptrs, 1, 4096, &fails[k]) / 1e6;
            ratio[k][r] = high[k][r] / low[k][r];
            a->end(inst);
        }
    for (int k = 0; k < n; k++) {
        const char *name = run->allocs[k]->name;
        ha_record(name, "low_ms", "ms", low[k], reps, fails[k] != 0);
        ha_record(name, "high_ms", "ms", high[k], reps, fails[k] != 0);
        ha_record(name, "ratio", "x", ratio[k], reps, fails[k] != 0);
        tb_progress("high_alignment %s: low %.2f ms, high %.2f ms, ratio %.2fx%s", name,
                    ha_median(low[k], reps), ha_median(high[k], reps), ha_median(ratio[k], reps),
                    fails[k] ? " (FAILURES: no figure)" : "");
    }
    tb_unmap(ptrs, HA_COUNT * sizeof(void *));
}
