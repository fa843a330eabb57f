/* sw_hammer.h — the write loop of the false-sharing workloads (cache-scratch, cache-thrash).
 *
 * sw_hammer() zeroes a small object, then increments each of its bytes `writes` times through
 * a volatile pointer (so every write reaches the cache line), and returns 1 if every byte
 * ends at (uint8_t)writes. If the allocator put two threads' objects on one cache line, the
 * line bounces between the cores on every write: that is the cost these workloads measure.
 *
 * Who may include it: bench/suite/ only. Concurrency: the object belongs to the caller.
 */
#ifndef TALC_SUITE_HAMMER_H
#define TALC_SUITE_HAMMER_H

#include <stddef.h>
#include <stdint.h>

static inline int sw_hammer(void *obj, size_t size, unsigned writes)
{
    volatile uint8_t *p = obj;
    for (size_t b = 0; b < size; b++)
        p[b] = 0;
    for (unsigned w = 0; w < writes; w++) {
        for (size_t b = 0; b < size; b++)
            p[b] = (uint8_t)(p[b] + 1u);
    }
    for (size_t b = 0; b < size; b++) {
        if (p[b] != (uint8_t)writes)
            return 0;
    }
    return 1;
}

#endif /* TALC_SUITE_HAMMER_H */
