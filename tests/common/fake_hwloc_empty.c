/* fake_hwloc_empty.c — a libhwloc of the right ABI (API 2.x) whose topology loads but holds no
 * processing unit, for test_topology: src/topology_hwloc.c must call that no answer (-1, so
 * that topology.c asks sysfs) instead of a machine of unknown CPUs. It also records the flags
 * the probe passed to hwloc_topology_set_flags (fake_hwloc_flags), so the test can check that
 * the probe forbids hwloc to change the thread's CPU binding.
 *
 * Concurrency: none (one test thread; the state is two plain globals).
 */
#include <hwloc.h>
#include <stddef.h>

extern unsigned long fake_hwloc_flags;
unsigned long fake_hwloc_flags;
static int fake_topology; /* what hwloc_topology_t points to: nothing is ever read through it */

unsigned hwloc_get_api_version(void) { return HWLOC_API_VERSION; }

int hwloc_topology_init(hwloc_topology_t *topo)
{
    *topo = (hwloc_topology_t)(void *)&fake_topology;
    return 0;
}

int hwloc_topology_set_flags(hwloc_topology_t topo, unsigned long flags)
{
    (void)topo;
    fake_hwloc_flags = flags;
    return 0;
}

int hwloc_topology_set_type_filter(hwloc_topology_t topo, hwloc_obj_type_t type,
                                   enum hwloc_type_filter_e filter)
{
    (void)topo, (void)type, (void)filter;
    return 0;
}

int hwloc_topology_load(hwloc_topology_t topo) { return (void)topo, 0; }

void hwloc_topology_destroy(hwloc_topology_t topo) { (void)topo; }

int hwloc_get_type_depth(hwloc_topology_t topo, hwloc_obj_type_t type)
{
    (void)topo;
    return type == HWLOC_OBJ_PU ? 3 : HWLOC_TYPE_DEPTH_UNKNOWN; /* the level exists... */
}

unsigned hwloc_get_nbobjs_by_depth(hwloc_topology_t topo, int depth)
{
    (void)topo, (void)depth;
    return 0; /* ...and is empty */
}

hwloc_obj_t hwloc_get_obj_by_depth(hwloc_topology_t topo, int depth, unsigned idx)
{
    (void)topo, (void)depth, (void)idx;
    return NULL;
}

int hwloc_obj_type_is_dcache(hwloc_obj_type_t type) { return (void)type, 0; }

int hwloc_bitmap_first(hwloc_const_bitmap_t set) { return (void)set, -1; }
