/* os_mem.c — the Linux implementation of the OS memory seam (os_mem.h): mmap with alignment by
 * over-mapping and trimming, madvise, mlock, and mbind (raw syscall).
 *
 * Who calls it: through talc_os_default_ops() (arena sources, pagemap, topology), or directly
 * (the reserve: lock, prefault, bind).
 * Concurrency: stateless apart from the page size, cached in a relaxed atomic (two threads
 * racing both compute the same value). Ranges belong to the caller; see os_mem.h.
 * This file holds every Linux memory #if of the library (MADV_POPULATE_WRITE, SYS_mbind);
 * nothing else may spell them.
 */
#define _GNU_SOURCE
#include "os_mem.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "atomic.h"
#include "heap_poison.h"

/* Stable kernel ABI values, for C libraries whose headers predate them. */
#define TALC_OS_MPOL_PREFERRED 1 /* <linux/mempolicy.h> MPOL_PREFERRED */
#define TALC_OS_MAX_NODES 1024u  /* nodes addressable by talc_os_bind_node */

static talc_atomic_size talc_os_page_cache; /* 0 = not computed yet */

size_t talc_os_page_size(void)
{
    /* relaxed: the value is the same for every thread; nothing else is published with it */
    size_t v = talc_atomic_load_relaxed_size(&talc_os_page_cache);
    if (v)
        return v;
    long s = sysconf(_SC_PAGESIZE);
    v = (s > 0 && ((unsigned long)s & ((unsigned long)s - 1)) == 0) ? (size_t)s : 4096u;
    talc_atomic_store_relaxed_size(&talc_os_page_cache, v); /* relaxed: see the load above */
    return v;
}

/* Rounds size up to the page size; 0 when that overflows. */
static size_t talc_os_round(size_t size)
{
    size_t page = talc_os_page_size();
    if (size > SIZE_MAX - (page - 1))
        return 0;
    return (size + page - 1) & ~(page - 1);
}

static void *talc_os_mmap(size_t size)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

/* A mapping of size bytes with protection prot exactly at addr (MAP_FIXED_NOREPLACE, which
 * never replaces a mapping; a kernel before 4.17 takes it as a hint: a mapping elsewhere is
 * given back), or NULL. PROT_NONE: a placeholder page. */
static void *talc_os_map_at(uintptr_t addr, size_t size, int prot)
{
    if (addr == 0 || addr > UINTPTR_MAX - size)
        return NULL;
    void *p =
        mmap((void *)addr, size, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (p == (void *)addr)
        return p;
    if (p != MAP_FAILED)
        munmap(p, size);
    return NULL;
}

/* Maps exactly size bytes at an align-aligned address, NULL (ENOMEM) if that fails: for when
 * the address space left (RLIMIT_AS) holds size bytes but not the size + align - page that
 * talc_os_map_overaligned asks for (a 1 MiB segment's 60 KiB of slack). A mapping of size
 * bytes shows where the kernel has room; it is given back, and the aligned addresses just
 * below and just above its start are asked for. Neither fits when the kernel's room is a hole
 * of less than size + align (between two libraries, say): the kernel would name the same hole
 * again, so a page in the hole's middle is kept mapped while the kernel is asked again, up to
 * TALC_OS_EXACT_ROUNDS times, and given back at the end. (Until 2026-12-07 the same hole was
 * named every round: 1 run in 300 of os_mem::map_under_a_tight_address_space_limit failed so,
 * in a hole of 1 MiB + 8 KiB between libcrypto and another mapping.) The rounds also cover
 * another thread mapping the range in between. */
#define TALC_OS_EXACT_ROUNDS 3
static void *talc_os_map_exact_aligned(size_t size, size_t align)
{
    size_t page = talc_os_page_size();
    void *kept[TALC_OS_EXACT_ROUNDS], *got = NULL;
    int nkept = 0;
    for (int round = 0; round < TALC_OS_EXACT_ROUNDS && !got; round++) {
        unsigned char *raw = talc_os_mmap(size);
        if (!raw)
            break;
        uintptr_t at = (uintptr_t)raw;
        if ((at & (align - 1)) == 0) {
            got = raw;
            break;
        }
        munmap(raw, size);
        got = talc_os_map_at(at & ~(uintptr_t)(align - 1), size, PROT_READ | PROT_WRITE);
        if (!got)
            got = talc_os_map_at((at | (align - 1)) + 1u, size, PROT_READ | PROT_WRITE);
        if (!got &&
            (kept[nkept] = talc_os_map_at(at + (size / 2 & ~(page - 1)), page, PROT_NONE)) != NULL)
            nkept++;
    }
    while (nkept > 0)
        munmap(kept[--nkept], page);
    if (!got)
        errno = ENOMEM;
    return got;
}

/* Maps size + align - page bytes and unmaps the parts before and after the aligned range; if
 * the address space has no room for that much, tries exactly size. */
static void *talc_os_map_overaligned(size_t size, size_t align)
{
    size_t page = talc_os_page_size();
    if (size > (size_t)PTRDIFF_MAX - (align - page)) { /* no mapping can be larger */
        errno = ENOMEM;
        return NULL;
    }
    size_t total = size + align - page;
    unsigned char *raw = talc_os_mmap(total);
    if (!raw)
        return errno == ENOMEM ? talc_os_map_exact_aligned(size, align) : NULL;
    uintptr_t start = ((uintptr_t)raw + align - 1) & ~(uintptr_t)(align - 1);
    size_t head = (size_t)(start - (uintptr_t)raw);
    size_t tail = total - head - size;
    if (head)
        munmap(raw, head);
    if (tail)
        munmap(raw + head + size, tail);
    return raw + head;
}

void *talc_os_map(size_t size, size_t align)
{
    size_t page = talc_os_page_size();
    if (size == 0 || (align & (align - 1)) != 0) {
        errno = EINVAL;
        return NULL;
    }
    size = talc_os_round(size);
    if (size == 0 || size > (size_t)PTRDIFF_MAX || align > (size_t)PTRDIFF_MAX) {
        errno = ENOMEM; /* decided here, not by mmap: valgrind's mmap reports other errnos */
        return NULL;
    }
    if (align <= page)
        return talc_os_mmap(size);
    return talc_os_map_overaligned(size, align);
}

/* munmap fails when the range splits a mapping and the process is at vm.max_map_count (ENOMEM):
 * the caller has already forgotten the range, so its pages at least go back (madvise needs no
 * new mapping), and only the address space stays taken. Until 2026-12-07 they stayed resident
 * for good: 7 freed 8 MiB blocks kept 56 MiB (found by a review). */
void talc_os_unmap(void *p, size_t size)
{
    size = talc_os_round(size);
    talc_unpoison(p, size);     /* a later mapping there must not inherit free chunks' poison */
    talc_mark_defined(p, size); /* if munmap fails, the pages read as zero (memcheck) */
    if (p && size && munmap(p, size) != 0)
        (void)madvise(p, size, MADV_DONTNEED);
}

int talc_os_commit(void *p, size_t size)
{
    (void)p; /* Linux commits on first touch; decommitted pages stay mapped read-write */
    (void)size;
    return 0;
}

int talc_os_decommit(void *p, size_t size)
{
    return madvise(p, talc_os_round(size), MADV_DONTNEED) == 0 ? 0 : -errno;
}

int talc_os_lock(void *p, size_t size) { return mlock(p, talc_os_round(size)) == 0 ? 0 : -errno; }

/* Writes one byte per page with its own value (the caller owns the range exclusively). */
static void talc_os_touch(void *p, size_t size)
{
    size_t page = talc_os_page_size();
    volatile unsigned char *b = p;
    for (size_t off = 0; off < size; off += page)
        b[off] = b[off];
}

/* MADV_POPULATE_WRITE faults the range in without a trap per page (Linux >= 5.14). The touch
 * afterwards is cheap on resident pages and covers older kernels and emulators that accept the
 * advice without acting on it (qemu-user 7.2 returns 0 for every advice but MADV_DONTNEED). */
int talc_os_prefault(void *p, size_t size)
{
    size = talc_os_round(size);
#ifdef MADV_POPULATE_WRITE
    if (madvise(p, size, MADV_POPULATE_WRITE) != 0 && errno != EINVAL && errno != ENOSYS)
        return -errno; /* ENOMEM, EFAULT, EHWPOISON: touching would fail the same way */
#endif
    talc_os_touch(p, size);
    return 0;
}

int talc_os_bind_node(void *p, size_t size, unsigned node)
{
#ifdef SYS_mbind
    enum { BITS = (int)(sizeof(unsigned long) * CHAR_BIT) };
    unsigned long mask[TALC_OS_MAX_NODES / BITS] = {0};
    if (node >= TALC_OS_MAX_NODES)
        return -EINVAL;
    mask[node / BITS] = 1ul << (node % BITS);
    /* maxnode counts one more than the bits the kernel reads (a historic off-by-one). */
    long rc = syscall(SYS_mbind, p, talc_os_round(size), TALC_OS_MPOL_PREFERRED, mask,
                      (unsigned long)TALC_OS_MAX_NODES + 1ul, 0ul);
    return rc == 0 ? 0 : -errno;
#else
    (void)p;
    (void)size;
    (void)node;
    return -ENOSYS;
#endif
}

/* ---- The default ops --------------------------------------------------------------------- */

static void *talc_os_default_map(size_t size, size_t align, void *ctx)
{
    (void)ctx;
    return talc_os_map(size, align);
}

static void talc_os_default_unmap(void *p, size_t size, void *ctx)
{
    (void)ctx;
    talc_os_unmap(p, size);
}

static int talc_os_default_commit(void *p, size_t size, void *ctx)
{
    (void)ctx;
    return talc_os_commit(p, size);
}

static int talc_os_default_decommit(void *p, size_t size, void *ctx)
{
    (void)ctx;
    return talc_os_decommit(p, size);
}

static const talc_os_ops_t talc_os_linux_ops = {
    .map = talc_os_default_map,
    .unmap = talc_os_default_unmap,
    .commit = talc_os_default_commit,
    .decommit = talc_os_default_decommit,
    .ctx = NULL,
};

const talc_os_ops_t *talc_os_default_ops(void) { return &talc_os_linux_ops; }
