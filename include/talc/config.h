/* talc/config.h — compile-time options, export macro and the few shared types.
 *
 * Every option lives in this one block: `#ifndef TALC_X` / default / what it does. Each is
 * mirrored by a CMake option of the same name (CMakeLists.txt, "Options"). A project that
 * builds the sources without CMake may put its own values in a header named by
 * TALC_CONFIG_HEADER, included first; with CMake, set the CMake options instead (CMake passes
 * every mirrored macro on the command line, so the header could set only the others).
 *
 * Concurrency: none (declarations only).
 */
#ifndef TALC_CONFIG_H
#define TALC_CONFIG_H

#ifdef TALC_CONFIG_HEADER
#include TALC_CONFIG_HEADER
#endif

/* TALC_COUNTERS: keep per-heap counters (talc_heap_counters). 1 = on (default), 0 = off.
 * Off saves a few adds per operation; talc_heap_counters() then reports zeros. */
#ifndef TALC_COUNTERS
#define TALC_COUNTERS 1
#endif

/* TALC_DEBUG: assertion tier. 0 = none, 1 = cheap checks on public entry (default for debug
 * builds), 2 = reserved for internal assertions (today the same code as 1), 3 = run the full
 * invariant checker after every operation. */
#ifndef TALC_DEBUG
#define TALC_DEBUG 0
#endif

/* TALC_REALLOC_UNLOCKED_COPY: the locked heap, and an arena's stripe, drop the lock while
 * copying a block of at least this many bytes in realloc (Talc uses 16 KiB). 0 disables the
 * optimisation. */
#ifndef TALC_REALLOC_UNLOCKED_COPY
#define TALC_REALLOC_UNLOCKED_COPY 16384
#endif

/* TALC_SHRINK_MOVE: m > 0 (default 4096) = in a heap whose opts.shrink_in_place is false, while
 * memory is scarce (no free chunk reaches half the largest span), a shrink that gives back at
 * least m bytes moves the block into a smaller free chunk, so its whole old chunk coalesces
 * instead of leaving a tail hole (heap efficiency 97.4 % → 98.7 % on Talc's benchmark,
 * docs/heap.md "Realloc"). Blocks aligned to 64..4096 bytes keep their alignment. 0 = realloc
 * shrinks in place always (Talc's behaviour) and the code is left out. */
#ifndef TALC_SHRINK_MOVE
#define TALC_SHRINK_MOVE 4096
#endif

/* TALC_TCACHE: 1 (default) = arenas may keep a per-thread cache of small blocks in front of
 * their stripes (talc_arena_config_t.thread_cache; on for the default arena); 0 = never, and
 * the code is left out. */
#ifndef TALC_TCACHE
#define TALC_TCACHE 1
#endif

/* TALC_BIN_SUB_SHIFT: log2 of the size bins per doubling above 1 KiB (3..6; default 5 = 32).
 * More bins make the O(1) fit closer to best fit (better heap efficiency) and the control
 * block larger: 64 + 24·2^shift bin heads (5 → 832 heads, 6.5 KiB on 64-bit; 3 → 256, 2 KiB). */
#ifndef TALC_BIN_SUB_SHIFT
#define TALC_BIN_SUB_SHIFT 5
#endif

/* TALC_PAGEMAP_SHIFT: log2 of the owner map's granule (12..24; default 16 = 64 KiB). Arena
 * segments are aligned to it; a smaller granule suits small caller buffers on embedded targets,
 * a larger one uses fewer map leaves. Budgets, borrow ceilings and buffers are at least a
 * granule, and an OS segment is one granule where that is above 1 MiB. The test suite sizes its
 * tests from the granule (tests/common/granule.h): `make test` runs it at 12 (gcc-granule-4k),
 * 16 and 24 (gcc-granule-16m); it passed at 14, 20 and 22 by hand (2026-12-04/05). The bound is
 * 24 (16 MiB) since 2026-12-05: with larger granules every arena holds at least that much
 * address space per stripe, the reserve and every budget at least a granule, and the suite's
 * programs (a 32-granule reserve, budgets of a few MiB in the shim's tests) no longer describe
 * a use anyone has; 2 MiB huge pages need 21. */
#ifndef TALC_PAGEMAP_SHIFT
#define TALC_PAGEMAP_SHIFT 16
#endif

/* TALC_TOPOLOGY_HWLOC: 1 = CPU/cache topology from hwloc (default); 0 = the sysfs/sysconf
 * fallback for small targets (CMake TALC_TOPOLOGY=hwloc|sysfs). */
#ifndef TALC_TOPOLOGY_HWLOC
#define TALC_TOPOLOGY_HWLOC 1
#endif

/* TALC_DEBUG_YIELD: 1 = random sched_yield() at every atomic and lock point, to expose races in
 * tests (urcu's debug-yield idea). Never in production builds. */
#ifndef TALC_DEBUG_YIELD
#define TALC_DEBUG_YIELD 0
#endif

/* TALC_MEMCHECK: 1 = tell valgrind's memcheck which bytes of the heaps' memory a program may
 * touch (src/heap_poison.h; needs valgrind/memcheck.h). Each annotation is a client request, a
 * few instructions outside valgrind: for builds a program is run under valgrind with
 * (CMake TALC_VALGRIND=ON). */
#ifndef TALC_MEMCHECK
#define TALC_MEMCHECK 0
#endif

#if TALC_PAGEMAP_SHIFT < 12 || TALC_PAGEMAP_SHIFT > 24
#error "TALC_PAGEMAP_SHIFT must be 12..24"
#endif
#if TALC_BIN_SUB_SHIFT < 3 || TALC_BIN_SUB_SHIFT > 6
#error "TALC_BIN_SUB_SHIFT must be 3..6"
#endif
#if TALC_COUNTERS != 0 && TALC_COUNTERS != 1
#error "TALC_COUNTERS must be 0 or 1"
#endif
#if TALC_DEBUG < 0 || TALC_DEBUG > 3
#error "TALC_DEBUG must be 0..3"
#endif

/* Export macro: the library builds with -fvisibility=hidden; public functions carry TALC_API. */
#if defined(TALC_BUILDING) && defined(__GNUC__)
#define TALC_API __attribute__((visibility("default")))
#else
#define TALC_API
#endif

#if defined(__GNUC__)
#define TALC_MALLOC_ATTR __attribute__((malloc, warn_unused_result))
#define TALC_NONNULL(...) __attribute__((nonnull(__VA_ARGS__)))
#else
#define TALC_MALLOC_ATTR
#define TALC_NONNULL(...)
#endif

#endif /* TALC_CONFIG_H */
