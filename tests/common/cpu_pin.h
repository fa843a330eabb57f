/* cpu_pin.h — tests that need the calling thread on a given CPU: pin it, and find the CPUs the
 * process may use.
 *
 * Concurrency: each function acts on the calling thread only.
 */
#ifndef TALC_TEST_CPU_PIN_H
#define TALC_TEST_CPU_PIN_H

#ifndef _GNU_SOURCE
#error "cpu_pin.h needs _GNU_SOURCE defined before the first include"
#endif
#include <sched.h>
#include <stdbool.h>

/* Pin the calling thread to CPU `cpu`; false if it cannot run there (offline, not allowed). */
static inline bool test_pin_cpu(int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return sched_setaffinity(0, sizeof set, &set) == 0;
}

/* The first `max` CPUs the process may run on, lowest first, into out[]; returns how many
 * there are (at most max). */
static inline int test_allowed_cpus(int *out, int max)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) != 0)
        return 0;
    int n = 0;
    for (int c = 0; c < CPU_SETSIZE && n < max; c++)
        if (CPU_ISSET(c, &set))
            out[n++] = c;
    return n;
}

#endif /* TALC_TEST_CPU_PIN_H */
