/* tests/fuzz/fuzz_arena_ops.c — the arena harness's operations on blocks: malloc, calloc
 * (also one whose size overflows), aligned alloc, free, realloc, usable size; bad pointers
 * that must reach the fatal handler exactly once and change nothing; requests that must fail
 * cleanly (EINVAL, ENOMEM); the thread-cache flush, trim and the stats writers. Each takes
 * its arguments from the input, in the order the corpus was written in (tests/fuzz/corpus/
 * fuzz_arena), runs them as calls (fuzz_arena_oom.c) and records the result in the model.
 *
 * Who may use it: the driver (fuzz_arena.c) and the worker's operation. Concurrency: the
 * harness thread.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "talc/stats.h"

#include "../common/pattern.h"
#include "fuzz_arena.h"

/* ---- Operations ---------------------------------------------------------------------------*/

/* The arena whose chain a request runs: the one passed, or (NULL) the thread's. */
static talc_arena_t *fz_resolve(talc_arena_t *a) { return a ? a : talc_thread_arena(); }

talc_arena_t *fz_pick_arena(void)
{
    unsigned s = (unsigned)fz_take(1) % (FZ_SLOTS + 2);
    if (s == FZ_SLOTS + 1)
        return fz.routing ? NULL : talc_arena_default(); /* NULL: the thread's current arena */
    talc_arena_t *a = fz_arena(s);
    return a ? a : talc_arena_default();
}

void fz_op_malloc(void)
{
    fz.op = "malloc";
    talc_arena_t *a = fz_pick_arena();
    size_t n = fz_size();
    if (fz.nblk == FZ_MAX_BLOCKS)
        return;
    talc_arena_t *asked = fz_resolve(a);
    int e;
    char *p = fz_call(&(fz_req_t){FZ_MALLOC, a, asked, NULL, n, 0}, &e);
    fz_after_alloc(p, n, 0, asked, false, e);
}

void fz_op_calloc(void)
{
    fz.op = "calloc";
    talc_arena_t *a = fz_pick_arena();
    size_t n = fz_size(), k = (size_t)fz_take(1) % 4 + 1;
    if (fz.nblk == FZ_MAX_BLOCKS)
        return;
    if (k == 4) { /* nmemb * size overflows: NULL + ENOMEM, nothing allocated, no OOM chain
                   * (not a call: a report would find none open) */
        errno = 0;
        void *p = talc_arena_calloc(a, SIZE_MAX / 2 + 1, n + 2);
        if (p || errno != ENOMEM)
            fz_die("overflowing calloc gave %p errno %d", p, errno);
        return;
    }
    talc_arena_t *asked = fz_resolve(a);
    size_t each = n / k + 1;
    int e;
    char *p = fz_call(&(fz_req_t){FZ_CALLOC, a, asked, NULL, each, k}, &e);
    fz_after_alloc(p, k * each, 0, asked, true, e);
}

void fz_op_aligned(void)
{
    fz.op = "aligned_alloc";
    talc_arena_t *a = fz_pick_arena();
    unsigned lg = (unsigned)fz_take(1) % 14;
    size_t n = fz_size(), align = (size_t)1 << lg;
    if (fz.nblk == FZ_MAX_BLOCKS)
        return;
    talc_arena_t *asked = fz_resolve(a);
    int e;
    char *p = fz_call(&(fz_req_t){FZ_ALIGNED, a, asked, NULL, n, align}, &e);
    fz_after_alloc(p, n, align, asked, false, e);
}

void fz_op_free(void)
{
    fz.op = "free";
    if (!fz.nblk)
        return;
    size_t i = (size_t)fz_take(1) % fz.nblk;
    fz_check_block(i);
    int e = errno = 12345;
    talc_free(fz.blk[i].p);
    if (errno != e)
        fz_die("free changed errno to %d", errno);
    fz_drop(i);
}

void fz_op_realloc(void)
{
    fz.op = "realloc";
    if (!fz.nblk)
        return;
    size_t i = (size_t)fz_take(1) % fz.nblk;
    size_t n = fz_size();
    fz_check_block(i);
    fz_block_t old = fz.blk[i];
    fz.busy = i;
    int e;
    char *q = fz_call(&(fz_req_t){FZ_REALLOC, NULL, old.owner, old.p, n, 0}, &e);
    i = fz.busy; /* the callbacks may have moved it */
    fz.busy = SIZE_MAX;
    if (n == 0) { /* realloc(p, 0) frees p and gives NULL (glibc's choice, talc/arena.h) */
        if (q)
            fz_die("realloc to 0 gave %p", (void *)q);
        fz_drop(i);
        return;
    }
    if (!q) {
        if (e != ENOMEM && e != FZ_JUMPED)
            fz_die("realloc NULL with errno %d", e);
        if (!fz_bounded(old.owner))
            fz_die("unbounded arena %s failed realloc to %zu", talc_arena_name(old.owner), n);
        fz_check_block(i); /* untouched, where it was */
        if (talc_arena_of(fz.blk[i].p) != old.owner)
            fz_die("a failed realloc moved the block");
        return;
    }
    size_t keep = n < old.size ? n : old.size;
    if (!old.zero && test_pattern_check(q, keep, old.seed) != keep)
        fz_die("realloc %p -> %p lost contents", (void *)old.p, (void *)q);
    for (size_t k = 0; old.zero && k < keep; k++)
        if (q[k] != 0)
            fz_die("realloc of a calloc block lost its zeros");
    fz_drop(i);
    fz_adopt(q, n, 0, old.owner, false);
}

void fz_op_usable(void)
{
    fz.op = "usable_size";
    if (!fz.nblk)
        return;
    const fz_block_t *b = &fz.blk[(size_t)fz_take(1) % fz.nblk];
    if (talc_usable_size(b->p) < b->size || talc_arena_of(b->p) != b->owner)
        fz_die("usable size %zu < %zu or owner moved", talc_usable_size(b->p), b->size);
}

/* A bad pointer must reach the fatal handler once, as TALC_FAULT_BAD_POINTER naming `arena`,
 * and change nothing. */
static void fz_expect_one_fault(void (*call)(void *), void *p, const char *arena)
{
    fz.expect_fault = true;
    fz.faults = 0;
    call(p);
    fz.expect_fault = false;
    if (fz.faults != 1 || strcmp(fz.fault_arena, arena) != 0 || fz.fault != TALC_FAULT_BAD_POINTER)
        fz_die("bad pointer %p: %d faults, fault %d, arena \"%s\" (want 1, %d, \"%s\")", p,
               fz.faults, fz.faults ? (int)fz.fault : 0, fz.faults ? fz.fault_arena : "",
               (int)TALC_FAULT_BAD_POINTER, arena);
    fz.faults = 0;
}

static void fz_usable_call(void *p) { (void)talc_usable_size(p); }

void fz_op_bad(void)
{
    fz.op = "bad pointer";
    unsigned v = (unsigned)fz_take(1);
    static char outside[64];
    switch (v % 4) {
    case 0: /* an address no arena owns */
        fz_expect_one_fault(talc_free, outside + 16, "unowned");
        break;
    case 1: { /* inside a live block */
        if (!fz.nblk)
            return;
        fz_block_t *b = &fz.blk[(size_t)fz_take(1) % fz.nblk];
        if (b->size < 2)
            return;
        size_t off = 1 + (size_t)fz_take(2) % (b->size - 1);
        fz_expect_one_fault((v >> 2) & 1 ? fz_usable_call : talc_free, b->p + off,
                            talc_arena_name(b->owner));
        break;
    }
    default: { /* a second free, right after the first */
        if (!fz.nblk)
            return;
        size_t i = (size_t)fz_take(1) % fz.nblk;
        char *p = fz.blk[i].p;
        char name[TALC_ARENA_NAME_MAX + 1];
        snprintf(name, sizeof name, "%s", talc_arena_name(fz.blk[i].owner));
        fz_check_block(i);
        talc_free(p);
        fz_drop(i);
        fz.expect_fault = true;
        fz.faults = 0;
        talc_free(p);
        fz.expect_fault = false;
        /* DOUBLE_FREE when the header still shows the block (free or cached), BAD_POINTER
         * when it was merged into the chunk below or its segment went back ("unowned") */
        if (fz.faults != 1 ||
            (strcmp(fz.fault_arena, name) != 0 && strcmp(fz.fault_arena, "unowned") != 0) ||
            (fz.fault != TALC_FAULT_DOUBLE_FREE && fz.fault != TALC_FAULT_BAD_POINTER))
            fz_die("second free of %p: %d faults, arena \"%s\" (want 1, \"%s\")", (void *)p,
                   fz.faults, fz.faults ? fz.fault_arena : "", name);
        fz.faults = 0;
    }
    }
}

/* Requests that must fail cleanly: NULL with EINVAL (alignment not a power of two) or ENOMEM
 * (sizes no arena can hold; alignments no arena maps memory for, unless a segment happens to
 * hold an address on one), nothing allocated, a realloc's block intact. The ENOMEM ones run
 * the arena's OOM chain: an ABORT step reports (or its handler longjmps: FZ_JUMPED). */
static void fz_expect_null(const void *p, int e, int want, const char *what)
{
    if (p || (e != want && !(e == FZ_JUMPED && want == ENOMEM)))
        fz_die("%s gave %p errno %d (want NULL, errno %d)", what, p, e, want);
}

/* A request that must fail, as a call. */
static void fz_bad_call(fz_kind_t kind, talc_arena_t *a, size_t n, size_t m, const char *what)
{
    int e;
    char *q = fz_call(&(fz_req_t){kind, a, fz_resolve(a), NULL, n, m}, &e);
    fz_expect_null(q, e, ENOMEM, what);
}

void fz_op_bad_request(void)
{
    fz.op = "bad request";
    unsigned v = (unsigned)fz_take(1);
    talc_arena_t *a = fz_pick_arena();
    /* Above half the address space (no arena takes more than PTRDIFF_MAX) on 32 and 64 bits. */
    static const size_t huge[4] = {SIZE_MAX, SIZE_MAX - 4096, SIZE_MAX / 2 + 1, SIZE_MAX / 4 * 3};
    /* Alignments from 2^40 (64-bit) or 2^30 (32-bit) up to 2^62 or 2^31. */
    unsigned bits = (unsigned)(sizeof(size_t) * CHAR_BIT);
    unsigned shift = bits == 64 ? 40 + (v >> 5) % 23 : bits - 2 + (v >> 5) % 2;
    size_t n = huge[(v >> 3) % 4];
    switch (v % 5) {
    case 0: { /* rejected before any chain: not a call (a report would find none open) */
        errno = 0;
        void *q = talc_arena_aligned_alloc(a, (v >> 5) % 2 ? 0 : 24, 16);
        fz_expect_null(q, errno, EINVAL, "aligned_alloc at a non-power-of-two alignment");
        break;
    }
    case 1:
        fz_bad_call(FZ_MALLOC, a, n, 0, "malloc of a huge size");
        break;
    case 2: {
        /* No arena maps memory for such an alignment, but one of its segments may hold an
         * address on it (likely on a 32-bit target, with a 2^30 boundary every GiB): then the
         * request is a valid one, and the block must be on the alignment. */
        size_t al = (size_t)1 << shift;
        int e;
        char *p = fz_call(&(fz_req_t){FZ_ALIGNED, a, fz_resolve(a), NULL, 64, al}, &e);
        if (p && ((uintptr_t)p & (al - 1)) != 0)
            fz_die("aligned_alloc at %#zx gave %p", al, (void *)p);
        if (p)
            talc_free(p);
        else
            fz_expect_null(p, e, ENOMEM, "aligned_alloc at a huge alignment");
        break;
    }
    case 3:
        fz_bad_call(FZ_CALLOC, a, n, 1, "calloc of a huge size");
        break;
    default: {
        if (!fz.nblk)
            return;
        size_t i = (size_t)fz_take(1) % fz.nblk;
        fz_block_t old = fz.blk[i];
        fz.busy = i; /* the OOM chain's callbacks must not free it */
        int e;
        char *q = fz_call(&(fz_req_t){FZ_REALLOC, NULL, old.owner, old.p, n, 0}, &e);
        i = fz.busy;
        fz.busy = SIZE_MAX;
        fz_expect_null(q, e, ENOMEM, "realloc to a huge size");
        fz_check_block(i);
        if (talc_arena_of(fz.blk[i].p) != old.owner)
            fz_die("a failed realloc moved the block");
    }
    }
}

void fz_op_flush(void)
{
    fz.op = "flush";
    talc_thread_cache_flush();
}

/* Trim one arena (or the thread's), fully or idly (talc_arena_trim_idle, the shim trimmer's
 * form, which decommits at its second look what stayed unused): every live block must read as
 * before, everywhere. */
void fz_op_trim(void)
{
    unsigned how = (unsigned)fz_take(1);
    talc_arena_t *a = how & 1 ? fz_pick_arena() : NULL;
    fz.op = how & 2 ? "trim_idle" : "trim";
    (void)(how & 2 ? talc_arena_trim_idle(a) : talc_arena_trim(a));
    for (size_t i = 0; i < fz.nblk; i++)
        fz_check_block(i);
}

/* The writers: every format, all arenas or one; each live arena's name must appear. */
void fz_op_write(void)
{
    fz.op = "stats_write";
    static char out[64 << 10];
    unsigned v = (unsigned)fz_take(1);
    talc_stats_format_t fmt = (talc_stats_format_t)(v % 3);
    FILE *f = fmemopen(out, sizeof out, "w");
    if (!f)
        fz_die("fmemopen failed");
    talc_arena_t *one = (v >> 2) & 1 ? fz_pick_arena() : NULL;
    int rc = one ? talc_stats_write_arena(f, one, fmt) : talc_stats_write(f, fmt);
    fclose(f);
    if (rc != 0)
        fz_die("stats writer (format %d) gave %d", (int)fmt, rc);
    for (unsigned s = 0; s <= FZ_SLOTS; s++) {
        talc_arena_t *a = fz_arena(s);
        if (a && (!one || a == one) && !strstr(out, talc_arena_name(a)))
            fz_die("stats writer (format %d) left out arena \"%s\"", (int)fmt, talc_arena_name(a));
    }
}
