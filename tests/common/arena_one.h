/* tests/common/arena_one.h — a one-stripe arena made with an assertion, with or without thread
 * caches: the arena the tests of one block's life use (test_asan_poison, test_memcheck,
 * arena_test.h's test_cached_arena). Header-only; public API only.
 *
 * Who may use it: Criterion tests. Concurrency: the test's main thread.
 */
#ifndef TALC_TEST_ARENA_ONE_H
#define TALC_TEST_ARENA_ONE_H

#include <criterion/criterion.h>
#include <errno.h>

#include "talc/arena.h"

static inline talc_arena_t *test_arena_one(const char *name, talc_tcache_mode_t tc)
{
    talc_arena_config_t c = talc_arena_config_default(name);
    c.stripes = 1;
    c.thread_cache = tc;
    errno = 0;
    talc_arena_t *a = talc_arena_create(&c);
    cr_assert_not_null(a, "create \"%s\": errno %d", name, errno);
    return a;
}

#endif /* TALC_TEST_ARENA_ONE_H */
