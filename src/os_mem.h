/* os_mem.h — the OS memory seam: an ops struct that every user of OS memory goes through, its
 * Linux implementation (the default), and the Linux helpers around it.
 *
 * Who calls it: arena sources (growth from the OS), the reserve (lock, prefault, bind), the
 * pagemap (its leaves), the topology (its tables). Tests replace the ops with a fake
 * (tests/common/fake_os.h) to count calls and inject failures.
 *
 * Concurrency: every function here may be called from any thread at any time; none keeps
 * state except talc_os_page_size()'s cached value. An ops struct must not change while any
 * thread may call through it. The memory functions act on ranges the caller owns: two threads
 * must not map/unmap/decommit the same range concurrently.
 *
 * Errors: map returns NULL and sets errno; the int functions return 0 or a negative errno
 * value (-EINVAL, -ENOMEM, ...) and leave errno alone. Nothing here prints or aborts.
 * Allocation: none (no libc malloc), so the shim may call all of it.
 */
#ifndef TALC_OS_MEM_H
#define TALC_OS_MEM_H

#include <stddef.h>

/* The memory operations an arena source needs. All sizes are in bytes and are rounded up to
 * the page size; all pointers passed in are page-aligned.
 *
 *   map(size, align, ctx)  size > 0; align 0 or a power of two (below the page size means the
 *                          page size). Returns fresh, zero-filled, read-write memory aligned to
 *                          align, or NULL with errno set (ENOMEM, EINVAL). Never reserves swap
 *                          lazily (no MAP_NORESERVE): overcommit policy is the system's.
 *   unmap(p, size, ctx)    returns a range obtained from map (same size) or a page-aligned
 *                          part of one. No result: where the range cannot be unmapped (Linux:
 *                          at vm.max_map_count), its pages are given back and its address
 *                          space stays taken.
 *   commit(p, size, ctx)   makes a range usable again after decommit. 0 or -errno.
 *   decommit(p, size, ctx) gives the physical pages back; the range stays mapped and usable,
 *                          its contents become unspecified (zero on Linux; do not rely on it).
 *                          0 or -errno.
 *   ctx                    passed to every call, unchanged.
 */
typedef struct talc_os_ops {
    void *(*map)(size_t size, size_t align, void *ctx);
    void (*unmap)(void *p, size_t size, void *ctx);
    int (*commit)(void *p, size_t size, void *ctx);
    int (*decommit)(void *p, size_t size, void *ctx);
    void *ctx;
} talc_os_ops_t;

/* The Linux implementation (mmap/munmap/madvise). Static, immutable; never NULL. */
const talc_os_ops_t *talc_os_default_ops(void);

/* Calls through an ops struct (ops must not be NULL). */
static inline void *talc_os_ops_map(const talc_os_ops_t *ops, size_t size, size_t align)
{
    return ops->map(size, align, ops->ctx);
}
static inline void talc_os_ops_unmap(const talc_os_ops_t *ops, void *p, size_t size)
{
    ops->unmap(p, size, ops->ctx);
}
static inline int talc_os_ops_commit(const talc_os_ops_t *ops, void *p, size_t size)
{
    return ops->commit(p, size, ops->ctx);
}
static inline int talc_os_ops_decommit(const talc_os_ops_t *ops, void *p, size_t size)
{
    return ops->decommit(p, size, ops->ctx);
}

/* The page size (sysconf), a power of two. O(1) after the first call. */
size_t talc_os_page_size(void);

/* The default ops' functions, callable directly. Contracts as in talc_os_ops_t.
 * talc_os_map costs one mmap plus up to two munmaps (alignment above the page size is made by
 * over-mapping size + align - page and trimming both ends); where the address space has no
 * room for the excess (RLIMIT_AS), two or three more mmaps find an aligned range of exactly
 * size, when the kernel has one next to where it would put size bytes (asked up to three
 * times: another thread may map that range first, or the kernel's room may be a hole with no
 * aligned place in it, which is then kept from the next answer by a page mapped in its
 * middle; those pages, one per round at most, are unmapped before the call returns). */
void *talc_os_map(size_t size, size_t align);
void talc_os_unmap(void *p, size_t size);
int talc_os_commit(void *p, size_t size);   /* Linux: no-op, returns 0 */
int talc_os_decommit(void *p, size_t size); /* madvise(MADV_DONTNEED) */

/* Locks the range in RAM (mlock): 0, or -ENOMEM / -EPERM (RLIMIT_MEMLOCK) / -EINVAL. */
int talc_os_lock(void *p, size_t size);

/* Makes every page of the range resident and writable now (MADV_POPULATE_WRITE, else a write
 * to each page). Precondition: no other thread uses the range yet (the fallback rewrites one
 * byte per page with its own value). 0 or -errno. */
int talc_os_prefault(void *p, size_t size);

/* Asks the kernel to place the range's pages on NUMA node `node` (mbind, MPOL_PREFERRED: the
 * kernel falls back to other nodes when that one is full, so binding never makes an allocation
 * fail). Raw syscall; no libnuma. 0, or -ENOSYS (no NUMA in the kernel, or an emulator),
 * -EINVAL (no such node, node >= 1024, bad range), -EPERM. Failure is harmless: the
 * range keeps the default policy. */
int talc_os_bind_node(void *p, size_t size, unsigned node);

#endif /* TALC_OS_MEM_H */
