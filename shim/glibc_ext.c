/* glibc_ext.c — glibc's malloc extensions, answered from libtalc's real counters: mallinfo2,
 * mallinfo, malloc_stats, malloc_info, malloc_trim, mallopt.
 *
 * Nothing here invents a figure. mallinfo2 sums every arena's snapshot (talc/stats.h):
 *   arena    = managed bytes (what the heaps manage)    ordblks  = free chunks
 *   uordblks = live bytes (requested sizes of live blocks)   fordblks = bytes in free chunks
 * with uordblks capped so that arena >= uordblks + fordblks while threads allocate,
 * and leaves the fields with no libtalc counterpart (smblks, hblks, hblkhd, usmblks, fsmblks,
 * keepcost) at 0. The bootstrap heap (start-up only) is reported by malloc_info alone.
 * malloc_trim trims every arena (talc_arena_trim): the calling thread's cached blocks and the
 * parked ones go back to their heaps, the empty segments kept for reuse are unmapped, and the
 * whole pages inside free chunks are decommitted; it returns 1 if it unmapped or decommitted
 * any range, else 0 (a free chunk an earlier call decommitted whole is skipped until it
 * changes: a second call in a row returns 0, where glibc's returns 1 again). mallopt supports
 * no parameter: 0.
 *
 * Concurrency: any thread, any time; snapshots do not stop allocation. A call made before the
 * shim has started starts it first (these read arenas, which must not be created outside the
 * shim's start-up guard); one made while another thread starts it does not wait (that thread
 * may be waiting for this one): it answers as for a process without arenas (zeros, nothing
 * printed, malloc_info -1 with EAGAIN, malloc_trim 0). All of them walk the arenas under the
 * registry lock (talc_registry_visit, stats_snap.h), not in an RCU read-side section, so they
 * never register the thread with liburcu-bp (which aborts when it cannot map room for it); a
 * fault malloc_trim finds is reported after that lock's release.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <stdio.h>
#include <string.h>

#include "arena_internal.h"
#include "os_mem.h"
#include "shim_internal.h"
#include "stats_snap.h"
#include "talc/stats.h"

/* ---- Totals -------------------------------------------------------------------------------*/

typedef struct talc_shim_totals {
    size_t managed, live_bytes, live_allocs, free_bytes, free_chunks, footprint;
} talc_shim_totals_t;

static void talc_totals_add(talc_shim_totals_t *t, const talc_arena_stats_t *s)
{
    t->managed += s->managed_bytes;
    t->live_bytes += s->live_bytes;
    t->live_allocs += s->live_allocs;
    t->free_bytes += s->free_bytes;
    t->free_chunks += s->free_chunks;
    t->footprint += s->source_bytes + s->borrowed_bytes;
}

static bool talc_totals_visit(talc_arena_t *a, void *ctx)
{
    talc_arena_stats_t s;
    if (talc_arena_get_stats(a, &s) == 0)
        talc_totals_add(ctx, &s);
    return true;
}

static talc_shim_totals_t talc_shim_totals(void)
{
    talc_shim_totals_t t;
    memset(&t, 0, sizeof t);
    if (talc_shim_started())
        (void)talc_registry_visit(talc_totals_visit, &t);
    return t;
}

TALC_SHIM_EXPORT struct mallinfo2 mallinfo2(void)
{
    talc_shim_totals_t t = talc_shim_totals();
    struct mallinfo2 m;
    memset(&m, 0, sizeof m);
    m.arena = t.managed;
    m.ordblks = t.free_chunks;
    /* Live bytes read while threads allocate may count a block both as live and as free
     * (talc/stats.h, thread caches); this keeps arena >= uordblks + fordblks all the same. */
    m.fordblks = t.free_bytes < t.managed ? t.free_bytes : t.managed;
    m.uordblks = t.live_bytes < t.managed - m.fordblks ? t.live_bytes : t.managed - m.fordblks;
    return m;
}

static int talc_clamp_int(size_t v) { return v > (size_t)INT32_MAX ? INT32_MAX : (int)v; }

/* The deprecated int form: the same figures, saturated at INT_MAX (glibc wraps them). */
TALC_SHIM_EXPORT struct mallinfo mallinfo(void)
{
    struct mallinfo2 m2 = mallinfo2();
    struct mallinfo m;
    memset(&m, 0, sizeof m);
    m.arena = talc_clamp_int(m2.arena);
    m.ordblks = talc_clamp_int(m2.ordblks);
    m.uordblks = talc_clamp_int(m2.uordblks);
    m.fordblks = talc_clamp_int(m2.fordblks);
    return m;
}

static bool talc_trim_visit(talc_arena_t *a, void *ctx)
{
    *(size_t *)ctx += talc_arena_trim(a);
    return true;
}

static bool talc_trim_idle_visit(talc_arena_t *a, void *ctx)
{
    *(size_t *)ctx += talc_arena_trim_idle(a);
    return true;
}

size_t talc_shim_trim_all(bool idle)
{
    size_t bytes = 0;
    (void)talc_registry_visit(idle ? talc_trim_idle_visit : talc_trim_visit, &bytes);
    return bytes;
}

TALC_SHIM_EXPORT int malloc_trim(size_t pad)
{
    (void)pad; /* glibc keeps pad bytes at the top of its main heap; no libtalc counterpart */
    if (!talc_shim_started())
        return 0;
    talc_thread_cache_flush(); /* this thread's cached blocks, in every arena it caches for */
    return talc_shim_trim_all(false) != 0;
}

TALC_SHIM_EXPORT int mallopt(int param, int value)
{
    (void)param;
    (void)value;
    return 0; /* no glibc tunable applies to libtalc: use TALC_CONF */
}

TALC_SHIM_EXPORT void malloc_stats(void)
{
    if (talc_shim_started())
        (void)talc_stats_write(stderr, TALC_STATS_TEXT);
}

/* ---- malloc_info --------------------------------------------------------------------------*/

/* XML text: arena names are well-formed UTF-8 without control characters (talc_arena_create),
 * so only the markup characters need escaping. */
static void talc_xml_text(FILE *f, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<':
            fputs("&lt;", f);
            break;
        case '>':
            fputs("&gt;", f);
            break;
        case '&':
            fputs("&amp;", f);
            break;
        case '"':
            fputs("&quot;", f);
            break;
        default:
            fputc(*s, f);
        }
    }
}

static void talc_xml_totals(FILE *f, size_t live_n, size_t live_b, size_t free_n, size_t free_b,
                            size_t managed)
{
    fprintf(f, "<total type=\"live\" count=\"%zu\" size=\"%zu\"/>\n", live_n, live_b);
    fprintf(f, "<total type=\"free\" count=\"%zu\" size=\"%zu\"/>\n", free_n, free_b);
    fprintf(f, "<system type=\"managed\" size=\"%zu\"/>\n", managed);
}

static void talc_xml_arena(FILE *f, size_t nr, const talc_arena_stats_t *s)
{
    fprintf(f, "<heap nr=\"%zu\" name=\"", nr);
    talc_xml_text(f, s->name);
    fprintf(f, "\" stripes=\"%u\">\n", s->stripes);
    talc_xml_totals(f, s->live_allocs, s->live_bytes, s->free_chunks, s->free_bytes,
                    s->managed_bytes);
    fprintf(f, "<system type=\"current\" size=\"%zu\"/>\n", s->source_bytes + s->borrowed_bytes);
    fprintf(f, "<system type=\"borrowed\" size=\"%zu\"/>\n", s->borrowed_bytes);
    fprintf(f, "<count type=\"allocs\" value=\"%" PRIu64 "\"/>\n", s->allocs);
    fprintf(f, "<count type=\"frees\" value=\"%" PRIu64 "\"/>\n", s->frees);
    fprintf(f, "<count type=\"failed\" value=\"%" PRIu64 "\"/>\n", s->failed);
    fputs("</heap>\n", f);
}

static void talc_xml_boot(FILE *f, size_t nr)
{
    talc_heap_counters_t c;
    talc_boot_counters(&c);
    fprintf(f, "<heap nr=\"%zu\" name=\"bootstrap\">\n", nr);
    talc_xml_totals(f, c.live_allocs, c.live_bytes, c.free_chunks, c.free_bytes, c.managed_bytes);
    fprintf(f, "<total type=\"peak\" size=\"%zu\"/>\n", c.peak_live_bytes);
    fprintf(f, "<count type=\"allocs\" value=\"%" PRIu64 "\"/>\n", c.total_allocs);
    fputs("</heap>\n", f);
}

static void talc_xml_write(FILE *f, const talc_snaps_t *sn)
{
    talc_shim_totals_t t;
    memset(&t, 0, sizeof t);
    fputs("<malloc version=\"talc-1\">\n", f);
    for (size_t i = 0; i < sn->n; i++) {
        talc_xml_arena(f, i, &sn->v[i]);
        talc_totals_add(&t, &sn->v[i]);
    }
    talc_xml_boot(f, sn->n);
    talc_xml_totals(f, t.live_allocs, t.live_bytes, t.free_chunks, t.free_bytes, t.managed);
    fprintf(f, "<system type=\"current\" size=\"%zu\"/>\n", t.footprint);
    fputs("</malloc>\n", f);
}

/* Snapshots first, in an OS mapping (not malloc: the figures must not include the buffer),
 * printing after: stdio may allocate and block, which it must not do under the registry
 * lock. */
TALC_SHIM_EXPORT int malloc_info(int options, FILE *fp)
{
    if (options != 0 || !fp) {
        errno = EINVAL;
        return -1;
    }
    if (!talc_shim_started()) {
        errno = EAGAIN;
        return -1;
    }
    talc_snaps_t sn;
    if (talc_snap_all(&sn) != 0) {
        errno = ENOMEM;
        return -1;
    }
    int saved = errno;
    bool failed_before = ferror(fp) != 0; /* the caller's; not this call's failure */
    errno = 0;
    talc_xml_write(fp, &sn);
    talc_snap_release(&sn);
    if (fflush(fp) != 0 || (!failed_before && ferror(fp))) {
        if (!errno)
            errno = EIO; /* the stream failed without saying why */
        return -1;
    }
    errno = saved;
    return 0;
}
