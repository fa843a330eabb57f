/* main.c — talc_bench: options, presets, the bench thread, and the order of the workloads.
 *
 *   talc_bench [--preset quick|full] [--out DIR] [--commit REV] [--seed N]
 *              [--workloads random_actions,random_actions_no_realloc,heap_efficiency,
 *                           microbench,high_alignment,arena_thread_local,
 *                           arena_producer_consumer]
 *              [--allocators talc,talc-inplace,talc-locked,talc-nocounters,glibc,mimalloc-heap,
 *                            jemalloc-arena,talc-arena,talc-arena-pt,talc-nocounters-arena,
 *                            talc-nocounters-arena-pt,jemalloc-shared,jemalloc-arena-tcache]
 *              [--trials N] [--trial-ms N] [--he-rounds N] [--mb-slices N] [--mb-slice-ms N]
 *              [--ha-reps N] [--arena-trials N] [--arena-ms N] [--arena-stripes N]
 *              [--arena-max-threads N]
 *
 * Presets: "full" = Talc's parameters (7 trials x 200 ms, 300 rounds; microbench 3 interleaved
 * slices of 1 s where Talc runs one; 11 guard repetitions; arena workloads 7 trials x 200 ms,
 * max sizes 200, 1000, 3000), about 4 minutes; "quick" = 5 trials x 100 ms, 300 rounds,
 * 3 x 200 ms, 5 repetitions, arena workloads 5 trials x 100 ms at max size 1000, about
 * 2 minutes. Explicit options override a preset. Two experiment knobs: --arena-stripes N
 * (0 = auto, the default), the stripe count of our shared arena; --arena-max-threads N, which
 * skips the arena thread counts above N (e.g. 1 to profile the uncontended path).
 *
 * The heap workloads run first, each allocator on its own; the arena workloads (wl_arena.c)
 * then drive the multi-threaded adapters (bench_arena.h) from a pool of worker threads. The
 * allocator names of --allocators select from both lists ("glibc" and "mimalloc-heap" are in
 * both; "jemalloc-arena" too, with a tcache in the heap list and without one in the arena list).
 *
 * Everything runs on one spawned "bench thread" (so glibc uses a non-main arena, as in Talc's
 * harness, and mimalloc heaps live on the thread that created them); main only waits, then
 * writes the report. The arena buffer (256 MiB; the 128 MiB workloads use its first half) is
 * mapped once, 64-byte aligned and touched every 1 KiB before any timing, as in Talc.
 *
 * Concurrency: main and the bench thread never run harness code at the same time.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench.h"
#include "bench_arena.h"
#include "tb_clock.h"

static uint64_t tb_start_ns;

void tb_progress(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "[bench %6.1fs] ", (double)(tb_now_ns() - tb_start_ns) / 1e9);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

void *tb_map(size_t bytes)
{
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        perror("talc_bench: mmap");
        exit(2);
    }
    return p;
}

void tb_unmap(void *p, size_t bytes) { munmap(p, bytes); }

void tb_blocks_init(tb_blocks_t *b, size_t cap)
{
    b->v = tb_map(cap * sizeof(tb_block_t));
    b->len = 0;
    b->cap = cap;
}

void tb_blocks_free_all(tb_blocks_t *b, const tb_allocator_t *a, void *inst)
{
    while (b->len > 0) {
        tb_block_t blk = b->v[--b->len];
        a->free(inst, blk.ptr, blk.size, blk.align);
    }
}

/* ---- Options ------------------------------------------------------------------------------ */

static const tb_params_t tb_presets[] = {
    {.preset = "quick",
     .ra_trials = 5,
     .ra_trial_ms = 100,
     .ra_warmup_ms = 2,
     .he_rounds = 300,
     .mb_slices = 3,
     .mb_slice_ms = 200,
     .ha_reps = 5,
     .ar_trials = 5,
     .ar_trial_ms = 100,
     .ar_warmup_ms = 5,
     .ar_max = {1000},
     .ar_nmax = 1,
     .pc_max = 1000},
    {.preset = "full",
     .ra_trials = 7,
     .ra_trial_ms = 200,
     .ra_warmup_ms = 2,
     .he_rounds = 300,
     .mb_slices = 3,
     .mb_slice_ms = 1000,
     .ha_reps = 11,
     .ar_trials = 7,
     .ar_trial_ms = 200,
     .ar_warmup_ms = 5,
     .ar_max = {200, 1000, 3000},
     .ar_nmax = 3,
     .pc_max = 1000},
};

typedef struct tb_opts {
    tb_params_t params;
    const char *out, *commit, *workloads, *allocators;
} tb_opts_t;

static void tb_usage(void)
{
    fprintf(stderr, "usage: talc_bench [--preset quick|full] [--out DIR] [--commit REV] "
                    "[--seed N] [--workloads a,b] [--allocators a,b] [--trials N] "
                    "[--trial-ms N] [--he-rounds N] [--mb-slices N] [--mb-slice-ms N] "
                    "[--ha-reps N] [--arena-trials N] [--arena-ms N] [--arena-stripes N] "
                    "[--arena-max-threads N]\n");
    exit(2);
}

static bool tb_set_preset(tb_opts_t *o, const char *name)
{
    for (size_t i = 0; i < sizeof tb_presets / sizeof tb_presets[0]; i++)
        if (strcmp(tb_presets[i].preset, name) == 0) {
            uint64_t seed = o->params.seed;
            o->params = tb_presets[i];
            o->params.seed = seed;
            return true;
        }
    return false;
}

/* The int option named `name`, or NULL. */
static int *tb_int_opt(tb_params_t *p, const char *name)
{
    const struct {
        const char *name;
        int *slot;
    } table[] = {
        {"--trials", &p->ra_trials},        {"--trial-ms", &p->ra_trial_ms},
        {"--he-rounds", &p->he_rounds},     {"--mb-slices", &p->mb_slices},
        {"--mb-slice-ms", &p->mb_slice_ms}, {"--ha-reps", &p->ha_reps},
        {"--arena-trials", &p->ar_trials},  {"--arena-ms", &p->ar_trial_ms},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (strcmp(table[i].name, name) == 0)
            return table[i].slot;
    return NULL;
}

static void tb_parse(tb_opts_t *o, int argc, char **argv)
{
    *o = (tb_opts_t){.out = "bench/results", .commit = "uncommitted"};
    o->params.seed = 0x7a1c5eedull;
    tb_set_preset(o, "quick");
    for (int i = 1; i < argc; i += 2) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int *slot = tb_int_opt(&o->params, a);
        if (!v)
            tb_usage();
        if (slot) {
            *slot = atoi(v);
            if (*slot <= 0)
                tb_usage();
        } else if (strcmp(a, "--arena-max-threads") == 0) {
            o->params.ar_max_threads = atoi(v);
            if (o->params.ar_max_threads < 1)
                tb_usage();
        } else if (strcmp(a, "--arena-stripes") == 0) {
            o->params.ar_stripes = atoi(v);
            if (o->params.ar_stripes < 0 || o->params.ar_stripes > 64)
                tb_usage();
        } else if (strcmp(a, "--preset") == 0) {
            if (!tb_set_preset(o, v))
                tb_usage();
        } else if (strcmp(a, "--out") == 0) {
            o->out = v;
        } else if (strcmp(a, "--commit") == 0) {
            o->commit = v;
        } else if (strcmp(a, "--seed") == 0) {
            o->params.seed = strtoull(v, NULL, 0);
        } else if (strcmp(a, "--workloads") == 0) {
            o->workloads = v;
        } else if (strcmp(a, "--allocators") == 0) {
            o->allocators = v;
        } else {
            tb_usage();
        }
    }
    if (o->params.ra_trials > 64)
        o->params.ra_trials = 64;
    if (o->params.ar_trials > 64)
        o->params.ar_trials = 64;
}

/* Is `name` in the comma list (NULL list = everything)? */
static bool tb_listed(const char *list, const char *name)
{
    if (list == NULL)
        return true;
    size_t n = strlen(name);
    for (const char *p = list; (p = strstr(p, name)) != NULL; p += n)
        if ((p == list || p[-1] == ',') && (p[n] == 0 || p[n] == ','))
            return true;
    return false;
}

/* ---- Startup ------------------------------------------------------------------------------ */

/* jemalloc's initial-exec TLS only fits under dlopen with static-TLS surplus: re-execute once
 * with the glibc tunable that reserves it (harmless for everything else). */
static void tb_ensure_static_tls(char **argv)
{
    const char *t = getenv("GLIBC_TUNABLES");
    if (t && strstr(t, "optional_static_tls"))
        return;
    char buf[512];
    snprintf(buf, sizeof buf, "%s%sglibc.rtld.optional_static_tls=65536", t ? t : "", t ? ":" : "");
    setenv("GLIBC_TUNABLES", buf, 1);
    execv("/proc/self/exe", argv);
    /* exec failed: go on; the jemalloc peer will then report itself unavailable */
}

/* 256 MiB, page (so 64-byte) aligned, touched every 1 KiB. */
static unsigned char *tb_arena(void)
{
    unsigned char *a = tb_map(TB_BIG_ARENA_BYTES);
    for (size_t i = 0; i < TB_BIG_ARENA_BYTES; i += 1024)
        a[i] = 1;
    return a;
}

typedef struct tb_job {
    tb_run_t run;
    const char *allocators;
} tb_job_t;

static void tb_setup_allocators(tb_job_t *job)
{
    const tb_allocator_t *all[] = {talc_bench_adapter_plain(),  talc_bench_adapter_inplace(),
                                   talc_bench_adapter_locked(), nc_talc_bench_adapter_plain(),
                                   tb_adapter_glibc(),          tb_adapter_mimalloc(),
                                   tb_adapter_jemalloc(),       tb_adapter_null()};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        bool opt_in = all[i] == tb_adapter_null();
        if (opt_in ? job->allocators == NULL || !tb_listed(job->allocators, all[i]->name)
                   : !tb_listed(job->allocators, all[i]->name))
            continue;
        if (all[i]->setup())
            job->run.allocs[job->run.nallocs++] = all[i];
        else
            tb_progress("allocator %s unavailable: skipped", all[i]->name);
    }
}

/* The arena workloads' allocators: ours (shared arena, arena per thread, shared arena with
 * thread caches; with and without counters), then the peers. */
static void tb_setup_mt_allocators(tb_job_t *job)
{
    const tb_mt_allocator_t *all[] = {talc_bench_mt_shared(),
                                      talc_bench_mt_per_thread(),
                                      talc_bench_mt_tcache(),
                                      nc_talc_bench_mt_shared(),
                                      nc_talc_bench_mt_per_thread(),
                                      nc_talc_bench_mt_tcache(),
                                      tb_mt_jemalloc(),
                                      tb_mt_jemalloc_shared(),
                                      tb_mt_jemalloc_tcache(),
                                      tb_mt_mimalloc(),
                                      tb_mt_glibc()};
    tb_run_t *run = &job->run;
    talc_bench_mt_set_stripes((unsigned)run->params->ar_stripes);
    nc_talc_bench_mt_set_stripes((unsigned)run->params->ar_stripes);
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        if (!tb_listed(job->allocators, all[i]->name))
            continue;
        if (all[i]->setup())
            run->mt_allocs[run->mt_nallocs++] = all[i];
        else
            tb_progress("arena allocator %s unavailable: skipped", all[i]->name);
    }
}

static void *tb_bench_thread(void *arg)
{
    tb_job_t *job = arg;
    tb_run_t *run = &job->run;
    tb_setup_allocators(job);
    tb_progress("allocators: %d, preset %s", run->nallocs, run->params->preset);
    if (tb_listed(run->workloads, "random_actions"))
        tb_random_actions(run, true);
    if (tb_listed(run->workloads, "random_actions_no_realloc"))
        tb_random_actions(run, false);
    if (tb_listed(run->workloads, "heap_efficiency"))
        tb_heap_efficiency(run);
    if (tb_listed(run->workloads, "microbench"))
        tb_microbench(run);
    if (tb_listed(run->workloads, "high_alignment"))
        tb_high_alignment(run);
    bool tl = tb_listed(run->workloads, "arena_thread_local");
    bool pc = tb_listed(run->workloads, "arena_producer_consumer");
    if (tl || pc) {
        tb_setup_mt_allocators(job);
        tb_progress("arena allocators: %d, worker threads: %d", run->mt_nallocs, TB_MT_MAX_THREADS);
    }
    if (tl)
        tb_arena_thread_local(run);
    if (pc)
        tb_arena_producer_consumer(run);
    return NULL;
}

int main(int argc, char **argv)
{
    tb_ensure_static_tls(argv);
    tb_start_ns = tb_now_ns();
    tb_opts_t o;
    tb_parse(&o, argc, argv);
    tb_progress("touching the 256 MiB arena");
    tb_job_t job = {.run = {.params = &o.params, .arena = tb_arena(), .workloads = o.workloads},
                    .allocators = o.allocators};
    pthread_t th;
    if (pthread_create(&th, NULL, tb_bench_thread, &job) != 0 || pthread_join(th, NULL) != 0) {
        fprintf(stderr, "talc_bench: cannot run the bench thread\n");
        return 2;
    }
    mkdir(o.out, 0777); /* one level; bench/run.sh makes the whole path */
    tb_progress("writing %s/*.json and %s/summary.md", o.out, o.out);
    return tb_report_write(o.out, &job.run, o.commit) == 0 ? 0 : 1;
}
