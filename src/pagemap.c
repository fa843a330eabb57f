/* pagemap.c — the owner map (pagemap.h): a static root of atomic leaf pointers, leaves of
 * atomic owner pointers mapped on demand through the OS memory seam and never freed.
 *
 * Who calls it: arena segments (set/clear, under the caller's writer lock), free and friends
 * (get, from any thread).
 * Concurrency (the protocol in one place):
 *   - a leaf pointer goes from NULL to a leaf once, by CAS (acq_rel), and never changes again;
 *     readers load it with acquire, so the leaf's zero-filled memory is visible to them;
 *   - an owner entry is stored with release by set and loaded with acquire by get, so what
 *     the caller wrote to the owner before set is visible to a reader that sees the owner;
 *   - clear stores NULL relaxed: NULL publishes nothing;
 *   - the ops pointer and the leaf counter are written rarely (tests, leaf installs); see
 *     their comments.
 * Nothing here takes a lock or allocates from malloc.
 */
#include "pagemap.h"

#include <errno.h>
#include <stdbool.h>

#include "atomic.h"

#define TALC_PAGEMAP_LEAF_BYTES ((size_t)TALC_PAGEMAP_LEAF_ENTRIES * sizeof(talc_atomic_ptr))

_Static_assert(TALC_PAGEMAP_ROOT_BITS + TALC_PAGEMAP_LEAF_BITS + TALC_PAGEMAP_SHIFT ==
                   TALC_PAGEMAP_ADDR_BITS,
               "root and leaf indexes cover the address bits above the granule");
_Static_assert(TALC_PAGEMAP_ROOT_BITS >= 1 && TALC_PAGEMAP_LEAF_BITS >= 1, "two real levels");

talc_atomic_ptr talc_pagemap_root[TALC_PAGEMAP_ROOT_ENTRIES]; /* talc_atomic_ptr[] each */
static talc_atomic_ptr talc_pagemap_os; /* const talc_os_ops_t *; NULL = default ops */
static talc_atomic_size talc_pagemap_nleaves;

void talc_pagemap_use_os(const talc_os_ops_t *ops)
{
    /* release: publishes the ops struct's contents to the next set that maps a leaf */
    talc_atomic_store_release_ptr(&talc_pagemap_os, (void *)ops);
}

static const talc_os_ops_t *talc_pagemap_ops(void)
{
    /* acquire: pairs with talc_pagemap_use_os, so the ops struct's contents are visible */
    const talc_os_ops_t *ops = talc_atomic_load_acquire_ptr(&talc_pagemap_os);
    return ops ? ops : talc_os_default_ops();
}

size_t talc_pagemap_leaves(void)
{
    /* relaxed: a statistic; it orders nothing */
    return talc_atomic_load_relaxed_size(&talc_pagemap_nleaves);
}

/* The leaf for root index r, or NULL if it was never mapped. */
static talc_atomic_ptr *talc_pagemap_leaf(uint64_t r)
{
    /* acquire: pairs with the installing CAS, so the leaf's zeroed entries are visible */
    return talc_atomic_load_acquire_ptr(&talc_pagemap_root[r]);
}

/* The leaf for root index r, mapped and installed if needed; NULL if the OS refuses. Two
 * writers racing on one root slot both map; the CAS loser unmaps its copy. */
static talc_atomic_ptr *talc_pagemap_leaf_install(uint64_t r)
{
    talc_atomic_ptr *leaf = talc_pagemap_leaf(r);
    if (leaf)
        return leaf;
    const talc_os_ops_t *ops = talc_pagemap_ops();
    void *fresh = talc_os_ops_map(ops, TALC_PAGEMAP_LEAF_BYTES, 0);
    if (!fresh)
        return NULL;
    void *seen = NULL;
    /* acq_rel: release publishes the zeroed leaf; on failure, acquire makes the winner's
     * leaf readable */
    if (talc_atomic_cas_acq_rel_ptr(&talc_pagemap_root[r], &seen, fresh)) {
        talc_atomic_fetch_add_relaxed_size(&talc_pagemap_nleaves, 1); /* relaxed: statistic */
        return fresh;
    }
    talc_os_ops_unmap(ops, fresh, TALC_PAGEMAP_LEAF_BYTES);
    return seen;
}

static bool talc_pagemap_range_ok(uintptr_t base, size_t size)
{
    uint64_t b = (uint64_t)base, s = (uint64_t)size;
    return s != 0 && (b & (TALC_PAGEMAP_GRANULE - 1)) == 0 &&
           (s & (TALC_PAGEMAP_GRANULE - 1)) == 0 && b < TALC_PAGEMAP_LIMIT &&
           s <= TALC_PAGEMAP_LIMIT - b;
}

/* Every leaf for granules g0..g1 is mapped. 0, or -ENOMEM. */
static int talc_pagemap_ensure_leaves(uint64_t g0, uint64_t g1)
{
    for (uint64_t r = g0 >> TALC_PAGEMAP_LEAF_BITS; r <= g1 >> TALC_PAGEMAP_LEAF_BITS; r++)
        if (!talc_pagemap_leaf_install(r))
            return -ENOMEM;
    return 0;
}

/* Stores owner into granules g0..g1 of one leaf (release), or NULL (relaxed) to clear. */
static void talc_pagemap_fill_leaf(talc_atomic_ptr *leaf, uint64_t g0, uint64_t g1, void *owner)
{
    for (uint64_t g = g0; g <= g1; g++) {
        talc_atomic_ptr *e = &leaf[g & TALC_PAGEMAP_LEAF_MASK];
        if (owner) /* release: a reader that acquires the owner sees its initialised contents */
            talc_atomic_store_release_ptr(e, owner);
        else /* relaxed: NULL publishes nothing */
            talc_atomic_store_relaxed_ptr(e, NULL);
    }
}

/* Stores owner (or NULL) into granules g0..g1, leaf by leaf; unmapped leaves are skipped. */
static void talc_pagemap_fill(uint64_t g0, uint64_t g1, void *owner)
{
    while (g0 <= g1) {
        uint64_t end = g0 | TALC_PAGEMAP_LEAF_MASK; /* last granule of this leaf */
        uint64_t last = end < g1 ? end : g1;
        talc_atomic_ptr *leaf = talc_pagemap_leaf(g0 >> TALC_PAGEMAP_LEAF_BITS);
        if (leaf)
            talc_pagemap_fill_leaf(leaf, g0, last, owner);
        g0 = last + 1;
    }
}

int talc_pagemap_set(uintptr_t base, size_t size, void *owner)
{
    if (!owner || !talc_pagemap_range_ok(base, size))
        return -EINVAL;
    uint64_t g0 = (uint64_t)base >> TALC_PAGEMAP_SHIFT;
    uint64_t g1 = ((uint64_t)base + size - 1) >> TALC_PAGEMAP_SHIFT;
    if (talc_pagemap_ensure_leaves(g0, g1) != 0)
        return -ENOMEM; /* nothing stored yet: no partial registration */
    talc_pagemap_fill(g0, g1, owner);
    return 0;
}

void talc_pagemap_clear(uintptr_t base, size_t size)
{
    if (!talc_pagemap_range_ok(base, size))
        return;
    uint64_t g0 = (uint64_t)base >> TALC_PAGEMAP_SHIFT;
    talc_pagemap_fill(g0, ((uint64_t)base + size - 1) >> TALC_PAGEMAP_SHIFT, NULL);
}
