/* talc/platform.h — facts about the machine the hosted library runs on.
 *
 * Not part of the bare-metal engine (heap.h): these query the OS.
 * Concurrency: every function may be called from any thread; results are computed once and
 * cached (a benign race computes the same value twice).
 */
#ifndef TALC_PLATFORM_H
#define TALC_PLATFORM_H

#include <stddef.h>

#include "talc/config.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Size of the data cache line (coherency granule) in bytes: from sysconf, then sysfs, then the
 *  architecture's known granule (x86_64: 64, aarch64: 64; 128 where CTR_EL0 says so). Always a
 *  power of two in [alignof(max_align_t), 4096]. Cost O(1) after the first call. */
TALC_API size_t talc_cache_line_size(void);

#ifdef __cplusplus
}
#endif

#endif /* TALC_PLATFORM_H */
