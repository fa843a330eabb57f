/* consumer.c — uses the installed libtalc through <talc/talc.h> only: a heap and a locked
 * heap over static buffers, an allocation from each, the invariant checker, the cache-line
 * query, and a named arena (its registry walk is liburcu-bp's: a static link must bring it).
 * Prints "talc consumer: ok" and exits 0 iff every step did what its contract says. Written in
 * what C11 and C++11 share: consumer.cpp compiles it as C++. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <talc/talc.h>

static max_align_t heap_mem[65536 / sizeof(max_align_t)];
static max_align_t locked_mem[65536 / sizeof(max_align_t)];

static int fail(const char *what)
{
    printf("talc consumer: FAILED: %s\n", what);
    return 1;
}

static bool count_arena(talc_arena_t *arena, void *ctx)
{
    (void)arena;
    ++*(size_t *)ctx;
    return true;
}

int main(void)
{
    talc_heap_t *heap = talc_heap_init(heap_mem, sizeof heap_mem, NULL);
    if (heap == NULL)
        return fail("talc_heap_init");
    char *p = (char *)talc_heap_alloc(heap, 100);
    if (p == NULL)
        return fail("talc_heap_alloc");
    memset(p, 0x5a, 100);
    if (talc_heap_usable_size(heap, p) < 100)
        return fail("talc_heap_usable_size");
    talc_heap_free(heap, p);
    if (talc_heap_check(heap, NULL) != 0)
        return fail("talc_heap_check");

    talc_locked_heap_t *lh = talc_locked_heap_init(locked_mem, sizeof locked_mem, NULL, NULL);
    if (lh == NULL)
        return fail("talc_locked_heap_init");
    void *q = talc_locked_alloc_aligned(lh, 64, 256);
    if (q == NULL || ((uintptr_t)q & 255) != 0)
        return fail("talc_locked_alloc_aligned");
    talc_locked_free(lh, q);

    talc_arena_config_t cfg = talc_arena_config_default("consumer");
    talc_arena_t *arena = talc_arena_create(&cfg);
    if (arena == NULL)
        return fail("talc_arena_create");
    char *r = (char *)talc_arena_malloc(arena, 1000);
    if (r == NULL || talc_arena_of(r) != arena)
        return fail("talc_arena_malloc");
    memset(r, 0xa5, 1000);
    size_t arenas = 0;
    if (talc_arena_foreach(count_arena, &arenas) != arenas || arenas < 2)
        return fail("talc_arena_foreach");
    talc_free(r);
    if (talc_arena_destroy(arena, 0) != 0)
        return fail("talc_arena_destroy");

    size_t line = talc_cache_line_size();
    if (line < TALC_MIN_ALIGN || (line & (line - 1)) != 0)
        return fail("talc_cache_line_size");

    printf("talc consumer: ok (cache line %zu)\n", line);
    return 0;
}
