/* sw_origin.h — which library the process's malloc comes from, and whether it is the one
 * LD_PRELOAD names: a preload the loader ignored (a wrong path, a library that failed to load)
 * must not pass for a measurement of that allocator, since the process then runs glibc's.
 * Used by the suite's harness (sw_harness.c), by its memory checks (calloc_large.c, trim_rss.c,
 * large_mix.c, soak.c, realloc_grow.c, large_loop.c, burst_rss.c) and by trim_fork.c. Needs dladdr
 * (libdl before glibc 2.34).
 *
 * Threading rules: none (reads the loader's tables and the environment).
 */
#ifndef SW_ORIGIN_H
#define SW_ORIGIN_H

#include <dlfcn.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* The file name (no directory) of the object malloc resolves to, or "?". */
static inline const char *sw_malloc_origin(void)
{
    Dl_info info;
    void *(*volatile m)(size_t) = malloc;
    if (!dladdr((void *)m, &info) || !info.dli_fname)
        return "?";
    const char *slash = strrchr(info.dli_fname, '/');
    return slash ? slash + 1 : info.dli_fname;
}

/* True if LD_PRELOAD is unset or empty, or its first entry's file name is `origin`. */
static inline bool sw_preload_matches(const char *origin)
{
    const char *pre = getenv("LD_PRELOAD");
    if (!pre || !*pre)
        return true;
    const char *end = pre + strcspn(pre, " :");
    const char *base = pre;
    for (const char *c = pre; c < end; c++) {
        if (*c == '/')
            base = c + 1;
    }
    size_t n = (size_t)(end - base);
    return strlen(origin) == n && strncmp(origin, base, n) == 0;
}

#endif /* SW_ORIGIN_H */
