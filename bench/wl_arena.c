/* wl_arena.c — the arena workloads: several threads allocating at once (bench_arena.h).
 *
 * arena_thread_local: Talc's random actions (wl_random_actions.c's batch, Talc's mix with
 *   realloc) on 1, 2 and 4 threads at once, each thread on its own blocks and its own seed.
 *   Score: successful operations of all threads per second of wall time.
 * arena_producer_consumer: 1 and 2 pairs of threads; in each pair the producer allocates
 *   tb_gen_size(pc_max) bytes, writes the first byte and pushes the block through a bounded
 *   single-producer/single-consumer ring (1024 slots); the consumer reads the byte and frees
 *   the block with its own handle (every free is remote). Score: blocks per second of wall time.
 *
 * The threads come from a pool of TB_MT_MAX_THREADS workers created once, so thread creation
 * is not measured and every allocator's per-thread state (our dispatcher's, glibc's arenas,
 * mimalloc's heaps, jemalloc's tcaches) stays warm across trials, as in a daemon. Each worker
 * has a handle per allocator (thread_init on first use).
 *
 * A trial: the coordinator (the bench thread) starts n workers; each warms up on its own
 * (ar_warmup_ms of the workload), reports ready and spins (yielding) until "go"; the coordinator
 * reads the clock, says go, sleeps ar_trial_ms, says stop and reads the clock again. Workers
 * check "stop" between batches of 100 actions (thread-local) or before every allocation
 * (producer). Afterwards (untimed) they free what they hold and quiesce (jemalloc's tcache
 * flush). One unrecorded priming round of short trials (10 ms) comes first, so first-touch
 * page faults (about 12 µs per page here) and first-use set-up land in no recorded trial.
 *
 * Time. On 2 cores, what multi-thread throughput means is wall time: two threads that each
 * wait on a lock half the time do half the work, while their CPU time looks fine. So scores
 * are per wall second. Each worker also reads its thread CPU time over the window, which gives
 *   ops per CPU-second  the per-operation cost, insensitive to the machine being shared (the
 *                       counters-cost target uses it); a thread sleeping on a contended lock
 *                       spends no CPU, so this does not show lock waits — wall time does;
 *   CPU share           Σ thread CPU / (wall × min(n, CPUs)): below ~0.9 the threads lost CPU
 *                       to other processes or slept on locks (flagged on the progress line);
 *   adjusted ops/s      Σ over threads of ops_i / (window_i − run-queue delay_i), the delay
 *                       read from /proc/self/task/<tid>/schedstat: the wall-time rate with the
 *                       time a thread was runnable but waited for a CPU taken out. A thread
 *                       asleep on a contended lock is not runnable, so lock waits still count;
 *                       only the time other processes (or our own surplus threads) held the
 *                       CPU is removed. On a quiet machine it equals the wall rate. Recorded
 *                       only for n <= CPUs (with more threads than CPUs the delay is the
 *                       workload's own). The thread-local targets use it where it exists
 *                       (report_arena.c): another process busy on one of the 2 cores otherwise
 *                       halves every 2-thread figure.
 * For producer/consumer, threads spin-wait on the ring (yielding after 64 spins), so CPU time
 * says nothing there, and neither does the run-queue delay: under load, a yield while waiting
 * for the partner becomes run-queue delay, and taking it out would also take out real waiting
 * (tried: it over-corrects, scoring pairs above their quiet-machine rate). Only wall time is
 * recorded there.
 *
 * Interleaving: for each trial number, each thread count runs every allocator once, in an order
 * rotated by trial; trial t of every allocator and thread count thus ran close in time, and
 * ratios are medians of per-trial ratios (report.c, tb_paired_ratio). Seeds depend on (workload,
 * max size, trial, thread count, thread), never on the allocator.
 *
 * Concurrency: the coordinator and the workers share only the trial struct (atomics for
 * ready/go/stop, results written by each worker before it finishes its job, read after
 * pool_wait, which orders them through the pool's mutex).
 */
#define _GNU_SOURCE
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "bench_arena.h"
#include "tb_clock.h"
#include "tb_rng.h"

#define AR_TABLE_CAP ((size_t)1 << 20) /* live blocks per thread (16 MiB of address space) */
#define PC_RING 1024u                  /* slots, power of two */
#define AR_SPINS 64                    /* spins before sched_yield() while waiting */
#define AR_MAX_ALLOCS 12

static const int tl_threads[TB_AR_NTHREADS] = TB_AR_THREADS;
static const int pc_pairs[TB_PC_NPAIRS] = TB_PC_PAIRS;
#define TL_NCOUNTS TB_AR_NTHREADS
#define PC_NCOUNTS TB_PC_NPAIRS

static inline void ar_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield" ::: "memory");
#endif
}

static uint64_t ar_thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The calling thread's run-queue delay so far (ns spent runnable but waiting for a CPU), from
 * /proc/self/task/<tid>/schedstat ("cpu_ns wait_ns slices"); UINT64_MAX if unavailable. */
static uint64_t ar_runq_wait_ns(void)
{
    char path[64], buf[96];
    snprintf(path, sizeof path, "/proc/self/task/%ld/schedstat", (long)syscall(SYS_gettid));
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return UINT64_MAX;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return UINT64_MAX;
    buf[n] = 0;
    char *end;
    (void)strtoull(buf, &end, 10);
    if (end == buf)
        return UINT64_MAX;
    return strtoull(end, NULL, 10);
}

static void ar_sleep_ns(uint64_t ns)
{
    struct timespec ts = {(time_t)(ns / 1000000000u), (long)(ns % 1000000000u)};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

/* ---- Worker pool ---------------------------------------------------------------------------- */

typedef void (*ar_job_fn)(int tid, void *arg);

static struct {
    pthread_t th[TB_MT_MAX_THREADS];
    bool started;
    pthread_mutex_t lock;
    pthread_cond_t wake, idle;
    unsigned long gen; /* bumped for every job */
    int active;        /* workers 0..active-1 run the job */
    int running;       /* of those, still running */
    ar_job_fn job;
    void *arg;
} pool = {.lock = PTHREAD_MUTEX_INITIALIZER,
          .wake = PTHREAD_COND_INITIALIZER,
          .idle = PTHREAD_COND_INITIALIZER};

static void *ar_worker(void *p)
{
    int tid = (int)(intptr_t)p;
    unsigned long seen = 0;
    pthread_mutex_lock(&pool.lock);
    for (;;) {
        while (pool.gen == seen)
            pthread_cond_wait(&pool.wake, &pool.lock);
        seen = pool.gen;
        if (tid >= pool.active)
            continue;
        ar_job_fn job = pool.job;
        void *arg = pool.arg;
        pthread_mutex_unlock(&pool.lock);
        job(tid, arg);
        pthread_mutex_lock(&pool.lock);
        if (--pool.running == 0)
            pthread_cond_signal(&pool.idle);
    }
    return NULL;
}

static void pool_start(int n, ar_job_fn job, void *arg)
{
    if (!pool.started) {
        for (intptr_t i = 0; i < TB_MT_MAX_THREADS; i++)
            if (pthread_create(&pool.th[i], NULL, ar_worker, (void *)i) != 0) {
                fprintf(stderr, "talc_bench: cannot create worker threads\n");
                _exit(2);
            }
        pool.started = true;
    }
    pthread_mutex_lock(&pool.lock);
    pool.job = job;
    pool.arg = arg;
    pool.active = pool.running = n;
    pool.gen++;
    pthread_cond_broadcast(&pool.wake);
    pthread_mutex_unlock(&pool.lock);
}

static void pool_wait(void)
{
    pthread_mutex_lock(&pool.lock);
    while (pool.running > 0)
        pthread_cond_wait(&pool.idle, &pool.lock);
    pthread_mutex_unlock(&pool.lock);
}

/* ---- Per-thread state kept across trials -----------------------------------------------------*/

static void *ar_handles[AR_MAX_ALLOCS][TB_MT_MAX_THREADS];
/* Each worker's block table on its own cache lines: `len` changes on every action, and two
 * tables sharing a line cost every allocator about 2.7x per operation at 2 threads (measured:
 * ops per CPU-second 30.3M at 1 thread, 11.3M at 2, with the tables packed). */
typedef struct ar_table {
    alignas(128) tb_blocks_t b;
} ar_table_t;
static ar_table_t ar_tables[TB_MT_MAX_THREADS];

/* The handle of allocator k on worker tid (created on first use, on that worker). */
static void *ar_handle(int k, const tb_mt_allocator_t *a, int tid)
{
    if (ar_handles[k][tid] == NULL)
        ar_handles[k][tid] = a->thread_init(tid);
    return ar_handles[k][tid];
}

/* ---- A trial ---------------------------------------------------------------------------------*/

typedef struct pc_slot {
    void *p;
    size_t size;
} pc_slot_t;

/* One producer/consumer ring. head is written by the consumer, tail by the producer. */
typedef struct pc_ring {
    alignas(64) atomic_size_t head;
    alignas(64) atomic_size_t tail;
    alignas(64) pc_slot_t slot[PC_RING];
} pc_ring_t;

static pc_ring_t pc_rings[TB_MT_MAX_THREADS / 2];

typedef struct ar_result {
    uint64_t ops, cpu_ns;
    uint64_t span_ns, runq_ns; /* own window (go seen .. stop seen), run-queue delay in it */
    bool failed;               /* no handle (thread_init failed) */
} ar_result_t;

typedef struct ar_trial {
    const tb_run_t *run;
    const tb_mt_allocator_t *a;
    int k;        /* index of a in run->mt_allocs (for the handles) */
    int nthreads; /* workers taking part */
    int window_ms;
    uint64_t seed[TB_MT_MAX_THREADS];
    uint64_t max;
    atomic_int ready;
    atomic_bool go, stop;
    ar_result_t res[TB_MT_MAX_THREADS];
} ar_trial_t;

static void ar_wait_go(ar_trial_t *tr)
{
    atomic_fetch_add_explicit(&tr->ready, 1, memory_order_acq_rel);
    for (int spins = 0; !atomic_load_explicit(&tr->go, memory_order_acquire); spins++)
        if (spins > AR_SPINS)
            sched_yield();
        else
            ar_relax();
}

/* The coordinator's side: wait for every worker to be warm, then time the window. Returns the
 * window's wall time in ns. */
static uint64_t ar_time_window(ar_trial_t *tr)
{
    while (atomic_load_explicit(&tr->ready, memory_order_acquire) < tr->nthreads)
        ar_sleep_ns(20000);
    uint64_t t0 = tb_now_ns();
    atomic_store_explicit(&tr->go, true, memory_order_release);
    ar_sleep_ns((uint64_t)tr->window_ms * 1000000u);
    atomic_store_explicit(&tr->stop, true, memory_order_release);
    uint64_t t1 = tb_now_ns();
    pool_wait();
    return t1 - t0;
}

/* ---- Thread-local random actions ------------------------------------------------------------ */

static void tl_job(int tid, void *arg)
{
    ar_trial_t *tr = arg;
    const tb_mt_allocator_t *a = tr->a;
    /* wl_random_actions.c's batch calls through a tb_allocator_t: give it this allocator's
     * three calls (same signatures), with this thread's handle as the instance. */
    tb_allocator_t view = {
        .name = a->name, .alloc = a->alloc, .free = a->free, .realloc = a->realloc};
    tb_ra_ctx_t c = {.a = &view,
                     .inst = ar_handle(tr->k, a, tid),
                     .blocks = &ar_tables[tid].b,
                     .rng = {tr->seed[tid]},
                     .max = tr->max,
                     .nactions = 7};
    ar_result_t *r = &tr->res[tid];
    *r = (ar_result_t){0};
    if (c.inst == NULL) {
        r->failed = true;
        ar_wait_go(tr);
        return;
    }
    uint64_t warm = (uint64_t)tr->run->params->ar_warmup_ms * 1000000u, t0 = tb_now_ns();
    while (tb_now_ns() - t0 < warm)
        (void)tb_ra_batch(&c);
    ar_wait_go(tr);
    uint64_t q0 = ar_runq_wait_ns(), w0 = tb_now_ns(), cpu0 = ar_thread_cpu_ns(), ops = 0;
    while (!atomic_load_explicit(&tr->stop, memory_order_relaxed))
        ops += tb_ra_batch(&c);
    r->cpu_ns = ar_thread_cpu_ns() - cpu0;
    r->span_ns = tb_now_ns() - w0;
    uint64_t q1 = ar_runq_wait_ns();
    r->runq_ns = q0 == UINT64_MAX || q1 == UINT64_MAX ? UINT64_MAX : q1 - q0;
    r->ops = ops;
    tb_blocks_free_all(c.blocks, &view, c.inst);
    if (a->quiesce)
        a->quiesce(c.inst);
}

/* ---- Producer/consumer ----------------------------------------------------------------------- */

static void pc_push(pc_ring_t *q, pc_slot_t s)
{
    size_t tail = atomic_load_explicit(&q->tail, memory_order_relaxed);
    /* acquire: the consumer is done with the slot before we overwrite it */
    for (int spins = 0; tail - atomic_load_explicit(&q->head, memory_order_acquire) == PC_RING;
         spins++)
        if (spins > AR_SPINS)
            sched_yield();
        else
            ar_relax();
    q->slot[tail % PC_RING] = s;
    /* release: the slot (and the block's contents) are visible before the new tail */
    atomic_store_explicit(&q->tail, tail + 1, memory_order_release);
}

static pc_slot_t pc_pop(pc_ring_t *q)
{
    size_t head = atomic_load_explicit(&q->head, memory_order_relaxed);
    /* acquire: pairs with the producer's release of tail */
    for (int spins = 0; atomic_load_explicit(&q->tail, memory_order_acquire) == head; spins++)
        if (spins > AR_SPINS)
            sched_yield();
        else
            ar_relax();
    pc_slot_t s = q->slot[head % PC_RING];
    /* release: we are done reading the slot */
    atomic_store_explicit(&q->head, head + 1, memory_order_release);
    return s;
}

/* Allocate one block and push it; false if the allocator failed. */
static bool pc_produce(const tb_mt_allocator_t *a, void *h, pc_ring_t *q, tb_rng_t *rng,
                       uint64_t max)
{
    size_t size = (size_t)tb_gen_size(rng, max);
    unsigned char *p = a->alloc(h, size, 8);
    if (p == NULL)
        return false;
    p[0] = (unsigned char)size;
    pc_push(q, (pc_slot_t){p, size});
    return true;
}

static void pc_job(int tid, void *arg)
{
    ar_trial_t *tr = arg;
    const tb_mt_allocator_t *a = tr->a;
    pc_ring_t *q = &pc_rings[tid / 2];
    void *h = ar_handle(tr->k, a, tid);
    ar_result_t *r = &tr->res[tid];
    *r = (ar_result_t){.failed = h == NULL};
    if (tid % 2) { /* consumer: free until the producer's end mark (a NULL block) */
        atomic_fetch_add_explicit(&tr->ready, 1, memory_order_acq_rel);
        volatile unsigned char sink = 0;
        for (pc_slot_t s; (s = pc_pop(q)).p != NULL;) {
            sink ^= *(unsigned char *)s.p;
            if (h)
                a->free(h, s.p, s.size, 8); /* (no handle: the trial is void; leak) */
        }
        (void)sink;
        if (h && a->quiesce)
            a->quiesce(h);
        return;
    }
    tb_rng_t rng = {tr->seed[tid]};
    if (h == NULL) { /* nothing to produce: end the consumer at once */
        ar_wait_go(tr);
        pc_push(q, (pc_slot_t){NULL, 0});
        return;
    }
    uint64_t warm = (uint64_t)tr->run->params->ar_warmup_ms * 1000000u, t0 = tb_now_ns();
    for (unsigned i = 0; (i % 64 != 0 || tb_now_ns() - t0 < warm); i++)
        (void)pc_produce(a, h, q, &rng, tr->max);
    ar_wait_go(tr);
    uint64_t ops = 0;
    while (!atomic_load_explicit(&tr->stop, memory_order_relaxed))
        ops += pc_produce(a, h, q, &rng, tr->max);
    r->ops = ops;
    pc_push(q, (pc_slot_t){NULL, 0});
    if (a->quiesce)
        a->quiesce(h);
}

/* ---- Driver ----------------------------------------------------------------------------------*/

typedef struct ar_samples {
    double wall[64], cpu[64], share[64]; /* ops per wall s, ops per CPU s, CPU share */
    double adj[64]; /* Σ ops_i / (window_i − run-queue delay_i): see tb_arena_thread_local */
} ar_samples_t;

/* One trial of allocator k with n threads and a window of window_ms; fills sample `trial`. */
static void ar_trial(const tb_run_t *run, int k, bool pc, int n, uint64_t max, int trial,
                     int window_ms, ar_samples_t *out)
{
    static ar_trial_t tr; /* big enough to keep off the stack; one trial at a time */
    memset(&tr, 0, sizeof tr);
    tr.run = run;
    tr.window_ms = window_ms;
    tr.a = run->mt_allocs[k];
    tr.k = k;
    tr.nthreads = n;
    tr.max = max;
    for (int i = 0; i < n; i++)
        tr.seed[i] = tb_rng_seed(run->params->seed, pc ? 21 : 20, max,
                                 ((uint64_t)trial << 16) | ((uint64_t)n << 8) | (uint64_t)i)
                         .s;
    for (int i = 0; i < n / 2; i++) {
        atomic_store(&pc_rings[i].head, 0);
        atomic_store(&pc_rings[i].tail, 0);
    }
    pool_start(n, pc ? pc_job : tl_job, &tr);
    uint64_t wall = ar_time_window(&tr);
    uint64_t ops = 0, cpu = 0;
    bool failed = false;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    double adj = n <= ncpu && !pc ? 0 : (double)NAN;
    for (int i = 0; i < n; i++) {
        const ar_result_t *r = &tr.res[i];
        ops += r->ops;
        cpu += r->cpu_ns;
        failed |= r->failed;
        if (pc)
            continue;
        if (r->runq_ns == UINT64_MAX || r->runq_ns >= r->span_ns)
            adj = (double)NAN;
        else
            adj += (double)r->ops * 1e9 / (double)(r->span_ns - r->runq_ns);
    }
    out->adj[trial] = failed ? (double)NAN : adj;
    double cap = (double)(n < ncpu ? n : ncpu);
    out->wall[trial] = failed ? (double)NAN : (double)ops * 1e9 / (double)wall;
    out->cpu[trial] = failed || cpu == 0 ? (double)NAN : (double)ops * 1e9 / (double)cpu;
    out->share[trial] = (double)cpu / ((double)wall * cap);
}

void tb_arena_params(char *out, size_t n, const tb_params_t *p, bool pc, int threads, uint64_t max)
{
    if (pc)
        snprintf(out, n,
                 "{\"pairs\":%d,\"threads\":%d,\"max_size\":%llu,\"ring\":%u,\"trials\":%d,"
                 "\"trial_ms\":%d,\"warmup_ms\":%d,\"seed\":%llu}",
                 threads / 2, threads, (unsigned long long)max, PC_RING, p->ar_trials,
                 p->ar_trial_ms, p->ar_warmup_ms, (unsigned long long)p->seed);
    else
        snprintf(out, n,
                 "{\"threads\":%d,\"max_size\":%llu,\"realloc\":true,\"realloc_max\":%llu,"
                 "\"trials\":%d,\"trial_ms\":%d,\"warmup_ms\":%d,\"batch\":%d,\"min_live\":%d,"
                 "\"stripes\":%d,\"seed\":%llu}",
                 threads, (unsigned long long)max, (unsigned long long)(3 * max), p->ar_trials,
                 p->ar_trial_ms, p->ar_warmup_ms, TB_RA_BATCH, TB_RA_MIN_LIVE, p->ar_stripes,
                 (unsigned long long)p->seed);
}

static void ar_record(const char *wl, const char *params, const char *alloc, const char *metric,
                      const char *unit, const double *v, int ntrials)
{
    tb_record_t r = {.higher_is_better = true, .nsamples = ntrials};
    snprintf(r.workload, sizeof r.workload, "%s", wl);
    snprintf(r.params, sizeof r.params, "%s", params);
    snprintf(r.allocator, sizeof r.allocator, "%s", alloc);
    snprintf(r.metric, sizeof r.metric, "%s", metric);
    snprintf(r.unit, sizeof r.unit, "%s", unit);
    double sum = 0;
    int ok = 0;
    for (int t = 0; t < ntrials; t++) {
        r.samples[t] = v[t];
        if (!isnan(v[t]))
            sum += v[t], ok++;
    }
    r.na = ok < ntrials;
    r.value = ok ? sum / ok : (double)NAN;
    tb_record(&r);
}

static int ar_index_of(const tb_run_t *run, const char *name)
{
    for (int k = 0; k < run->mt_nallocs; k++)
        if (strcmp(run->mt_allocs[k]->name, name) == 0)
            return k;
    return -1;
}

/* Counters-cost pairs: ours with counters next to the TALC_COUNTERS=0 copy, per trial. */
static void ar_note_pairs(const tb_run_t *run, const ar_samples_t *s, int ntrials, bool pc)
{
    static const char *const pairs[][2] = {{"talc-arena", "talc-nocounters-arena"},
                                           {"talc-arena-pt", "talc-nocounters-arena-pt"},
                                           {"talc-arena-tc", "talc-nocounters-arena-tc"}};
    for (int i = 0; i < 3; i++) {
        int with = ar_index_of(run, pairs[i][0]), without = ar_index_of(run, pairs[i][1]);
        if (with < 0 || without < 0)
            continue;
        for (int t = 0; t < ntrials; t++) {
            if (!pc)
                tb_note_arena_counter_pair(s[with].cpu[t], s[without].cpu[t], false);
            tb_note_arena_counter_pair(s[with].wall[t], s[without].wall[t], true);
        }
    }
}

static void ar_progress(const tb_run_t *run, const char *wl, int threads, uint64_t max,
                        const ar_samples_t *s, int ntrials, bool pc)
{
    char msg[512];
    double min_share = 1;
    int len = snprintf(msg, sizeof msg, "%s %s=%d max=%llu", wl, pc ? "pairs" : "threads",
                       pc ? threads / 2 : threads, (unsigned long long)max);
    for (int k = 0; k < run->mt_nallocs && len < (int)sizeof msg - 48; k++) {
        double sum = 0;
        for (int t = 0; t < ntrials; t++) {
            sum += s[k].wall[t];
            if (!pc && s[k].share[t] < min_share)
                min_share = s[k].share[t];
        }
        len += snprintf(msg + len, sizeof msg - (size_t)len, "  %s %.2fM/s",
                        run->mt_allocs[k]->name, sum / ntrials / 1e6);
    }
    if (min_share < 0.9 && len < (int)sizeof msg - 60)
        snprintf(msg + len, sizeof msg - (size_t)len,
                 "  (min CPU share %.2f: preempted, or asleep on a lock)", min_share);
    tb_progress("%s", msg);
}

/* The --arena-max-threads knob. */
static bool ar_skip(const tb_params_t *p, int threads)
{
    return p->ar_max_threads > 0 && threads > p->ar_max_threads;
}

static void ar_run(const tb_run_t *run, bool pc)
{
    const tb_params_t *p = run->params;
    const char *wl = pc ? "arena_producer_consumer" : "arena_thread_local";
    int ntrials = p->ar_trials > 64 ? 64 : p->ar_trials;
    int ncounts = pc ? PC_NCOUNTS : TL_NCOUNTS;
    int nmax = pc ? 1 : p->ar_nmax;
    static ar_samples_t s[TL_NCOUNTS][AR_MAX_ALLOCS];
    if (run->mt_nallocs == 0)
        return;
    for (int i = 0; i < TB_MT_MAX_THREADS && !pc; i++)
        if (ar_tables[i].b.v == NULL)
            tb_blocks_init(&ar_tables[i].b, AR_TABLE_CAP);
    for (int m = 0; m < nmax; m++) {
        uint64_t max = (uint64_t)(pc ? p->pc_max : p->ar_max[m]);
        /* Priming round, not recorded: first-touch page faults (12 µs per page here) and
         * first-use set-up happen here for every allocator rather than in trial 0. */
        for (int c = 0; c < ncounts; c++)
            for (int k = 0; k < run->mt_nallocs; k++)
                if (!ar_skip(p, pc ? 2 * pc_pairs[c] : tl_threads[c]))
                    ar_trial(run, k, pc, pc ? 2 * pc_pairs[c] : tl_threads[c], max, 0, 10,
                             &s[c][k]);
        for (int t = 0; t < ntrials; t++)
            for (int c = 0; c < ncounts; c++)
                for (int j = 0; j < run->mt_nallocs; j++) {
                    int k = (j + t) % run->mt_nallocs;
                    int n = pc ? 2 * pc_pairs[c] : tl_threads[c];
                    if (ar_skip(p, n))
                        continue;
                    ar_trial(run, k, pc, n, max, t, p->ar_trial_ms, &s[c][k]);
                }
        for (int c = 0; c < ncounts; c++) {
            int n = pc ? 2 * pc_pairs[c] : tl_threads[c];
            if (ar_skip(p, n))
                continue;
            char params[320];
            tb_arena_params(params, sizeof params, p, pc, n, max);
            for (int k = 0; k < run->mt_nallocs; k++) {
                const char *name = run->mt_allocs[k]->name;
                ar_record(wl, params, name, pc ? "blocks_per_s" : "ops_per_s",
                          pc ? "blocks/s" : "ops/s", s[c][k].wall, ntrials);
                if (pc)
                    continue;
                ar_record(wl, params, name, "ops_per_s_adj", "ops/s", s[c][k].adj, ntrials);
                ar_record(wl, params, name, "ops_per_cpu_s", "ops/CPU-s", s[c][k].cpu, ntrials);
                ar_record(wl, params, name, "cpu_share", "fraction", s[c][k].share, ntrials);
            }
            ar_note_pairs(run, s[c], ntrials, pc);
            ar_progress(run, wl, n, max, s[c], ntrials, pc);
        }
    }
}

void tb_arena_thread_local(const tb_run_t *run) { ar_run(run, false); }
void tb_arena_producer_consumer(const tb_run_t *run) { ar_run(run, true); }
