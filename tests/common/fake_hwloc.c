/* fake_hwloc.c — a libhwloc.so.15 of the wrong ABI, for test_topology: it exports every
 * function src/topology_hwloc.c looks up, reports API 1.11 (another major than the headers
 * we build against), and aborts in every other function. topology_hwloc.c must therefore
 * refuse it after the version check without calling anything else, and topology.c must then
 * answer from sysfs (ctest test_topology_fallback puts this file first on LD_LIBRARY_PATH).
 *
 * Concurrency: none (no state).
 */
#include <stdlib.h>

#define FAKE_ABORTING(f)                                                                           \
    void f(void);                                                                                  \
    void f(void) { abort(); }

unsigned hwloc_get_api_version(void);
unsigned hwloc_get_api_version(void) { return 0x00010b00u; }

FAKE_ABORTING(hwloc_topology_init)
FAKE_ABORTING(hwloc_topology_set_flags)
FAKE_ABORTING(hwloc_topology_set_type_filter)
FAKE_ABORTING(hwloc_topology_load)
FAKE_ABORTING(hwloc_topology_destroy)
FAKE_ABORTING(hwloc_get_type_depth)
FAKE_ABORTING(hwloc_get_nbobjs_by_depth)
FAKE_ABORTING(hwloc_get_obj_by_depth)
FAKE_ABORTING(hwloc_obj_type_is_dcache)
FAKE_ABORTING(hwloc_bitmap_first)
