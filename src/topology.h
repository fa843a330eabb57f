/* topology.h — the machine's CPUs, cores and cache domains, loaded once per
 * process, and the map from a CPU to an arena stripe.
 *
 * Who calls it: the dispatcher (stripe of the calling CPU), arena creation ("auto" stripes,
 * cache-line size). Tests call the probes and the builder directly.
 *
 * Concurrency: talc_topology_get() may be called from any thread; the first call probes the
 * machine under pthread_once and every call returns the same immutable struct, which any thread
 * may then read without synchronisation (pthread_once publishes it). The probes and the builder
 * are plain functions on caller memory.
 *
 * Allocation: the tables come from the OS memory seam (os_mem.h), never from malloc. The hwloc
 * backend, however, allocates with malloc inside dlopen and hwloc while it probes (once per
 * process); a malloc shim must guard that first call against recursion. The sysfs backend
 * allocates nothing.
 *
 * Backends:
 *   topology_hwloc.c  hwloc 2.x, opened with dlopen for the probe and closed after it
 *                     (TALC_TOPOLOGY_HWLOC=1, CMake TALC_TOPOLOGY=hwloc, default)
 *   topology_sysfs.c  /sys/devices/system and sysconf: the whole answer in a build for small
 *                     targets (TALC_TOPOLOGY_HWLOC=0, CMake TALC_TOPOLOGY=sysfs, no hwloc at
 *                     all), and the fallback of the hwloc build when libhwloc cannot be
 *                     opened or fails to load a topology
 * Both only report raw facts (talc_topology_raw_t); the policy (what a cache domain is, the
 * dense numbering, the stripe map) lives once, in topology.c.
 */
#ifndef TALC_TOPOLOGY_H
#define TALC_TOPOLOGY_H

#include "talc/config.h"

#include <stdint.h>

/* TALC_TOPOLOGY_HWLOC: see talc/config.h. */

#define TALC_TOPOLOGY_LEVELS 4u       /* cache levels recorded: L1..L4 */
#define TALC_TOPOLOGY_NONE UINT32_MAX /* "not known" in a raw record */
#define TALC_TOPOLOGY_MAX_STRIPES 64u /* cap of talc_topology_auto_stripes() */
#define TALC_TOPOLOGY_MAX_CPUS 65536u /* sanity cap on the possible-CPU count */

/* One CPU as a backend sees it. CPUs are named by OS number, and sets of CPUs (a core, a cache)
 * by their lowest OS number ("first"), which is how both backends can agree exactly.
 *   core_first <= cpu, or NONE (then the CPU is taken to be a core of its own);
 *   cache_first[l] = first CPU sharing this CPU's data or unified cache of level l+1, or NONE
 *                    (no such cache, or nothing known); cache_first[l] <= cpu when known.
 * (No NUMA node: nothing in the library placed memory by the CPU's node, so it is not probed;
 * an arena's numa_node is the caller's choice.) */
typedef struct talc_topology_raw {
    uint32_t core_first;
    uint32_t cache_first[TALC_TOPOLOGY_LEVELS];
} talc_topology_raw_t;

/* One CPU as the library uses it. Invariants, for every cpu c < t->ncpus:
 *   core < ncores, domain < ndomains, core_in_domain < domain_cores;
 *   CPUs of one core share core and domain; cores are numbered in order of their first CPU,
 *   domains in order of their first CPU;
 *   domain_cores = number of cores whose domain is this domain. */
typedef struct talc_topology_cpu {
    uint32_t core;           /* dense core index */
    uint32_t domain;         /* dense cache-domain index */
    uint32_t core_in_domain; /* rank of this CPU's core among its domain's cores */
    uint32_t domain_cores;   /* cores in this CPU's domain (>= 1) */
} talc_topology_cpu_t;

/* The machine. A cache domain is, per CPU, the highest-level data/unified cache shared by more
 * than one core; else its L2; else its core. Immutable once built.
 *   1 <= ncpus: one more than the highest possible CPU id (talc_topology_possible_cpus);
 *   1 <= ncores <= ncpus, 1 <= ndomains <= ncores: cores and domains of the CPUs the backend
 *   knows (offline and absent CPUs join the first known CPU's core);
 *   domain_level: cache level of CPU 0's domain (0 = a core, no shared or L2 cache known);
 *   line_size: data cache line in bytes (the L1d's, else talc_cache_line_size()), a power of 2;
 *   cpu[ncpus]. */
typedef struct talc_topology {
    unsigned ncpus;
    unsigned ncores;
    unsigned ndomains;
    unsigned domain_level;
    unsigned line_size;
    const talc_topology_cpu_t *cpu;
} talc_topology_t;

/* The process's topology, probed once: at load time by topology.c's constructor, or on the
 * first call if that comes earlier (another constructor). Never NULL: if
 * probing fails, each CPU is its own core and domain; if the tables cannot be
 * mapped, a one-CPU topology. Cost: O(1) after the first call. */
const talc_topology_t *talc_topology_get(void);

/* How many times this process has probed its topology: 0 before talc_topology_get(), then 1
 * forever (hwloc is loaded at most once). For tests. */
unsigned talc_topology_probes(void);

/* Which backend answered talc_topology_get(): "hwloc", "sysfs", or "none" (the tables could
 * not be mapped: one CPU). A static string. Call it only after talc_topology_get() has
 * returned on this thread (pthread_once publishes it with the struct). */
const char *talc_topology_backend(void);

/* t->ncpus, for callers that size per-CPU tables (every CPU id < this). */
static inline unsigned talc_topology_ncpus(const talc_topology_t *t) { return t->ncpus; }

/* The stripe (< nstripes) for CPU `cpu`. Deterministic and O(1). nstripes 0 counts as 1; a cpu
 * >= ncpus is taken modulo ncpus.
 *   nstripes >= ncpus: every CPU has its own stripe (stripe = cpu);
 *   nstripes <= ndomains: CPUs of one domain share a stripe, and domains are spread evenly:
 *     stripe = domain * nstripes / ndomains, so stripe loads differ by at most one domain;
 *   between: each domain owns a contiguous, even share of the stripes (at least one), spread
 *     over its cores; CPUs of one core share a stripe, and no stripe serves two domains. */
unsigned talc_topology_stripe_of_cpu(const talc_topology_t *t, unsigned cpu, unsigned nstripes);

/* Default stripe count: two per core (at least 2), at most TALC_TOPOLOGY_MAX_STRIPES. */
unsigned talc_topology_auto_stripes(const talc_topology_t *t);

/* ---- Building blocks (topology.c), used by talc_topology_get() and by tests ---------------- */

/* One more than the highest possible CPU id: the last number of /sys/devices/system/cpu/possible
 * when it reads whole, at least sysconf(_SC_NPROCESSORS_CONF) (which counts the ids, fewer when
 * the list has holes), clamped to [1, TALC_TOPOLOGY_MAX_CPUS]. _from: another file, for tests. */
unsigned talc_topology_possible_cpus_from(const char *possible);
static inline unsigned talc_topology_possible_cpus(void)
{
    return talc_topology_possible_cpus_from("/sys/devices/system/cpu/possible");
}

/* Sets every field of raw[0..ncpus) to TALC_TOPOLOGY_NONE. */
void talc_topology_raw_clear(talc_topology_raw_t *raw, unsigned ncpus);

/* Words (uint32_t) of scratch memory talc_topology_build() needs for ncpus CPUs. */
#define TALC_TOPOLOGY_SCRATCH_WORDS(ncpus) ((size_t)(ncpus) * (TALC_TOPOLOGY_LEVELS + 2u))

/* Builds out (with out->cpu = cpus) from raw[0..ncpus), ncpus >= 1. Inconsistent raw facts
 * (a first CPU above the CPU, or out of range) are treated as unknown. line_size 0 = unknown.
 * scratch: TALC_TOPOLOGY_SCRATCH_WORDS(ncpus) words. O(ncpus). Cannot fail. */
void talc_topology_build(talc_topology_t *out, talc_topology_cpu_t *cpus,
                         const talc_topology_raw_t *raw, unsigned ncpus, unsigned line_size,
                         uint32_t *scratch);

/* ---- Backends: fill raw[0..ncpus) (cleared by the caller), return the L1d line size or 0 ---- */

/* hwloc (topology_hwloc.c). Opens libhwloc (TALC_HWLOC_SONAME), loads and destroys one hwloc
 * topology with disallowed CPUs included, and closes the library again. Returns -1 (raw then
 * untouched) if the library cannot be opened, lacks a function, reports another ABI, or
 * cannot load a topology. _from opens the library named soname instead (tests). */
int talc_topology_probe_hwloc(talc_topology_raw_t *raw, unsigned ncpus);
int talc_topology_probe_hwloc_from(const char *soname, talc_topology_raw_t *raw, unsigned ncpus);

/* sysfs (topology_sysfs.c). sysdir is normally "/sys/devices/system" (tests pass a fake tree):
 * cpu/cpuN/topology/thread_siblings_list (else core_cpus_list), cpu/cpuN/cache/indexK/{level,
 * type,shared_cpu_list,coherency_line_size}. Missing files mean
 * unknown. Never fails; uses open/read only (no malloc, no stdio). */
int talc_topology_probe_sysfs(const char *sysdir, talc_topology_raw_t *raw, unsigned ncpus);

#endif /* TALC_TOPOLOGY_H */
