/* pagemap.h — the owner map: from any address to the owner registered for it (an arena
 * segment), in O(1), without locks (DESIGN decision 3).
 *
 * The address space is cut into granules of 2^TALC_PAGEMAP_SHIFT bytes (64 KiB by default).
 * A two-level radix table holds one atomic owner pointer per granule: a static root of atomic
 * pointers to leaves, and leaves mapped from the OS on first use and never freed. It covers
 * the 48-bit user address space on 64-bit targets (the whole space on 32-bit ones).
 *
 *   granule index g = addr >> SHIFT;   root[g >> LEAF_BITS] -> leaf;   leaf[g & LEAF_MASK] = owner
 *
 * Who calls it: arenas register the segments they map (set) and drop them when they give them
 * back (clear); free(), realloc() and usable-size look up the owner of any pointer (get).
 *
 * Concurrency:
 *   talc_pagemap_get     any thread, any time, concurrently with everything: lock-free and
 *                        wait-free (two acquire loads, no retry).
 *   talc_pagemap_set     writers to the same granules must be serialised by the caller (the
 *   talc_pagemap_clear   arena's own lock); writers to disjoint ranges may run concurrently
 *                        (a leaf is installed with a CAS).
 *   talc_pagemap_use_os  tests only, before any set in the process or with no set running.
 * Publication: set stores each owner with release, so a reader that sees the owner also sees
 * everything written to the owner before set. clear does not wait for readers: a get racing
 * with clear may still return the old owner, so an owner must stay readable (type-stable, or
 * reclaimed after a grace period) for as long as a racing reader could use it.
 *
 * Memory: the root is static (2^ROOT_BITS pointers; 512 KiB of bss on 64-bit, untouched
 * pages cost nothing). Each leaf is 2^LEAF_BITS pointers (512 KiB of address space on 64-bit,
 * 4 KiB of RAM per 32 MiB registered). Leaves come from the OS memory seam, never malloc.
 */
#ifndef TALC_PAGEMAP_H
#define TALC_PAGEMAP_H

#include "talc/config.h"

#include <stddef.h>
#include <stdint.h>

#include "atomic.h"
#include "os_mem.h"

/* TALC_PAGEMAP_SHIFT: see talc/config.h. */
#if TALC_PAGEMAP_SHIFT < 12 || TALC_PAGEMAP_SHIFT > 24
#error "TALC_PAGEMAP_SHIFT must be 12..24"
#endif

#if UINTPTR_MAX > 0xffffffffu
#define TALC_PAGEMAP_ADDR_BITS 48 /* Linux user space on x86_64 and aarch64 (4-level) */
#else
#define TALC_PAGEMAP_ADDR_BITS 32
#endif

#define TALC_PAGEMAP_GRANULE ((uintptr_t)1 << TALC_PAGEMAP_SHIFT)
#define TALC_PAGEMAP_INDEX_BITS (TALC_PAGEMAP_ADDR_BITS - TALC_PAGEMAP_SHIFT)
#define TALC_PAGEMAP_LEAF_BITS ((TALC_PAGEMAP_INDEX_BITS + 1) / 2)
#define TALC_PAGEMAP_ROOT_BITS (TALC_PAGEMAP_INDEX_BITS - TALC_PAGEMAP_LEAF_BITS)
/* Address space one leaf covers (4 GiB with the 64-bit defaults). */
#define TALC_PAGEMAP_LEAF_SPAN ((uint64_t)1 << (TALC_PAGEMAP_SHIFT + TALC_PAGEMAP_LEAF_BITS))
/* First address above the covered range. */
#define TALC_PAGEMAP_LIMIT ((uint64_t)1 << TALC_PAGEMAP_ADDR_BITS)

/* Registers owner (not NULL) for [base, base + size): both multiples of the granule, size > 0,
 * base + size <= TALC_PAGEMAP_LIMIT. Overwrites whatever was registered there. Maps the leaves
 * the range needs first; if one cannot be mapped, registers nothing and returns -ENOMEM
 * (leaves already mapped stay, empty). Returns 0, -EINVAL (bad arguments) or -ENOMEM.
 * Cost: O(size / granule) stores, plus one OS map per new leaf. */
int talc_pagemap_set(uintptr_t base, size_t size, void *owner);

/* Unregisters [base, base + size) (same rules as set; granules never set are skipped; a
 * range set would refuse is a caller bug and is ignored). Afterwards get returns NULL there,
 * except to readers racing with the clear. Never maps or frees memory, never fails.
 * Cost: O(size / granule) stores. */
void talc_pagemap_clear(uintptr_t base, size_t size);

#define TALC_PAGEMAP_ROOT_ENTRIES ((size_t)1 << TALC_PAGEMAP_ROOT_BITS)
#define TALC_PAGEMAP_LEAF_ENTRIES ((uint64_t)1 << TALC_PAGEMAP_LEAF_BITS)
#define TALC_PAGEMAP_LEAF_MASK (TALC_PAGEMAP_LEAF_ENTRIES - 1)

/* The root (pagemap.c); inline here because every free reads it. */
extern talc_atomic_ptr talc_pagemap_root[TALC_PAGEMAP_ROOT_ENTRIES];

/* The owner registered for the granule holding p, or NULL for any address never registered
 * (or cleared): NULL itself, addresses at or above TALC_PAGEMAP_LIMIT (kernel addresses,
 * UINTPTR_MAX), and any address in a leaf never mapped. Never faults. Wait-free, O(1). */
static inline void *talc_pagemap_get(const void *p)
{
    uint64_t a = (uint64_t)(uintptr_t)p;
    if (a >= TALC_PAGEMAP_LIMIT)
        return NULL; /* kernel half, non-canonical, UINTPTR_MAX */
    uint64_t g = a >> TALC_PAGEMAP_SHIFT;
    /* acquire: pairs with the installing CAS, so the leaf's zeroed entries are visible */
    talc_atomic_ptr *leaf =
        talc_atomic_load_acquire_ptr(&talc_pagemap_root[g >> TALC_PAGEMAP_LEAF_BITS]);
    if (!leaf)
        return NULL;
    /* acquire: pairs with set's release store, so the owner's contents are visible */
    return talc_atomic_load_acquire_ptr(&leaf[g & TALC_PAGEMAP_LEAF_MASK]);
}

/* Makes the pagemap map its leaves through ops (NULL = the default Linux ops). Tests only:
 * call it before the first set of the process, or at least with no set running. The ops
 * struct must outlive every later set. */
void talc_pagemap_use_os(const talc_os_ops_t *ops);

/* Number of leaves mapped so far (never decreases). For tests and stats. */
size_t talc_pagemap_leaves(void);

#endif /* TALC_PAGEMAP_H */
