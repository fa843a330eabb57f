/* heap_walk.c — talc_heap_walk: every chunk of every span, in address order, to a visitor.
 *
 * Kept apart from the checker (heap_check.c): the walk calls user code, so it keeps its
 * unwind tables (a visitor may take a backtrace, or throw from C++), while the checker is
 * built without them (CMakeLists.txt).
 *
 * Concurrency: single-threaded per heap (talc/heap.h); it must not overlap other calls. In
 * held-slack mode (arenas) headers are read atomically: a thread cache may be rewriting an
 * allocated chunk's slack bytes meanwhile.
 */
#include "heap_internal.h"

bool talc_heap_walk(const talc_heap_t *h, talc_walk_fn fn, void *ctx)
{
    for (const struct talc_span *s = h->spans; s; s = s->next) {
        for (char *c = s->first; c < s->fence;) {
            uint64_t w = talc_hdr_shared(h, c);
            size_t sz = talc_hsize(w);
            if (sz == 0)
                break; /* damaged header: talc_heap_check reports it */
            if (!fn(s, c + TALC_HDR, sz - TALC_HDR, talc_hused(w), ctx))
                return false;
            c += sz;
        }
    }
    return true;
}
