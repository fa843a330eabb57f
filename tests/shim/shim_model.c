/* shim_model.c — a random model test of the malloc shim: long seeded sequences of the whole
 * malloc family in several threads, checked against a per-thread shadow of the live blocks
 * (docs/shim.md, "Tests"). A plain program (no Criterion): it runs under
 * LD_PRELOAD=libtalc-malloc.so or linked with libtalc-malloc.a, and uses nothing of libtalc
 * but the malloc family. This file runs the workers, the rounds and the barrier checks;
 * shim_model_ops.c makes the calls and checks each one.
 *
 * Each worker thread makes OPS operations drawn from its own generator (seeded from the run's
 * seed and its index): malloc, calloc (also with n * size overflowing), realloc (grow,
 * shrink, to 0, of NULL, too large), reallocarray (also overflowing), posix_memalign,
 * aligned_alloc, memalign, valloc, pvalloc (valid and invalid alignments, impossible sizes),
 * malloc_usable_size, free, free_sized and free_aligned_sized (as C23 allows them). Sizes run
 * from 0 to 4 MiB, most of them small. What is checked:
 *   - alignment: every pointer as asked and to alignof(max_align_t); with SHIM_EXPECT_LINE=1
 *     (TALC_CONF cache_aligned=1) also on the start of a cache line;
 *   - usable size: malloc_usable_size >= the size asked (pvalloc: rounded up to a page), the
 *     same value for as long as the block lives, 0 for NULL;
 *   - contents: a pattern written over the whole usable size at allocation survives until the
 *     free and, across realloc, up to min(old, new) size; calloc's bytes read zero first;
 *   - failures: NULL with errno ENOMEM or EINVAL as docs/shim.md says; a failed realloc or
 *     reallocarray leaves its block as it was; posix_memalign returns the error, leaves
 *     *memptr alone when it fails and never changes errno; the free family never changes
 *     errno; realloc(p, 0) frees p and returns NULL;
 *   - at the end of every round (SHIM_MODEL_ROUND operations per thread), at a barrier: the
 *     live blocks of every thread and those in transit, sorted by address, do not overlap
 *     (usable sizes counted), nor share a cache line with SHIM_EXPECT_LINE=1; every thread
 *     re-reads the pattern of each of its blocks;
 *   - at the end, every block freed: mallinfo2's live bytes are back to their value before the
 *     first operation (a block realloc(p, 0) or a sized free did not free shows here; with
 *     TALC_COUNTERS=OFF both are 0).
 * Cross-thread frees: a worker hands random live blocks on through its outbox; after each
 * round's barrier every worker takes over another worker's outbox (the pairing rotates with
 * the round), frees half of those blocks at once and keeps the rest to free or realloc later.
 *
 * Usage: shim_model [OPS [THREADS]] (else SHIM_MODEL_OPS, SHIM_MODEL_THREADS; defaults 20000
 * operations per thread, 4 threads). TALC_SEED=<n> replays a run (the seed is printed first):
 * every worker makes the same calls with the same arguments, its handovers included; the
 * addresses and the interleaving of the threads differ. Also SHIM_MODEL_ROUND (operations
 * between barrier checks; OPS / 20 within 50..1000), SHIM_MODEL_MAX_SIZE (4 MiB),
 * SHIM_MODEL_LIVE (live bytes per thread before it only frees, 16 MiB), SHIM_MODEL_OOM_OK=1
 * (an arena budget may refuse an ordinary request too: then with NULL and ENOMEM, and nothing
 * lost). Exit status 0 iff every check passed; each failure is one line on stderr with the
 * seed, thread, round, operation number and the call (the first 40 are shown, all counted).
 *
 * Concurrency: the model's own memory (shadows, outboxes, the sorted table) comes from mmap,
 * never from the allocator under test. Each worker owns its shadow; the two barriers that end
 * a round are the only synchronisation (shim_model.h says who reads what when). The failure
 * count is atomic.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <malloc.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "rng.h"
#include "shim_model.h"

enum { PRINT_MAX = 40 };

model_t model;

/* ---- Reporting -----------------------------------------------------------------------------*/

void model_set_call(worker_t *w, const char *call, unsigned nargs, size_t a, size_t b, size_t c)
{
    w->call = call;
    w->nargs = nargs;
    w->arg[0] = a;
    w->arg[1] = b;
    w->arg[2] = c;
    w->calls++;
}

/* What a failure line names outside a call: a barrier check, the final check. */
void model_set_context(worker_t *w, const char *what)
{
    w->call = what;
    w->nargs = 0;
}

static void describe_call(const worker_t *w, char *buf, size_t cap)
{
    int k = snprintf(buf, cap, w->nargs ? "%s(" : "%s", w->call);
    for (unsigned i = 0; i < w->nargs && k > 0 && (size_t)k < cap; i++)
        k += snprintf(buf + k, cap - (size_t)k, w->arg[i] < 1000000000u ? "%s%zu" : "%s%#zx",
                      i ? ", " : "", w->arg[i]);
    if (w->nargs && k > 0 && (size_t)k < cap)
        snprintf(buf + k, cap - (size_t)k, ")");
}

void model_fail(const worker_t *w, const char *fmt, ...)
{
    unsigned long k = atomic_fetch_add(&model.failures, 1);
    if (k > PRINT_MAX)
        return;
    if (k == PRINT_MAX) {
        fputs("shim_model: more failures, not shown\n", stderr);
        return;
    }
    char call[160], what[400];
    describe_call(w, call, sizeof call);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    fprintf(stderr, "shim_model: FAIL seed %" PRIu64 " thread %u round %u op %lu: %s: %s\n",
            model.seed, w->id, w->round, w->op, call, what);
}

/* ---- The model's own memory: mmap, never the allocator under test ------------------------*/

static void *model_map(size_t bytes)
{
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        perror("shim_model: mmap");
        exit(2);
    }
    return p;
}

/* ---- Barrier checks -----------------------------------------------------------------------*/

static void sort_ranges(range_t *a, range_t *tmp, size_t n) /* merge sort by lo */
{
    if (n < 2)
        return;
    size_t h = n / 2, i = 0, j = h, k = 0;
    sort_ranges(a, tmp, h);
    sort_ranges(a + h, tmp, n - h);
    while (i < h && j < n)
        tmp[k++] = a[j].lo < a[i].lo ? a[j++] : a[i++];
    while (i < h)
        tmp[k++] = a[i++];
    while (j < n)
        tmp[k++] = a[j++];
    memcpy(a, tmp, n * sizeof a[0]);
}

static size_t gather_one(range_t *t, size_t k, const blk_t *b, size_t n, unsigned thread)
{
    for (size_t i = 0; i < n; i++) {
        size_t u = b[i].usable ? b[i].usable : 1u;
        t[k++] = (range_t){(uintptr_t)b[i].p, (uintptr_t)b[i].p + u, b[i].n, thread};
    }
    return k;
}

/* Every live or in-transit block of every thread, sorted: no overlap, no shared line. */
static void check_overlap(worker_t *w, unsigned round)
{
    size_t k = 0;
    for (unsigned t = 0; t < model.threads; t++) {
        k = gather_one(model.table, k, model.w[t].live, model.w[t].nlive, t);
        k = gather_one(model.table, k, model.out[t].b[round & 1u], model.out[t].n[round & 1u], t);
    }
    sort_ranges(model.table, model.scratch, k);
    model_set_context(w, "barrier check");
    for (size_t i = 0; i + 1 < k; i++) {
        const range_t *a = &model.table[i], *b = &model.table[i + 1];
        if (b->lo < a->hi)
            model_fail(w,
                       "blocks overlap: %#" PRIxPTR "..%#" PRIxPTR " (asked %zu, thread %u) "
                       "and %#" PRIxPTR "..%#" PRIxPTR " (asked %zu, thread %u)",
                       a->lo, a->hi, a->n, a->thread, b->lo, b->hi, b->n, b->thread);
        else if (model.line && (a->hi - 1u) / model.line == b->lo / model.line)
            model_fail(w,
                       "blocks share a cache line: %#" PRIxPTR "..%#" PRIxPTR " (thread %u) "
                       "and %#" PRIxPTR " (thread %u), line %zu",
                       a->lo, a->hi, a->thread, b->lo, b->thread, model.line);
    }
    model.checks++;
}

static void end_round(worker_t *w, unsigned round)
{
    pthread_barrier_wait(&model.barrier);
    model_set_context(w, "barrier check");
    for (size_t i = 0; i < w->nlive; i++)
        model_verify(w, &w->live[i], w->live[i].len, "at the round's barrier");
    const outbox_t *o = &model.out[w->id];
    for (unsigned i = 0; i < o->n[round & 1u]; i++)
        model_verify(w, &o->b[round & 1u][i], o->b[round & 1u][i].len, "in the outbox");
    if (w->id == 0)
        check_overlap(w, round);
    pthread_barrier_wait(&model.barrier);
}

/* ---- Workers ------------------------------------------------------------------------------*/

static void *worker_main(void *arg)
{
    worker_t *w = arg;
    pthread_barrier_wait(&model.barrier); /* every worker exists: nothing allocates now */
    if (w->id == 0)
        model.mallinfo_start = mallinfo2().uordblks;
    pthread_barrier_wait(&model.barrier);
    for (unsigned r = 0; r < model.rounds; r++) {
        w->round = r;
        model_take_over(w, r);
        unsigned long n = r + 1u < model.rounds ? model.round_ops : model.ops - r * model.round_ops;
        for (unsigned long k = 0; k < n; k++, w->op++)
            model_step(w);
        end_round(w, r);
    }
    w->round = model.rounds;
    model_take_over(w, model.rounds);
    model_free_all(w);
    pthread_barrier_wait(&model.barrier);
    if (w->id == 0) {
        size_t now = mallinfo2().uordblks;
        model_set_context(w, "final check");
        if (now != model.mallinfo_start)
            model_fail(w,
                       "mallinfo2: every block freed, but %zu bytes are live, %zu before "
                       "the first operation",
                       now, model.mallinfo_start);
    }
    return NULL;
}

/* ---- Set-up -------------------------------------------------------------------------------*/

static unsigned long env_num(const char *name, unsigned long def)
{
    const char *v = getenv(name);
    return v && *v ? strtoul(v, NULL, 0) : def;
}

/* The cache line the library uses (src/platform_cpu.c: sysconf, then sysfs, then 64). */
static size_t cache_line(void)
{
    long s = sysconf(_SC_LEVEL1_DCACHE_LINESIZE);
    size_t v = s > 0 ? (size_t)s : 0;
    FILE *f =
        v ? NULL : fopen("/sys/devices/system/cpu/cpu0/cache/index0/coherency_line_size", "r");
    if (f) {
        unsigned long x = 0;
        if (fscanf(f, "%lu", &x) == 1)
            v = x;
        fclose(f);
    }
    return v >= _Alignof(max_align_t) && v <= 4096 && (v & (v - 1u)) == 0 ? v : 64;
}

/* malloc_info names libtalc's format: the shim is in use (not glibc's malloc). */
static bool shim_in_use(void)
{
    static char buf[1 << 16];
    FILE *f = fmemopen(buf, sizeof buf - 1u, "w");
    if (!f)
        return false;
    int rc = malloc_info(0, f);
    fclose(f);
    return rc == 0 && strstr(buf, "<malloc version=\"talc-1\">") != NULL;
}

static void configure(int argc, char **argv)
{
    model.seed = test_pick_seed((uint64_t)getpid());
    model.ops = argc > 1 ? strtoul(argv[1], NULL, 0) : env_num("SHIM_MODEL_OPS", 20000);
    model.threads =
        (unsigned)(argc > 2 ? strtoul(argv[2], NULL, 0) : env_num("SHIM_MODEL_THREADS", 4));
    if (model.threads < 1 || model.threads > MAX_THREADS)
        model.threads = model.threads < 1 ? 1 : MAX_THREADS;
    unsigned long round = model.ops / 20u; /* about 20 checks, 50..1000 operations apart */
    round = round < 50 ? 50 : round > 1000 ? 1000 : round;
    model.round_ops = env_num("SHIM_MODEL_ROUND", round);
    model.round_ops = model.round_ops ? model.round_ops : 1;
    model.rounds = (unsigned)((model.ops + model.round_ops - 1u) / model.round_ops);
    model.max_size = env_num("SHIM_MODEL_MAX_SIZE", 4u << 20);
    model.live_cap = env_num("SHIM_MODEL_LIVE", 16u << 20);
    model.oom_ok = env_num("SHIM_MODEL_OOM_OK", 0) != 0;
    model.line = env_num("SHIM_EXPECT_LINE", 0) ? cache_line() : 0;
    model.page = (size_t)sysconf(_SC_PAGESIZE);
}

static void set_up(void)
{
    size_t entries = (size_t)model.threads * (MAX_LIVE + OUTBOX_CAP);
    model.w = model_map(model.threads * sizeof(worker_t));
    model.out = model_map(model.threads * sizeof(outbox_t));
    model.table = model_map(entries * sizeof(range_t));
    model.scratch = model_map(entries * sizeof(range_t));
    for (unsigned t = 0; t < model.threads; t++) {
        worker_t *w = &model.w[t];
        w->id = t;
        w->live = model_map(MAX_LIVE * sizeof(blk_t));
        w->next_seed = (uint32_t)t << 24;
        uint64_t x = model.seed ^ ((uint64_t)t * 0x9e3779b97f4a7c15ull);
        test_rng_seed(&w->rng, test_splitmix64(&x));
    }
    pthread_barrier_init(&model.barrier, NULL, model.threads);
}

static void summary(void)
{
    unsigned long calls = 0, handed = 0, taken = 0, oom = 0, by_op[N_OPS] = {0};
    for (unsigned t = 0; t < model.threads; t++) {
        calls += model.w[t].calls;
        handed += model.w[t].handed;
        taken += model.w[t].taken;
        oom += model.w[t].oom;
        for (unsigned k = 0; k < N_OPS; k++)
            by_op[k] += model.w[t].by_op[k];
    }
    printf("shim_model: %lu calls in %u threads, %lu blocks handed to another thread (%lu "
           "taken over), %u barrier checks, %lu requests refused by the budget\n",
           calls, model.threads, handed, taken, model.checks, oom);
    printf("shim_model: operations:");
    for (unsigned k = 0; k < N_OPS; k++)
        printf(" %s %lu%s", model_op_name(k), by_op[k], k + 1u < N_OPS ? "," : "\n");
}

int main(int argc, char **argv)
{
    configure(argc, argv);
    printf("shim_model: seed %" PRIu64 " (replay: TALC_SEED=%" PRIu64 "), %u threads x %lu "
           "operations, a check every %lu%s%s\n",
           model.seed, model.seed, model.threads, model.ops, model.round_ops,
           model.line ? ", cache-aligned" : "", model.oom_ok ? ", ENOMEM allowed" : "");
    fflush(stdout);
    if (!shim_in_use() || !free_sized || !free_aligned_sized) {
        fprintf(stderr, "shim_model: FAIL: malloc_info is not libtalc's: the shim is not in "
                        "use\n");
        return 1;
    }
    set_up();
    pthread_t tid[MAX_THREADS];
    for (unsigned t = 0; t < model.threads; t++)
        if (pthread_create(&tid[t], NULL, worker_main, &model.w[t]) != 0) {
            fprintf(stderr, "shim_model: cannot create thread %u\n", t);
            return 2;
        }
    for (unsigned t = 0; t < model.threads; t++)
        pthread_join(tid[t], NULL);
    summary();
    unsigned long f = atomic_load(&model.failures);
    if (f) {
        fprintf(stderr, "shim_model: %lu checks failed (seed %" PRIu64 ")\n", f, model.seed);
        return 1;
    }
    printf("shim_model: all checks passed\n");
    return 0;
}
