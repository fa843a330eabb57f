/* malloc.c — the standard malloc family on top of the arena layer: malloc, free, calloc,
 * realloc, reallocarray, posix_memalign, aligned_alloc, memalign, valloc, pvalloc,
 * malloc_usable_size, free_sized, free_aligned_sized. C++ new/delete reach these through
 * libstdc++, which implements them with malloc, aligned_alloc and free.
 *
 * Routing: an allocation goes to talc_arena_malloc(NULL, ...), i.e. the calling thread's
 * current arena (innermost scope, else bound, else the default arena). A pointer handed back
 * (free, realloc, usable size) goes to its owner: the bootstrap heap if it lies in its buffer
 * (boot.c; checked first, by address), else talc_free & co., which find the owning arena in
 * O(1) and send a pointer that no arena owns to the fatal handler (talc_set_fatal_handler:
 * by default one line naming the address, then abort).
 *
 * Semantics are glibc's where POSIX leaves a choice: malloc(0) returns a unique pointer;
 * realloc(p, 0) frees p and returns NULL; calloc and reallocarray overflow -> NULL + ENOMEM;
 * aligned_alloc with an alignment that is not a power of two -> NULL + EINVAL (glibc 2.38);
 * memalign rounds such an alignment up to a power of two (glibc); posix_memalign returns
 * EINVAL/ENOMEM and never touches errno or, on failure, *memptr; free never changes errno.
 *
 * Concurrency: every function may be called from any thread at any time, including before
 * main, in constructors and destructors and during thread exit (shim/init.c has the start-up
 * protocol). The fast path is one acquire load of the start-up state, then the dispatcher.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "os_mem.h"
#include "shim_internal.h"
#include "talc/arena.h"

/* C23 functions glibc 2.36 does not declare yet. */
TALC_SHIM_EXPORT void free_sized(void *ptr, size_t size);
TALC_SHIM_EXPORT void free_aligned_sized(void *ptr, size_t alignment, size_t size);

/* ---- Allocation ---------------------------------------------------------------------------*/

void *talc_shim_alloc_ready(size_t size, size_t align)
{
    if (align > TALC_MIN_ALIGN)
        return talc_arena_aligned_alloc(NULL, align, size);
    return talc_arena_malloc(NULL, size);
}

/* size bytes aligned to align (0 or a power of two); NULL + errno on failure. */
static inline void *talc_shim_alloc(size_t size, size_t align)
{
    if (TALC_LIKELY(talc_shim_hot()))
        return talc_shim_alloc_ready(size, align);
    return talc_shim_alloc_cold(size, align);
}

TALC_SHIM_EXPORT void *malloc(size_t size) { return talc_shim_alloc(size, 0); }

TALC_SHIM_EXPORT void *calloc(size_t nmemb, size_t size)
{
    size_t n;
    if (__builtin_mul_overflow(nmemb, size, &n)) {
        errno = ENOMEM;
        return NULL;
    }
    if (TALC_LIKELY(talc_shim_hot())) /* skips clearing a fresh segment's first block */
        return talc_arena_calloc(NULL, nmemb, size);
    void *p = talc_shim_alloc_cold(n, 0);
    if (p)
        memset(p, 0, n);
    return p;
}

static bool talc_pow2(size_t x) { return x && (x & (x - 1u)) == 0; }

TALC_SHIM_EXPORT void *aligned_alloc(size_t alignment, size_t size)
{
    if (!talc_pow2(alignment)) {
        errno = EINVAL;
        return NULL;
    }
    return talc_shim_alloc(size, alignment);
}

TALC_SHIM_EXPORT int posix_memalign(void **memptr, size_t alignment, size_t size)
{
    if (!talc_pow2(alignment) || alignment % sizeof(void *) != 0)
        return EINVAL;
    int saved = errno;
    void *p = talc_shim_alloc(size, alignment);
    errno = saved;
    if (!p)
        return ENOMEM;
    *memptr = p;
    return 0;
}

TALC_SHIM_EXPORT void *memalign(size_t alignment, size_t size)
{
    if (alignment > SIZE_MAX / 2u + 1u) {
        errno = EINVAL;
        return NULL;
    }
    if (!talc_pow2(alignment)) { /* glibc: round up to the next power of two */
        size_t a = TALC_MIN_ALIGN;
        while (a < alignment)
            a <<= 1;
        alignment = a;
    }
    return talc_shim_alloc(size, alignment);
}

TALC_SHIM_EXPORT void *valloc(size_t size) { return talc_shim_alloc(size, talc_os_page_size()); }

TALC_SHIM_EXPORT void *pvalloc(size_t size)
{
    size_t page = talc_os_page_size(), n;
    if (__builtin_add_overflow(size ? size : 1u, page - 1u, &n)) {
        errno = ENOMEM;
        return NULL;
    }
    return talc_shim_alloc(n & ~(page - 1u), page);
}

/* ---- Hand-back ----------------------------------------------------------------------------*/

TALC_SHIM_EXPORT void free(void *ptr)
{
    /* POSIX.1-2024: free does not change errno. talc_free keeps it; the bootstrap heap's free
     * makes no system call. */
    if (TALC_UNLIKELY(talc_boot_owns(ptr)))
        talc_boot_free(ptr);
    else
        talc_free(ptr);
}

TALC_SHIM_EXPORT void free_sized(void *ptr, size_t size)
{
    (void)size; /* the block knows its size; a wrong one is undefined behaviour (C23) */
    free(ptr);
}

TALC_SHIM_EXPORT void free_aligned_sized(void *ptr, size_t alignment, size_t size)
{
    (void)alignment;
    (void)size;
    free(ptr);
}

/* A bootstrap block resized: inside the bootstrap heap while the shim starts (a thread other
 * than the initialiser waits for READY if it has no room, as malloc does); after start-up a
 * shrink stays in place (it cannot fail) and a growth moves the block to an arena. */
static void *talc_shim_boot_realloc(void *ptr, size_t size)
{
    if (size == 0) {
        talc_boot_free(ptr);
        return NULL;
    }
    if (!talc_shim_ready()) {
        void *q = talc_boot_realloc(ptr, size);
        if (q || !talc_shim_start()) /* talc_shim_start: false on the initialising thread */
            return q;
    }
    if (size <= talc_boot_usable_size(ptr))
        return talc_boot_realloc(ptr, size);
    void *q = talc_shim_alloc_ready(size, 0);
    if (!q)
        return NULL;
    size_t old = talc_boot_usable_size(ptr);
    memcpy(q, ptr, old < size ? old : size);
    talc_boot_free(ptr);
    return q;
}

static void *talc_shim_realloc(void *ptr, size_t size)
{
    if (!ptr)
        return talc_shim_alloc(size, 0);
    if (TALC_UNLIKELY(talc_boot_owns(ptr)))
        return talc_shim_boot_realloc(ptr, size);
    /* ptr stays in its owner's arena; size 0 frees it and returns NULL */
    return talc_arena_realloc(NULL, ptr, size);
}

TALC_SHIM_EXPORT void *realloc(void *ptr, size_t size) { return talc_shim_realloc(ptr, size); }

TALC_SHIM_EXPORT void *reallocarray(void *ptr, size_t nmemb, size_t size)
{
    size_t n;
    if (__builtin_mul_overflow(nmemb, size, &n)) {
        errno = ENOMEM;
        return NULL;
    }
    return talc_shim_realloc(ptr, n);
}

TALC_SHIM_EXPORT size_t malloc_usable_size(void *ptr)
{
    if (!ptr)
        return 0;
    if (TALC_UNLIKELY(talc_boot_owns(ptr)))
        return talc_boot_usable_size(ptr);
    return talc_usable_size(ptr);
}
