/* tests/fuzz/fuzz_arena_model.c — the arena harness's model: one input's state (fz), the
 * input's bytes (fz_take, fz_size), the live blocks, and the invariants after every operation.
 * A block is checked when it is adopted (owner: the arena asked or a fallback; alignment;
 * usable size; no overlap with a live block; no line shared in cache-aligned mode) and filled
 * with its pattern (or left zero, for calloc); fz_check_all compares each arena's stats with
 * the model, checks the budgets and the reserve, and one block's contents. A disagreement
 * goes to fz_die.
 *
 * Who may use it: the arena harness's files (fuzz_arena.h). Concurrency: as fuzz_arena.h.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "talc/platform.h"
#include "talc/reserve.h"
#include "talc/stats.h"

#include "../common/pattern.h"
#include "fuzz_arena.h"

fz_t fz; /* reset by LLVMFuzzerTestOneInput for each input */

void fz_die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "fuzz_arena: step %u (%s): ", fz.step, fz.op ? fz.op : "-");
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}

/* ---- Input --------------------------------------------------------------------------------*/

uint64_t fz_take(unsigned nbytes)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < nbytes && fz.pos < fz.size; i++)
        v |= (uint64_t)fz.data[fz.pos++] << (8 * i);
    return v;
}

/* A request size: mostly small, some up to 16 KiB (the thread cache's range), a few large,
 * now and then one above an OS arena's segment (a segment of its own, unmapped when its free
 * empties it: arenas/segment.c), and now and then zero (malloc(0) gives a unique block;
 * realloc to 0 frees). */
size_t fz_size(void)
{
    unsigned kind = (unsigned)fz_take(1);
    size_t v = (size_t)fz_take(2);
    if (kind == 255)
        return 0;
    if (kind == 254)
        return TEST_OS_SEGMENT + v * 37 % FZ_SIZE((size_t)2 << 20);
    if (kind < 160)
        return v % 512 + 1;
    if (kind < 240)
        return v % 16384 + 1;
    return v * 5 % (320u << 10) + 1;
}

/* ---- Model --------------------------------------------------------------------------------*/

talc_arena_t *fz_arena(unsigned s) /* slot index, FZ_SLOTS = default */
{
    return s < FZ_SLOTS ? fz.slot[s].a : talc_arena_default();
}

const fz_slot_t *fz_slot_of(const talc_arena_t *a)
{
    for (unsigned s = 0; s < FZ_SLOTS; s++)
        if (fz.slot[s].a && fz.slot[s].a == a)
            return &fz.slot[s];
    return NULL;
}

static size_t fz_line(const talc_arena_t *a)
{
    const fz_slot_t *sl = fz_slot_of(a);
    return sl && sl->cfg.cache_aligned ? talc_cache_line_size() : 0;
}

void fz_check_block(size_t i)
{
    const fz_block_t *b = &fz.blk[i];
    if (b->zero) {
        for (size_t k = 0; k < b->size; k++)
            if (b->p[k] != 0)
                fz_die("calloc block %p (%zu B) has byte %zu = %#x", (void *)b->p, b->size, k,
                       (unsigned)(unsigned char)b->p[k]);
        return;
    }
    size_t bad = test_pattern_check(b->p, b->size, b->seed);
    if (bad != b->size)
        fz_die("block %p (%zu B, arena %s) damaged at byte %zu", (void *)b->p, b->size,
               talc_arena_name(b->owner), bad);
}

void fz_drop(size_t i)
{
    fz.blk[i] = fz.blk[--fz.nblk];
    if (fz.busy == fz.nblk)
        fz.busy = i;
}

/* Could a request to `asked` end up in `owner`? The arena itself, or a fallback reached
 * through the chain (the depth is the library's business; any named slot will do). */
static bool fz_owner_ok(const talc_arena_t *asked, const talc_arena_t *owner)
{
    if (owner == asked)
        return true;
    const fz_slot_t *sl = fz_slot_of(asked);
    return sl && sl->cfg.fallback && fz_slot_of(owner) != NULL;
}

/* A fresh block: aligned, owned, not overlapping any live block nor (cache-aligned) sharing a
 * line with one, usable size large enough. Recorded with its content. */
void fz_adopt(char *p, size_t n, size_t align, talc_arena_t *asked, bool zero)
{
    talc_arena_t *owner = talc_arena_of(p);
    if (!owner || !fz_owner_ok(asked, owner))
        fz_die("block %p from \"%s\" is owned by %s", (void *)p, talc_arena_name(asked),
               owner ? talc_arena_name(owner) : "nobody");
    size_t min_align = align > TALC_MIN_ALIGN ? align : TALC_MIN_ALIGN;
    size_t line = fz_line(owner);
    if (line > min_align)
        min_align = line;
    if ((uintptr_t)p % min_align)
        fz_die("block %p not aligned to %zu", (void *)p, min_align);
    size_t us = talc_usable_size(p);
    if (us < n)
        fz_die("usable size %zu < requested %zu", us, n);
    for (size_t i = 0; i < fz.nblk; i++) {
        const fz_block_t *b = &fz.blk[i];
        if (p == b->p)
            fz_die("block %p handed out twice", (void *)p);
        if (p < b->p + b->size && b->p < p + n)
            fz_die("block %p+%zu overlaps live %p+%zu", (void *)p, n, (void *)b->p, b->size);
        if (line && b->owner == owner &&
            (uintptr_t)p / line <= ((uintptr_t)b->p + b->size - 1) / line &&
            (uintptr_t)b->p / line <= ((uintptr_t)p + n - 1) / line)
            fz_die("cache-aligned block %p+%zu shares a line with %p+%zu", (void *)p, n,
                   (void *)b->p, b->size);
    }
    if (fz.nblk == FZ_MAX_BLOCKS)
        fz_die("block table full");
    fz_block_t *b = &fz.blk[fz.nblk++];
    *b = (fz_block_t){p, n, owner, fz.next_seed++, zero};
    if (zero) {
        fz_check_block(fz.nblk - 1);
        b->zero = (fz.next_seed & 1) != 0; /* half the calloc blocks are then overwritten */
    }
    if (!b->zero)
        test_pattern_fill(p, n, b->seed);
}

bool fz_bounded(const talc_arena_t *a)
{
    const fz_slot_t *sl = fz_slot_of(a);
    return sl && (sl->cfg.source != TALC_SOURCE_OS || sl->cfg.hard_budget ||
                  sl->cfg.oom_chain[0] != TALC_OOM_STEP_END);
}

/* The result of an allocation call (e: its errno, or FZ_JUMPED: nothing was allocated). */
void fz_after_alloc(char *p, size_t n, size_t align, talc_arena_t *asked, bool zero, int e)
{
    if (p) {
        fz_adopt(p, n, align, asked, zero);
        return;
    }
    if (e != ENOMEM && e != FZ_JUMPED)
        fz_die("NULL with errno %d, not ENOMEM", e);
    if (!fz_bounded(asked))
        fz_die("unbounded arena %s failed %zu bytes", talc_arena_name(asked), n);
}

/* ---- Invariants after every operation -----------------------------------------------------*/

static void fz_check_arena(talc_arena_t *a, size_t *borrowed)
{
    talc_arena_stats_t st;
    if (talc_arena_get_stats(a, &st) != 0)
        fz_die("get_stats(%s) failed", talc_arena_name(a));
    *borrowed += st.borrowed_bytes;
    const fz_slot_t *sl = fz_slot_of(a);
    if (sl && sl->cfg.hard_budget && st.source_bytes > sl->cfg.hard_budget)
        fz_die("%s: source bytes %zu above the hard budget %zu", st.name, st.source_bytes,
               sl->cfg.hard_budget);
    size_t ceiling = sl ? sl->cfg.borrow_ceiling : 0;
    if (st.borrowed_bytes > ceiling && sl)
        fz_die("%s: borrowed %zu above the ceiling %zu", st.name, st.borrowed_bytes, ceiling);
    if (st.free_bytes + st.cached_bytes > st.managed_bytes)
        fz_die("%s: free %zu + cached %zu > managed %zu", st.name, st.free_bytes, st.cached_bytes,
               st.managed_bytes);
#if TALC_COUNTERS
    size_t n = 0, bytes = 0;
    for (size_t i = 0; i < fz.nblk; i++)
        if (fz.blk[i].owner == a) {
            n++;
            bytes += fz.blk[i].size;
        }
    if (st.live_allocs != n || st.live_bytes != bytes)
        fz_die("%s: live %zu blocks / %zu B, model %zu / %zu", st.name, st.live_allocs,
               st.live_bytes, n, bytes);
    if (st.allocs - st.frees != st.live_allocs)
        fz_die("%s: allocs %llu - frees %llu != live %zu", st.name, (unsigned long long)st.allocs,
               (unsigned long long)st.frees, st.live_allocs);
#endif
}

void fz_check_all(void)
{
    if (fz.faults)
        fz_die("fault recorded outside a bad-pointer operation");
    if (fz.ncalls || fz.nuser)
        fz_die("%u calls and %u callbacks still open", fz.ncalls, fz.nuser);
    size_t borrowed = 0;
    for (unsigned s = 0; s <= FZ_SLOTS; s++)
        if (fz_arena(s))
            fz_check_arena(fz_arena(s), &borrowed);
    talc_reserve_stats_t r;
    talc_reserve_get_stats(&r);
    if (r.free + r.held != r.size || r.held != borrowed)
        fz_die("reserve: free %zu + held %zu vs size %zu; arenas hold %zu", r.free, r.held, r.size,
               borrowed);
    if (fz.nblk)
        fz_check_block((size_t)fz_take(1) % fz.nblk);
}
