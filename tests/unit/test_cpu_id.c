/* test_cpu_id.c — the calling thread's CPU (src/cpu_id.c): always below the CPU count, right
 * after pinning to each CPU, the countdown cache's exact refresh period, the source chosen
 * (rseq natively with glibc >= 2.35, sched_getcpu under qemu-user), and many threads at once. */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "cpu_id.h"
#include "cpu_pin.h"

#if defined(__has_include)
#if __has_include(<sys/rseq.h>)
#include <sys/rseq.h>
#define TEST_HAVE_RSEQ_HEADER 1
#endif
#endif
#ifndef TEST_HAVE_RSEQ_HEADER
#define TEST_HAVE_RSEQ_HEADER 0
#endif

static unsigned ncpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_CONF);
    return n > 0 ? (unsigned)n : 1u;
}

/* Pins the calling thread to one CPU; false if that CPU cannot be used (offline, not allowed). */
static bool pin(unsigned cpu) { return test_pin_cpu((int)cpu); }

Test(cpu_id, current_is_below_the_cpu_count)
{
    for (int i = 0; i < 100000; i++) {
        cr_assert_lt(talc_cpu_current(), ncpus());
        cr_assert_lt(talc_cpu_cached(), ncpus());
    }
}

Test(cpu_id, current_follows_pinning)
{
    unsigned pinned = 0;
    for (unsigned cpu = 0; cpu < ncpus() && cpu < 16; cpu++) {
        if (!pin(cpu))
            continue;
        pinned++;
        for (int i = 0; i < 100; i++)
            cr_assert_eq(talc_cpu_current(), cpu, "pinned to %u", cpu);
    }
    cr_assert_geq(pinned, 1, "could pin to at least one CPU");
    if (ncpus() >= 2) {
        cr_assert(pin(1));
        cr_assert_eq(talc_cpu_current(), 1);
    }
}

/* The countdown refreshes on the first call and then exactly every TALC_CPU_CACHE_REFRESH
 * calls: after a migration it returns the old CPU until the period ends. */
Test(cpu_id, countdown_refreshes_exactly_every_period)
{
    if (ncpus() < 2 || !pin(0))
        cr_skip_test("needs CPUs 0 and 1");
    cr_assert_eq(talc_cpu_countdown(), 0, "first call asks the OS");
    cr_assert(pin(1));
    for (unsigned i = 1; i < TALC_CPU_CACHE_REFRESH; i++)
        cr_assert_eq(talc_cpu_countdown(), 0, "call %u of the period is cached", i + 1);
    cr_assert_eq(talc_cpu_countdown(), 1, "call %u refreshes", TALC_CPU_CACHE_REFRESH + 1);
    cr_assert(pin(0));
    cr_assert_eq(talc_cpu_countdown(), 1, "stale again until the next period");
}

Test(cpu_id, cached_catches_up_within_one_period)
{
    if (ncpus() < 2 || !pin(0))
        cr_skip_test("needs CPUs 0 and 1");
    cr_assert_eq(talc_cpu_cached(), 0);
    cr_assert(pin(1));
    unsigned calls = 1;
    while (talc_cpu_cached() != 1) {
        calls++;
        cr_assert_leq(calls, TALC_CPU_CACHE_REFRESH, "still stale after %u calls", calls);
    }
    if (talc_cpu_source() == TALC_CPU_SOURCE_RSEQ)
        cr_assert_eq(calls, 1, "rseq is never stale");
}

Test(cpu_id, source_is_rseq_exactly_when_glibc_registered_it)
{
    talc_cpu_source_t s = talc_cpu_source();
#if TEST_HAVE_RSEQ_HEADER
    cr_log_info("__rseq_size %u, __rseq_offset %td, source %d", __rseq_size, __rseq_offset, (int)s);
    if (__rseq_size > 0)
        cr_assert_eq(s, TALC_CPU_SOURCE_RSEQ);
    else
        cr_assert_eq(s, TALC_CPU_SOURCE_GETCPU, "qemu-user and rseq=0 tunables fall back");
#else
    cr_assert_neq(s, TALC_CPU_SOURCE_RSEQ, "no <sys/rseq.h>: no rseq");
#endif
}

static void *hammer(void *arg)
{
    unsigned n = *(const unsigned *)arg, bad = 0;
    for (int i = 0; i < 200000; i++)
        bad += (talc_cpu_current() >= n) + (talc_cpu_cached() >= n);
    return (void *)(uintptr_t)bad;
}

Test(cpu_id, many_threads_each_see_a_valid_cpu)
{
    unsigned n = ncpus();
    pthread_t th[8];
    for (int i = 0; i < 8; i++)
        cr_assert_eq(pthread_create(&th[i], NULL, hammer, &n), 0);
    for (int i = 0; i < 8; i++) {
        void *bad;
        pthread_join(th[i], &bad);
        cr_assert_eq((uintptr_t)bad, 0, "thread %d saw CPUs >= %u", i, n);
    }
}

/* Nanoseconds per call of f over a million calls (logged only), checking every answer. */
static double ns_per_call(unsigned (*f)(void))
{
    struct timespec a, b;
    unsigned top = 0, n = ncpus();
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (int i = 0; i < 1000000; i++) {
        unsigned c = f();
        top = c > top ? c : top;
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    cr_assert_lt(top, n, "a CPU id of %u with %u CPUs", top, n);
    return ((double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec)) / 1e6;
}

static unsigned getcpu_call(void) { return (unsigned)sched_getcpu(); }

Test(cpu_id, a_million_answers_are_cpu_ids_and_their_cost_is_logged)
{
    double cur = ns_per_call(talc_cpu_current), cached = ns_per_call(talc_cpu_cached);
    double countdown = ns_per_call(talc_cpu_countdown), getcpu = ns_per_call(getcpu_call);
    cr_log_info("ns/call: current %.1f, cached %.1f, countdown %.1f, sched_getcpu %.1f", cur,
                cached, countdown, getcpu);
    /* The times are logged, not checked: tests assert no timings (until 2026-12-07 this
     * asserted 10 us per call, which a slow emulator or valgrind could fail with correct
     * answers; found by a review). ns_per_call checks the answers. */
}
