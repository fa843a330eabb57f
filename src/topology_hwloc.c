/* topology_hwloc.c — the default topology backend: raw CPU facts from hwloc 2.x (topology.h,
 * talc_topology_probe_hwloc), with hwloc loaded at run time for the one probe and unloaded
 * after it. Compiled into the library when TALC_TOPOLOGY_HWLOC=1.
 *
 * Why at run time: the probe runs once per process, but a library linked at build time stays
 * mapped, and what the probe touched stays resident. libhwloc and the libudev and libm it
 * needs cost a process that preloads the malloc shim about 0.8 MiB of resident memory for the
 * rest of its life (docs/shim.md, "Limits"). dlopen + dlclose around the probe gives that
 * back, and a machine without libhwloc still gets a topology (topology.c then asks sysfs).
 * If the process has libhwloc loaded anyway, dlopen/dlclose only move its reference count.
 *
 * Who calls it: talc_topology_get(), once per process under pthread_once, from topology.c's
 * constructor at load time; tests call it to compare with sysfs. Nothing else may load hwloc.
 * Concurrency: reentrant (one private hwloc topology per call; the dynamic loader serialises
 * dlopen and dlclose), but each call loads hwloc afresh (milliseconds, hundreds of syscalls),
 * hence the single caller. It takes the dynamic loader's lock: a caller must not hold a lock
 * that a thread inside dlopen (or a constructor dlopen runs) may wait for, which is why the
 * probe runs at load time (topology.c, "When").
 * Allocation: dlopen, hwloc and dlclose allocate with malloc and free it all again (hwloc on
 * destroy, the loader on dlclose). A malloc shim must therefore let talc_topology_get()'s
 * first call reach the system allocator (or any other arena) without recursing into itself.
 *
 * ABI: only the library whose SONAME matches the headers we compile against
 * (TALC_HWLOC_SONAME, libhwloc.so.15 for hwloc 2.x) is opened, and it must report the same
 * API major (hwloc_get_api_version() >> 16), which is hwloc's rule for a compatible ABI: the
 * object structs read below are then laid out as in our headers. The header's inline helpers
 * call hwloc by name, so none is used: their three loops are written out below.
 *
 * Facts taken: each PU's core (its Core ancestor's cpuset), its data and unified caches of
 * levels 1..4 (ancestors for which hwloc_obj_type_is_dcache holds) and the L1d line size. PUs
 * the process may not run on are included (HWLOC_TOPOLOGY_FLAG_INCLUDE_DISALLOWED), so that
 * the answer matches sysfs in a cpuset or under taskset; the probe never changes the thread's
 * binding (TALC_HWLOC_FLAGS). A topology in which no PU below ncpus has a core is no answer
 * (-1): hwloc's Linux backend found no sysfs topology, and without the x86 backend (which
 * needs to rebind) it lists bare PUs. Where hwloc knows nothing (qemu-user on a host without
 * /sys cache info finds no caches) the fields stay NONE and topology.c falls back.
 */
#define _GNU_SOURCE
#include "topology.h"

#include <dlfcn.h>
#include <hwloc.h>

#if HWLOC_API_VERSION < 0x00020500
#error "topology_hwloc.c needs hwloc >= 2.5 headers (or build with TALC_TOPOLOGY=sysfs)"
#endif

#ifndef TALC_HWLOC_SONAME
#define TALC_HWLOC_SONAME "libhwloc.so.15"
#endif

/* The hwloc functions the probe calls, typed from hwloc's own declarations (taking a type
 * does not reference the symbol, so nothing links to libhwloc). */
#define TALC_HWLOC_FUNCTIONS(X)                                                                    \
    X(hwloc_get_api_version)                                                                       \
    X(hwloc_topology_init)                                                                         \
    X(hwloc_topology_set_flags)                                                                    \
    X(hwloc_topology_set_type_filter)                                                              \
    X(hwloc_topology_load)                                                                         \
    X(hwloc_topology_destroy)                                                                      \
    X(hwloc_get_type_depth)                                                                        \
    X(hwloc_get_nbobjs_by_depth)                                                                   \
    X(hwloc_get_obj_by_depth)                                                                      \
    X(hwloc_obj_type_is_dcache)                                                                    \
    X(hwloc_bitmap_first)

typedef struct talc_hwloc_api {
/* f is a function's name, then a member's: neither may be parenthesised. */
#define TALC_HWLOC_FIELD(f) __typeof__(&f) f; /* NOLINT(bugprone-macro-parentheses) */
    TALC_HWLOC_FUNCTIONS(TALC_HWLOC_FIELD)
#undef TALC_HWLOC_FIELD
} talc_hwloc_api_t;

/* Resolves every function of api from handle; -1 if one is missing or the ABI differs. */
static int talc_hwloc_bind(void *handle, talc_hwloc_api_t *api)
{
#define TALC_HWLOC_SYM(f)                                                                          \
    *(void **)(void *)&api->f = dlsym(handle, #f);                                                 \
    if (api->f == NULL)                                                                            \
        return -1;
    TALC_HWLOC_FUNCTIONS(TALC_HWLOC_SYM)
#undef TALC_HWLOC_SYM
    return (api->hwloc_get_api_version() >> 16) == (HWLOC_API_VERSION >> 16) ? 0 : -1;
}

/* The lowest OS number in a cpuset, or NONE. */
static uint32_t talc_hwloc_first(const talc_hwloc_api_t *api, hwloc_const_bitmap_t set)
{
    int f = set ? api->hwloc_bitmap_first(set) : -1;
    return f < 0 ? TALC_TOPOLOGY_NONE : (uint32_t)f;
}

/* Records the data/unified caches above pu; the first L1 line size seen goes to *line. */
static void talc_hwloc_caches(const talc_hwloc_api_t *api, hwloc_obj_t pu, talc_topology_raw_t *raw,
                              unsigned *line)
{
    for (hwloc_obj_t o = pu->parent; o; o = o->parent) {
        if (!api->hwloc_obj_type_is_dcache(o->type))
            continue;
        unsigned level = o->attr->cache.depth;
        if (level < 1 || level > TALC_TOPOLOGY_LEVELS)
            continue;
        raw->cache_first[level - 1] = talc_hwloc_first(api, o->cpuset);
        if (level == 1 && *line == 0)
            *line = o->attr->cache.linesize;
    }
}

static void talc_hwloc_pu(const talc_hwloc_api_t *api, hwloc_obj_t pu, talc_topology_raw_t *raw,
                          unsigned *line)
{
    hwloc_obj_t core = pu->parent;
    while (core && core->type != HWLOC_OBJ_CORE)
        core = core->parent;
    raw->core_first = core ? talc_hwloc_first(api, core->cpuset) : TALC_TOPOLOGY_NONE;
    talc_hwloc_caches(api, pu, raw, line);
}

/* Disallowed PUs included; and the thread's CPU binding never changed: hwloc's x86 backend
 * would otherwise move the probing thread onto each CPU in turn, also onto CPUs that taskset
 * or a cpuset keeps the process off (isolated or real-time cores). An hwloc older than 2.5
 * refuses the flag (set_flags fails), and topology.c then asks sysfs. */
#define TALC_HWLOC_FLAGS                                                                           \
    (HWLOC_TOPOLOGY_FLAG_INCLUDE_DISALLOWED | HWLOC_TOPOLOGY_FLAG_DONT_CHANGE_BINDING)

/* A topology with disallowed PUs, without I/O objects. 0, or -1 (nothing to destroy). */
static int talc_hwloc_load(const talc_hwloc_api_t *api, hwloc_topology_t *topo)
{
    static const hwloc_obj_type_t io[] = {HWLOC_OBJ_BRIDGE, HWLOC_OBJ_PCI_DEVICE,
                                          HWLOC_OBJ_OS_DEVICE};
    if (api->hwloc_topology_init(topo) != 0)
        return -1;
    int rc = api->hwloc_topology_set_flags(*topo, TALC_HWLOC_FLAGS);
    for (unsigned i = 0; rc == 0 && i < sizeof io / sizeof io[0]; i++)
        rc = api->hwloc_topology_set_type_filter(*topo, io[i], HWLOC_TYPE_FILTER_KEEP_NONE);
    if (rc != 0 || api->hwloc_topology_load(*topo) != 0) {
        api->hwloc_topology_destroy(*topo);
        return -1;
    }
    return 0;
}

/* The probe proper, on a bound api. */
static int talc_hwloc_probe(const talc_hwloc_api_t *api, talc_topology_raw_t *raw, unsigned ncpus)
{
    hwloc_topology_t topo;
    unsigned line = 0;
    if (talc_hwloc_load(api, &topo) != 0)
        return -1;
    int depth = api->hwloc_get_type_depth(topo, HWLOC_OBJ_PU);
    unsigned npus = depth < 0 ? 0u : api->hwloc_get_nbobjs_by_depth(topo, depth);
    unsigned known = 0;
    for (unsigned i = 0; i < npus; i++) {
        hwloc_obj_t pu = api->hwloc_get_obj_by_depth(topo, depth, i);
        if (pu && pu->os_index < ncpus) {
            talc_hwloc_pu(api, pu, &raw[pu->os_index], &line);
            known += raw[pu->os_index].core_first != TALC_TOPOLOGY_NONE;
        }
    }
    api->hwloc_topology_destroy(topo);
    if (known)
        return (int)line;
    talc_topology_raw_clear(raw, ncpus); /* no core known: no answer (raw untouched, as
                                            promised), sysfs may have one */
    return -1;
}

int talc_topology_probe_hwloc_from(const char *soname, talc_topology_raw_t *raw, unsigned ncpus)
{
    void *handle = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
    if (handle == NULL)
        return -1;
    talc_hwloc_api_t api;
    int line = talc_hwloc_bind(handle, &api) == 0 ? talc_hwloc_probe(&api, raw, ncpus) : -1;
    dlclose(handle);
    return line;
}

int talc_topology_probe_hwloc(talc_topology_raw_t *raw, unsigned ncpus)
{
    return talc_topology_probe_hwloc_from(TALC_HWLOC_SONAME, raw, ncpus);
}
