/* topology_sysfs.c — the small-target topology backend: raw CPU facts from Linux sysfs
 * (topology.h, talc_topology_probe_sysfs). Compiled into the library when TALC_TOPOLOGY_HWLOC=0;
 * the hwloc build's tests compile it too, to check that both backends agree.
 *
 * Who calls it: talc_topology_get() (once per process) and tests (with a fake sysfs tree).
 * Concurrency: reentrant; it keeps no state. Allocation: none (sysfs_read.c: open/read on
 * stack buffers, no stdio, no malloc), so it is safe under a malloc shim.
 *
 * What it reads, under sysdir (normally /sys/devices/system), for each CPU N < ncpus:
 *   cpu/cpuN/topology/thread_siblings_list (else core_cpus_list)  -> core_first
 *   cpu/cpuN/cache/indexK/{level,type,shared_cpu_list}              -> cache_first[level - 1]
 *       (K = 0, 1, ... until one is missing; "Instruction" caches are skipped)
 *   cpu/cpu0/cache/indexK/coherency_line_size of the level-1 data cache -> the return value
 * A CPU list such as "0-3,8-11" is sorted, so its first number is the set's lowest CPU.
 */
#include "topology.h"

#include <stddef.h>
#include "sysfs_read.h"

_Static_assert(TALC_SYSFS_NONE == TALC_TOPOLOGY_NONE, "sysfs_read.h's no-number is NONE");

#define TALC_SYSFS_PATH 512u   /* longest path built */
#define TALC_SYSFS_INDEXES 32u /* cache/indexK searched */

/* ---- Paths without stdio ----------------------------------------------------------------- */

/* Appends s at buf[*at] and terminates; truncates at TALC_SYSFS_PATH - 1 bytes (a truncated
 * path names no file, so it reads as "unknown"). */
static void talc_sysfs_put(char *buf, size_t *at, const char *s)
{
    while (*s && *at < TALC_SYSFS_PATH - 1)
        buf[(*at)++] = *s++;
    buf[*at] = '\0';
}

static void talc_sysfs_put_u(char *buf, size_t *at, unsigned v)
{
    char digits[12];
    size_t n = 0;
    do {
        digits[n++] = (char)('0' + v % 10u);
        v /= 10u;
    } while (v);
    while (n && *at < TALC_SYSFS_PATH - 1)
        buf[(*at)++] = digits[--n];
    buf[*at] = '\0';
}

/* buf = sysdir/cpu/cpuN/<tail>; returns its length. */
static size_t talc_sysfs_cpu_path(char *buf, const char *sysdir, unsigned cpu, const char *tail)
{
    size_t at = 0;
    talc_sysfs_put(buf, &at, sysdir);
    talc_sysfs_put(buf, &at, "/cpu/cpu");
    talc_sysfs_put_u(buf, &at, cpu);
    talc_sysfs_put(buf, &at, tail);
    return at;
}

/* buf = sysdir/cpu/cpuN/cache/indexK/<name>. */
static void talc_sysfs_cache_path(char *buf, const char *sysdir, unsigned cpu, unsigned index,
                                  const char *name)
{
    size_t at = talc_sysfs_cpu_path(buf, sysdir, cpu, "/cache/index");
    talc_sysfs_put_u(buf, &at, index);
    talc_sysfs_put(buf, &at, "/");
    talc_sysfs_put(buf, &at, name);
}

/* ---- Values (reading a file: sysfs_read.c) -------------------------------------------------- */

/* ---- Per CPU ----------------------------------------------------------------------------- */

static uint32_t talc_sysfs_core(const char *sysdir, unsigned cpu)
{
    char path[TALC_SYSFS_PATH];
    talc_sysfs_cpu_path(path, sysdir, cpu, "/topology/thread_siblings_list");
    uint32_t f = talc_sysfs_read_u(path);
    if (f != TALC_TOPOLOGY_NONE)
        return f;
    talc_sysfs_cpu_path(path, sysdir, cpu, "/topology/core_cpus_list");
    return talc_sysfs_read_u(path);
}

/* Reads cache indexK of cpu into raw; returns -1 when indexK does not exist. */
static int talc_sysfs_cache(const char *sysdir, unsigned cpu, unsigned k, talc_topology_raw_t *raw,
                            unsigned *line)
{
    char path[TALC_SYSFS_PATH], type[TALC_SYSFS_VALUE];
    talc_sysfs_cache_path(path, sysdir, cpu, k, "level");
    uint32_t level = talc_sysfs_read_u(path);
    if (level == TALC_TOPOLOGY_NONE)
        return -1;
    talc_sysfs_cache_path(path, sysdir, cpu, k, "type");
    if (talc_sysfs_read(path, type) < 0 || type[0] == 'I') /* "Instruction" */
        return 0;
    if (level < 1 || level > TALC_TOPOLOGY_LEVELS)
        return 0;
    talc_sysfs_cache_path(path, sysdir, cpu, k, "shared_cpu_list");
    raw->cache_first[level - 1] = talc_sysfs_read_u(path);
    if (level == 1 && *line == 0) {
        talc_sysfs_cache_path(path, sysdir, cpu, k, "coherency_line_size");
        uint32_t v = talc_sysfs_read_u(path);
        *line = v == TALC_TOPOLOGY_NONE ? 0 : v;
    }
    return 0;
}

int talc_topology_probe_sysfs(const char *sysdir, talc_topology_raw_t *raw, unsigned ncpus)
{
    unsigned line = 0;
    for (unsigned c = 0; c < ncpus; c++) {
        raw[c].core_first = talc_sysfs_core(sysdir, c);
        for (unsigned k = 0; k < TALC_SYSFS_INDEXES; k++)
            if (talc_sysfs_cache(sysdir, c, k, &raw[c], &line) != 0)
                break;
    }
    return (int)line;
}
