/* stats_write.c — writers for arena snapshots: aligned text, JSON, Prometheus text exposition.
 *
 * The only code in the library that prints, and only to the stream the caller hands it.
 * Snapshots are taken first (stats.c), under the arena registry's lock; nothing is printed
 * while it is held, because stdio may allocate and may block.
 *
 * Concurrency: any thread; see talc/stats.h.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio_ext.h> /* __fpurge */
#include <string.h>

#include "arena_internal.h"
#include "stats_snap.h"
#include "talc/stats.h"

/* ---- The arena figures, for JSON and Prometheus -------------------------------------------
 * One row per figure: its JSON key, its Prometheus name (printed after "talc_arena_"; empty:
 * JSON only) and help text, and where its value is. The texts are one string ("key\0name\0
 * help\0key\0..."), the rest a table of offsets: no pointers, so no load-time relocations
 * (three per row were 1.5 KiB of the library's text), no fixed-size arrays whose padding was
 * another 0.6 KiB, and no printf call with two dozen arguments (2026-12-05). JSON prints every
 * row in this order, Prometheus the rows that have a name. */
enum { TALC_SK_SIZE, TALC_SK_U64, TALC_SK_UINT }; /* the field's type */
#define TALC_STAT_ROWS(X)                                                                          \
    X("stripes", "", "", stripes, TALC_SK_UINT, false)                                             \
    X("live_bytes", "live_bytes", "Requested bytes of live blocks.", live_bytes, TALC_SK_SIZE,     \
      false)                                                                                       \
    X("live_allocs", "live_allocations", "Live blocks.", live_allocs, TALC_SK_SIZE, false)         \
    X("peak_bytes", "peak_bytes", "Peak live bytes (sum of stripe peaks).", peak_bytes,            \
      TALC_SK_SIZE, false)                                                                         \
    X("allocs", "allocations_total", "Allocations.", allocs, TALC_SK_U64, true)                    \
    X("frees", "frees_total", "Frees.", frees, TALC_SK_U64, true)                                  \
    X("reallocs", "reallocs_total", "Reallocations.", reallocs, TALC_SK_U64, true)                 \
    X("failed", "failed_total", "Allocations that returned NULL.", failed, TALC_SK_U64, true)      \
    X("managed_bytes", "managed_bytes", "Bytes the heaps manage.", managed_bytes, TALC_SK_SIZE,    \
      false)                                                                                       \
    X("free_bytes", "free_bytes", "Bytes in free chunks.", free_bytes, TALC_SK_SIZE, false)        \
    X("free_chunks", "free_chunks", "Free chunks.", free_chunks, TALC_SK_SIZE, false)              \
    X("source_bytes", "source_bytes", "Bytes taken from the arena's source.", source_bytes,        \
      TALC_SK_SIZE, false)                                                                         \
    X("borrowed_bytes", "borrowed_bytes", "Bytes held from the reserve.", borrowed_bytes,          \
      TALC_SK_SIZE, false)                                                                         \
    X("borrowed_total", "reserve_borrowed_bytes_total", "Bytes borrowed from the reserve.",        \
      borrowed_total, TALC_SK_U64, true)                                                           \
    X("returned_total", "reserve_returned_bytes_total", "Bytes returned to the reserve.",          \
      returned_total, TALC_SK_U64, true)                                                           \
    X("reserve_denied", "reserve_denied_total", "Borrow requests refused.", reserve_denied,        \
      TALC_SK_U64, true)                                                                           \
    X("hard_budget", "", "", hard_budget, TALC_SK_SIZE, false)                                     \
    X("soft_budget", "", "", soft_budget, TALC_SK_SIZE, false)                                     \
    X("lock_contended", "lock_contended_total", "Stripe locks found taken.", lock_contended,       \
      TALC_SK_U64, true)                                                                           \
    X("remote_frees", "remote_frees_total", "Frees from another stripe's thread.", remote_frees,   \
      TALC_SK_U64, true)                                                                           \
    X("cached_blocks", "cached_blocks", "Blocks held in thread caches.", cached_blocks,            \
      TALC_SK_SIZE, false)                                                                         \
    X("cached_bytes", "cached_bytes", "Chunk bytes held in thread caches.", cached_bytes,          \
      TALC_SK_SIZE, false)                                                                         \
    X("trims", "trims_total", "Trims, full and idle.", trims, TALC_SK_U64, true)                   \
    X("trimmed_bytes", "trimmed_bytes_total", "Bytes given back by trims.", trimmed_bytes,         \
      TALC_SK_U64, true)

#define TALC_STAT_INDEX(key, name, help, field, kind, ctr) TALC_ST_##field,
enum { TALC_STAT_ROWS(TALC_STAT_INDEX) };
#define TALC_STAT_TEXT(key, name, help, field, kind, ctr) key "\0" name "\0" help "\0"
#define TALC_STAT_META(key, name, help, field, kind, ctr)                                          \
    {offsetof(talc_arena_stats_t, field), kind, ctr},
static const char talc_stat_text[] = TALC_STAT_ROWS(TALC_STAT_TEXT);
typedef struct talc_stat_meta {
    uint16_t offset; /* into talc_arena_stats_t */
    uint8_t kind;    /* TALC_SK_* */
    bool is_counter;
} talc_stat_meta_t;
static const talc_stat_meta_t talc_stat_meta[] = {TALC_STAT_ROWS(TALC_STAT_META)};
#define TALC_STAT_COUNT (sizeof talc_stat_meta / sizeof talc_stat_meta[0])
_Static_assert(sizeof(talc_arena_stats_t) <= UINT16_MAX, "figure offsets fit 16 bits");

/* The string after s in talc_stat_text. */
static const char *talc_stat_next(const char *s) { return s + strlen(s) + 1; }

static uint64_t talc_stat_value(const talc_stat_meta_t *m, const talc_arena_stats_t *s)
{
    const char *base = (const char *)s + m->offset;
    if (m->kind == TALC_SK_U64) {
        uint64_t v;
        memcpy(&v, base, sizeof v);
        return v;
    }
    if (m->kind == TALC_SK_UINT) {
        unsigned u;
        memcpy(&u, base, sizeof u);
        return u;
    }
    size_t z;
    memcpy(&z, base, sizeof z);
    return z;
}

/* ---- Text ---------------------------------------------------------------------------------*/

/* The columns after the name: a figure (TALC_ST_*) or TALC_ST_OOM (the OOM steps run), and
 * the width; the header line is the same text as a literal. */
#define TALC_ST_OOM 255u
static const uint8_t talc_text_cols[][2] = {
    {TALC_ST_stripes, 7},        {TALC_ST_live_bytes, 12},   {TALC_ST_live_allocs, 9},
    {TALC_ST_peak_bytes, 12},    {TALC_ST_allocs, 10},       {TALC_ST_frees, 10},
    {TALC_ST_managed_bytes, 12}, {TALC_ST_cached_bytes, 10}, {TALC_ST_borrowed_bytes, 12},
    {TALC_ST_failed, 10},        {TALC_ST_OOM, 6},           {TALC_ST_lock_contended, 9},
};

static void talc_text_header(FILE *f)
{
    fputs("arena            stripes   live_bytes      live   peak_bytes"
          "     allocs      frees      managed     cached"
          "     borrowed     failed    oom contended\n",
          f);
}

/* The name column: 16 columns, counted in characters (a UTF-8 sequence is one; wide and
 * combining characters are not told apart), so that the figures line up under the header. A
 * longer name has a line of its own, and the figures follow on the next under the column. */
static void talc_text_name(FILE *f, const char *name)
{
    unsigned w = 0;
    for (const char *c = name; *c; c++)
        w += ((unsigned char)*c & 0xc0u) != 0x80u;
    fprintf(f, "%s%s%*s", name, w > 16 ? "\n" : "", w > 16 ? 16 : (int)(16 - w), "");
}

static void talc_text_row(FILE *f, const talc_arena_stats_t *s)
{
    talc_text_name(f, s->name);
    for (size_t i = 0; i < sizeof talc_text_cols / sizeof talc_text_cols[0]; i++) {
        unsigned c = talc_text_cols[i][0];
        uint64_t v = 0;
        if (c == TALC_ST_OOM) {
            for (unsigned k = TALC_OOM_STEP_RECLAIM; k <= TALC_OOM_STEP_ABORT; k++)
                v += s->oom_runs[k];
        } else {
            v = talc_stat_value(&talc_stat_meta[c], s);
        }
        fprintf(f, " %*" PRIu64, (int)talc_text_cols[i][1], v);
    }
    fputc('\n', f);
}

static void talc_text_reserve(FILE *f, const talc_reserve_stats_t *r)
{
    fprintf(f,
            "reserve: size %zu free %zu held %zu lent %zu returned %zu denied %zu "
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
    const char *key = talc_stat_text;
    for (size_t m = 0; m < TALC_STAT_COUNT; m++) {
        fprintf(f, ",\"%s\":%" PRIu64, key, talc_stat_value(&talc_stat_meta[m], s));
        key = talc_stat_next(talc_stat_next(talc_stat_next(key)));
    }
    fputc(',', f);
    talc_json_steps(f, "oom_runs", s->oom_runs);
    fputc(',', f);
    talc_json_steps(f, "oom_ok", s->oom_ok);
    fputc(',', f);
    talc_json_steps(f, "oom_failed", s->oom_failed);
    fputc('}', f);
}

static void talc_json_reserve(FILE *f, const talc_reserve_stats_t *r)
{
    fprintf(f,
            "\"reserve\":{\"size\":%zu,\"free\":%zu,\"held\":%zu,\"borrowed_total\":%zu,"
            "\"returned_total\":%zu,\"denied\":%zu,\"guaranteed\":%zu}",
            r->size, r->free, r->held, r->borrowed_total, r->returned_total, r->denied,
            r->guaranteed);
}

/* ---- Prometheus ---------------------------------------------------------------------------*/

static void talc_prom_value(FILE *f, const talc_stat_meta_t *m, const char *name,
                            const talc_arena_stats_t *s)
{
    fprintf(f, "talc_arena_%s{arena=", name);
    talc_json_string(f, s->name); /* label values use the same escapes */
    fprintf(f, "} %" PRIu64 "\n", talc_stat_value(m, s));
}

static void talc_prom_steps(FILE *f, const talc_snaps_t *sn)
{
    fputs("# HELP talc_arena_oom_steps_total OOM policy steps run, by step and outcome.\n"
          "# TYPE talc_arena_oom_steps_total counter\n",
          f);
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
                    talc_oom_step_name((talc_oom_step_t)k), s->oom_failed[k]);
        }
}

static void talc_prom_reserve(FILE *f, const talc_reserve_stats_t *r)
{
    fprintf(f,
            "# HELP talc_reserve_bytes Reserve size and how it is used.\n"
            "# TYPE talc_reserve_bytes gauge\n"
            "talc_reserve_bytes{kind=\"size\"} %zu\ntalc_reserve_bytes{kind=\"free\"} %zu\n"
            "talc_reserve_bytes{kind=\"held\"} %zu\n"
            "talc_reserve_bytes{kind=\"guaranteed\"} %zu\n",
            r->size, r->free, r->held, r->guaranteed);
    fprintf(f,
            "# HELP talc_reserve_denied_total Borrow requests refused.\n"
            "# TYPE talc_reserve_denied_total counter\ntalc_reserve_denied_total %zu\n",
            r->denied);
}

/* Whether the writer goes on: false once a write of this call has failed (ok_before: the
 * stream had no error before the call). stdio goes on after a failed write (an EINTR
 * included) and has dropped what it was writing, so the output would have a gap in the
 * middle: what it buffers of the unit in progress (an arena's text or JSON, a Prometheus
 * family) is discarded, and the output ends short (with a fragment of that unit only if it
 * outgrew the stream's buffer). */
static __attribute__((noinline)) bool talc_emit_on(FILE *f, bool ok_before)
{
    if (!ok_before || !ferror(f))
        return true;
    __fpurge(f);
    return false;
}

static void talc_prom(FILE *f, const talc_snaps_t *sn, const talc_reserve_stats_t *r,
                      bool ok_before)
{
    const char *key = talc_stat_text;
    for (size_t m = 0; m < TALC_STAT_COUNT; m++) {
        if (!talc_emit_on(f, ok_before))
            return;
        const talc_stat_meta_t *sm = &talc_stat_meta[m];
        const char *name = talc_stat_next(key), *help = talc_stat_next(name);
        key = talc_stat_next(help);
        if (!*name)
            continue; /* JSON only */
        fprintf(f, "# HELP talc_arena_%s %s\n# TYPE talc_arena_%s %s\n", name, help, name,
                sm->is_counter ? "counter" : "gauge");
        for (size_t i = 0; i < sn->n; i++)
            talc_prom_value(f, sm, name, &sn->v[i]);
    }
    if (talc_emit_on(f, ok_before))
        talc_prom_steps(f, sn);
    if (r && talc_emit_on(f, ok_before))
        talc_prom_reserve(f, r);
}

/* ---- Entry points -------------------------------------------------------------------------*/

/* -EIO if a write or the final flush failed. The flush makes the answer cover the bytes
 * stdio still buffered; an error flag the caller's stream had before does not count. After
 * a failed write the output ends short (talc_emit_on). */
static int talc_emit(FILE *f, talc_stats_format_t fmt, const talc_snaps_t *sn,
                     const talc_reserve_stats_t *r)
{
    bool failed_before = ferror(f) != 0;
#define TALC_EMIT_OK talc_emit_on(f, !failed_before)
    if (fmt == TALC_STATS_TEXT) {
        talc_text_header(f);
        for (size_t i = 0; i < sn->n && TALC_EMIT_OK; i++)
            talc_text_row(f, &sn->v[i]);
        if (r && TALC_EMIT_OK)
            talc_text_reserve(f, r);
    } else if (fmt == TALC_STATS_JSON) {
        fputs("{\"arenas\":[", f);
        for (size_t i = 0; i < sn->n && TALC_EMIT_OK; i++) {
            if (i)
                fputc(',', f);
            talc_json_arena(f, &sn->v[i]);
        }
        if (!TALC_EMIT_OK)
            goto out;
        fputc(']', f);
        if (r) {
            fputc(',', f);
            talc_json_reserve(f, r);
        }
        fputs("}\n", f);
    } else {
        talc_prom(f, sn, r, !failed_before);
    }
out:
#undef TALC_EMIT_OK
    if (fflush(f) != 0 || (!failed_before && ferror(f)))
        return -EIO;
    return 0;
}

int talc_stats_write(FILE *f, talc_stats_format_t fmt)
{
    if (!f || (unsigned)fmt > TALC_STATS_PROMETHEUS)
        return -EINVAL;
    talc_snaps_t sn;
    if (talc_snap_all(&sn) != 0)
        return -ENOMEM;
    talc_reserve_stats_t r;
    talc_reserve_get_stats(&r);
    int rc = talc_emit(f, fmt, &sn, &r);
    talc_snap_release(&sn);
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
