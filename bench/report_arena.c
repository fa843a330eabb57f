/* report_arena.c — the arena workloads' part of summary.md: allocators, targets, tables.
 *
 * Targets (issue 3, "Benchmarks and targets"), each PASS or MISS from this run's records:
 *   scaling       talc-arena, thread-local: 2 threads ÷ 1 thread of throughput >= 1.80 (the
 *                 machine has 2 cores), the median of per-trial ratios (trial t at 1 and at 2
 *                 threads ran in the same interleaved round); for each max size, the verdict
 *                 takes the smallest. Throughput is wall time less each thread's run-queue
 *                 delay (wl_arena.c): the raw wall ratio, printed beside it, is halved whenever
 *                 another process keeps one of the 2 cores busy. talc-arena-pt likewise.
 *   vs jemalloc   ours ÷ jemalloc-arena (explicit arena per thread, no tcache) > 1.00 at every
 *                 thread count (thread-local: 1, 2, 4 threads; producer/consumer: 1, 2 pairs),
 *                 paired medians; thread-local: of wall time less run-queue delay where it is
 *                 recorded (threads <= CPUs), of raw wall time at 4 threads, with the raw
 *                 wall and ops-per-CPU-second ratios printed beside them; producer/consumer:
 *                 of wall time. Once for our shared arena and once for our arena per thread.
 *   counters      median over every interleaved trial pair (thread-local: both of our arena
 *                 modes, every thread count and max size) of the CPU-time throughput ratio
 *                 TALC_COUNTERS=0 ÷ counters on, minus 1, <= 3 %. CPU time, because this is a
 *                 per-operation cost and CPU time is what the noise of a shared machine does not
 *                 move; the same median over wall time (both workloads) is printed beside it.
 *
 * Concurrency: single-threaded (main, after the workloads).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "bench_arena.h"

#define AR_MAX_PAIRS 2048

static double cpu_pairs[AR_MAX_PAIRS], wall_pairs[AR_MAX_PAIRS];
static int ncpu_pairs, nwall_pairs;

void tb_note_arena_counter_pair(double with_counters, double without_counters, bool wall)
{
    if (!(with_counters > 0) || !(without_counters > 0))
        return;
    if (wall && nwall_pairs < AR_MAX_PAIRS)
        wall_pairs[nwall_pairs++] = without_counters / with_counters;
    else if (!wall && ncpu_pairs < AR_MAX_PAIRS)
        cpu_pairs[ncpu_pairs++] = without_counters / with_counters;
}

static const char *const wl_tl = "arena_thread_local";
static const char *const wl_pc = "arena_producer_consumer";

/* The record of `alloc` on one arena workload at `threads` threads, or NULL. */
static const tb_record_t *ar_rec(const tb_run_t *run, bool pc, int threads, int max,
                                 const char *alloc, const char *metric)
{
    char params[320];
    tb_arena_params(params, sizeof params, run->params, pc, threads, (uint64_t)max);
    return tb_find(pc ? wl_pc : wl_tl, params, alloc, metric);
}

static bool ar_any(void)
{
    return tb_find(wl_tl, NULL, TB_MT_OURS, "ops_per_s") ||
           tb_find(wl_pc, NULL, TB_MT_OURS, "blocks_per_s");
}

void tb_arena_summary_allocators(tb_text_t *t, const tb_run_t *run)
{
    if (!ar_any())
        return;
    tb_put(t, "Arena workloads (several threads at once):\n\n");
    for (int k = 0; k < run->mt_nallocs; k++)
        tb_put(t, "- `%s`: %s\n", run->mt_allocs[k]->name, run->mt_allocs[k]->desc);
    tb_put(t, "\n");
}

/* ---- Targets ---------------------------------------------------------------------------------*/

/* Smallest paired ratio x ÷ y of `metric` over the thread counts (and max sizes) of one
 * workload; the per-count ratios go into `detail`. NaN if any is missing. With `fallback`, a
 * count where `metric` is not recorded (wall less run-queue delay exists only for threads <=
 * CPUs) uses `fallback` instead, marked "(w)". */
static double ar_min_vs(const tb_run_t *run, bool pc, const char *x, const char *y,
                        const char *metric, const char *fallback, char *detail, size_t dn)
{
    static const int threads[] = TB_AR_THREADS, pairs[] = TB_PC_PAIRS;
    int ncounts = pc ? TB_PC_NPAIRS : TB_AR_NTHREADS, nmax = pc ? 1 : run->params->ar_nmax;
    double min = (double)INFINITY;
    size_t len = 0;
    detail[0] = 0;
    for (int m = 0; m < nmax; m++) {
        int max = pc ? run->params->pc_max : run->params->ar_max[m];
        for (int c = 0; c < ncounts; c++) {
            int n = pc ? 2 * pairs[c] : threads[c];
            double r = tb_paired_ratio(ar_rec(run, pc, n, max, x, metric),
                                       ar_rec(run, pc, n, max, y, metric));
            bool fell_back = isnan(r) && fallback;
            if (fell_back)
                r = tb_paired_ratio(ar_rec(run, pc, n, max, x, fallback),
                                    ar_rec(run, pc, n, max, y, fallback));
            if (isnan(r)) {
                snprintf(detail, dn, "— (a figure is missing)");
                return (double)NAN;
            }
            min = r < min ? r : min;
            if (len < dn)
                len += (size_t)snprintf(detail + len, dn - len, "%s%.2f%s", len ? " / " : "", r,
                                        fell_back ? " (w)" : "");
        }
    }
    return min;
}

/* Smallest paired n-thread ÷ 1-thread ratio of `metric` of `alloc` over the max sizes. */
static double ar_scaling(const tb_run_t *run, const char *alloc, int threads, const char *metric,
                         char *detail, size_t dn)
{
    double min = (double)INFINITY;
    size_t len = 0;
    detail[0] = 0;
    for (int m = 0; m < run->params->ar_nmax; m++) {
        int max = run->params->ar_max[m];
        double r = tb_paired_ratio(ar_rec(run, false, threads, max, alloc, metric),
                                   ar_rec(run, false, 1, max, alloc, metric));
        if (isnan(r))
            return (double)NAN;
        min = r < min ? r : min;
        if (len < dn)
            len += (size_t)snprintf(detail + len, dn - len, "%s%.2f (max %d)", len ? ", " : "", r,
                                    max);
    }
    return min;
}

static void ar_target_scaling(tb_text_t *t, const tb_run_t *run, const char *alloc,
                              const char *what)
{
    char d[160], w[160];
    double r = ar_scaling(run, alloc, 2, "ops_per_s_adj", d, sizeof d);
    double raw = ar_scaling(run, alloc, 2, "ops_per_s", w, sizeof w);
    if (isnan(r) && isnan(raw))
        return;
    tb_put(t,
           "| %s: thread-local, 2 threads ÷ 1 thread, wall time less run-queue delay (raw "
           "wall: %s) | %s | >= 1.80x | %s |\n",
           what, isnan(raw) ? "—" : w, isnan(r) ? "—" : d,
           tb_verdict(!isnan(r), tb_shown(r, 2) >= 1.8));
}

static void ar_target_vs(tb_text_t *t, const tb_run_t *run, bool pc, const char *ours,
                         const char *peer)
{
    char d[160], w[160], c[160];
    if (pc) { /* wall time only (wl_arena.c says why) */
        double r = ar_min_vs(run, pc, ours, peer, "blocks_per_s", NULL, d, sizeof d);
        tb_put(t,
               "| %s ÷ %s, producer/consumer, at 1 / 2 pairs (wall) | %s | > 1.00 at each "
               "| %s |\n",
               ours, peer, d, tb_verdict(!isnan(r), tb_shown(r, 2) > 1.0));
        return;
    }
    double r = ar_min_vs(run, pc, ours, peer, "ops_per_s_adj", "ops_per_s", d, sizeof d);
    if (isnan(r)) { /* a row that disappeared would hide the target: say n/a instead */
        tb_put(t, "| %s ÷ %s, thread-local | %s | > 1.00 at each | %s |\n", ours, peer, d,
               tb_verdict(false, false));
        return;
    }
    (void)ar_min_vs(run, pc, ours, peer, "ops_per_s", NULL, w, sizeof w);
    (void)ar_min_vs(run, pc, ours, peer, "ops_per_cpu_s", NULL, c, sizeof c);
    tb_put(t,
           "| %s ÷ %s, thread-local, at %s: wall less run-queue delay, (w) = raw wall where "
           "threads > CPUs (raw wall %s; ops per CPU-s %s) | %s | > 1.00 at each | %s |\n",
           ours, peer,
           run->params->ar_nmax > 1 ? "1 / 2 / 4 threads per max size" : "1 / 2 / 4 threads", w, c,
           d, tb_verdict(true, tb_shown(r, 2) > 1.0));
}

void tb_arena_summary_targets(tb_text_t *t, const tb_run_t *run)
{
    if (!ar_any())
        return;
    tb_put(t, "## Arena targets\n\n| target | measured | goal | result |\n|---|---|---|---|\n");
    ar_target_scaling(t, run, TB_MT_OURS, "talc-arena (one arena, auto stripes)");
    ar_target_scaling(t, run, TB_MT_OURS_PT, "talc-arena-pt (arena per thread)");
    ar_target_scaling(t, run, TB_MT_OURS_TC, "talc-arena-tc (one arena, thread caches)");
    for (int pc = 0; pc < 2; pc++) {
        ar_target_vs(t, run, pc, TB_MT_OURS, TB_MT_JE);
        ar_target_vs(t, run, pc, TB_MT_OURS_PT, TB_MT_JE);
        ar_target_vs(t, run, pc, TB_MT_OURS_TC, TB_MT_JE);
        ar_target_vs(t, run, pc, TB_MT_OURS_TC, TB_MT_JE_TC); /* like for like */
    }
    if (ncpu_pairs > 0) {
        char a[32], b[32];
        double cost = 100.0 * (tb_median(cpu_pairs, ncpu_pairs) - 1.0);
        double wall =
            nwall_pairs ? 100.0 * (tb_median(wall_pairs, nwall_pairs) - 1.0) : (double)NAN;
        tb_put(t,
               "| arena counters cost: median over %d interleaved trial pairs of "
               "nocounters÷counters − 1, ops per CPU-second, thread-local (wall time, both "
               "workloads, %d pairs: %s) | %s%s | <= 3 %% | %s |\n",
               ncpu_pairs, nwall_pairs, tb_num(b, sizeof b, 1, wall, " %"), cost >= 0 ? "+" : "",
               tb_num(a, sizeof a, 1, cost, " %"), tb_verdict(true, tb_shown(cost, 1) <= 3.0));
    }
    tb_put(t, "\n");
}

/* ---- Tables ----------------------------------------------------------------------------------*/

static void ar_fmt_rate(char *out, size_t n, double v)
{
    if (isnan(v))
        snprintf(out, n, "—");
    else
        snprintf(out, n, "%.2fM", v / 1e6);
}

/* "12.34M (1.05)": value and paired ratio to ours (no ratio on our own row). */
static void ar_cell(tb_text_t *t, const tb_record_t *r, const tb_record_t *ours)
{
    char v[32];
    ar_fmt_rate(v, sizeof v, r && !r->na ? r->value : (double)NAN);
    if (!r || r->na || r == ours)
        tb_put(t, " %s |", v);
    else
        tb_put(t, " %s (%.2f) |", v, tb_paired_ratio(r, ours));
}

static void ar_table_tl(tb_text_t *t, const tb_run_t *run, int max)
{
    static const int threads[] = TB_AR_THREADS;
    const tb_params_t *p = run->params;
    tb_put(t,
           "## Arena: thread-local random actions, max size %d, with realloc (M ops per second "
           "of wall time, all threads; mean of %d trials of %d ms; (x) = ÷ %s, median of "
           "per-trial ratios)\n\n| allocator | 1 thread | 2 threads | 4 threads | 2T÷1T | "
           "4T÷1T | less run-queue delay: 1 thread | 2 threads | 2T÷1T | M ops per CPU-s, "
           "1 / 2 / 4 threads | CPU share, 1 / 2 / 4 |\n"
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
           max, p->ar_trials, p->ar_trial_ms, TB_MT_OURS);
    for (int k = 0; k < run->mt_nallocs; k++) {
        const char *a = run->mt_allocs[k]->name;
        if (!ar_rec(run, false, 1, max, a, "ops_per_s"))
            continue;
        tb_put(t, "| %s |", a);
        for (int c = 0; c < TB_AR_NTHREADS; c++)
            ar_cell(t, ar_rec(run, false, threads[c], max, a, "ops_per_s"),
                    ar_rec(run, false, threads[c], max, TB_MT_OURS, "ops_per_s"));
        for (int c = 1; c <= TB_AR_NTHREADS; c++) {
            const char *metric = c < TB_AR_NTHREADS ? "ops_per_s" : "ops_per_s_adj";
            int n = c < TB_AR_NTHREADS ? threads[c] : 2;
            char s[16];
            if (c == TB_AR_NTHREADS)
                for (int m1 = 1; m1 <= 2; m1++)
                    ar_cell(t, ar_rec(run, false, m1, max, a, "ops_per_s_adj"),
                            ar_rec(run, false, m1, max, TB_MT_OURS, "ops_per_s_adj"));
            tb_put(t, " %s |",
                   tb_num(s, sizeof s, 2,
                          tb_paired_ratio(ar_rec(run, false, n, max, a, metric),
                                          ar_rec(run, false, 1, max, a, metric)),
                          "x"));
        }
        for (int metric = 0; metric < 2; metric++) {
            tb_put(t, " ");
            for (int c = 0; c < TB_AR_NTHREADS; c++) {
                const tb_record_t *r =
                    ar_rec(run, false, threads[c], max, a, metric ? "cpu_share" : "ops_per_cpu_s");
                double v = r && !r->na ? r->value : (double)NAN;
                char s[16];
                if (metric)
                    tb_num(s, sizeof s, 2, v, "");
                else
                    ar_fmt_rate(s, sizeof s, v);
                tb_put(t, "%s%s", c ? " / " : "", s);
            }
            tb_put(t, " |");
        }
        tb_put(t, "\n");
    }
    tb_put(t, "\n");
}

static void ar_table_pc(tb_text_t *t, const tb_run_t *run)
{
    static const int pairs[] = TB_PC_PAIRS;
    const tb_params_t *p = run->params;
    tb_put(t,
           "## Arena: producer/consumer, sizes up to %d (M blocks allocated by producers and "
           "freed by consumers per second of wall time; mean of %d trials of %d ms; (x) = "
           "÷ %s, median of per-trial ratios)\n\n| allocator | 1 pair | 2 pairs | 2P÷1P |\n"
           "|---|---:|---:|---:|\n",
           p->pc_max, p->ar_trials, p->ar_trial_ms, TB_MT_OURS);
    for (int k = 0; k < run->mt_nallocs; k++) {
        const char *a = run->mt_allocs[k]->name;
        if (!ar_rec(run, true, 2, p->pc_max, a, "blocks_per_s"))
            continue;
        tb_put(t, "| %s |", a);
        for (int c = 0; c < TB_PC_NPAIRS; c++)
            ar_cell(t, ar_rec(run, true, 2 * pairs[c], p->pc_max, a, "blocks_per_s"),
                    ar_rec(run, true, 2 * pairs[c], p->pc_max, TB_MT_OURS, "blocks_per_s"));
        char s[16];
        tb_put(t, " %s |\n",
               tb_num(s, sizeof s, 2,
                      tb_paired_ratio(ar_rec(run, true, 4, p->pc_max, a, "blocks_per_s"),
                                      ar_rec(run, true, 2, p->pc_max, a, "blocks_per_s")),
                      "x"));
    }
    tb_put(t, "\n");
}

void tb_arena_summary_tables(tb_text_t *t, const tb_run_t *run)
{
    if (!ar_any())
        return;
    for (int m = 0; m < run->params->ar_nmax; m++)
        if (ar_rec(run, false, 1, run->params->ar_max[m], TB_MT_OURS, "ops_per_s"))
            ar_table_tl(t, run, run->params->ar_max[m]);
    if (ar_rec(run, true, 2, run->params->pc_max, TB_MT_OURS, "blocks_per_s"))
        ar_table_pc(t, run);
    tb_put(t, "Wall time is the score: it is what a daemon's threads get done, and a thread asleep "
              "on a contended lock costs wall time but no CPU time. Ops per CPU-second is the "
              "per-operation cost (it ignores lock sleeps, and on this shared machine it does "
              "not move when another process takes a core); CPU share = Σ thread CPU ÷ (wall × "
              "min(threads, CPUs)), so a share well below 1 means the threads were preempted or "
              "slept on locks. \"Less run-queue delay\" takes out of each thread's window the "
              "time it was runnable but waited for a CPU (/proc/self/task/<tid>/schedstat), i.e. "
              "the time other processes held the core; lock sleeps stay in. On a quiet machine "
              "it equals the wall figure; on this shared one, a process busy on one of the 2 "
              "cores halves every raw 2-thread figure, so the thread-local targets use it where it "
              "exists (the raw ratios are printed beside it). With 4 threads on 2 CPUs the wall "
              "figure cannot "
              "exceed the 2-thread one by much. Producer/consumer threads spin-wait on their "
              "ring, so only wall time is reported there.\n\n");
}
