/* platform_cpu.c — CPU facts for the hosted library: the data cache line size.
 *
 * Not part of the bare-metal engine. Concurrency: the value is computed on first use and cached
 * in a relaxed atomic; two threads racing compute the same value.
 */
#include <stdalign.h>
#include <stddef.h>
#include <unistd.h>

#include "atomic.h"
#include "sysfs_read.h"
#include "talc/platform.h"

static talc_atomic_size talc_line_cache; /* 0 = not computed yet */

static size_t talc_line_from_sysfs(void)
{
    uint32_t v = talc_sysfs_read_u("/sys/devices/system/cpu/cpu0/cache/index0/coherency_line_size");
    return v == TALC_SYSFS_NONE ? 0 : v;
}

static size_t talc_line_from_cpu(void)
{
#if defined(__aarch64__)
    unsigned long ctr;
    __asm__ __volatile__("mrs %0, ctr_el0" : "=r"(ctr));
    return (size_t)4u << ((ctr >> 16) & 0xfu); /* DminLine: log2 of words */
#else
    return 64;
#endif
}

static int talc_line_ok(size_t v)
{
    return v >= alignof(max_align_t) && v <= 4096 && (v & (v - 1)) == 0;
}

size_t talc_cache_line_size(void)
{
    size_t v = talc_atomic_load_relaxed_size(&talc_line_cache);
    if (v)
        return v;
#ifdef _SC_LEVEL1_DCACHE_LINESIZE
    long s = sysconf(_SC_LEVEL1_DCACHE_LINESIZE);
    v = s > 0 ? (size_t)s : 0;
#endif
    if (!talc_line_ok(v))
        v = talc_line_from_sysfs();
    if (!talc_line_ok(v))
        v = talc_line_from_cpu();
    if (!talc_line_ok(v))
        v = 64;
    talc_atomic_store_relaxed_size(&talc_line_cache, v);
    return v;
}
