/* sw_harness.h — what every suite workload shares: options, the timed run, the result line.
 *
 * A workload is a plain program calling malloc/free/realloc, so that LD_PRELOAD selects the
 * allocator under test. It runs a unit of work (one action, one batch, one round) repeatedly
 * on each of its threads until the run's duration has passed, counts the units, checks the
 * blocks it wrote, and prints exactly one result line on stdout:
 *
 *   SUITE workload=larson threads=2 seconds=0.2011 units=123456 per_s=6.1e+05 unit=ops
 *         malloc_from=libjemalloc.so.2 check=ok                       (one line, wrapped here)
 *
 * `per_s` = units / seconds, summed over threads (throughput; higher is better). `malloc_from`
 * names the object that defines the malloc the program calls; under LD_PRELOAD it must be the
 * preloaded library, else the run fails (ld.so only warns when a preload cannot be loaded).
 * `check` is ok or FAIL; on FAIL the program also says why on stderr and exits 1.
 *
 * Options (sw_parse): -t threads (default 1), -d seconds (default 1), -s seed, -h.
 *
 * Threading rules: sw_parse and sw_run_timed are called by the main thread only. Workers call
 * sw_stop_requested (an acquire load) as often as they like, and sw_fail from any thread.
 * sw_run_timed starts its workers behind a barrier, so set-up done before it (such as blocks
 * allocated by the main thread) happens-before every worker's first action.
 */
#ifndef TALC_SUITE_HARNESS_H
#define TALC_SUITE_HARNESS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define SW_MAX_THREADS 64u

typedef struct sw_args {
    unsigned threads; /* -t: worker threads (or pairs, where the workload says so) */
    double seconds;   /* -d: duration of the timed part */
    uint64_t seed;    /* -s: base seed */
} sw_args_t;

/* Parses the options; prints usage and exits 2 on a bad one. */
void sw_parse(int argc, char **argv, const char *workload, sw_args_t *args);

/* Monotonic clock, seconds. */
double sw_now(void);

/* Set by sw_run_timed when the duration has passed (release); workers poll it. */
extern atomic_int sw_stop_flag;
static inline int sw_stop_requested(void)
{
    return atomic_load_explicit(&sw_stop_flag, memory_order_acquire);
}

/* A worker: runs units until sw_stop_requested(), returns the number of units done. */
typedef uint64_t (*sw_worker_fn)(unsigned index, void *arg);

/* Runs n workers (fn(i, args[i]) on n new threads) for args->seconds, then joins them.
 * Returns the summed units; *elapsed = from the start signal to the last worker's return. */
uint64_t sw_run_timed(unsigned n, sw_worker_fn fn, void *const *args, double seconds,
                      double *elapsed);

/* Records a failed check (thread-safe); the first message goes to stderr. */
void sw_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prints the result line and returns the process exit status (0, or 1 after a failure). */
int sw_report(const char *workload, const sw_args_t *args, uint64_t units, double elapsed,
              const char *unit);

/* malloc that reports and exits on NULL (the workloads never expect one). */
void *sw_xmalloc(size_t size);

#endif /* TALC_SUITE_HARNESS_H */
