/* reserve.c — the process-wide reserve and its borrowing policy (talc/reserve.h).
 *
 * One mapping, set up once, carved into granule runs (region.c). An arena borrows a run for a
 * segment when its policy chain reaches TALC_OOM_STEP_BORROW; segment.c gives the run back as soon
 * as the segment is empty. Members are the arenas that may borrow or have a guaranteed minimum;
 * they are listed here so a borrow can check the minimums it must leave for others.
 *
 * Concurrency: everything under talc_reserve_mutex (rank: after an arena's grow lock, before
 * the owner-map writer lock), except the set-up's system calls: talc_reserve_init claims the
 * set-up under the lock, maps, locks and populates with no lock held (a borrow or a stats read
 * meanwhile finds an empty reserve), then publishes the region under the lock. Callers never
 * hold a stripe lock of another arena.
 */
#include <errno.h>
#include <string.h>

#include "arena_internal.h"
#include "fork_internal.h"
#include "os_mem.h"
#include "pagemap.h"
#include "reserve_internal.h"
#include "talc/reserve.h"

static talc_mutex_t talc_reserve_mutex = TALC_MUTEX_INIT(TALC_RANK_RESERVE);
static talc_region_t talc_res;         /* ngranules == 0 until init */
static talc_arena_t *talc_res_members; /* linked through reserve_next */
static size_t talc_res_borrowed_total, talc_res_returned_total, talc_res_denied;
static bool talc_res_setting_up; /* a talc_reserve_init is mapping and populating, unlocked */

/* Claims the right to set the reserve up: 0, -EALREADY (set up) or -EBUSY (another thread is
 * setting it up now). */
static int talc_reserve_claim(void)
{
    talc_mutex_lock(&talc_reserve_mutex);
    int rc = talc_res.ngranules ? -EALREADY : talc_res_setting_up ? -EBUSY : 0;
    if (rc == 0) /* a refused caller must not clear the claim of the thread setting it up */
        talc_res_setting_up = true;
    talc_mutex_unlock(&talc_reserve_mutex);
    return rc;
}

/* Maps, locks and populates size bytes and a bitmap for n granules, with no lock held. 0, or
 * -errno with nothing kept. */
static int talc_reserve_build(const talc_os_ops_t *os, size_t size, size_t n, unsigned flags,
                              char **m, uint64_t **bits)
{
    size_t bits_bytes = talc_region_words(n) * sizeof(uint64_t);
    *m = talc_os_ops_map(os, size, TALC_GRANULE);
    *bits = *m ? talc_os_ops_map(os, bits_bytes, 0) : NULL;
    int rc = *bits ? 0 : -ENOMEM;
    if (!rc && (flags & TALC_RESERVE_MLOCK))
        rc = talc_os_lock(*m, size);
    if (!rc && (flags & TALC_RESERVE_PREFAULT))
        rc = talc_os_prefault(*m, size); /* refused (a memory cgroup's limit): say so, not later */
    if (rc && *m)
        talc_os_ops_unmap(os, *m, size);
    if (rc && *bits)
        talc_os_ops_unmap(os, *bits, bits_bytes);
    return rc;
}

int talc_reserve_init_with(const talc_os_ops_t *os, size_t size, unsigned flags)
{
    if (size == 0 || (flags & ~(TALC_RESERVE_PREFAULT | TALC_RESERVE_MLOCK)))
        return -EINVAL;
    if (size > SIZE_MAX / 2)
        return -ENOMEM;
    size = (size + TALC_GRANULE - 1) & ~(TALC_GRANULE - 1);
    size_t n = size / TALC_GRANULE;
    talc_fork_init(); /* a child forked during the set-up must be free to start one */
    int rc = talc_reserve_claim();
    if (rc)
        return rc;
    char *m;
    uint64_t *bits;
    rc = talc_reserve_build(os, size, n, flags, &m, &bits);
    talc_mutex_lock(&talc_reserve_mutex);
    if (!rc)
        talc_region_init(&talc_res, m, TALC_GRANULE, n, bits);
    talc_res_setting_up = false;
    talc_mutex_unlock(&talc_reserve_mutex);
    return rc;
}

int talc_reserve_init(size_t size, unsigned flags)
{
    return talc_reserve_init_with(talc_os_default_ops(), size, flags);
}

/* The part of b's guaranteed minimum that b can use: it never holds more than its ceiling,
 * in whole granules (until 2026-12-06 a ceiling between two granules kept the reserve's bytes
 * above the lower one for b, which could never take them; found by a review). */
static size_t talc_res_guarantee(const talc_arena_t *b)
{
    size_t g = b->cfg.reserve_guaranteed, c = b->cfg.borrow_ceiling & ~(TALC_GRANULE - 1);
    return g < c ? g : c;
}

/* x + y, saturating (guarantees are caller figures: their sum must not wrap to a small one). */
static size_t talc_res_add(size_t x, size_t y) { return x > SIZE_MAX - y ? SIZE_MAX : x + y; }

/* Bytes the reserve must keep for members other than `a` that `a` may not dip into: what
 * those of a's priority or higher still lack of their minimums. When the minimums of a and of
 * those members add up to more than the reserve can still give them (its size, less what
 * lower-priority members hold and what members of the set hold above their minimums), they
 * cannot all be met, and a borrow within a's own minimum keeps that much less for the members
 * of a's own priority (first come, first served), never for those of a higher one. Until
 * 2026-12-06 every such member could stop below its minimum with the rest of the reserve free
 * (two arenas guaranteed 8 granules each in a reserve of 12 held 4 each, and 4 stayed free);
 * until 2026-12-07 the excess was measured against the whole reserve and over every priority:
 * with 4 granules held by a lower-priority arena, two arenas guaranteed 4 and 8 of 12 were
 * both refused below their minimums with 4 free, and an arena of priority 0 took its minimum
 * out of what arenas of priority 1 were guaranteed (both found by a review). */
static size_t talc_reserve_protected(const talc_arena_t *a, size_t size)
{
    size_t need_above = 0, need_equal = 0, all = 0, lost = 0;
    unsigned prio = a->cfg.borrow_priority;
    for (const talc_arena_t *b = talc_res_members; b; b = b->reserve_next) {
        size_t g = talc_res_guarantee(b), h = b->reserve_held;
        if (b->cfg.borrow_priority < prio) { /* the set's minimums cannot have it */
            lost = talc_res_add(lost, h);
            continue;
        }
        all = talc_res_add(all, g);
        lost = talc_res_add(lost, h > g ? h - g : 0);
        if (b == a || h >= g)
            continue;
        if (b->cfg.borrow_priority > prio)
            need_above = talc_res_add(need_above, g - h);
        else
            need_equal = talc_res_add(need_equal, g - h);
    }
    size_t total = talc_res.ngranules * TALC_GRANULE;
    size_t avail = total > lost ? total - lost : 0, over = all > avail ? all - avail : 0;
    if (a->reserve_held + size <= talc_res_guarantee(a)) /* (no overflow: talc_reserve_try) */
        need_equal -= need_equal < over ? need_equal : over;
    return talc_res_add(need_above, need_equal);
}

/* One run of `size` bytes for a, if its policy allows it (reserve lock held). */
static char *talc_reserve_try(talc_arena_t *a, size_t size)
{
    size_t free_bytes = talc_region_free_bytes(&talc_res);
    bool allowed = size != 0 && talc_res.ngranules != 0 && a->cfg.borrow_ceiling != 0 &&
                   a->reserve_held <= a->cfg.borrow_ceiling &&
                   size <= a->cfg.borrow_ceiling - a->reserve_held && size <= free_bytes &&
                   free_bytes - size >= talc_reserve_protected(a, size);
    return allowed ? talc_region_take(&talc_res, size / TALC_GRANULE) : NULL;
}

char *talc_reserve_take(talc_arena_t *a, size_t *size, size_t min)
{
    talc_mutex_lock(&talc_reserve_mutex);
    char *m = talc_reserve_try(a, *size);
    if (!m && min < *size && (m = talc_reserve_try(a, min)) != NULL)
        *size = min; /* less free than a whole segment, or no run that long */
    if (m) {
        a->reserve_held += *size;
        talc_res_borrowed_total += *size;
    } else
        talc_res_denied++;
    talc_mutex_unlock(&talc_reserve_mutex);
    if (!m)
        talc_stats_add_total(&a->reserve_denied, 1);
    return m;
}

void talc_reserve_give(talc_arena_t *a, char *base, size_t size)
{
    talc_mutex_lock(&talc_reserve_mutex);
    a->reserve_held -= size;
    talc_region_give(&talc_res, base, size / TALC_GRANULE);
    talc_res_returned_total += size;
    talc_mutex_unlock(&talc_reserve_mutex);
}

int talc_reserve_join(talc_arena_t *a)
{
    if (!a->cfg.borrow_ceiling) /* never borrows: nothing to guarantee it */
        return 0;
    talc_mutex_lock(&talc_reserve_mutex);
    a->reserve_next = talc_res_members;
    talc_res_members = a;
    talc_mutex_unlock(&talc_reserve_mutex);
    return 0;
}

void talc_reserve_leave(talc_arena_t *a)
{
    talc_mutex_lock(&talc_reserve_mutex);
    for (talc_arena_t **pp = &talc_res_members; *pp; pp = &(*pp)->reserve_next) {
        if (*pp == a) {
            *pp = a->reserve_next;
            break;
        }
    }
    talc_mutex_unlock(&talc_reserve_mutex);
}

void talc_reserve_get_stats(talc_reserve_stats_t *out)
{
    if (!out)
        return;
    memset(out, 0, sizeof *out);
    talc_mutex_lock(&talc_reserve_mutex);
    out->size = talc_res.ngranules * TALC_GRANULE;
    out->free = talc_region_free_bytes(&talc_res);
    out->held = out->size - out->free;
    out->borrowed_total = talc_res_borrowed_total;
    out->returned_total = talc_res_returned_total;
    out->denied = talc_res_denied;
    for (const talc_arena_t *b = talc_res_members; b; b = b->reserve_next)
        out->guaranteed = talc_res_add(out->guaranteed, talc_res_guarantee(b));
    talc_mutex_unlock(&talc_reserve_mutex);
}

void talc_reserve_lock(void) { talc_mutex_lock_unranked(&talc_reserve_mutex); }
void talc_reserve_unlock(void) { talc_mutex_unlock_unranked(&talc_reserve_mutex); }
/* In a fork child: the thread of a set-up in progress is not there to finish it (its mapping
 * stays in the child, unused), so a set-up may start again. */
void talc_reserve_reinit_lock(void)
{
    talc_mutex_init(&talc_reserve_mutex, TALC_RANK_RESERVE);
    talc_res_setting_up = false;
}
