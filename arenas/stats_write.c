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
#include "talc/stats.h"

typedef struct talc_snaps {
    talc_arena_stats_t *v;
    size_t n, cap;
} talc_snaps_t;

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

/* Snapshots of every registered arena, in an OS mapping of *bytes (not malloc: the shim may be
 * us), sized from a count and doubled if arenas were created meanwhile and filled it. */
static int talc_snap_all(talc_snaps_t *sn, size_t *bytes)
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

typedef struct talc_prom_metric {
    const char *name, *type, *help;
    size_t offset;  /* into talc_arena_stats_t */
    bool is_u64;
} talc_prom_metric_t;

#define TALC_PM(n, t, h, field, u64) {n, t, h, offsetof(talc_arena_stats_t, field), u64}

static const talc_prom_metric_t talc_prom_metrics[] = {
    TALC_PM("talc_arena_live_bytes", "gauge", "Requested bytes of live blocks.", live_bytes, false),
    TALC_PM("talc_arena_live_allocations", "gauge", "Live blocks.", live_allocs, false),
    TALC_PM("talc_arena_peak_bytes", "gauge", "Peak live bytes (sum of stripe peaks).", peak_bytes, false),
    TALC_PM("talc_arena_allocations_total", "counter", "Allocations.", allocs, true),
    TALC_PM("talc_arena_frees_total", "counter", "Frees.", frees, true),
    TALC_PM("talc_arena_reallocs_total", "counter", "Reallocations.", reallocs, true),
    TALC_PM("talc_arena_failed_total", "counter", "Allocations that returned NULL.", failed, true),
    TALC_PM("talc_arena_managed_bytes", "gauge", "Bytes the heaps manage.", managed_bytes, false),
    TALC_PM("talc_arena_free_bytes", "gauge", "Bytes in free chunks.", free_bytes, false),
    TALC_PM("talc_arena_free_chunks", "gauge", "Free chunks.", free_chunks, false),
    TALC_PM("talc_arena_source_bytes", "gauge", "Bytes taken from the arena's source.", source_bytes, false),
    TALC_PM("talc_arena_borrowed_bytes", "gauge", "Bytes held from the reserve.", borrowed_bytes, false),
    TALC_PM("talc_arena_reserve_borrowed_bytes_total", "counter", "Bytes borrowed from the reserve.", borrowed_total, true),
    TALC_PM("talc_arena_reserve_returned_bytes_total", "counter", "Bytes returned to the reserve.", returned_total, true),
    TALC_PM("talc_arena_reserve_denied_total", "counter", "Borrow requests refused.", reserve_denied, true),
    TALC_PM("talc_arena_lock_contended_total", "counter", "Stripe locks found taken.", lock_contended, true),
    TALC_PM("talc_arena_remote_frees_total", "counter", "Frees from another stripe's thread.", remote_frees, true),
    TALC_PM("talc_arena_cached_blocks", "gauge", "Blocks held in thread caches.", cached_blocks, false),
    TALC_PM("talc_arena_cached_bytes", "gauge", "Chunk bytes held in thread caches.", cached_bytes, false),
    TALC_PM("talc_arena_trims_total", "counter", "talc_arena_trim calls.", trims, true),
    TALC_PM("talc_arena_trimmed_bytes_total", "counter", "Bytes given back by trims.", trimmed_bytes, true),
};

static void talc_prom_value(FILE *f, const talc_prom_metric_t *m, const talc_arena_stats_t *s)
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
    fprintf(f, "%s{arena=", m->name);
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
    for (size_t m = 0; m < nm; m++) {
        const talc_prom_metric_t *pm = &talc_prom_metrics[m];
        fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", pm->name, pm->help, pm->name, pm->type);
        for (size_t i = 0; i < sn->n; i++)
            talc_prom_value(f, pm, &sn->v[i]);
    }
    talc_prom_steps(f, sn);
    if (r)
        talc_prom_reserve(f, r);
}

/* ---- Entry points -------------------------------------------------------------------------*/

static int talc_emit(FILE *f, talc_stats_format_t fmt, const talc_snaps_t *sn,
                     const talc_reserve_stats_t *r)
{
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
    return ferror(f) ? -EIO : 0;
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
