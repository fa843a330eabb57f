/* test_headers.cpp — the C++ twin of test_headers.c: every public header compiles as C++11
 * (extern "C" linkage, no C-only constructs), twice, and the engine is usable from C++:
 * a heap, a locked heap with a captureless lambda as its lock, the checker and the walk. */
#include "talc/talc.h"
#include "talc/arena.h"
#include "talc/config.h"
#include "talc/heap.h"
#include "talc/heap_locked.h"
#include "talc/platform.h"
#include "talc/reserve.h"
#include "talc/stats.h"
#include "talc/talc.h"

#include <criterion/criterion.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

static_assert(TALC_MIN_ALIGN == alignof(std::max_align_t), "TALC_MIN_ALIGN");
/* Exact prototypes: each initialisation fails to compile if a signature changes. */
static void *(*const p_alloc)(talc_heap_t *, size_t) = talc_heap_alloc;
static void (*const p_free)(talc_heap_t *, void *) = talc_heap_free;
static talc_heap_t *(*const p_acquire)(talc_locked_heap_t *) = talc_locked_acquire;
static int (*const p_check)(const talc_heap_t *, const void **) = talc_heap_check;
static_assert(std::is_trivially_copyable<talc_heap_counters_t>::value, "plain C struct");
static_assert(std::is_trivially_copyable<talc_heap_opts_t>::value, "plain C struct");

alignas(std::max_align_t) static unsigned char heap_mem[64 * 1024];
alignas(std::max_align_t) static unsigned char locked_mem[64 * 1024];

Test(headers_cpp, heap_from_cpp)
{
    talc_heap_opts_t opts{};
    opts.name = "c++";
    talc_heap_t *h = talc_heap_init(heap_mem, sizeof heap_mem, &opts);
    cr_assert_not_null(h);
    void *p = talc_heap_alloc_aligned(h, 100, 256);
    cr_assert_not_null(p);
    cr_assert_eq(reinterpret_cast<std::uintptr_t>(p) % 256, 0u);
    std::memset(p, 1, 100);
    std::size_t used = 0;
    cr_assert(talc_heap_walk(
        h,
        [](const talc_span_t *, void *, size_t, bool u, void *ctx) -> bool {
            *static_cast<std::size_t *>(ctx) += u ? 1 : 0;
            return true;
        },
        &used));
    cr_assert_eq(used, 1u);
    talc_heap_free(h, p);
    cr_assert_eq(talc_heap_check(h, nullptr), static_cast<int>(TALC_CHECK_OK));
    cr_assert(p_alloc && p_free && p_acquire && p_check);
    cr_assert_geq(talc_cache_line_size(), TALC_MIN_ALIGN);
}

Test(headers_cpp, locked_heap_with_lambda_lock)
{
    static int depth;
    talc_lock_ops_t ops{};
    ops.lock = [](void *ctx) { ++*static_cast<int *>(ctx); };
    ops.unlock = [](void *ctx) { --*static_cast<int *>(ctx); };
    ops.ctx = &depth;
    talc_locked_heap_t *lh = talc_locked_heap_init(locked_mem, sizeof locked_mem, nullptr, &ops);
    cr_assert_not_null(lh);
    void *p = talc_locked_alloc(lh, 10);
    cr_assert_not_null(p);
    cr_assert_eq(depth, 0);
    talc_locked_free(lh, p);
    talc_heap_counters_t c;
    talc_locked_counters(lh, &c);
    cr_assert_eq(depth, 0);
}
