/* resident.h — how many pages of a range are resident (mincore), for tests of memory that
 * must stay untouched (calloc of fresh pages) or be given back (trim). Used by the Criterion
 * tests and by the plain shim program, so it asserts nothing itself.
 *
 * Header-only; the including file defines _DEFAULT_SOURCE or _GNU_SOURCE (for mincore)
 * before any include. Concurrency: none of its own. */
#ifndef TALC_TEST_RESIDENT_H
#define TALC_TEST_RESIDENT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

/* Resident pages of [p, p + n): of the pages it touches, or with `whole` of those wholly
 * inside it. *total gets how many pages that is. SIZE_MAX if mincore (or its vector's
 * allocation) failed: more than *total, so a "fewer than" check fails with the figure. */
static inline size_t test_resident_pages(const void *p, size_t n, bool whole, size_t *total)
{
    uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t lo = whole ? ((uintptr_t)p + pg - 1) & ~(pg - 1) : (uintptr_t)p & ~(pg - 1);
    uintptr_t hi = whole ? ((uintptr_t)p + n) & ~(pg - 1) : ((uintptr_t)p + n + pg - 1) & ~(pg - 1);
    *total = hi > lo ? (size_t)((hi - lo) / pg) : 0;
    if (*total == 0)
        return 0;
    unsigned char *vec = malloc(*total);
    if (!vec || mincore((void *)lo, (size_t)(hi - lo), vec) != 0) {
        free(vec);
        return SIZE_MAX;
    }
    size_t in = 0;
    for (size_t i = 0; i < *total; i++)
        in += vec[i] & 1u;
    free(vec);
    return in;
}

#endif /* TALC_TEST_RESIDENT_H */
