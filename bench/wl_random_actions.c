/* wl_random_actions.c — Talc's random-actions benchmark (v5 benches/random_actions.rs),
 * re-implemented from its description (shared/reference/talc-algorithm.md §9.5).
 *
 * Per trial: a fresh allocator instance; an untimed replay; a 2 ms warm-up, then a timed run
 * (Talc: 200 ms), both in batches of 100 actions with the clock read between batches. The
 * replay runs the trial's own actions (same seed) on the same instance for 125 % of the
 * warm-up plus the trial in CPU time, then frees every block: the pages the timed run will use
 * are then resident for every allocator, as our pre-touched arena always is, rather than
 * faulted in inside the timed window by the peers alone. The warm-up and the timed run then
 * take exactly the actions they took without it. An action is uniform over
 * 0..=6 (with realloc) or 0..=5 (without):
 *   6            realloc a random live block to uniform[1, 3*max), keeping its alignment;
 *   < 3, or fewer than 300 blocks live (or none at all): allocate tb_gen_size(max) with
 *                tb_gen_align();
 *   else         free a random live block.
 * Score = successful operations per 200 ms, mean over trials (Talc's definition), except that
 * the time is the bench thread's CPU time during the run rather than wall time: on a shared
 * machine a trial that loses the CPU to another process is not scored as slow (page faults and
 * other kernel work done for the thread still count). Trials whose CPU share falls below 0.9 are
 * flagged on the progress line. Allocators are interleaved trial by trial, and the order rotates
 * every trial so no allocator always runs first or last. All allocators of a trial use the same
 * seed, so they see the same actions. The bench thread's minor page faults during each timed run
 * (getrusage) are recorded beside the score: a page an allocator faults in inside the window is
 * kernel time in its score.
 *
 * Concurrency: runs on the bench thread only.
 */
#define _GNU_SOURCE /* RUSAGE_THREAD */
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "bench.h"
#include "tb_clock.h"
#include "tb_rng.h"

#define RA_BATCH TB_RA_BATCH
#define RA_MIN_LIVE TB_RA_MIN_LIVE
#define RA_TABLE_CAP ((size_t)1 << 22)
/* The replay before each trial runs this many % of the warm-up plus the trial, in CPU time:
 * above 100 so that it covers every action the timed run gets to, even though the replay
 * itself pays the page faults. */
#define RA_REPLAY_PCT 125

typedef tb_ra_ctx_t ra_ctx_t;

static uint64_t ra_realloc(ra_ctx_t *c)
{
    tb_block_t *b = &c->blocks->v[tb_rng_below(&c->rng, c->blocks->len)];
    size_t n = (size_t)tb_rng_range(&c->rng, 1, 3 * c->max);
    void *q = c->a->realloc(c->inst, b->ptr, b->size, b->align, n);
    if (q == NULL)
        return 0;
    b->ptr = q;
    b->size = (uint32_t)n;
    return 1;
}

static uint64_t ra_alloc(ra_ctx_t *c)
{
    size_t size = (size_t)tb_gen_size(&c->rng, c->max);
    uint32_t align = tb_gen_align(&c->rng);
    void *p = c->a->alloc(c->inst, size, align);
    if (p == NULL)
        return 0;
    c->blocks->v[c->blocks->len++] = (tb_block_t){p, (uint32_t)size, align};
    return 1;
}

static uint64_t ra_free(ra_ctx_t *c)
{
    tb_block_t b = tb_blocks_take(c->blocks, tb_rng_below(&c->rng, c->blocks->len));
    c->a->free(c->inst, b.ptr, b.size, b.align);
    return 1;
}

/* One batch of RA_BATCH actions; returns the successful operations. Also used by the arena
 * workloads (wl_arena.c), one context per thread. */
uint64_t tb_ra_batch(tb_ra_ctx_t *c)
{
    uint64_t ok = 0;
    for (int i = 0; i < RA_BATCH; i++) {
        uint64_t action = tb_rng_below(&c->rng, c->nactions);
        size_t live = c->blocks->len;
        if (action == 6 && live > 0)
            ok += ra_realloc(c);
        else if ((action < 3 || live < RA_MIN_LIVE) && live < c->blocks->cap)
            ok += ra_alloc(c);
        else
            ok += ra_free(c);
    }
    return ok;
}

/* CPU time of the calling thread, in ns. */
static uint64_t ra_thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Run batches until `ns` have passed; returns the operations, and the time taken in *took. */
static uint64_t ra_run_for(ra_ctx_t *c, uint64_t ns, uint64_t *took)
{
    uint64_t ops = 0, t0 = tb_now_ns(), t = t0;
    while (t - t0 < ns) {
        ops += tb_ra_batch(c);
        t = tb_now_ns();
    }
    *took = t - t0;
    return ops;
}

/* The untimed replay before a trial (see ra_trial): batches until `ns` of the thread's CPU
 * time have passed, then every live block freed. CPU time, not wall time, so that a replay
 * that loses the core still gets as far as the timed run will. */
static void ra_replay(ra_ctx_t *c, uint64_t ns)
{
    uint64_t t0 = ra_thread_cpu_ns();
    while (ra_thread_cpu_ns() - t0 < ns)
        (void)tb_ra_batch(c);
    tb_blocks_free_all(c->blocks, c->a, c->inst);
}

/* Minor page faults of the calling thread so far (of the process where RUSAGE_THREAD is
 * missing: the bench thread is then the only one running). */
static uint64_t ra_minflt(void)
{
    struct rusage u;
#ifdef RUSAGE_THREAD
    int who = RUSAGE_THREAD;
#else
    int who = RUSAGE_SELF;
#endif
    return getrusage(who, &u) == 0 ? (uint64_t)u.ru_minflt : 0;
}

/* One trial of one allocator: operations per 200 ms of the bench thread's CPU time (see the
 * banner), or -1 if begin failed. *cpu_share receives CPU time / wall time of the run, *minflt
 * the minor page faults taken during it. */
static double ra_trial(const tb_run_t *run, const tb_allocator_t *a, tb_blocks_t *blocks,
                       bool with_realloc, uint64_t max, int trial, double *cpu_share,
                       double *minflt)
{
    const tb_params_t *p = run->params;
    ra_ctx_t c = {.a = a, .blocks = blocks, .max = max, .nactions = with_realloc ? 7 : 6};
    c.rng = tb_rng_seed(p->seed, with_realloc ? 1 : 2, max, (uint64_t)trial);
    c.inst = a->begin(run->arena, TB_ARENA_BYTES);
    if (c.inst == NULL)
        return -1;
    ra_ctx_t replay = c; /* same instance, same seed: the actions the trial will take */
    ra_replay(&replay, (uint64_t)(p->ra_warmup_ms + p->ra_trial_ms) * RA_REPLAY_PCT * 10000u);
    uint64_t took;
    (void)ra_run_for(&c, (uint64_t)p->ra_warmup_ms * 1000000u, &took);
    uint64_t flt0 = ra_minflt(), cpu0 = ra_thread_cpu_ns();
    uint64_t ops = ra_run_for(&c, (uint64_t)p->ra_trial_ms * 1000000u, &took);
    uint64_t cpu = ra_thread_cpu_ns() - cpu0;
    *minflt = (double)(ra_minflt() - flt0);
    tb_blocks_free_all(blocks, a, c.inst);
    a->end(c.inst);
    if (cpu == 0 || cpu > took)
        cpu = took; /* no thread clock, or rounding: use wall time */
    *cpu_share = (double)cpu / (double)took;
    return (double)ops * 200e6 / (double)cpu;
}

static void ra_params(char *out, size_t n, const tb_params_t *p, bool with_realloc, uint64_t max)
{
    snprintf(out, n,
             "{\"realloc\":%s,\"max_size\":%llu,\"realloc_max\":%llu,\"trials\":%d,"
             "\"trial_ms\":%d,\"warmup_ms\":%d,\"batch\":%d,\"min_live\":%d,"
             "\"arena_bytes\":%zu,\"seed\":%llu}",
             with_realloc ? "true" : "false", (unsigned long long)max,
             (unsigned long long)(with_realloc ? 3 * max : 0), p->ra_trials, p->ra_trial_ms,
             p->ra_warmup_ms, RA_BATCH, RA_MIN_LIVE, TB_ARENA_BYTES, (unsigned long long)p->seed);
}

static int ra_index_of(const tb_run_t *run, const char *name)
{
    for (int k = 0; k < run->nallocs; k++)
        if (strcmp(run->allocs[k]->name, name) == 0)
            return k;
    return -1;
}

/* Record each allocator's mean, its samples and its mean minor faults per timed run; note
 * ours-with/without-counters pairs. */
static void ra_record_all(const tb_run_t *run, const char *wl, const char *params,
                          double samples[][64], double faults[][64], int ntrials)
{
    int ours = ra_index_of(run, "talc"), nc = ra_index_of(run, "talc-nocounters");
    for (int t = 0; ours >= 0 && nc >= 0 && t < ntrials; t++)
        tb_note_counter_pair(samples[ours][t], samples[nc][t]);
    for (int k = 0; k < run->nallocs; k++) {
        tb_record_t r = {.higher_is_better = true, .nsamples = ntrials};
        snprintf(r.workload, sizeof r.workload, "%s", wl);
        snprintf(r.params, sizeof r.params, "%s", params);
        snprintf(r.allocator, sizeof r.allocator, "%s", run->allocs[k]->name);
        snprintf(r.metric, sizeof r.metric, "ops_per_200ms");
        snprintf(r.unit, sizeof r.unit, "ops/200ms");
        double sum = 0, flt = 0;
        for (int t = 0; t < ntrials; t++) {
            sum += (r.samples[t] = samples[k][t]);
            flt += faults[k][t];
            r.na |= samples[k][t] < 0; /* begin failed: no figure, not a mean with a -1 in it */
        }
        r.value = sum / ntrials;
        r.minflt = flt / ntrials;
        r.has_minflt = !r.na;
        if (r.na)
            tb_progress("%s: %s could not start a trial: no figure", wl, r.allocator);
        tb_record(&r);
    }
}

void tb_random_actions(const tb_run_t *run, bool with_realloc)
{
    static const uint64_t maxes[] = {200, 1000, 3000, 10000, 30000};
    const tb_params_t *p = run->params;
    const char *wl = with_realloc ? "random_actions" : "random_actions_no_realloc";
    int ntrials = p->ra_trials > 64 ? 64 : p->ra_trials;
    tb_blocks_t blocks;
    tb_blocks_init(&blocks, RA_TABLE_CAP);
    for (size_t m = 0; m < sizeof maxes / sizeof maxes[0]; m++) {
        double samples[8][64], faults[8][64] = {{0}}, share = 1, min_share = 1;
        for (int t = 0; t < ntrials; t++)
            for (int j = 0; j < run->nallocs; j++) {
                int k = (j + t) % run->nallocs;
                samples[k][t] = ra_trial(run, run->allocs[k], &blocks, with_realloc, maxes[m], t,
                                         &share, &faults[k][t]);
                min_share = share < min_share ? share : min_share;
            }
        char params[320];
        ra_params(params, sizeof params, p, with_realloc, maxes[m]);
        ra_record_all(run, wl, params, samples, faults, ntrials);
        char msg[384];
        int len = snprintf(msg, sizeof msg, "%s max=%-5llu", wl, (unsigned long long)maxes[m]);
        for (int k = 0; k < run->nallocs && len < (int)sizeof msg - 40; k++) {
            double sum = 0, flt = 0;
            for (int t = 0; t < ntrials; t++) {
                sum += samples[k][t];
                flt += faults[k][t];
            }
            len += snprintf(msg + len, sizeof msg - (size_t)len, "  %s %.2fM/%.0fpf",
                            run->allocs[k]->name, sum / ntrials / 1e6, flt / ntrials);
        }
        if (min_share < 0.9 && len < (int)sizeof msg - 40)
            snprintf(msg + len, sizeof msg - (size_t)len, "  (preempted: min CPU share %.2f)",
                     min_share);
        tb_progress("%s", msg);
    }
    tb_unmap(blocks.v, blocks.cap * sizeof(tb_block_t));
}
