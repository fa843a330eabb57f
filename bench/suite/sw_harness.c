/* sw_harness.c — options, the timed multi-threaded run and the result line (sw_harness.h).
 *
 * Threading rules: see sw_harness.h. The start barrier and the join order the workers' set-up
 * and results with the main thread; sw_stop_flag is the only flag the workers poll.
 */
#define _GNU_SOURCE
#include "sw_harness.h"
#include "sw_origin.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

atomic_int sw_stop_flag;
static atomic_int sw_failures;

double sw_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void sw_usage(const char *workload)
{
    fprintf(stderr, "usage: %s [-t threads (1..%u)] [-d seconds] [-s seed]\n", workload,
            SW_MAX_THREADS);
}

void sw_parse(int argc, char **argv, const char *workload, sw_args_t *args)
{
    args->threads = 1;
    args->seconds = 1.0;
    args->seed = 0x5417e5eedull;
    int c;
    while ((c = getopt(argc, argv, "t:d:s:h")) != -1) {
        char *end = NULL;
        errno = 0;
        switch (c) {
        case 't':
            args->threads = (unsigned)strtoul(optarg, &end, 10);
            break;
        case 'd':
            args->seconds = strtod(optarg, &end);
            break;
        case 's':
            args->seed = strtoull(optarg, &end, 0);
            break;
        default:
            sw_usage(workload);
            exit(c == 'h' ? 0 : 2);
        }
        if (errno || !end || *end) {
            sw_usage(workload);
            exit(2);
        }
    }
    if (optind != argc || args->threads < 1 || args->threads > SW_MAX_THREADS ||
        !(args->seconds > 0.0)) {
        sw_usage(workload);
        exit(2);
    }
}

typedef struct sw_thread {
    pthread_t tid;
    unsigned index;
    sw_worker_fn fn;
    void *arg;
    pthread_barrier_t *start;
    uint64_t units;
    double end;
} sw_thread_t;

static void *sw_thread_main(void *p)
{
    sw_thread_t *t = p;
    pthread_barrier_wait(t->start);
    t->units = t->fn(t->index, t->arg);
    t->end = sw_now();
    return NULL;
}

static void sw_sleep(double seconds)
{
    struct timespec ts = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

uint64_t sw_run_timed(unsigned n, sw_worker_fn fn, void *const *args, double seconds,
                      double *elapsed)
{
    sw_thread_t t[SW_MAX_THREADS * 2];
    pthread_barrier_t start;
    if (n > SW_MAX_THREADS * 2) {
        fprintf(stderr, "sw_run_timed: too many threads\n");
        exit(2);
    }
    pthread_barrier_init(&start, NULL, n + 1);
    atomic_store_explicit(&sw_stop_flag, 0, memory_order_relaxed);
    for (unsigned i = 0; i < n; i++) {
        t[i] = (sw_thread_t){.index = i, .fn = fn, .arg = args[i], .start = &start};
        int err = pthread_create(&t[i].tid, NULL, sw_thread_main, &t[i]);
        if (err) {
            fprintf(stderr, "pthread_create: %s\n", strerror(err));
            exit(1);
        }
    }
    pthread_barrier_wait(&start);
    double t0 = sw_now();
    sw_sleep(seconds);
    atomic_store_explicit(&sw_stop_flag, 1, memory_order_release); /* publishes "stop" */
    uint64_t units = 0;
    double last = t0;
    for (unsigned i = 0; i < n; i++) {
        pthread_join(t[i].tid, NULL);
        units += t[i].units;
        if (t[i].end > last)
            last = t[i].end;
    }
    pthread_barrier_destroy(&start);
    *elapsed = last - t0;
    return units;
}

void sw_fail(const char *fmt, ...)
{
    if (atomic_fetch_add_explicit(&sw_failures, 1, memory_order_relaxed) != 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    fputs("check failed: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* The file name of the object that defines the malloc this program calls ("?" if unknown).
 * Under LD_PRELOAD it must be the preloaded library: ld.so only warns and carries on with
 * glibc when a preload cannot be loaded, which would otherwise be measured as the allocator. */
static void sw_check_preload(const char *origin)
{
    if (!sw_preload_matches(origin))
        sw_fail("malloc comes from %s, not from LD_PRELOAD=%s", origin, getenv("LD_PRELOAD"));
}

int sw_report(const char *workload, const sw_args_t *args, uint64_t units, double elapsed,
              const char *unit)
{
    const char *origin = sw_malloc_origin();
    sw_check_preload(origin);
    int failed = atomic_load_explicit(&sw_failures, memory_order_relaxed) != 0;
    double per_s = elapsed > 0.0 ? (double)units / elapsed : 0.0;
    printf("SUITE workload=%s threads=%u seconds=%.4f units=%llu per_s=%.6g unit=%s malloc_from=%s "
           "check=%s\n",
           workload, args->threads, elapsed, (unsigned long long)units, per_s, unit, origin,
           failed ? "FAIL" : "ok");
    fflush(stdout);
    return failed ? 1 : 0;
}

void *sw_xmalloc(size_t size)
{
    void *p = malloc(size);
    if (!p) {
        fprintf(stderr, "malloc(%zu) returned NULL\n", size);
        exit(1);
    }
    return p;
}
