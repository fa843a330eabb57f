/* static_plugin.c — a library that links libtalc.a (not libtalc.so) and allocates from the
 * default arena, for tests/integration/dlclose_static_plugin.c, which dlcloses it and goes on.
 *
 * Concurrency: static_plugin_run runs on the caller's thread; keeps no state.
 */
#include <string.h>

#include "talc/arena.h"

__attribute__((visibility("default"))) int static_plugin_run(void);

/* A block through the thread cache (small) and one past it; 0 iff both were served. */
int static_plugin_run(void)
{
    static const size_t sizes[] = {100, 200000};
    for (unsigned i = 0; i < 2; i++) {
        char *p = talc_arena_malloc(talc_arena_default(), sizes[i]);
        if (!p)
            return -1;
        memset(p, 1, sizes[i]);
        talc_free(p);
    }
    return 0;
}
