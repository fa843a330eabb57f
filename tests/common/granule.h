/* tests/common/granule.h — the owner-map granule (TALC_PAGEMAP_SHIFT, talc/config.h) as the
 * tests see it, and sizes chosen for the default build scaled to the build's granule, so that
 * a test sized for 64 KiB granules tests the same property at 4 KiB or 4 MiB ones.
 * Header-only macros, no Criterion (the fuzz harness uses it too).
 *
 * Who may use it: test code only. Concurrency: no state.
 */
#ifndef TALC_TEST_GRANULE_H
#define TALC_TEST_GRANULE_H

#include <stddef.h>

#include "talc/config.h"

/* The owner-map granule: segments, buffer runs and reserve runs are multiples of it. */
#define TEST_GRANULE ((size_t)1 << TALC_PAGEMAP_SHIFT)

/* A size a test chose for the default 64 KiB granule, scaled to the build's granule (the same
 * fraction or multiple of a granule; exact for multiples of 16 down to 4 KiB granules). A
 * shift, not a product: no 32-bit overflow on the way. */
#if TALC_PAGEMAP_SHIFT >= 16
#define TEST_GRANULE_SCALED(n) ((size_t)(n) << (TALC_PAGEMAP_SHIFT - 16))
#else
#define TEST_GRANULE_SCALED(n) ((size_t)(n) >> (16 - TALC_PAGEMAP_SHIFT))
#endif

/* An OS-source arena's default segment: 1 MiB, or one granule where that is larger
 * (docs/arenas.md, "Memory: segments and the owner map"); and a size a test chose for 1 MiB
 * segments, scaled to it. */
#define TEST_OS_SEGMENT (TEST_GRANULE > ((size_t)1 << 20) ? TEST_GRANULE : ((size_t)1 << 20))
#define TEST_SEGMENT_SCALED(n) ((size_t)(n) * (TEST_OS_SEGMENT >> 20))

#endif /* TALC_TEST_GRANULE_H */
