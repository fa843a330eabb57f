/* test_heap_check.c — talc_heap_check must DETECT planted corruption (white-box, UNIT: uses
 * src/heap_internal.h to find the words to damage). Each planted fault must give its specific
 * negative code and point `where` at the damaged object; restoring the word must make the
 * heap pass again (so the check is precise, not just noisy). The checker never calls the
 * fatal handler. */
#include <criterion/criterion.h>
#include <stdalign.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "../common/heap_fixture.h"
#include "heap_internal.h"
#include "talc/heap.h"

TestSuite(heap_check, .fini = test_buffers_free);

/* Layout: [a used][b free][c used][d free][e used][top free]...[fence] in the first span. */
typedef struct layout {
    struct talc_heap *h;
    struct talc_span *span;
    char *a, *b, *c, *d, *e, *top; /* chunk addresses */
} layout_t;

static char *chunk(void *p) { return (char *)p - TALC_HDR; }

static layout_t make_layout(size_t line)
{
    layout_t L;
    test_faults.count = 0;
    talc_heap_opts_t o = test_opts("check");
    o.cache_line = line;
    L.h = (struct talc_heap *)test_heap(64 * 1024, &o);
    L.span = (struct talc_span *)talc_heap_first_span(L.h);
    void *a = talc_heap_alloc(L.h, 40);
    void *b = talc_heap_alloc(L.h, 60);
    void *c = talc_heap_alloc(L.h, 40);
    void *d = talc_heap_alloc(L.h, 200);
    void *e = talc_heap_alloc(L.h, 40);
    cr_assert(a && b && c && d && e);
    talc_heap_free(L.h, b);
    talc_heap_free(L.h, d);
    L.a = chunk(a);
    L.b = chunk(b);
    L.c = chunk(c);
    L.d = chunk(d);
    L.e = chunk(e);
    L.top = L.e + talc_hsize(talc_hdr(L.e));
    cr_assert_not(talc_hused(talc_hdr(L.top)), "the top chunk is free");
    HEAP_OK(L.h);
    return L;
}

/* Run the check on the damaged heap: it must give `code` at `where`. */
static void expect_code(const layout_t *L, int code, const void *where, const char *what)
{
    const void *w = (const void *)1;
    int rc = talc_heap_check(L->h, &w);
    cr_assert_eq(rc, code, "%s: talc_heap_check = %d, expected %d", what, rc, code);
    if (where != (const void *)1)
        cr_assert_eq(w, where, "%s: where = %p, expected %p", what, w, where);
    cr_assert_eq(talc_heap_check(L->h, NULL), code, "%s: where may be NULL", what);
    cr_assert_eq(test_faults.count, 0, "the checker must not call the fatal handler");
}
#define ANY_WHERE ((const void *)1)

static uint64_t *word(char *p) { return (uint64_t *)(void *)p; }

Test(heap_check, healthy_heap_passes)
{
    layout_t L = make_layout(0);
    const void *w = (const void *)1;
    cr_assert_eq(talc_heap_check(L.h, &w), TALC_CHECK_OK);
    cr_assert_eq(w, (const void *)1, "where is only written on failure");
}

Test(heap_check, chunk_size_below_minimum)
{
    layout_t L = make_layout(0);
    uint64_t saved = *word(L.c);
    *word(L.c) = (saved & ~(uint64_t)TALC_SIZE_MASK) | (TALC_MIN_CHUNK - TALC_GRAIN);
    expect_code(&L, TALC_CHECK_CHUNK_SIZE, L.c, "size below the minimum chunk");
    *word(L.c) = saved;
    HEAP_OK(L.h);
}

Test(heap_check, chunk_size_not_a_multiple_of_the_line)
{
    layout_t L = make_layout(64);
    uint64_t saved = *word(L.c);
    *word(L.c) = saved + TALC_GRAIN; /* size + 16 in a 64-byte-line heap */
    expect_code(&L, TALC_CHECK_CHUNK_SIZE, L.c, "size not a multiple of the quantum");
    *word(L.c) = saved;
    HEAP_OK(L.h);
}

Test(heap_check, slack_larger_than_the_chunk)
{
    layout_t L = make_layout(0);
    uint64_t saved = *word(L.c);
    *word(L.c) = talc_used_word(talc_hsize(saved), 0x7fff, saved & TALC_F_PREV_FREE);
    expect_code(&L, TALC_CHECK_CHUNK_SIZE, L.c, "slack > size - header");
    *word(L.c) = saved;
    HEAP_OK(L.h);
}

Test(heap_check, chunk_running_past_the_fence)
{
    layout_t L = make_layout(0);
    uint64_t saved = *word(L.top);
    *word(L.top) = saved + 4 * TALC_GRAIN;
    expect_code(&L, TALC_CHECK_SPAN_BOUNDS, L.top, "top chunk past the fence");
    *word(L.top) = saved;
    HEAP_OK(L.h);
}

Test(heap_check, damaged_fence)
{
    layout_t L = make_layout(0);
    uint64_t saved = *word(L.span->fence);
    *word(L.span->fence) = saved | (4 * TALC_GRAIN); /* a fence has size 0 */
    expect_code(&L, TALC_CHECK_SPAN_BOUNDS, L.span->fence, "fence with a size");
    *word(L.span->fence) = saved & ~TALC_F_USED;
    expect_code(&L, TALC_CHECK_SPAN_BOUNDS, L.span->fence, "fence not marked used");
    *word(L.span->fence) = saved;
    HEAP_OK(L.h);
}

Test(heap_check, damaged_span_header)
{
    layout_t L = make_layout(0);
    uintptr_t saved = L.span->magic;
    L.span->magic ^= 0x10;
    expect_code(&L, TALC_CHECK_SPAN_BOUNDS, L.span, "span magic");
    L.span->magic = saved;
    HEAP_OK(L.h);
}

/* A span's link damaged into a cycle (or cut short) is reported: until 2026-12-06 the walk
 * followed a cycle for ever. */
Test(heap_check, span_list_cycle_or_cut, .timeout = 60)
{
    layout_t L = make_layout(0);
    struct talc_span *s2 =
        (struct talc_span *)talc_heap_claim(L.h, test_buffer(16 * 1024), 16 * 1024);
    cr_assert_not_null(s2);
    cr_assert_eq(L.span->next, s2, "claimed spans are linked in claim order");
    HEAP_OK(L.h);
    s2->next = L.span; /* back to the first: a cycle */
    expect_code(&L, TALC_CHECK_SPAN_BOUNDS, L.span, "span list cycle");
    s2->next = NULL;
    HEAP_OK(L.h);
    L.span->next = NULL; /* the second span lost */
    expect_code(&L, TALC_CHECK_SPAN_BOUNDS, L.span, "span list cut short");
    L.span->next = s2;
    HEAP_OK(L.h);
}

Test(heap_check, two_free_chunks_touching)
{
    layout_t L = make_layout(0);
    /* Make c (between free b and free d) look free, flags consistent with a free b below. */
    size_t cs = talc_hsize(talc_hdr(L.c));
    uint64_t saved_hdr = *word(L.c), saved_foot = *word(L.c + cs - TALC_HDR);
    uint64_t saved_d = *word(L.d);
    *word(L.c) = (uint64_t)cs | TALC_F_PREV_FREE;
    *word(L.c + cs - TALC_HDR) = cs;
    *word(L.d) = saved_d | TALC_F_PREV_FREE;
    expect_code(&L, TALC_CHECK_ADJACENT_FREE, L.c, "free chunk above a free chunk");
    *word(L.c) = saved_hdr;
    *word(L.c + cs - TALC_HDR) = saved_foot;
    *word(L.d) = saved_d;
    HEAP_OK(L.h);
}

Test(heap_check, prev_free_flag_set_wrongly)
{
    layout_t L = make_layout(0);
    uint64_t saved = *word(L.a);
    *word(L.a) = saved | TALC_F_PREV_FREE; /* a is the first chunk: nothing below it */
    expect_code(&L, TALC_CHECK_PREV_FLAG, L.a, "PREV_FREE on the first chunk");
    *word(L.a) = saved;
    HEAP_OK(L.h);
}

Test(heap_check, prev_free_flag_missing)
{
    layout_t L = make_layout(0);
    uint64_t saved = *word(L.c);
    *word(L.c) = saved & ~TALC_F_PREV_FREE; /* b below c is free */
    expect_code(&L, TALC_CHECK_PREV_FLAG, L.c, "PREV_FREE cleared above a free chunk");
    *word(L.c) = saved;
    HEAP_OK(L.h);
}

Test(heap_check, fence_prev_free_flag_wrong)
{
    layout_t L = make_layout(0);
    uint64_t saved = *word(L.span->fence);
    *word(L.span->fence) = saved ^ TALC_F_PREV_FREE;
    expect_code(&L, TALC_CHECK_PREV_FLAG, L.span->fence, "fence PREV_FREE");
    *word(L.span->fence) = saved;
    HEAP_OK(L.h);
}

Test(heap_check, footer_disagrees_with_header)
{
    layout_t L = make_layout(0);
    size_t bs = talc_hsize(talc_hdr(L.b));
    char *foot = L.b + bs - TALC_HDR;
    uint64_t saved = *word(foot);
    *word(foot) = saved + TALC_GRAIN;
    expect_code(&L, TALC_CHECK_FOOTER, L.b, "footer");
    *word(foot) = saved;
    HEAP_OK(L.h);
    saved = *word(L.b);
    *word(L.b) = saved | ((uint64_t)1 << TALC_SLACK_SHIFT); /* free chunks have no slack */
    expect_code(&L, TALC_CHECK_FOOTER, L.b, "free header with slack bits");
    *word(L.b) = saved;
    HEAP_OK(L.h);
}

/* An idle trim flags a free chunk it leaves with TALC_F_AGED, the slack field's top bit
 * (arenas/trim.c): the checker and the free path's neighbour checks accept it there, and a
 * free that merges with the flagged chunk writes a plain header. */
Test(heap_check, free_header_with_the_aged_flag)
{
    layout_t L = make_layout(0);
    *word(L.b) |= TALC_F_AGED;
    *word(L.d) |= TALC_F_AGED;
    HEAP_OK(L.h);
    *word(L.b) |= (uint64_t)1 << 62; /* any other slack bit still fails */
    expect_code(&L, TALC_CHECK_FOOTER, L.b, "free header with a slack bit beside the flag");
    *word(L.b) &= ~((uint64_t)1 << 62);
    talc_heap_free(L.h, L.c + TALC_HDR); /* merges b, c and d */
    HEAP_OK(L.h);
    cr_assert_eq(test_faults.count, 0, "the merge took the flagged neighbours as free chunks");
    cr_assert_eq(*word(L.b) & TALC_F_AGED, 0, "the merged chunk's header is written anew");
    cr_assert_eq(talc_hsize(*word(L.b)), (size_t)(L.e - L.b));
}

static void bin_set_bit(struct talc_heap *h, unsigned b, bool on)
{
    if (on) {
        h->bitmap[b >> 6] |= (uint64_t)1 << (b & 63u);
        h->summary |= (uint32_t)1 << (b >> 6);
    } else {
        h->bitmap[b >> 6] &= ~((uint64_t)1 << (b & 63u));
        if (!h->bitmap[b >> 6])
            h->summary &= ~((uint32_t)1 << (b >> 6));
    }
}

Test(heap_check, free_chunk_in_the_wrong_bin)
{
    layout_t L = make_layout(0);
    talc_free_t *d = (talc_free_t *)(void *)L.d;
    unsigned b = talc_bin_of(talc_hsize(d->hdr));
    unsigned wrong = b + 1;
    cr_assert_eq(L.h->bins[b], d, "d is alone in its bin");
    cr_assert_null(d->next);
    cr_assert_null(L.h->bins[wrong]);
    /* Move d from bin b to bin b+1, keeping links and bits consistent. */
    L.h->bins[b] = NULL;
    bin_set_bit(L.h, b, false);
    L.h->bins[wrong] = d;
    d->pprev = &L.h->bins[wrong];
    bin_set_bit(L.h, wrong, true);
    expect_code(&L, TALC_CHECK_BIN, d, "chunk in bin b+1");
    /* Move it back. */
    L.h->bins[wrong] = NULL;
    bin_set_bit(L.h, wrong, false);
    L.h->bins[b] = d;
    d->pprev = &L.h->bins[b];
    bin_set_bit(L.h, b, true);
    HEAP_OK(L.h);
}

Test(heap_check, free_chunk_in_no_list)
{
    layout_t L = make_layout(0);
    talc_free_t *d = (talc_free_t *)(void *)L.d;
    unsigned b = talc_bin_of(talc_hsize(d->hdr));
    cr_assert_eq(L.h->bins[b], d);
    L.h->bins[b] = NULL;
    bin_set_bit(L.h, b, false);
    expect_code(&L, TALC_CHECK_BIN, ANY_WHERE, "free chunk missing from the lists");
    L.h->bins[b] = d;
    bin_set_bit(L.h, b, true);
    HEAP_OK(L.h);
}

Test(heap_check, back_link_wrong)
{
    layout_t L = make_layout(0);
    talc_free_t *b = (talc_free_t *)(void *)L.b;
    talc_free_t **saved = b->pprev;
    b->pprev = &L.h->bins[0];
    expect_code(&L, TALC_CHECK_LINKS, b, "pprev");
    b->pprev = saved;
    HEAP_OK(L.h);
}

/* Two free chunks of one size in one bin, each between allocated guards: the list's head
 * and its successor, which is the tail. free_pair_done gives the guards back. */
typedef struct free_pair {
    talc_free_t *head, *tail;
    void *g1, *g2;
} free_pair_t;

static free_pair_t free_pair(layout_t *L)
{
    free_pair_t fp;
    void *x = talc_heap_alloc(L->h, 500);
    fp.g1 = talc_heap_alloc(L->h, 300); /* too big for the holes b and d */
    void *y = talc_heap_alloc(L->h, 500);
    fp.g2 = talc_heap_alloc(L->h, 300);
    talc_heap_free(L->h, x);
    talc_heap_free(L->h, y);
    HEAP_OK(L->h);
    talc_free_t *fy = (talc_free_t *)(void *)chunk(y), *fx = (talc_free_t *)(void *)chunk(x);
    /* Whatever the order, one is the head and the other its successor at the tail. */
    fp.head = fy->next == fx ? fy : fx;
    fp.tail = fp.head == fy ? fx : fy;
    cr_assert_eq(fp.head->next, fp.tail, "x and y share a bin");
    cr_assert_null(fp.tail->next);
    return fp;
}

static void free_pair_done(layout_t *L, free_pair_t *fp)
{
    HEAP_OK(L->h);
    talc_heap_free(L->h, fp->g1);
    talc_heap_free(L->h, fp->g2);
    HEAP_OK(L->h);
}

Test(heap_check, list_cycle)
{
    layout_t L = make_layout(0);
    free_pair_t fp = free_pair(&L);
    fp.tail->next = fp.head;
    expect_code(&L, TALC_CHECK_LINKS, ANY_WHERE, "cycle in a bin list");
    fp.tail->next = NULL;
    free_pair_done(&L, &fp);
}

/* A use after free that writes over a free chunk's link: the checker reports the link
 * instead of following it. */
Test(heap_check, damaged_link_is_reported_not_followed)
{
    layout_t L = make_layout(0);
    free_pair_t fp = free_pair(&L);
    /* outside every span, the fence, off the quantum, a used chunk */
    const uintptr_t wild[] = {0x10, (uintptr_t)L.span->fence, (uintptr_t)L.c + 1, (uintptr_t)L.c};
    for (size_t i = 0; i < sizeof wild / sizeof wild[0]; i++) {
        fp.head->next = (talc_free_t *)wild[i];
        expect_code(&L, TALC_CHECK_LINKS, (const void *)wild[i], "a wild next link");
    }
    fp.head->next = fp.tail;
    free_pair_done(&L, &fp);
}

/* A node inside a live block linked in place of a free chunk (its header copied, as a stale
 * pointer's write could leave it): the node has no footer, so it is no free chunk. */
Test(heap_check, a_live_block_in_a_list_is_reported)
{
    layout_t L = make_layout(0);
    void *live = talc_heap_alloc(L.h, 600);
    cr_assert_not_null(live);
    talc_free_t *real = (talc_free_t *)(void *)L.d;
    talc_free_t *fake = (talc_free_t *)(void *)((char *)live + TALC_HDR); /* on the quantum */
    *fake = *real;
    *real->pprev = fake;
    cr_assert_null(real->next, "d is alone in its bin");
    expect_code(&L, TALC_CHECK_LINKS, fake, "a node in a live block");
    *real->pprev = real;
    HEAP_OK(L.h);
    talc_heap_free(L.h, live);
    HEAP_OK(L.h);
}

Test(heap_check, bitmap_bit_without_list)
{
    layout_t L = make_layout(0);
    unsigned empty = 1; /* bin 1 holds chunks of one grain: never used */
    cr_assert_null(L.h->bins[empty]);
    uint64_t saved = L.h->bitmap[0];
    L.h->bitmap[0] |= (uint64_t)1 << empty;
    expect_code(&L, TALC_CHECK_BITMAP, &L.h->bins[empty], "bit set for an empty bin");
    L.h->bitmap[0] = saved;
    HEAP_OK(L.h);
}

Test(heap_check, list_without_bitmap_bit)
{
    layout_t L = make_layout(0);
    unsigned b = talc_bin_of(talc_hsize(talc_hdr(L.d)));
    uint64_t saved = L.h->bitmap[b >> 6];
    L.h->bitmap[b >> 6] &= ~((uint64_t)1 << (b & 63u));
    expect_code(&L, TALC_CHECK_BITMAP, &L.h->bins[b], "list without its bit");
    L.h->bitmap[b >> 6] = saved;
    HEAP_OK(L.h);
}

Test(heap_check, summary_bit_wrong)
{
    layout_t L = make_layout(0);
    unsigned w = TALC_BM_WORDS;
    for (unsigned i = 0; i < TALC_BM_WORDS; i++)
        if (L.h->bitmap[i] == 0) {
            w = i;
            break;
        }
    cr_assert_lt(w, TALC_BM_WORDS, "some bitmap word is empty");
    uint32_t saved = L.h->summary;
    L.h->summary |= (uint32_t)1 << w;
    expect_code(&L, TALC_CHECK_BITMAP, &L.h->bitmap[w], "summary bit for an empty word");
    L.h->summary = saved;
    HEAP_OK(L.h);
}

Test(heap_check, summary_bit_for_a_word_that_does_not_exist)
{
    if (TALC_BM_WORDS >= 32)
        cr_skip_test("the summary has no spare bits in this configuration");
    layout_t L = make_layout(0);
    uint32_t saved = L.h->summary;
    L.h->summary |= (uint32_t)1 << (TALC_BM_WORDS % 32u);
    expect_code(&L, TALC_CHECK_BITMAP, &L.h->summary, "summary bit above the bitmap");
    L.h->summary = saved;
    HEAP_OK(L.h);
}

/* Size bits a 32-bit size_t cannot hold: the free path refuses such a header, and so must the
 * checker (it used to truncate them away there). 64-bit targets see a chunk past the fence. */
Test(heap_check, size_bits_above_size_t)
{
    layout_t L = make_layout(0);
    uint64_t saved = *word(L.c);
    *word(L.c) = saved | ((uint64_t)1 << 40);
    expect_code(&L, SIZE_MAX > 0xffffffffu ? TALC_CHECK_SPAN_BOUNDS : TALC_CHECK_CHUNK_SIZE, L.c,
                "size bit 40");
    *word(L.c) = saved;
    saved = *word(L.b);
    size_t bs = talc_hsize(saved);
    uint64_t foot = *word(L.b + bs - TALC_HDR);
    *word(L.b) = saved | ((uint64_t)1 << 40);
    *word(L.b + bs - TALC_HDR) = foot | ((uint64_t)1 << 40);
    cr_assert_neq(talc_heap_check(L.h, NULL), 0, "a free chunk with size bit 40");
    *word(L.b) = saved;
    *word(L.b + bs - TALC_HDR) = foot;
    HEAP_OK(L.h);
    saved = *word(L.span->fence);
    *word(L.span->fence) = saved | ((uint64_t)1 << 40);
    expect_code(&L, TALC_CHECK_SPAN_BOUNDS, L.span->fence, "a fence with size bit 40");
    *word(L.span->fence) = saved;
    HEAP_OK(L.h);
}

#if TALC_COUNTERS
Test(heap_check, counters_disagree_with_the_walk)
{
    layout_t L = make_layout(0);
    talc_heap_counters_t saved = L.h->cnt;
    L.h->frees--; /* live allocations are derived: total_allocs − frees */
    expect_code(&L, TALC_CHECK_COUNTERS, L.h, "live_allocs");
    L.h->frees++;
    L.h->bytes_out++; /* live bytes: total_bytes − bytes_out */
    expect_code(&L, TALC_CHECK_COUNTERS, L.h, "live_bytes");
    L.h->bytes_out--;
    L.h->cnt.free_chunks++;
    expect_code(&L, TALC_CHECK_COUNTERS, L.h, "free_chunks");
    L.h->cnt = saved;
    L.h->cnt.managed_bytes += 16;
    expect_code(&L, TALC_CHECK_COUNTERS, L.h, "managed_bytes");
    L.h->cnt = saved;
    L.h->cnt.live_spans++;
    expect_code(&L, TALC_CHECK_COUNTERS, L.h, "live_spans");
    L.h->cnt = saved;
    L.h->cnt.peak_live_bytes = talc_cnt_live_bytes(L.h) - 1;
    expect_code(&L, TALC_CHECK_COUNTERS, L.h, "peak below live");
    L.h->cnt = saved;
    HEAP_OK(L.h);
    size_t used = L.h->used_bytes;
    L.h->used_bytes += TALC_GRAIN;
    expect_code(&L, TALC_CHECK_COUNTERS, L.h, "free bytes");
    L.h->used_bytes = used;
    HEAP_OK(L.h);
}
#endif

Test(heap_check, misaligned_chunk)
{
    /* Where the quantum is the header's 8 bytes (32-bit targets), every header-aligned chunk
     * is on the quantum: use a heap with a 16-byte line there. */
    layout_t L = make_layout(alignof(max_align_t) > TALC_HDR ? 0 : 2 * TALC_HDR);
    /* Pretend the span's first chunk starts 8 bytes later, with a plausible header. */
    char *saved_first = L.span->first;
    char *fake = saved_first + TALC_HDR;
    uint64_t saved = *word(fake);
    *word(fake) = talc_used_word(L.h->min_chunk, 0, 0);
    L.span->first = fake;
    expect_code(&L, TALC_CHECK_ALIGN, fake, "user pointer off the quantum");
    L.span->first = saved_first;
    *word(fake) = saved;
    HEAP_OK(L.h);
}

/* A damaged heap does not crash the walk either. */
Test(heap_check, walk_stops_at_a_zero_header)
{
    layout_t L = make_layout(0);
    uint64_t saved = *word(L.c);
    *word(L.c) = 0;
    test_walk_t w;
    memset(&w, 0, sizeof w);
    talc_heap_walk(L.h, test_walk_fn, &w);
    cr_assert_eq(w.visits, 2, "a and b, then the damaged header");
    *word(L.c) = saved;
    HEAP_OK(L.h);
}

#if TALC_DEBUG >= 3
/* TALC_DEBUG=3 runs the checker after every operation and reports what it finds. */
Test(heap_check, debug3_reports_corruption_after_an_operation)
{
    layout_t L = make_layout(0);
    size_t bs = talc_hsize(talc_hdr(L.b));
    char *foot = L.b + bs - TALC_HDR;
    *word(foot) += TALC_GRAIN;
    void *p = talc_heap_alloc(L.h, 10000);
    cr_assert_geq(test_faults.count, 1);
    cr_assert_eq(test_faults.last.fault, TALC_FAULT_CORRUPTION);
    *word(foot) -= TALC_GRAIN;
    talc_heap_free(L.h, p);
}
#endif
