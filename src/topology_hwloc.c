/* topology_hwloc.c — the default topology backend: raw CPU facts from hwloc 2.x (topology.h,
 * talc_topology_probe_hwloc). Compiled into the library when TALC_TOPOLOGY_HWLOC=1.
 *
 * Who calls it: talc_topology_get(), once per process under pthread_once; a test in a sysfs
 * build may call it once more to compare. Nothing else may load hwloc.
 * Concurrency: reentrant (one private hwloc topology per call), but each call loads hwloc
 * afresh (milliseconds, hundreds of syscalls), hence the single caller.
 * Allocation: hwloc allocates with malloc while it loads and frees it all on destroy. A malloc
 * shim must therefore let talc_topology_get()'s first call reach the system allocator (or any
 * other arena) without recursing into itself.
 *
 * Facts taken: each PU's core (its Core ancestor's cpuset), its data and unified caches of
 * levels 1..4 (ancestors for which hwloc_obj_type_is_dcache holds), the L1d line size, and its
 * NUMA node (first bit of its nodeset). PUs the process may not run on are included
 * (HWLOC_TOPOLOGY_FLAG_INCLUDE_DISALLOWED), so that the answer matches sysfs in a cpuset or
 * under taskset. Where hwloc knows nothing (qemu-user on a host without /sys cache info finds
 * no caches) the fields stay NONE and topology.c falls back.
 */
#include "topology.h"

#include <hwloc.h>

#if HWLOC_API_VERSION < 0x00020000
#error "topology_hwloc.c needs hwloc >= 2.0 (or build with TALC_TOPOLOGY=sysfs)"
#endif

/* The lowest OS number in a cpuset, or NONE. */
static uint32_t talc_hwloc_first(hwloc_const_cpuset_t set)
{
    int f = set ? hwloc_bitmap_first(set) : -1;
    return f < 0 ? TALC_TOPOLOGY_NONE : (uint32_t)f;
}

/* Records the data/unified caches above pu; the first L1 line size seen goes to *line. */
static void talc_hwloc_caches(hwloc_obj_t pu, talc_topology_raw_t *raw, unsigned *line)
{
    for (hwloc_obj_t o = pu->parent; o; o = o->parent) {
        if (!hwloc_obj_type_is_dcache(o->type))
            continue;
        unsigned level = o->attr->cache.depth;
        if (level < 1 || level > TALC_TOPOLOGY_LEVELS)
            continue;
        raw->cache_first[level - 1] = talc_hwloc_first(o->cpuset);
        if (level == 1 && *line == 0)
            *line = o->attr->cache.linesize;
    }
}

static void talc_hwloc_pu(hwloc_topology_t topo, hwloc_obj_t pu, talc_topology_raw_t *raw,
                          unsigned *line)
{
    hwloc_obj_t core = hwloc_get_ancestor_obj_by_type(topo, HWLOC_OBJ_CORE, pu);
    raw->core_first = core ? talc_hwloc_first(core->cpuset) : TALC_TOPOLOGY_NONE;
    talc_hwloc_caches(pu, raw, line);
    int node = pu->nodeset ? hwloc_bitmap_first(pu->nodeset) : -1;
    raw->node = node < 0 ? TALC_TOPOLOGY_NONE : (uint32_t)node;
}

/* A topology with disallowed PUs, without I/O objects. 0, or -1 (nothing to destroy). */
static int talc_hwloc_load(hwloc_topology_t *topo)
{
    if (hwloc_topology_init(topo) != 0)
        return -1;
    if (hwloc_topology_set_flags(*topo, HWLOC_TOPOLOGY_FLAG_INCLUDE_DISALLOWED) != 0
        || hwloc_topology_set_io_types_filter(*topo, HWLOC_TYPE_FILTER_KEEP_NONE) != 0
        || hwloc_topology_load(*topo) != 0) {
        hwloc_topology_destroy(*topo);
        return -1;
    }
    return 0;
}

int talc_topology_probe_hwloc(talc_topology_raw_t *raw, unsigned ncpus)
{
    hwloc_topology_t topo;
    unsigned line = 0;
    if (talc_hwloc_load(&topo) != 0)
        return -1;
    for (hwloc_obj_t pu = hwloc_get_next_obj_by_type(topo, HWLOC_OBJ_PU, NULL); pu;
         pu = hwloc_get_next_obj_by_type(topo, HWLOC_OBJ_PU, pu))
        if (pu->os_index < ncpus)
            talc_hwloc_pu(topo, pu, &raw[pu->os_index], &line);
    hwloc_topology_destroy(topo);
    return (int)line;
}
