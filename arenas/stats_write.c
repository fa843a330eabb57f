/* stats_write.c — writers for arena snapshots: aligned text, JSON, Prometheus text exposition.
 *
 * The only code in the library that prints, and only to the stream the caller hands it.
 * Snapshots are taken first (stats.c), under RCU; nothing is printed inside the read-side
 * section, because stdio may allocate and may block.
 *
 * Concurrency: any thread; see talc/stats.h.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "arena_internal.h"
#include "os_mem.h"
#include "stats_snap.h"
#include "talc/stats.h"

static bool talc_snap_one(talc_arena_t *a, void *ctx)
{
    talc_snaps_t *s = ctx;
    if (s->n < s->cap && talc_arena_get_stats(a, &s->v[s->n]) == 0)
        s->n++;
    return s->n < s->cap;
}

static bool talc_count_one(talc_arena_t *a, void *ctx)
{
    (void)a;
    (void)ctx;
    return true;
}

int talc_snap_all(talc_snaps_t *sn, size_t *bytes)
{
    size_t cap = talc_arena_foreach(talc_count_one, NULL) + 16u;
    for (;;) {
        *bytes = cap * sizeof(talc_arena_stats_t);
        sn->v = talc_os_map(*bytes, 0);
        if (!sn->v)
            return -ENOMEM;
        sn->n = 0;
        sn->cap = cap;
        (void)talc_arena_foreach(talc_snap_one, sn);
        if (sn->n < cap)
            return 0;
        talc_os_unmap(sn->v, *bytes);
        cap *= 2u;
    }
}

/* ---- Text ---------------------------------------------------------------------------------*/

static void talc_text_header(FILE *f)
{
    fprintf(f, "%-16s %7s %12s %9s %12s %10s %10s %12s %10s %12s %10s %6s %9s\n", "arena",
            "stripes", "live_bytes", "live", "peak_bytes", "allocs", "frees", "managed",
            "cached", "borrowed", "failed", "oom", "contended");
}

static void talc_text_row(FILE *f, const talc_arena_stats_t *s)
{
    uint64_t oom = 0;
    for (unsigned k = TALC_OOM_STEP_RECLAIM; k <= TALC_OOM_STEP_ABORT; k++)
        oom += s->oom_runs[k];
    fprintf(f, "%-16s %7u %12zu %9zu %12zu %10" PRIu64 " %10" PRIu64 " %12zu %10zu %12zu %10" PRIu64
               " %6" PRIu64 " %9" PRIu64 "\n",
            s->name, s->stripes, s->live_bytes, s->live_allocs, s->peak_bytes, s->allocs,
            s->frees, s->managed_bytes, s->cached_bytes, s->borrowed_bytes, s->failed, oom,
            s->lock_contended);
}

static void talc_text_reserve(FILE *f, const talc_reserve_stats_t *r)
{
    fprintf(f, "reserve: size %zu free %zu held %zu lent %zu returned %zu denied %zu "
               "guaranteed %zu\n",
            r->size, r->free, r->held, r->borrowed_total, r->returned_total, r->denied,
            r->guaranteed);
}

/* ---- JSON ---------------------------------------------------------------------------------*/

static void talc_json_steps(FILE *f, const char *key, const uint64_t *v)
{
    fprintf(f, "\"%s\":{", key);
    for (unsigned k = TALC_OOM_STEP_RECLAIM; k <= TALC_OOM_STEP_ABORT; k++)
        fprintf(f, "%s\"%s\":%" PRIu64, k > TALC_OOM_STEP_RECLAIM ? "," : "",
                talc_oom_step_name((talc_oom_step_t)k), v[k]);
    fputc('}', f);
}

/* Arena names are restricted to what talc_arena_create accepts; escape quotes and controls. */
static void talc_json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

static void talc_json_arena(FILE *f, const talc_arena_stats_t *s)
{
    fputs("{\"name\":", f);
    talc_json_string(f, s->name);
    fprintf(f, ",\"stripes\":%u,\"live_bytes\":%zu,\"live_allocs\":%zu,\"peak_bytes\":%zu,"
               "\"allocs\":%" PRIu64 ",\"frees\":%" PRIu64 ",\"reallocs\":%" PRIu64
               ",\"failed\":%" PRIu64 ",\"managed_bytes\":%zu,\"free_bytes\":%zu,"
               "\"free_chunks\":%zu,\"source_bytes\":%zu,\"borrowed_bytes\":%zu,"
               "\"borrowed_total\":%" PRIu64 ",\"returned_total\":%" PRIu64
               ",\"reserve_denied\":%" PRIu64 ",\"hard_budget\":%zu,\"soft_budget\":%zu,"
               "\"lock_contended\":%" PRIu64 ",\"remote_frees\":%" PRIu64
               ",\"cached_blocks\":%zu,\"cached_bytes\":%zu,\"trims\":%" PRIu64
               ",\"trimmed_bytes\":%" PRIu64 ",",
            s->stripes, s->live_bytes, s->live_allocs, s->peak_bytes, s->allocs, s->frees,
            s->reallocs, s->failed, s->managed_bytes, s->free_bytes, s->free_chunks,
            s->source_bytes, s->borrowed_bytes, s->borrowed_total, s->returned_total,
            s->reserve_denied, s->hard_budget, s->soft_budget, s->lock_contended,
            s->remote_frees, s->cached_blocks, s->cached_bytes, s->trims, s->trimmed_bytes);
    talc_json_steps(f, "oom_runs", s->oom_runs);
    fputc(',', f);
    talc_json_steps(f, "oom_ok", s->oom_ok);
    fputc('}', f);
}

static void talc_json_reserve(FILE *f, const talc_reserve_stats_t *r)
{
    fprintf(f, "\"reserve\":{\"size\":%zu,\"free\":%zu,\"held\":%zu,\"borrowed_total\":%zu,"
               "\"returned_total\":%zu,\"denied\":%zu,\"guaranteed\":%zu}",
            r->size, r->free, r->held, r->borrowed_total, r->returned_total, r->denied,
            r->guaranteed);
}

/* ---- Prometheus ---------------------------------------------------------------------------*/

/* The metrics, as one string of names and help texts ("name\0help\0name\0...", printed after
 * "talc_arena_") and a table of where each value is: no pointers, so no load-time relocations
 * (three per row were 1.5 KiB of the library's text), and no fixed-size arrays whose padding
 * was another 0.6 KiB (2026-12-05). */
#define TALC_PM_ROWS(X)                                                                            \
    X("live_bytes", "Requested bytes of live blocks.", live_bytes, false, false)                   \
    X("live_allocations", "Live blocks.", live_allocs, false, false)                               \
    X("peak_bytes", "Peak live bytes (sum of stripe peaks).", peak_bytes, false, false)            \
    X("allocations_total", "Allocations.", allocs, true, true)                                     \
    X("frees_total", "Frees.", frees, true, true)                                                  \
    X("reallocs_total", "Reallocations.", reallocs, true, true)                                    \
    X("failed_total", "Allocations that returned NULL.", failed, true, true)                       \
    X("managed_bytes", "Bytes the heaps manage.", managed_bytes, false, false)                     \
    X("free_bytes", "Bytes in free chunks.", free_bytes, false, false)                             \
    X("free_chunks", "Free chunks.", free_chunks, false, false)                                    \
    X("source_bytes", "Bytes taken from the arena's source.", source_bytes, false, false)          \
    X("borrowed_bytes", "Bytes held from the reserve.", borrowed_bytes, false, false)              \
    X("reserve_borrowed_bytes_total", "Bytes borrowed from the reserve.",                          \
      borrowed_total, true, true)                                                                  \
    X("reserve_returned_bytes_total", "Bytes returned to the reserve.",                            \
      returned_total, true, true)                                                                  \
    X("reserve_denied_total", "Borrow requests refused.", reserve_denied, true, true)              \
    X("lock_contended_total", "Stripe locks found taken.", lock_contended, true, true)             \
    X("remote_frees_total", "Frees from another stripe's thread.", remote_frees, true, true)       \
    X("cached_blocks", "Blocks held in thread caches.", cached_blocks, false, false)               \
    X("cached_bytes", "Chunk bytes held in thread caches.", cached_bytes, false, false)            \
    X("trims_total", "talc_arena_trim calls.", trims, true, true)                                  \
    X("trimmed_bytes_total", "Bytes given back by trims.", trimmed_bytes, true, true)

#define TALC_PM_TEXT(n, h, field, u64, ctr) n "\0" h "\0"
#define TALC_PM_META(n, h, field, u64, ctr) {offsetof(talc_arena_stats_t, field), u64, ctr},
static const char talc_prom_text[] = TALC_PM_ROWS(TALC_PM_TEXT);
typedef struct talc_prom_metric {
    uint16_t offset; /* into talc_arena_stats_t */
    bool is_u64, is_counter;
} talc_prom_metric_t;
static const talc_prom_metric_t talc_prom_metrics[] = {TALC_PM_ROWS(TALC_PM_META)};
_Static_assert(sizeof(talc_arena_stats_t) <= UINT16_MAX, "metric offsets fit 16 bits");

static void talc_prom_value(FILE *f, const talc_prom_metric_t *m, const char *name,
                            const talc_arena_stats_t *s)
{
    const char *base = (const char *)s + m->offset;
    uint64_t v;
    if (m->is_u64) {
        memcpy(&v, base, sizeof v);
    } else {
        size_t z;
        memcpy(&z, base, sizeof z);
        v = z;
    }
    fprintf(f, "talc_arena_%s{arena=", name);
    talc_json_string(f, s->name); /* label values use the same escapes */
    fprintf(f, "} %" PRIu64 "\n", v);
}

static void talc_prom_steps(FILE *f, const talc_snaps_t *sn)
{
    fputs("# HELP talc_arena_oom_steps_total OOM policy steps run, by step and outcome.\n"
          "# TYPE talc_arena_oom_steps_total counter\n", f);
    for (size_t i = 0; i < sn->n; i++)
        for (unsigned k = TALC_OOM_STEP_RECLAIM; k <= TALC_OOM_STEP_ABORT; k++) {
            const talc_arena_stats_t *s = &sn->v[i];
            fputs("talc_arena_oom_steps_total{arena=", f);
            talc_json_string(f, s->name);
            fprintf(f, ",step=\"%s\",outcome=\"ok\"} %" PRIu64 "\n",
                    talc_oom_step_name((talc_oom_step_t)k), s->oom_ok[k]);
            fputs("talc_arena_oom_steps_total{arena=", f);
            talc_json_string(f, s->name);
            fprintf(f, ",step=\"%s\",outcome=\"failed\"} %" PRIu64 "\n",
                    talc_oom_step_name((talc_oom_step_t)k), s->oom_runs[k] - s->oom_ok[k]);
        }
}

static void talc_prom_reserve(FILE *f, const talc_reserve_stats_t *r)
{
    fprintf(f, "# HELP talc_reserve_bytes Reserve size and how it is used.\n"
               "# TYPE talc_reserve_bytes gauge\n"
               "talc_reserve_bytes{kind=\"size\"} %zu\ntalc_reserve_bytes{kind=\"free\"} %zu\n"
               "talc_reserve_bytes{kind=\"held\"} %zu\n"
               "talc_reserve_bytes{kind=\"guaranteed\"} %zu\n",
            r->size, r->free, r->held, r->guaranteed);
    fprintf(f, "# HELP talc_reserve_denied_total Borrow requests refused.\n"
               "# TYPE talc_reserve_denied_total counter\ntalc_reserve_denied_total %zu\n",
            r->denied);
}

static void talc_prom(FILE *f, const talc_snaps_t *sn, const talc_reserve_stats_t *r)
{
    size_t nm = sizeof talc_prom_metrics / sizeof talc_prom_metrics[0];
    const char *name = talc_prom_text;
    for (size_t m = 0; m < nm; m++) {
        const talc_prom_metric_t *pm = &talc_prom_metrics[m];
        const char *help = name + strlen(name) + 1;
        fprintf(f, "# HELP talc_arena_%s %s\n# TYPE talc_arena_%s %s\n", name, help, name,
                pm->is_counter ? "counter" : "gauge");
        for (size_t i = 0; i < sn->n; i++)
            talc_prom_value(f, pm, name, &sn->v[i]);
        name = help + strlen(help) + 1;
    }
    talc_prom_steps(f, sn);
    if (r)
        talc_prom_reserve(f, r);
}

/* ---- Entry points -------------------------------------------------------------------------*/

/* -EIO if a write or the final flush failed. The flush makes the answer cover the bytes
 * stdio still buffered; an error flag the caller's stream had before does not count. */
static int talc_emit(FILE *f, talc_stats_format_t fmt, const talc_snaps_t *sn,
                     const talc_reserve_stats_t *r)
{
    bool failed_before = ferror(f) != 0;
    if (fmt == TALC_STATS_TEXT) {
        talc_text_header(f);
        for (size_t i = 0; i < sn->n; i++)
            talc_text_row(f, &sn->v[i]);
        if (r)
            talc_text_reserve(f, r);
    } else if (fmt == TALC_STATS_JSON) {
        fputs("{\"arenas\":[", f);
        for (size_t i = 0; i < sn->n; i++) {
            if (i)
                fputc(',', f);
            talc_json_arena(f, &sn->v[i]);
        }
        fputc(']', f);
        if (r) {
            fputc(',', f);
            talc_json_reserve(f, r);
        }
        fputs("}\n", f);
    } else {
        talc_prom(f, sn, r);
    }
    if (fflush(f) != 0 || (!failed_before && ferror(f)))
        return -EIO;
    return 0;
}

int talc_stats_write(FILE *f, talc_stats_format_t fmt)
{
    if (!f || (unsigned)fmt > TALC_STATS_PROMETHEUS)
        return -EINVAL;
    size_t bytes = 0;
    talc_snaps_t sn;
    if (talc_snap_all(&sn, &bytes) != 0)
        return -ENOMEM;
    talc_reserve_stats_t r;
    talc_reserve_get_stats(&r);
    int rc = talc_emit(f, fmt, &sn, &r);
    talc_os_unmap(sn.v, bytes);
    return rc;
}

int talc_stats_write_arena(FILE *f, talc_arena_t *a, talc_stats_format_t fmt)
{
    if (!f || !a || (unsigned)fmt > TALC_STATS_PROMETHEUS)
        return -EINVAL;
    talc_arena_stats_t one;
    if (talc_arena_get_stats(a, &one) != 0)
        return -EINVAL;
    talc_snaps_t sn = {&one, 1, 1};
    return talc_emit(f, fmt, &sn, NULL);
}
