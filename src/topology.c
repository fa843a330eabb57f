/* topology.c — the topology policy, shared by both backends: loading once, turning raw facts
 * into dense core and cache-domain numbers, and mapping CPUs to stripes (topology.h).
 *
 * Who calls it: the dispatcher and arena creation (talc_topology_get, _stripe_of_cpu,
 * _auto_stripes); tests (talc_topology_build on synthetic machines).
 *
 * Concurrency: talc_topology_get() runs the probe once under pthread_once, which also
 * publishes the built struct to every caller; afterwards the struct is immutable. The probe
 * counter is a relaxed atomic (a statistic for tests; it orders nothing). The builder and the
 * stripe map are pure functions.
 *
 * When: at load time, from a constructor, so that no thread can be inside the once while
 * another holds the dynamic loader's lock. The hwloc probe calls dlopen, which takes that
 * lock; if the first talc_topology_get() ran on demand, a thread running a library's
 * constructor inside dlopen (holding the lock) that created an arena would wait on the once
 * while the thread inside the once waited on the lock. Constructors run before any other
 * code of the process can call into this library: before main for a linked library, inside
 * the dlopen that loads it otherwise. The malloc shim's own start-up (priority 101) runs
 * first and probes under its bootstrap heap; this one then finds the work done.
 *
 * The build, in five passes over the CPUs (all O(ncpus)):
 *   1. core leaders: a CPU whose core_first is itself, or whose raw core is unusable;
 *   2. per cache level, how many cores share each cache (counted on leaders);
 *   3. each leader's domain key (first CPU * 5 + level): the highest cache level shared by
 *      more than one core, else the L2, else the core itself (level 0);
 *   4. dense core numbers, and dense domain numbers in order of key;
 *   5. rank of each core in its domain, and the size of each domain.
 * Non-leaders take core, domain and rank from their leader, so CPUs of a core always agree.
 */
#include "topology.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "atomic.h"
#include "os_mem.h"
#include "sysfs_read.h"
#include "talc/platform.h"

#define TALC_TOPOLOGY_KEYS 5u /* domain key = first * 5 + level (0 = core, 1..4 = cache) */

static pthread_once_t talc_topology_once = PTHREAD_ONCE_INIT;
static talc_topology_t talc_topology_machine; /* written once, under the once */
static talc_topology_cpu_t talc_topology_lone_cpu = {0, 0, 0, 1};
static talc_atomic_u32 talc_topology_probe_count;
static const char *talc_topology_source; /* written once, under the once */

unsigned talc_topology_possible_cpus_from(const char *possible)
{
    long n = sysconf(_SC_NPROCESSORS_CONF); /* glibc counts the list's ids: "0-1,8-9" is 4 */
    char val[TALC_SYSFS_VALUE];
    int got = talc_sysfs_read(possible, val);
    if (got >= 0 && got < (int)TALC_SYSFS_VALUE - 1) { /* read whole */
        uint32_t last = talc_sysfs_last_u(val);
        if (last < TALC_TOPOLOGY_MAX_CPUS && (long)last >= n)
            n = (long)last + 1;
    }
    if (n < 1)
        return 1;
    return n > (long)TALC_TOPOLOGY_MAX_CPUS ? TALC_TOPOLOGY_MAX_CPUS : (unsigned)n;
}

void talc_topology_raw_clear(talc_topology_raw_t *raw, unsigned ncpus)
{
    memset(raw, 0xff, (size_t)ncpus * sizeof *raw); /* every field = TALC_TOPOLOGY_NONE */
}

/* ---- Build ------------------------------------------------------------------------------- */

/* Whether the backend said anything about c's core or caches. Both say nothing about a CPU
 * that is offline or not present (sysfs drops its topology and cache directories, hwloc lists
 * no PU for it), while sysconf counts every possible CPU. */
static bool talc_topology_known(const talc_topology_raw_t *r)
{
    if (r->core_first != TALC_TOPOLOGY_NONE)
        return true;
    for (unsigned l = 0; l < TALC_TOPOLOGY_LEVELS; l++)
        if (r->cache_first[l] != TALC_TOPOLOGY_NONE)
            return true;
    return false;
}

/* Pass 1: lead[c] = the leader of c's core (c itself when c's raw core is unusable). A CPU the
 * backend knows nothing about, while it knows other CPUs, joins the first known CPU's core:
 * counted as cores and domains of their own, offline CPUs (SMT turned off, a VM's hot-plug
 * slots) doubled the automatic stripe count and crowded the online CPUs onto one stripe. */
static void talc_topology_find_leaders(const talc_topology_raw_t *raw, unsigned n, uint32_t *lead)
{
    uint32_t first_known = TALC_TOPOLOGY_NONE;
    for (uint32_t c = 0; c < n; c++) {
        uint32_t f = raw[c].core_first;
        lead[c] = (f < c && lead[f] == f && talc_topology_known(&raw[f])) ? f : c;
        if (first_known == TALC_TOPOLOGY_NONE && talc_topology_known(&raw[c]))
            first_known = c;
    }
    if (first_known == TALC_TOPOLOGY_NONE) /* nothing known: one core per CPU */
        return;
    for (uint32_t c = 0; c < n; c++)
        if (!talc_topology_known(&raw[c]))
            lead[c] = lead[first_known];
}

/* The first CPU of c's level-l cache, or NONE if unknown or inconsistent. */
static uint32_t talc_topology_cache(const talc_topology_raw_t *raw, uint32_t c, unsigned l)
{
    uint32_t f = raw[c].cache_first[l];
    return f <= c ? f : TALC_TOPOLOGY_NONE;
}

/* Pass 2: cores[l * n + f] = number of core leaders whose level-l cache starts at CPU f. */
static void talc_topology_count_sharers(const talc_topology_raw_t *raw, unsigned n,
                                        const uint32_t *lead, uint32_t *cores)
{
    memset(cores, 0, (size_t)n * TALC_TOPOLOGY_LEVELS * sizeof *cores);
    for (uint32_t c = 0; c < n; c++) {
        if (lead[c] != c)
            continue;
        for (unsigned l = 0; l < TALC_TOPOLOGY_LEVELS; l++) {
            uint32_t f = talc_topology_cache(raw, c, l);
            if (f != TALC_TOPOLOGY_NONE)
                cores[l * n + f]++;
        }
    }
}

/* Pass 3 for one leader c: its domain key. */
static uint32_t talc_topology_domain_key(const talc_topology_raw_t *raw, unsigned n, uint32_t c,
                                         const uint32_t *cores)
{
    for (unsigned l = TALC_TOPOLOGY_LEVELS; l-- > 0;) {
        uint32_t f = talc_topology_cache(raw, c, l);
        if (f != TALC_TOPOLOGY_NONE && cores[l * n + f] > 1)
            return f * TALC_TOPOLOGY_KEYS + l + 1;
    }
    uint32_t l2 = talc_topology_cache(raw, c, 1);
    if (l2 != TALC_TOPOLOGY_NONE)
        return l2 * TALC_TOPOLOGY_KEYS + 2;
    return c * TALC_TOPOLOGY_KEYS;
}

/* Pass 4: dense core numbers; domain keys to dense domain numbers (id[] spans 5n words). */
static void talc_topology_number(talc_topology_t *t, talc_topology_cpu_t *cpu, const uint32_t *lead,
                                 uint32_t *id)
{
    unsigned n = t->ncpus, ncores = 0, ndomains = 0;
    memset(id, 0, (size_t)n * TALC_TOPOLOGY_KEYS * sizeof *id);
    for (uint32_t c = 0; c < n; c++)
        if (lead[c] == c)
            id[cpu[c].domain] = 1; /* domain holds the key until renumbered */
    for (uint32_t k = 0; k < n * TALC_TOPOLOGY_KEYS; k++)
        id[k] = id[k] ? ndomains++ : 0;
    for (uint32_t c = 0; c < n; c++) {
        if (lead[c] != c)
            continue;
        cpu[c].core = ncores++;
        cpu[c].domain = id[cpu[c].domain];
    }
    t->ncores = ncores;
    t->ndomains = ndomains;
}

/* Pass 5: ranks within domains (count[] spans n words), then non-leaders copy their leader. */
static void talc_topology_rank(talc_topology_t *t, talc_topology_cpu_t *cpu, const uint32_t *lead,
                               uint32_t *count)
{
    unsigned n = t->ncpus;
    memset(count, 0, (size_t)n * sizeof *count);
    for (uint32_t c = 0; c < n; c++)
        if (lead[c] == c)
            cpu[c].core_in_domain = count[cpu[c].domain]++;
    for (uint32_t c = 0; c < n; c++) {
        const talc_topology_cpu_t *l = &cpu[lead[c]];
        cpu[c].core = l->core;
        cpu[c].domain = l->domain;
        cpu[c].core_in_domain = l->core_in_domain;
        cpu[c].domain_cores = count[l->domain];
    }
}

static unsigned talc_topology_line(unsigned line)
{
    if (line >= 16 && line <= 4096 && (line & (line - 1)) == 0)
        return line;
    return (unsigned)talc_cache_line_size();
}

void talc_topology_build(talc_topology_t *out, talc_topology_cpu_t *cpus,
                         const talc_topology_raw_t *raw, unsigned ncpus, unsigned line_size,
                         uint32_t *scratch)
{
    uint32_t *lead = scratch, *work = scratch + ncpus; /* work: 5 * ncpus words */
    memset(cpus, 0, (size_t)ncpus * sizeof *cpus);
    talc_topology_find_leaders(raw, ncpus, lead);
    talc_topology_count_sharers(raw, ncpus, lead, work);
    for (uint32_t c = 0; c < ncpus; c++) {
        if (lead[c] == c)
            cpus[c].domain = talc_topology_domain_key(raw, ncpus, c, work);
    }
    out->ncpus = ncpus;
    out->cpu = cpus;
    out->domain_level = cpus[lead[0]].domain % TALC_TOPOLOGY_KEYS; /* lead[0] leads */
    talc_topology_number(out, cpus, lead, work);
    talc_topology_rank(out, cpus, lead, work);
    out->line_size = talc_topology_line(line_size);
}

/* ---- Load once --------------------------------------------------------------------------- */

/* hwloc first in the hwloc build; sysfs when that fails (and in the sysfs build). */
#if TALC_TOPOLOGY_HWLOC
/* Whether the environment asks for the sysfs probe: TALC_TOPOLOGY=sysfs saves a process the
 * hwloc probe's start-up time and its transient resident libraries (docs/arenas.md, "The
 * topology"). Any other value, or none, keeps hwloc. Read once, at load time. */
static bool talc_topology_env_sysfs(void)
{
    const char *v = getenv("TALC_TOPOLOGY");
    return v && strcmp(v, "sysfs") == 0;
}
#endif

static int talc_topology_probe(talc_topology_raw_t *raw, unsigned ncpus)
{
#if TALC_TOPOLOGY_HWLOC
    int line = talc_topology_env_sysfs() ? -1 : talc_topology_probe_hwloc(raw, ncpus);
    if (line >= 0) {
        talc_topology_source = "hwloc";
        return line;
    }
#endif
    talc_topology_source = "sysfs";
    return talc_topology_probe_sysfs("/sys/devices/system", raw, ncpus);
}

static void talc_topology_load_lone(void)
{
    talc_topology_source = "none";
    talc_topology_machine = (talc_topology_t){
        .ncpus = 1,
        .ncores = 1,
        .ndomains = 1,
        .domain_level = 0,
        .line_size = talc_topology_line(0),
        .cpu = &talc_topology_lone_cpu,
    };
}

/* Runs once. The table stays mapped for the life of the process; the work area is returned.
 * With cancellation disabled: the probes open and read files (cancellation points), and the
 * topology sources have no unwind tables that a cancellation could unwind through
 * (CMakeLists.txt). */
static void talc_topology_load(void)
{
    int cancel;
    (void)pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel);
    unsigned n = talc_topology_possible_cpus();
    size_t table = (size_t)n * sizeof(talc_topology_cpu_t);
    size_t work =
        (size_t)n * sizeof(talc_topology_raw_t) + TALC_TOPOLOGY_SCRATCH_WORDS(n) * sizeof(uint32_t);
    talc_topology_cpu_t *cpus = talc_os_map(table, 0);
    talc_topology_raw_t *raw = talc_os_map(work, 0);
    if (cpus && raw) {
        talc_topology_raw_clear(raw, n);
        int line = talc_topology_probe(raw, n);
        talc_topology_build(&talc_topology_machine, cpus, raw, n, line > 0 ? (unsigned)line : 0,
                            (uint32_t *)(void *)(raw + n));
    } else {
        talc_os_unmap(cpus, table);
        talc_topology_load_lone();
    }
    talc_os_unmap(raw, work);
    /* relaxed: a statistic; pthread_once orders the probe and publishes the struct */
    uint32_t probes = talc_atomic_load_relaxed_u32(&talc_topology_probe_count);
    talc_atomic_store_relaxed_u32(&talc_topology_probe_count, probes + 1u);
    (void)pthread_setcancelstate(cancel, NULL);
}

const talc_topology_t *talc_topology_get(void)
{
    if (pthread_once(&talc_topology_once, talc_topology_load) != 0)
        talc_topology_load_lone(); /* cannot happen with glibc; keeps the never-NULL promise */
    return &talc_topology_machine;
}

/* Probe at load time (banner, "When"). No priority: after the shim's priority-101 start-up. */
__attribute__((constructor)) static void talc_topology_at_load(void) { (void)talc_topology_get(); }

const char *talc_topology_backend(void)
{
    return talc_topology_source; /* published by the once, like the struct */
}

unsigned talc_topology_probes(void)
{
    /* relaxed: see talc_topology_load */
    return talc_atomic_load_relaxed_u32(&talc_topology_probe_count);
}

/* ---- Stripes ----------------------------------------------------------------------------- */

unsigned talc_topology_stripe_of_cpu(const talc_topology_t *t, unsigned cpu, unsigned nstripes)
{
    if (nstripes <= 1)
        return 0;
    if (cpu >= t->ncpus)
        cpu %= t->ncpus;
    if (nstripes >= t->ncpus)
        return cpu;
    const talc_topology_cpu_t *c = &t->cpu[cpu];
    /* This domain's share of the stripes: [lo, hi), empty or one stripe when ndomains >= S. */
    uint64_t lo = (uint64_t)c->domain * nstripes / t->ndomains;
    uint64_t hi = ((uint64_t)c->domain + 1) * nstripes / t->ndomains;
    if (hi <= lo + 1)
        return (unsigned)lo;
    return (unsigned)(lo + (uint64_t)c->core_in_domain * (hi - lo) / c->domain_cores);
}

unsigned talc_topology_auto_stripes(const talc_topology_t *t)
{
    unsigned n = t->ncores < 1 ? 1u : t->ncores;
    /* Two per core: each CPU has a home stripe, and the spares are where the dispatcher moves
     * a thread whose home stripe is contended, e.g. when threads outnumber cores and one is
     * preempted holding a lock (docs/arenas.md, "Four threads on two cores"). */
    return n > TALC_TOPOLOGY_MAX_STRIPES / 2u ? TALC_TOPOLOGY_MAX_STRIPES : 2u * n;
}
