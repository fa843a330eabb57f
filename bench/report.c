/* report.c — result records, the JSON files and the Markdown summary with the targets.
 *
 * Workloads hand every measured number to tb_record(). At the end tb_report_write() writes
 *   <dir>/random_actions.json   (both random-actions variants)
 *   <dir>/heap_efficiency.json, <dir>/microbench.json, <dir>/high_alignment.json
 * each a JSON array of records {workload, params, allocator, metric, value, unit,
 * ratio_to_talc, samples, minflt_per_trial, commit, machine{arch,cpu,nproc}, date}, where
 * ratio_to_talc = value / (ours' value for the same workload, params and metric) — so for ops
 * it is "how much of our throughput", for ticks "how many times our latency" — and null where
 * n/a; minflt_per_trial = the bench thread's minor page faults per timed trial (random
 * actions; null elsewhere).
 * It then writes <dir>/summary.md (the targets with PASS/MISS computed from the records, then
 * one table per workload) and prints it to stdout.
 *
 * Concurrency: single-threaded (the bench thread, then main).
 */
#define _GNU_SOURCE
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "bench_arena.h"
#include "tb_clock.h"

#define TB_NAN ((double)NAN)
#define TB_MAX_RECORDS 1024
#define TB_MAX_PAIRS 4096

static tb_record_t records[TB_MAX_RECORDS];
static int nrecords;
static double pair_ratio[TB_MAX_PAIRS]; /* without / with counters, per trial */
static int npairs;

void tb_record(const tb_record_t *r)
{
    if (nrecords == TB_MAX_RECORDS) { /* a figure silently missing would be a false report */
        fprintf(stderr, "talc_bench: more than %d records: raise TB_MAX_RECORDS\n", TB_MAX_RECORDS);
        exit(1);
    }
    records[nrecords++] = *r;
}

void tb_note_counter_pair(double with_counters, double without_counters)
{
    if (npairs < TB_MAX_PAIRS && with_counters > 0 && without_counters > 0)
        pair_ratio[npairs++] = without_counters / with_counters;
}

const tb_record_t *tb_find(const char *wl, const char *params, const char *alloc,
                           const char *metric)
{
    for (int i = 0; i < nrecords; i++) {
        const tb_record_t *r = &records[i];
        if (strcmp(r->workload, wl) == 0 && strcmp(r->allocator, alloc) == 0 &&
            strcmp(r->metric, metric) == 0 && (!params || strcmp(r->params, params) == 0))
            return r;
    }
    return NULL;
}

double tb_lookup(const char *wl, const char *params, const char *alloc, const char *metric)
{
    const tb_record_t *r = tb_find(wl, params, alloc, metric);
    return r && !r->na ? r->value : TB_NAN;
}

static int tb_cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

double tb_median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, tb_cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Paired: trial t of x ran in the same interleaved round as trial t of y, so machine noise
 * largely cancels. */
double tb_paired_ratio(const tb_record_t *x, const tb_record_t *y)
{
    if (!x || !y || x->na || y->na)
        return TB_NAN;
    if (x->nsamples == 0 || x->nsamples != y->nsamples)
        return x->value / y->value;
    double r[64];
    for (int i = 0; i < x->nsamples; i++)
        r[i] = x->samples[i] / y->samples[i];
    return tb_median(r, x->nsamples);
}

/* Ours: "talc" for the heap workloads, "talc-arena" for the arena ones. */
static double tb_ratio_to_ours(const tb_record_t *r)
{
    const char *ours = strncmp(r->workload, "arena_", 6) == 0 ? TB_MT_OURS : TB_OURS;
    return tb_paired_ratio(r, tb_find(r->workload, r->params, ours, r->metric));
}

/* ---- Machine, date ------------------------------------------------------------------------ */

typedef struct tb_machine {
    char arch[80], cpu[128], date[32];
    long nproc;
} tb_machine_t;

static void tb_cpu_model(char *out, size_t n)
{
    snprintf(out, n, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f)
        return;
    char line[256];
    while (fgets(line, sizeof line, f)) {
        char *colon = strchr(line, ':');
        if (!colon || (strncmp(line, "model name", 10) && strncmp(line, "Model", 5)))
            continue;
        colon += 1 + (colon[1] == ' ');
        colon[strcspn(colon, "\n")] = 0;
        snprintf(out, n, "%s", colon);
        break;
    }
    fclose(f);
}

static void tb_machine(tb_machine_t *m)
{
    struct utsname u;
    snprintf(m->arch, sizeof m->arch, "%s", uname(&u) == 0 ? u.machine : "unknown");
    tb_cpu_model(m->cpu, sizeof m->cpu);
    m->nproc = sysconf(_SC_NPROCESSORS_ONLN);
    time_t now = time(NULL);
    strftime(m->date, sizeof m->date, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
}

/* ---- JSON ----------------------------------------------------------------------------------- */

static void tb_json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fputc('\\', f);
        if ((unsigned char)*s >= 0x20)
            fputc(*s, f);
    }
    fputc('"', f);
}

static void tb_json_number(FILE *f, double v)
{
    if (isnan(v) || isinf(v))
        fputs("null", f);
    else
        fprintf(f, "%.10g", v);
}

static void tb_json_record(FILE *f, const tb_record_t *r, const char *commit, const tb_machine_t *m)
{
    fputs("  {\"workload\": ", f);
    tb_json_string(f, r->workload);
    fprintf(f, ", \"params\": %s, \"allocator\": ", r->params);
    tb_json_string(f, r->allocator);
    fputs(", \"metric\": ", f);
    tb_json_string(f, r->metric);
    fputs(", \"value\": ", f);
    tb_json_number(f, r->na ? TB_NAN : r->value);
    fputs(", \"unit\": ", f);
    tb_json_string(f, r->unit);
    fputs(", \"higher_is_better\": ", f);
    fputs(r->higher_is_better ? "true" : "false", f);
    fputs(", \"ratio_to_talc\": ", f);
    tb_json_number(f, tb_ratio_to_ours(r));
    fputs(", \"samples\": [", f);
    for (int i = 0; i < r->nsamples; i++) {
        if (i)
            fputs(", ", f);
        tb_json_number(f, r->samples[i]);
    }
    fputs("], \"minflt_per_trial\": ", f);
    tb_json_number(f, r->has_minflt ? r->minflt : TB_NAN);
    fputs(", \"commit\": ", f);
    tb_json_string(f, commit);
    fputs(", \"machine\": {\"arch\": ", f);
    tb_json_string(f, m->arch);
    fputs(", \"cpu\": ", f);
    tb_json_string(f, m->cpu);
    fprintf(f, ", \"nproc\": %ld}, \"date\": ", m->nproc);
    tb_json_string(f, m->date);
    fputc('}', f);
}

/* The JSON file a workload's records go to. */
static const char *tb_json_file(const char *workload)
{
    if (strncmp(workload, "arena_", 6) == 0)
        return "arena";
    return strncmp(workload, "random_actions", 14) == 0 ? "random_actions" : workload;
}

static int tb_write_json(const char *dir, const char *file, const char *commit,
                         const tb_machine_t *m)
{
    int n = 0;
    for (int i = 0; i < nrecords; i++)
        n += strcmp(tb_json_file(records[i].workload), file) == 0;
    if (n == 0)
        return 0;
    char path[1024];
    snprintf(path, sizeof path, "%s/%s.json", dir, file);
    FILE *f = fopen(path, "w");
    if (!f) {
        perror(path);
        return -1;
    }
    fputs("[\n", f);
    for (int i = 0, k = 0; i < nrecords; i++) {
        if (strcmp(tb_json_file(records[i].workload), file) != 0)
            continue;
        tb_json_record(f, &records[i], commit, m);
        fputs(++k < n ? ",\n" : "\n", f);
    }
    fputs("]\n", f);
    return fclose(f) == 0 ? 0 : -1;
}

/* ---- Markdown summary ----------------------------------------------------------------------- */

/* The summary is built in a growing tb_text_t (bench.h), then written to a file and stdout. */
void tb_put(tb_text_t *t, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        size_t room = t->cap - t->len;
        int n = vsnprintf(t->s ? t->s + t->len : NULL, t->s ? room : 0, fmt, ap);
        va_end(ap);
        if (n >= 0 && t->s && (size_t)n < room) {
            t->len += (size_t)n;
            return;
        }
        t->cap = t->cap * 2 + (size_t)(n > 0 ? n : 0) + 4096;
        t->s = realloc(t->s, t->cap);
        if (!t->s)
            abort();
    }
}

const char *tb_verdict(bool known, bool pass) { return !known ? "n/a" : pass ? "PASS" : "MISS"; }

static void tb_fmt_ops(char *out, size_t n, double v)
{
    if (isnan(v))
        snprintf(out, n, "—");
    else
        snprintf(out, n, "%.2fM", v / 1e6);
}

/* Rust Talc (TalcLock) ÷ glibc on this kind of machine, shared/reference/benchmarks.md. */
static const double rust_talc_vs_glibc[2][5] = {
    {1.39, 1.32, 1.65, 2.26, 3.00}, /* with realloc, max 200 .. 30000 */
    {1.12, 0.97, 1.35, 1.79, 2.33}, /* without realloc */
};
static const int ra_maxes[5] = {200, 1000, 3000, 10000, 30000};
static const char *const ra_workloads[2] = {"random_actions", "random_actions_no_realloc"};

/* The params text of the random-actions record with this workload and max size. */
static const char *ra_params_for(const char *wl, int max)
{
    char key[32];
    snprintf(key, sizeof key, "\"max_size\":%d,", max);
    for (int i = 0; i < nrecords; i++)
        if (strcmp(records[i].workload, wl) == 0 && strstr(records[i].params, key))
            return records[i].params;
    return NULL;
}

static double ra_value(const char *wl, int max, const char *alloc)
{
    const char *p = ra_params_for(wl, max);
    return p ? tb_lookup(wl, p, alloc, "ops_per_200ms") : TB_NAN;
}

/* x ÷ y on one random-actions workload (paired median, see tb_paired_ratio). */
static double ra_ratio(const char *wl, int max, const char *x, const char *y)
{
    const char *p = ra_params_for(wl, max);
    if (!p)
        return TB_NAN;
    return tb_paired_ratio(tb_find(wl, p, x, "ops_per_200ms"), tb_find(wl, p, y, "ops_per_200ms"));
}

typedef struct tb_ra_summary {
    double min_ratio[2]; /* [talc, talc-locked] min over the 10 workloads of ours / glibc */
    char min_where[2][48];
    int complete; /* workloads where ours, locked and glibc all measured */
    int bar_met;  /* workloads where locked / glibc >= Rust Talc's ratio */
} tb_ra_summary_t;

static void tb_ra_scan(tb_ra_summary_t *s)
{
    const char *ours[2] = {TB_OURS, TB_OURS "-locked"};
    *s = (tb_ra_summary_t){{(double)INFINITY, (double)INFINITY}, {"", ""}, 0, 0};
    for (int w = 0; w < 2; w++)
        for (int m = 0; m < 5; m++) {
            double r[2] = {ra_ratio(ra_workloads[w], ra_maxes[m], ours[0], "glibc"),
                           ra_ratio(ra_workloads[w], ra_maxes[m], ours[1], "glibc")};
            if (isnan(r[0]) || isnan(r[1]))
                continue;
            s->complete++;
            for (int o = 0; o < 2; o++)
                if (r[o] < s->min_ratio[o]) {
                    s->min_ratio[o] = r[o];
                    snprintf(s->min_where[o], sizeof s->min_where[o], "%s, max %d",
                             w ? "no realloc" : "realloc", ra_maxes[m]);
                }
            s->bar_met += tb_shown(r[1], 2) >= rust_talc_vs_glibc[w][m];
        }
}

const char *tb_num(char *out, size_t n, int prec, double v, const char *suffix)
{
    if (isnan(v) || isinf(v))
        snprintf(out, n, "—");
    else
        snprintf(out, n, "%.*f%s", prec, v, suffix);
    return out;
}

double tb_shown(double v, int prec)
{
    char b[64];
    if (isnan(v) || isinf(v))
        return v;
    snprintf(b, sizeof b, "%.*f", prec, v); /* the same rounding as the table's */
    return strtod(b, NULL);
}

static void tb_target_ra(tb_text_t *t)
{
    tb_ra_summary_t s;
    char a[32], b[32];
    tb_ra_scan(&s);
    bool known = s.complete == 10;
    bool ahead = tb_shown(s.min_ratio[0], 2) > 1.0 && tb_shown(s.min_ratio[1], 2) > 1.0;
    tb_put(t,
           "| random actions ahead of glibc at every max size (both variants) | min "
           "talc÷glibc %s (%s); talc-locked÷glibc %s (%s) | > 1.00 at all 10 | %s |\n",
           tb_num(a, sizeof a, 2, s.min_ratio[0], ""), s.min_where[0],
           tb_num(b, sizeof b, 2, s.min_ratio[1], ""), s.min_where[1], tb_verdict(known, ahead));
    tb_put(t,
           "| bar from benchmarks.md: talc-locked÷glibc >= Rust TalcLock÷glibc per size "
           "| met at %d of %d | all 10 | %s |\n",
           s.bar_met, s.complete, tb_verdict(known, s.bar_met == 10));
}

/* Median over the interleaved trial pairs of (no counters / counters) − 1, in %. */
static double tb_counters_cost(void)
{
    if (npairs == 0)
        return TB_NAN;
    return 100.0 * (tb_median(pair_ratio, npairs) - 1.0);
}

static void tb_summary_targets(tb_text_t *t)
{
    char a[32], b[32];
    tb_put(t,
           "## Heap-engine targets\n\n| target | measured | goal | result |\n|---|---|---|---|\n");
    double he = tb_lookup("heap_efficiency", NULL, TB_OURS, "used_pct");
    double hi = tb_lookup("heap_efficiency", NULL, TB_OURS "-inplace", "used_pct");
    tb_put(t,
           "| heap efficiency (talc, 128 MiB, used/total at first OOM; talc-inplace, whose "
           "shrinks never move: %s) | %s | >= 98.0 %% | %s |\n",
           tb_num(b, sizeof b, 2, hi, " %"), tb_num(a, sizeof a, 2, he, " %"),
           tb_verdict(!isnan(he), tb_shown(he, 2) >= 98.0));
    tb_target_ra(t);
    double ours99 = tb_lookup("microbench", NULL, TB_OURS, "sum_p99");
    double mi99 = tb_lookup("microbench", NULL, "mimalloc-heap", "sum_p99");
    tb_put(t,
           "| microbench p99 alloc+free, talc vs mimalloc heap | %s vs %s %s | <= "
           "mimalloc | %s |\n",
           tb_num(a, sizeof a, 0, ours99, ""), tb_num(b, sizeof b, 0, mi99, ""), TB_TICK_UNIT,
           tb_verdict(!isnan(ours99) && !isnan(mi99), tb_shown(ours99, 0) <= tb_shown(mi99, 0)));
    double cost = tb_counters_cost();
    tb_put(t,
           "| counters cost on random actions (median over %d interleaved trial pairs of "
           "nocounters÷talc − 1) | %s%s | <= 3 %% | %s |\n",
           npairs, cost >= 0 ? "+" : "", tb_num(a, sizeof a, 1, cost, " %"),
           tb_verdict(!isnan(cost), tb_shown(cost, 1) <= 3.0));
    double ha = tb_lookup("high_alignment", NULL, TB_OURS, "ratio");
    tb_put(t,
           "| high-alignment guard, talc (1 B @4096 vs 4096 B @1, x16384) | %s | <= 5x | "
           "%s |\n\n",
           tb_num(a, sizeof a, 2, ha, "x"), tb_verdict(!isnan(ha), tb_shown(ha, 2) <= 5.0));
}

static void tb_summary_random(tb_text_t *t, const tb_run_t *run, int w)
{
    const tb_params_t *p = run->params;
    tb_put(t,
           "## Random actions, %s (ops per 200 ms of CPU time, mean of %d trials of %d ms; "
           "higher is better; (x) and ÷ = median of per-trial ratios)\n\n| max size |",
           w ? "no realloc" : "with realloc", p->ra_trials, p->ra_trial_ms);
    for (int k = 0; k < run->nallocs; k++)
        tb_put(t, " %s |", run->allocs[k]->name);
    tb_put(t, " talc÷glibc | talc-locked÷glibc | Rust TalcLock÷glibc (ref) |\n|---:|");
    for (int k = 0; k < run->nallocs + 3; k++)
        tb_put(t, "---:|");
    tb_put(t, "\n");
    for (int m = 0; m < 5; m++) {
        if (!ra_params_for(ra_workloads[w], ra_maxes[m]))
            continue;
        tb_put(t, "| %d |", ra_maxes[m]);
        for (int k = 0; k < run->nallocs; k++) {
            char cell[32];
            double v = ra_value(ra_workloads[w], ra_maxes[m], run->allocs[k]->name);
            tb_fmt_ops(cell, sizeof cell, v);
            if (strcmp(run->allocs[k]->name, TB_OURS) == 0 || isnan(v))
                tb_put(t, " %s |", cell);
            else
                tb_put(t, " %s (%.2f) |", cell,
                       ra_ratio(ra_workloads[w], ra_maxes[m], run->allocs[k]->name, TB_OURS));
        }
        char a[16], b[16];
        tb_put(t, " %s | %s | %.2f |\n",
               tb_num(a, sizeof a, 2, ra_ratio(ra_workloads[w], ra_maxes[m], TB_OURS, "glibc"), ""),
               tb_num(b, sizeof b, 2,
                      ra_ratio(ra_workloads[w], ra_maxes[m], TB_OURS "-locked", "glibc"), ""),
               rust_talc_vs_glibc[w][m]);
    }
    tb_put(t, "\nMinor page faults per timed trial (mean; the bench thread's, getrusage):\n\n"
              "| max size |");
    for (int k = 0; k < run->nallocs; k++)
        tb_put(t, " %s |", run->allocs[k]->name);
    tb_put(t, "\n|---:|");
    for (int k = 0; k < run->nallocs; k++)
        tb_put(t, "---:|");
    tb_put(t, "\n");
    for (int m = 0; m < 5; m++) {
        const char *prm = ra_params_for(ra_workloads[w], ra_maxes[m]);
        if (!prm)
            continue;
        tb_put(t, "| %d |", ra_maxes[m]);
        for (int k = 0; k < run->nallocs; k++) {
            const tb_record_t *r =
                tb_find(ra_workloads[w], prm, run->allocs[k]->name, "ops_per_200ms");
            char cell[32];
            tb_put(t, " %s |",
                   tb_num(cell, sizeof cell, 0, r && r->has_minflt ? r->minflt : TB_NAN, ""));
        }
        tb_put(t, "\n");
    }
    tb_put(t, "\n");
}

static void tb_summary_heap_eff(tb_text_t *t, const tb_run_t *run)
{
    tb_put(t,
           "## Heap efficiency (%d rounds, 128 MiB; used/total %% at first OOM; higher is "
           "better)\n\nThe rest of the arena at the OOM: free = in free chunks "
           "(fragmentation), overhead = allocated beyond the request (headers, rounding, "
           "tails too small to split), meta = control block and span ends.\n\n"
           "| allocator | used/total | free | overhead | meta | free chunks at OOM |\n"
           "|---|---:|---:|---:|---:|---:|\n",
           run->params->he_rounds);
    for (int k = 0; k < run->nallocs; k++) {
        const char *a = run->allocs[k]->name;
        const tb_record_t *r = tb_find("heap_efficiency", NULL, a, "used_pct");
        char f[24], o[24], m[24], c[24];
        if (!r)
            continue;
        if (r->na) {
            tb_put(t, "| %s | n/a (not arena-bounded: never reaches an OOM) | | | | |\n", a);
            continue;
        }
        tb_put(t, "| %s | %.2f %% | %s | %s | %s | %s |\n", a, r->value,
               tb_num(f, sizeof f, 2, tb_lookup("heap_efficiency", NULL, a, "free_pct"), " %"),
               tb_num(o, sizeof o, 2, tb_lookup("heap_efficiency", NULL, a, "overhead_pct"), " %"),
               tb_num(m, sizeof m, 3, tb_lookup("heap_efficiency", NULL, a, "meta_pct"), " %"),
               tb_num(c, sizeof c, 0, tb_lookup("heap_efficiency", NULL, a, "free_chunks"), ""));
    }
    tb_put(t, "| Rust Talc v5 (published; ref) | 95.24 %% | | | | |\n\n");
}

static void tb_put_pcts(tb_text_t *t, const char *alloc, const char *kind)
{
    static const char *const p[] = {"p1", "p25", "p50", "p75", "p99"};
    tb_put(t, " ");
    for (int i = 0; i < 5; i++) {
        char metric[40];
        snprintf(metric, sizeof metric, "%s_%s", kind, p[i]);
        tb_put(t, "%s%.0f", i ? " / " : "", tb_lookup("microbench", NULL, alloc, metric));
    }
    tb_put(t, " |");
}

static void tb_summary_micro(tb_text_t *t, const tb_run_t *run)
{
    const tb_params_t *p = run->params;
    tb_put(t,
           "## Microbench (%s per call, p1 / p25 / p50 / p75 / p99; %d x %d ms slices; "
           "lower is better)\n\n| allocator | alloc | free | alloc+free | p99 sum vs talc | "
           "allocs timed |\n|---|---|---|---|---:|---:|\n",
           TB_TICK_UNIT, p->mb_slices, p->mb_slice_ms);
    double ours = tb_lookup("microbench", NULL, TB_OURS, "sum_p99");
    for (int k = 0; k < run->nallocs; k++) {
        const char *a = run->allocs[k]->name;
        if (isnan(tb_lookup("microbench", NULL, a, "sum_p99")))
            continue;
        tb_put(t, "| %s |", a);
        tb_put_pcts(t, a, "alloc");
        tb_put_pcts(t, a, "free");
        tb_put_pcts(t, a, "sum");
        tb_put(t, " %.2f | %.0f |\n", tb_lookup("microbench", NULL, a, "sum_p99") / ours,
               tb_lookup("microbench", NULL, a, "alloc_calls"));
    }
    tb_put(t,
           "\nTimer bracket overhead (included in every figure, as in Talc): %.0f %s. "
           "Rust Talc v5 alloc+free (published, other machine): 112 / 144 / 170 / 196 / 288."
           "\n\n",
           tb_lookup("microbench", NULL, "timer", "timer_overhead"), TB_TICK_UNIT);
}

static void tb_summary_high_align(tb_text_t *t, const tb_run_t *run)
{
    tb_put(t,
           "## High-alignment guard (16384 allocs + frees per phase, 256 MiB; median of "
           "%d)\n\n| allocator | 4096 B @1 (ms) | 1 B @4096 (ms) | ratio |\n"
           "|---|---:|---:|---:|\n",
           run->params->ha_reps);
    for (int k = 0; k < run->nallocs; k++) {
        const char *a = run->allocs[k]->name;
        double r = tb_lookup("high_alignment", NULL, a, "ratio");
        if (isnan(r))
            continue;
        tb_put(t, "| %s | %.2f | %.2f | %.2fx |\n", a,
               tb_lookup("high_alignment", NULL, a, "low_ms"),
               tb_lookup("high_alignment", NULL, a, "high_ms"), r);
    }
    tb_put(t, "\n");
}

/* Did any heap-engine workload run (as opposed to only the arena ones)? */
static bool tb_have_heap_records(void)
{
    for (int i = 0; i < nrecords; i++)
        if (strncmp(records[i].workload, "arena_", 6) != 0)
            return true;
    return false;
}

static void tb_summary(tb_text_t *t, const tb_run_t *run, const char *commit, const tb_machine_t *m)
{
    tb_put(t,
           "# libtalc benchmarks\n\npreset `%s`, seed %llu, commit `%s`, %s, "
           "%s, %ld CPUs, %s\n\n",
           run->params->preset, (unsigned long long)run->params->seed, commit, m->arch, m->cpu,
           m->nproc, m->date);
    if (tb_have_heap_records()) {
        tb_put(t, "Heap engine (single thread):\n\n");
        for (int k = 0; k < run->nallocs; k++)
            tb_put(t, "- `%s`: %s\n", run->allocs[k]->name, run->allocs[k]->desc);
        tb_put(t, "\n");
    }
    tb_arena_summary_allocators(t, run);
    if (tb_have_heap_records())
        tb_summary_targets(t);
    tb_arena_summary_targets(t, run);
    for (int w = 0; w < 2; w++)
        if (ra_params_for(ra_workloads[w], 200))
            tb_summary_random(t, run, w);
    if (tb_find("heap_efficiency", NULL, TB_OURS, "used_pct"))
        tb_summary_heap_eff(t, run);
    if (tb_find("microbench", NULL, TB_OURS, "sum_p99"))
        tb_summary_micro(t, run);
    if (tb_find("high_alignment", NULL, TB_OURS, "ratio"))
        tb_summary_high_align(t, run);
    tb_arena_summary_tables(t, run);
}

int tb_report_write(const char *dir, const tb_run_t *run, const char *commit)
{
    static const char *const files[] = {"random_actions", "heap_efficiency", "microbench",
                                        "high_alignment", "arena"};
    tb_machine_t m;
    tb_machine(&m);
    int rc = 0;
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
        rc |= tb_write_json(dir, files[i], commit, &m);
    tb_text_t t = {0};
    tb_summary(&t, run, commit, &m);
    char path[1024];
    snprintf(path, sizeof path, "%s/summary.md", dir);
    FILE *f = fopen(path, "w");
    if (!f || fwrite(t.s, 1, t.len, f) != t.len || fclose(f) != 0) {
        perror(path);
        rc = -1;
    }
    fwrite(t.s, 1, t.len, stdout);
    free(t.s);
    return rc;
}
