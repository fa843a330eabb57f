/* shim_internal.h — what the malloc shim's files share: the start-up state, the bootstrap heap
 * and the export macro.
 *
 * Who may include it: the shim's .c files, and the white-box test tests/shim/shim_boot.c.
 * Concurrency rules are on each declaration; docs/shim.md has the start-up argument.
 */
#ifndef TALC_SHIM_INTERNAL_H
#define TALC_SHIM_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "atomic.h"
#include "talc/heap.h"

#ifndef TALC_LIKELY
#define TALC_LIKELY(x) __builtin_expect(!!(x), 1)
#define TALC_UNLIKELY(x) __builtin_expect(!!(x), 0)
#endif

/* The malloc family keeps default visibility; a version script (shim/exports.map) hides every
 * other symbol of libtalc-malloc.so, the library's TALC_API functions included. */
#define TALC_SHIM_EXPORT __attribute__((visibility("default")))

/* ---- Start-up (shim/init.c) ---------------------------------------------------------------*/

/* talc_shim_state: UNINIT -> INITING (one thread wins a CAS) -> READY or READY_SPAWN, never
 * back to the first two. READY_SPAWN is READY with the background trimmer still to start (TALC_CONF
 * trim_ms): the next allocation starts it (trimmer.c) and moves the state to READY. A fork child's
 * handler moves READY back to READY_SPAWN (the child has no trimmer thread). READY_EXIT is READY
 * while the exit destructor writes the statistics: every allocation takes the cold path, where
 * the writing thread's (talc_shim_in_init) come from the bootstrap heap, and the state goes back
 * to what it was once they are written. */
enum {
    TALC_SHIM_UNINIT = 0,
    TALC_SHIM_INITING = 1,
    TALC_SHIM_READY = 2,
    TALC_SHIM_READY_SPAWN = 3,
    TALC_SHIM_READY_EXIT = 4,
};
extern talc_atomic_u32 talc_shim_state;

/* True once the library is fully initialised (default arena, topology, TALC_CONF). Acquire:
 * pairs with the release store that ends the initialisation, so its results are visible. */
static inline bool talc_shim_ready(void)
{
    return talc_atomic_load_acquire_u32(&talc_shim_state) >= TALC_SHIM_READY;
}

/* The allocation fast path's test: READY, with nothing left to do first (else the cold path
 * starts the shim or the trimmer). */
static inline bool talc_shim_hot(void)
{
    return talc_atomic_load_acquire_u32(&talc_shim_state) == TALC_SHIM_READY;
}

/* Allocation before READY: runs the initialisation on the first call, serves calls made while
 * it runs (by the initialising thread, or by any other thread) from the bootstrap heap.
 * align 0 = TALC_MIN_ALIGN. NULL + ENOMEM when the bootstrap heap is full. */
void *talc_shim_alloc_cold(size_t size, size_t align);

/* For a bootstrap block's realloc that the bootstrap heap cannot hold: start the shim if nobody
 * has, wait if another thread is starting it. Returns true once READY; false if the calling
 * thread is the one starting it (a call from inside the start-up), or a child forked during
 * another thread's start-up. */
bool talc_shim_start(void);

/* For the entry points that read arenas (mallinfo2, malloc_info, malloc_stats, malloc_trim):
 * start the shim if nobody has; true iff it is READY. Never waits: while another thread starts
 * it, they answer as for an empty process (that thread may be waiting for this one). */
bool talc_shim_started(void);

/* Allocation through the dispatcher (READY only): the calling thread's arena. */
void *talc_shim_alloc_ready(size_t size, size_t align);

/* ---- Trimming (shim/glibc_ext.c, shim/trimmer.c) ------------------------------------------*/

/* Trim every arena: talc_arena_trim (what malloc_trim does after flushing the calling
 * thread's cache), or talc_arena_trim_idle when `idle` (the background trimmer). Returns the
 * bytes given back. READY only; any thread. */
size_t talc_shim_trim_all(bool idle);

/* Start the background trimmer: a detached thread that runs talc_shim_trim_all(true) every
 * `ms` milliseconds, for the life of the process. Call with no allocator lock held (it allocates).
 * Returns 0, or pthread_create's error (the process runs on without the thread). */
int talc_trimmer_start(unsigned ms);

/* ---- Bootstrap heap (shim/boot.c) ---------------------------------------------------------*/

/* A Talc heap over a static buffer, behind a spinlock; any thread may call these. */
void *talc_boot_alloc(size_t size, size_t align);
/* Bytes of the static buffer (hwloc on a 2-socket, 128-CPU machine allocates a few hundred KiB
 * live during its load; 1 MiB of .bss leaves room and costs only the pages touched). */
#ifndef TALC_SHIM_BOOT_SIZE
#define TALC_SHIM_BOOT_SIZE ((size_t)1 << 20)
#endif
/* The bootstrap buffer (boot.c), TALC_SHIM_BOOT_SIZE bytes. Hidden, so that the test in
 * talc_boot_owns needs no GOT load. */
#define TALC_SHIM_HIDDEN __attribute__((visibility("hidden")))
extern TALC_SHIM_HIDDEN unsigned char talc_boot_mem[TALC_SHIM_BOOT_SIZE];
/* True on a thread whose allocations must come from the bootstrap heap (init.c): the one that
 * runs the shim's start-up, while it runs, and the one writing the statistics at exit. */
extern TALC_SHIM_HIDDEN __thread bool talc_shim_in_init __attribute__((tls_model("initial-exec")));
/* The bootstrap heap's overflow mapping, [base, base + size) (boot.c; size 0 until mapped). */
extern TALC_SHIM_HIDDEN uintptr_t talc_boot_ext_base;
extern TALC_SHIM_HIDDEN size_t talc_boot_ext_size;
/* True iff p lies in the bootstrap buffer or its overflow mapping (a pure address test: never
 * faults; inline, since every free asks). The size is published after the base (release);
 * the fence orders the base's load after the size's, so a size seen comes with its base. */
static inline bool talc_boot_owns(const void *p)
{
    if ((uintptr_t)p - (uintptr_t)talc_boot_mem < TALC_SHIM_BOOT_SIZE)
        return true;
    size_t n = __atomic_load_n(&talc_boot_ext_size, __ATOMIC_RELAXED);
    if (__builtin_expect(n == 0, 1))
        return false;
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    return (uintptr_t)p - __atomic_load_n(&talc_boot_ext_base, __ATOMIC_RELAXED) < n;
}
void talc_boot_free(void *p);
size_t talc_boot_usable_size(const void *p);
/* Resize inside the bootstrap heap; NULL (p intact) if it has no room. */
void *talc_boot_realloc(void *p, size_t size);
/* Give the pages inside the bootstrap heap's free chunks back to the OS (once, after READY:
 * start-up's peak is over, and only a few blocks stay live). */
void talc_boot_trim(void);
/* The bootstrap heap (NULL if never used), for the white-box test to walk while no thread
 * allocates from it. */
const talc_heap_t *talc_boot_heap_peek(void);
/* The bootstrap heap's counters (all zero if it was never used). */
void talc_boot_counters(talc_heap_counters_t *out);
/* fork handlers: the child re-initialises the lock. */
void talc_boot_lock_for_fork(void);
void talc_boot_unlock_after_fork(void);

#endif /* TALC_SHIM_INTERNAL_H */
