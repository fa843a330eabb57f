/* conf.c — the TALC_CONF parser (conf.h has the grammar).
 *
 * Works on slices of the input (pointer + length), never copies it, never allocates: it runs
 * inside the first malloc of the process. Each key is looked up in a table of handlers; a
 * handler parses its value into talc_conf_t and returns the "want ..." text of a malformed
 * value, or NULL. Warnings are assembled in a fixed buffer and handed to the caller's callback.
 *
 * Concurrency: pure and reentrant; the caller owns *out.
 */
#include "conf.h"

#include <stdint.h>
#include <string.h>

#include "talc/reserve.h"

/* ---- Slices -------------------------------------------------------------------------------*/

typedef struct talc_sv {
    const char *p;
    size_t n;
} talc_sv_t;

static talc_sv_t talc_sv(const char *s) { return (talc_sv_t){s, s ? strlen(s) : 0u}; }

static talc_sv_t talc_sv_trim(talc_sv_t s)
{
    while (s.n && (s.p[0] == ' ' || s.p[0] == '\t')) {
        s.p++;
        s.n--;
    }
    while (s.n && (s.p[s.n - 1] == ' ' || s.p[s.n - 1] == '\t'))
        s.n--;
    return s;
}

static bool talc_sv_eq(talc_sv_t s, const char *lit)
{
    return s.n == strlen(lit) && memcmp(s.p, lit, s.n) == 0;
}

/* The part of *rest before the first `sep` (all of it if none); *rest becomes what follows. */
static talc_sv_t talc_sv_cut(talc_sv_t *rest, char sep)
{
    const char *hit = rest->n ? memchr(rest->p, sep, rest->n) : NULL;
    talc_sv_t head = {rest->p, hit ? (size_t)(hit - rest->p) : rest->n};
    if (hit) {
        rest->p = hit + 1;
        rest->n -= head.n + 1u;
    } else {
        rest->p += rest->n;
        rest->n = 0;
    }
    return head;
}

/* ---- Values -------------------------------------------------------------------------------*/

static bool talc_parse_u64(talc_sv_t s, uint64_t *out)
{
    uint64_t v = 0;
    if (s.n == 0)
        return false;
    for (size_t i = 0; i < s.n; i++) {
        if (s.p[i] < '0' || s.p[i] > '9')
            return false;
        unsigned digit = (unsigned)(s.p[i] - '0');
        if (__builtin_mul_overflow(v, 10u, &v) || __builtin_add_overflow(v, digit, &v))
            return false;
    }
    *out = v;
    return true;
}

static bool talc_parse_uint(talc_sv_t s, unsigned max, unsigned *out)
{
    uint64_t v;
    if (!talc_parse_u64(s, &v) || v > max)
        return false;
    *out = (unsigned)v;
    return true;
}

static unsigned talc_size_shift(char c)
{
    switch (c) {
    case 'k':
    case 'K':
        return 10;
    case 'm':
    case 'M':
        return 20;
    case 'g':
    case 'G':
        return 30;
    default:
        return 0;
    }
}

/* digits [k|m|g], binary multiples; fits in size_t and stays below SIZE_MAX / 2. */
static bool talc_parse_size(talc_sv_t s, size_t *out)
{
    unsigned shift = s.n ? talc_size_shift(s.p[s.n - 1]) : 0u;
    if (shift)
        s.n--;
    uint64_t v;
    if (!talc_parse_u64(s, &v) || v > ((uint64_t)(SIZE_MAX / 2) >> shift))
        return false;
    *out = (size_t)(v << shift);
    return true;
}

static bool talc_parse_bool(talc_sv_t s, bool *out)
{
    if (talc_sv_eq(s, "1") || talc_sv_eq(s, "true") || talc_sv_eq(s, "yes")) {
        *out = true;
        return true;
    }
    if (talc_sv_eq(s, "0") || talc_sv_eq(s, "false") || talc_sv_eq(s, "no")) {
        *out = false;
        return true;
    }
    return false;
}

static bool talc_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '.';
}

static bool talc_name_ok(talc_sv_t s)
{
    if (s.n == 0 || s.n > TALC_ARENA_NAME_MAX)
        return false;
    for (size_t i = 0; i < s.n; i++)
        if (!talc_name_char(s.p[i]))
            return false;
    return true;
}

/* ---- Warnings -----------------------------------------------------------------------------*/

typedef struct talc_parser {
    talc_conf_t *out;
    talc_conf_warn_fn warn;
    void *ctx;
    unsigned nwarn;
} talc_parser_t;

typedef struct talc_line {
    char buf[TALC_CONF_LINE_MAX];
    size_t n;
} talc_line_t;

/* Append s. A byte of the user's text outside printable ASCII (a newline, an escape sequence,
 * a C1 control in any encoding) is written as \xNN, so a warning stays one line and cannot
 * drive a terminal. Stops before writing more than `max` bytes or filling the buffer; returns
 * how many bytes of s it wrote. */
static size_t talc_line_put(talc_line_t *l, talc_sv_t s, size_t max)
{
    static const char hex[] = "0123456789abcdef";
    size_t i = 0, start = l->n;
    for (; i < s.n; i++) {
        unsigned char c = (unsigned char)s.p[i];
        bool ctl = c < 0x20u || c >= 0x7fu;
        size_t need = ctl ? 4u : 1u;
        if (sizeof l->buf - 1u - l->n < need || l->n - start + need > max)
            break;
        if (ctl) {
            l->buf[l->n++] = '\\';
            l->buf[l->n++] = 'x';
            l->buf[l->n++] = hex[c >> 4];
            l->buf[l->n++] = hex[c & 15u];
        } else {
            l->buf[l->n++] = (char)c;
        }
    }
    l->buf[l->n] = 0;
    return i;
}

static void talc_line_str(talc_line_t *l, const char *s) { talc_line_put(l, talc_sv(s), SIZE_MAX); }

/* Quoted, and cut after 48 bytes of the line (then followed by "..."), so that what comes after
 * a long value (the key it was given for) still fits: the longest line is then 193 bytes. */
static void talc_line_quoted(talc_line_t *l, talc_sv_t s)
{
    talc_line_str(l, "\"");
    bool cut = talc_line_put(l, s, 48) < s.n;
    talc_line_str(l, cut ? "\"..." : "\"");
}

/* "libtalc: TALC_CONF: [arena "A": ]" */
static void talc_line_start(talc_line_t *l, talc_sv_t arena)
{
    l->n = 0;
    l->buf[0] = 0;
    talc_line_str(l, "libtalc: TALC_CONF: ");
    if (arena.p) {
        talc_line_str(l, "arena ");
        talc_line_quoted(l, arena);
        talc_line_str(l, ": ");
    }
}

static void talc_emit(talc_parser_t *ps, talc_line_t *l)
{
    ps->nwarn++;
    if (ps->warn)
        ps->warn(l->buf, ps->ctx);
}

static void talc_warn_unknown(talc_parser_t *ps, talc_sv_t arena, talc_sv_t key)
{
    talc_line_t l;
    talc_line_start(&l, arena);
    talc_line_str(&l, "unknown key ");
    talc_line_quoted(&l, key);
    talc_line_str(&l, " (ignored)");
    talc_emit(ps, &l);
}

static void talc_warn_value(talc_parser_t *ps, talc_sv_t arena, talc_sv_t key, talc_sv_t value,
                            const char *want, const char *what)
{
    talc_line_t l;
    talc_line_start(&l, arena);
    talc_line_str(&l, "bad value ");
    talc_line_quoted(&l, value);
    talc_line_str(&l, " for ");
    talc_line_quoted(&l, key);
    talc_line_str(&l, ": want ");
    talc_line_str(&l, want);
    talc_line_str(&l, what);
    talc_emit(ps, &l);
}

static void talc_warn_text(talc_parser_t *ps, talc_sv_t arena, talc_sv_t subject, const char *text)
{
    talc_line_t l;
    talc_line_start(&l, arena);
    if (subject.p)
        talc_line_quoted(&l, subject);
    talc_line_str(&l, text);
    talc_emit(ps, &l);
}

/* ---- Arena items --------------------------------------------------------------------------*/

/* Sizes stay below SIZE_MAX / 2 (talc_parse_size): on a 32-bit target that is 2 GiB, which a
 * plain "want a size" did not explain (found by a review, 2026-12-07). */
#if SIZE_MAX > 0xffffffffu
#define TALC_SIZE_LIMIT ""
#else
#define TALC_SIZE_LIMIT ", at most 2047M on this target"
#endif
#define TALC_WANT_SIZE "a size like 512K, 16M or 1G" TALC_SIZE_LIMIT
#define TALC_WANT_BOOL "0 or 1"
#define TALC_WANT_STRIPES "0..64 (0 = from the CPU topology)"

typedef const char *(*talc_arena_key_fn)(talc_conf_arena_t *a, talc_sv_t v);

static const char *talc_ak_budget(talc_conf_arena_t *a, talc_sv_t v)
{
    return talc_parse_size(v, &a->hard_budget) ? NULL : TALC_WANT_SIZE;
}
static const char *talc_ak_soft(talc_conf_arena_t *a, talc_sv_t v)
{
    return talc_parse_size(v, &a->soft_budget) ? NULL : TALC_WANT_SIZE;
}
static const char *talc_ak_initial(talc_conf_arena_t *a, talc_sv_t v)
{
    return talc_parse_size(v, &a->initial_size) ? NULL : TALC_WANT_SIZE;
}
static const char *talc_ak_borrow(talc_conf_arena_t *a, talc_sv_t v)
{
    return talc_parse_size(v, &a->borrow_ceiling) ? NULL : TALC_WANT_SIZE;
}
static const char *talc_ak_guaranteed(talc_conf_arena_t *a, talc_sv_t v)
{
    return talc_parse_size(v, &a->reserve_guaranteed) ? NULL : TALC_WANT_SIZE;
}
static const char *talc_ak_priority(talc_conf_arena_t *a, talc_sv_t v)
{
    return talc_parse_uint(v, 1000u, &a->borrow_priority) ? NULL : "0..1000";
}
/* A malformed value leaves an earlier one of the item in place (the parsers write only on
 * success). */
static const char *talc_ak_stripes(talc_conf_arena_t *a, talc_sv_t v)
{
    if (!talc_parse_uint(v, TALC_STRIPES_MAX, &a->stripes))
        return TALC_WANT_STRIPES;
    a->stripes_set = true;
    return NULL;
}
static const char *talc_ak_cache_aligned(talc_conf_arena_t *a, talc_sv_t v)
{
    if (!talc_parse_bool(v, &a->cache_aligned))
        return TALC_WANT_BOOL;
    a->cache_aligned_set = true;
    return NULL;
}

/* "0" or "1" as an explicit cache mode. */
static bool talc_parse_tcache(talc_sv_t v, talc_tcache_mode_t *out)
{
    bool on;
    if (!talc_parse_bool(v, &on))
        return false;
    *out = on ? TALC_TCACHE_ON : TALC_TCACHE_OFF;
    return true;
}
static const char *talc_ak_thread_cache(talc_conf_arena_t *a, talc_sv_t v)
{
    return talc_parse_tcache(v, &a->thread_cache) ? NULL : TALC_WANT_BOOL;
}

static const struct {
    const char *key;
    talc_arena_key_fn fn;
} talc_arena_keys[] = {
    {"budget", talc_ak_budget},
    {"soft", talc_ak_soft},
    {"initial", talc_ak_initial},
    {"borrow", talc_ak_borrow},
    {"guaranteed", talc_ak_guaranteed},
    {"priority", talc_ak_priority},
    {"stripes", talc_ak_stripes},
    {"cache_aligned", talc_ak_cache_aligned},
    {"thread_cache", talc_ak_thread_cache},
};

static void talc_arena_subkey(talc_parser_t *ps, talc_conf_arena_t *a, talc_sv_t name, talc_sv_t kv)
{
    talc_sv_t key = talc_sv_trim(talc_sv_cut(&kv, '='));
    talc_sv_t val = talc_sv_trim(kv);
    for (size_t i = 0; i < sizeof talc_arena_keys / sizeof talc_arena_keys[0]; i++) {
        if (!talc_sv_eq(key, talc_arena_keys[i].key))
            continue;
        const char *want = talc_arena_keys[i].fn(a, val);
        if (want)
            talc_warn_value(ps, name, key, val, want, " (ignored)");
        return;
    }
    talc_warn_unknown(ps, name, key);
}

static bool talc_arena_known(const talc_conf_t *c, talc_sv_t name)
{
    for (unsigned i = 0; i < c->narenas; i++)
        if (talc_sv_eq(name, c->arenas[i].name))
            return true;
    return false;
}

/* ---- The library's rules, checked per item ---------------------------------------------------
 * talc_arena_create (and the default arena's preset) refuses a whole configuration for one
 * field it cannot use: a budget or borrow ceiling below one owner-map granule, an initial size
 * above the hard budget, a soft budget above the hard budget and the borrow ceiling. Dropping that
 * field here, with one line, keeps the rest of the item and, for "default", the top-level keys.
 * Until 2026-12-07 only the soft budget was checked here, and a bad field of "arena=default:" cost
 * every setting (found by a review). */

#define TALC_CONF_GRANULE ((size_t)1 << TALC_PAGEMAP_SHIFT)

/* "SUBJECT is below one granule (64K) (OUTCOME)" */
static void talc_warn_granule(talc_parser_t *ps, talc_sv_t arena, const char *key,
                              const char *outcome)
{
    char num[24];
    size_t g = TALC_CONF_GRANULE, n;
    bool mib = g >= ((size_t)1 << 20);
    n = talc_conf_fmt_u64(mib ? g >> 20 : g >> 10, num);
    num[n++] = mib ? 'M' : 'K';
    num[n] = 0;
    talc_line_t l;
    talc_line_start(&l, arena);
    talc_line_quoted(&l, talc_sv(key));
    talc_line_str(&l, " is below one granule (");
    talc_line_str(&l, num);
    talc_line_str(&l, ") (");
    talc_line_str(&l, outcome);
    talc_line_str(&l, ")");
    talc_emit(ps, &l);
}

static void talc_arena_item_check(talc_parser_t *ps, talc_conf_arena_t *a, talc_sv_t name)
{
    /* A cap too small is raised to the smallest the library takes, not dropped: dropped, the
     * arena had no cap at all (found by a review, 2026-12-07). A borrow ceiling too small to
     * lend one granule lends nothing. */
    if (a->hard_budget && a->hard_budget < TALC_CONF_GRANULE) {
        talc_warn_granule(ps, name, "budget", "raised to one granule");
        a->hard_budget = TALC_CONF_GRANULE;
    }
    if (a->borrow_ceiling && a->borrow_ceiling < TALC_CONF_GRANULE) {
        talc_warn_granule(ps, name, "borrow", "borrow ignored");
        a->borrow_ceiling = 0;
    }
    if (a->hard_budget && a->initial_size > a->hard_budget) {
        talc_warn_text(ps, name, talc_sv("initial"), " is above \"budget\" (initial ignored)");
        a->initial_size = 0;
    }
    /* The footprint counts the reserve's bytes too: up to budget + borrow (talc/arena.h) */
    size_t most = a->hard_budget + a->borrow_ceiling;
    if (most < a->hard_budget)
        most = SIZE_MAX;
    if (a->hard_budget && a->soft_budget > most) {
        talc_warn_text(ps, name, talc_sv("soft"),
                       a->borrow_ceiling ? " is above \"budget\" and \"borrow\" (soft ignored)"
                                         : " is above \"budget\" (soft ignored)");
        a->soft_budget = 0;
    }
}

/* Keys that the library accepts but that do nothing without another (talc/reserve.h): a
 * guaranteed share beyond the borrow ceiling, a ceiling without a reserve. They stay set;
 * one line each says so (found by a review, 2026-12-07: they were silent). After the whole
 * text, since "reserve" may come after the arena items. */
static void talc_arena_deps_check(talc_parser_t *ps, const talc_conf_arena_t *a)
{
    talc_sv_t name = talc_sv(a->name);
    if (a->reserve_guaranteed && !a->borrow_ceiling)
        talc_warn_text(ps, name, talc_sv("guaranteed"), " has no effect without \"borrow\" (kept)");
    else if (a->reserve_guaranteed > a->borrow_ceiling)
        talc_warn_text(ps, name, talc_sv("guaranteed"),
                       " is above \"borrow\": at most \"borrow\" is kept for the arena");
    if (ps->out->reserve_size)
        return;
    if (a->borrow_ceiling)
        talc_warn_text(ps, name, talc_sv("borrow"), " has no effect without \"reserve\" (kept)");
    if (a->reserve_guaranteed)
        talc_warn_text(ps, name, talc_sv("guaranteed"),
                       " has no effect without \"reserve\" (kept)");
}

static void talc_key_arena(talc_parser_t *ps, talc_sv_t key, talc_sv_t v)
{
    talc_conf_t *c = ps->out;
    talc_sv_t name = talc_sv_trim(talc_sv_cut(&v, ':'));
    if (!talc_name_ok(name)) {
        talc_warn_value(ps, (talc_sv_t){NULL, 0}, key, name,
                        "a name of 1..31 letters, digits, '_', '-' or '.'", " (arena ignored)");
        return;
    }
    if (talc_arena_known(c, name)) {
        talc_warn_text(ps, name, (talc_sv_t){NULL, 0}, "given twice (the second is ignored)");
        return;
    }
    if (c->narenas == TALC_CONF_ARENAS_MAX) {
        talc_warn_text(ps, name, (talc_sv_t){NULL, 0}, "more than 16 arenas (ignored)");
        return;
    }
    talc_conf_arena_t *a = &c->arenas[c->narenas++];
    memcpy(a->name, name.p, name.n);
    a->name[name.n] = 0;
    while (v.n) {
        talc_sv_t kv = talc_sv_cut(&v, ':');
        if (talc_sv_trim(kv).n)
            talc_arena_subkey(ps, a, name, kv);
    }
    talc_arena_item_check(ps, a, name);
}

/* ---- Top-level keys -----------------------------------------------------------------------*/

typedef const char *(*talc_key_fn)(talc_conf_t *c, talc_sv_t v);

static const char *talc_k_stripes(talc_conf_t *c, talc_sv_t v)
{
    return talc_parse_uint(v, TALC_STRIPES_MAX, &c->stripes) ? NULL : TALC_WANT_STRIPES;
}

static const char *talc_k_cache_aligned(talc_conf_t *c, talc_sv_t v)
{
    return talc_parse_bool(v, &c->cache_aligned) ? NULL : TALC_WANT_BOOL;
}

static const char *talc_k_thread_cache(talc_conf_t *c, talc_sv_t v)
{
    return talc_parse_tcache(v, &c->thread_cache) ? NULL : TALC_WANT_BOOL;
}

static const char *talc_k_reserve(talc_conf_t *c, talc_sv_t v)
{
    static const char want[] = "SIZE[:prefault][:mlock], SIZE like 64M" TALC_SIZE_LIMIT;
    size_t size;
    unsigned flags = 0;
    if (!talc_parse_size(talc_sv_trim(talc_sv_cut(&v, ':')), &size))
        return want;
    while (v.n) {
        talc_sv_t f = talc_sv_trim(talc_sv_cut(&v, ':'));
        if (f.n == 0) /* empty, as in an arena item */
            continue;
        if (talc_sv_eq(f, "prefault"))
            flags |= TALC_RESERVE_PREFAULT;
        else if (talc_sv_eq(f, "mlock"))
            flags |= TALC_RESERVE_MLOCK;
        else
            return want;
    }
    c->reserve_size = size;
    c->reserve_flags = flags;
    return NULL;
}

static const char *talc_k_stats(talc_conf_t *c, talc_sv_t v)
{
    if (talc_sv_eq(v, "off") || talc_sv_eq(v, "0"))
        c->stats = TALC_CONF_STATS_OFF;
    else if (talc_sv_eq(v, "text") || talc_sv_eq(v, "1"))
        c->stats = TALC_CONF_STATS_TEXT;
    else if (talc_sv_eq(v, "json"))
        c->stats = TALC_CONF_STATS_JSON;
    else
        return "off, text or json";
    return NULL;
}

static const char *talc_k_stats_file(talc_conf_t *c, talc_sv_t v)
{
    /* (255 until 2026-12-07: a relative path under a deep working directory wrote nothing) */
    if (v.n == 0 || v.n >= TALC_CONF_PATH_MAX)
        return "a path of 1..4095 bytes";
    memcpy(c->stats_file, v.p, v.n);
    c->stats_file[v.n] = 0;
    return NULL;
}

/* Below 10 ms the trimmer would hold the stripes' locks a good part of the time; a day is the
 * longest period it takes. */
#define TALC_TRIM_MS_MIN 10u
#define TALC_TRIM_MS_MAX 86400000u

static const char *talc_k_trim_ms(talc_conf_t *c, talc_sv_t v)
{
    unsigned ms;
    if (!talc_parse_uint(v, TALC_TRIM_MS_MAX, &ms) || (ms != 0 && ms < TALC_TRIM_MS_MIN))
        return "0 (off) or 10..86400000 (milliseconds)";
    c->trim_ms = ms;
    return NULL;
}

static const struct {
    const char *key;
    talc_key_fn fn;
} talc_keys[] = {
    {"stripes", talc_k_stripes},
    {"cache_aligned", talc_k_cache_aligned},
    {"thread_cache", talc_k_thread_cache},
    {"reserve", talc_k_reserve},
    {"stats", talc_k_stats},
    {"stats_file", talc_k_stats_file},
    {"trim_ms", talc_k_trim_ms},
};

static void talc_item(talc_parser_t *ps, talc_sv_t item)
{
    talc_sv_t whole = talc_sv_trim(item);
    if (!memchr(whole.p, '=', whole.n)) {
        talc_warn_text(ps, (talc_sv_t){NULL, 0}, whole, " is not key=value (ignored)");
        return;
    }
    talc_sv_t key = talc_sv_trim(talc_sv_cut(&item, '='));
    talc_sv_t val = talc_sv_trim(item);
    if (talc_sv_eq(key, "arena")) {
        talc_key_arena(ps, key, val);
        return;
    }
    for (size_t i = 0; i < sizeof talc_keys / sizeof talc_keys[0]; i++) {
        if (!talc_sv_eq(key, talc_keys[i].key))
            continue;
        const char *want = talc_keys[i].fn(ps->out, val);
        if (want)
            talc_warn_value(ps, (talc_sv_t){NULL, 0}, key, val, want, " (ignored)");
        return;
    }
    talc_warn_unknown(ps, (talc_sv_t){NULL, 0}, key);
}

unsigned talc_conf_parse(const char *text, talc_conf_t *out, talc_conf_warn_fn warn, void *ctx)
{
    memset(out, 0, sizeof *out);
    talc_parser_t ps = {out, warn, ctx, 0};
    talc_sv_t rest = talc_sv(text);
    while (rest.n) {
        talc_sv_t item = talc_sv_cut(&rest, ',');
        if (talc_sv_trim(item).n)
            talc_item(&ps, item);
    }
    for (unsigned i = 0; i < out->narenas; i++)
        talc_arena_deps_check(&ps, &out->arenas[i]);
    /* (silent until 2026-12-07: no file, no line; found by a review) */
    if (out->stats_file[0] && out->stats == TALC_CONF_STATS_OFF)
        talc_warn_text(&ps, (talc_sv_t){NULL, 0}, talc_sv("stats_file"),
                       " has no effect without \"stats\" (kept)");
    return ps.nwarn;
}

/* ---- Results ------------------------------------------------------------------------------*/

talc_arena_config_t talc_conf_arena_config(const talc_conf_t *conf, const talc_conf_arena_t *item)
{
    talc_arena_config_t c = talc_arena_config_default(item->name);
    c.stripes = item->stripes_set ? item->stripes : conf->stripes;
    c.cache_aligned = item->cache_aligned_set ? item->cache_aligned : conf->cache_aligned;
    c.thread_cache =
        item->thread_cache != TALC_TCACHE_DEFAULT ? item->thread_cache : conf->thread_cache;
    c.hard_budget = item->hard_budget;
    c.soft_budget = item->soft_budget;
    c.initial_size = item->initial_size;
    c.borrow_ceiling = item->borrow_ceiling;
    c.borrow_priority = item->borrow_priority;
    c.reserve_guaranteed = item->reserve_guaranteed;
    return c;
}

size_t talc_conf_fmt_u64(uint64_t v, char buf[24])
{
    char tmp[24];
    size_t n = 0, k = 0;
    do {
        tmp[n++] = (char)('0' + v % 10u);
        v /= 10u;
    } while (v);
    while (n)
        buf[k++] = tmp[--n];
    buf[k] = 0;
    return k;
}

bool talc_conf_stats_path(const talc_conf_t *conf, long pid, char *buf, size_t size)
{
    char num[24];
    size_t numlen = talc_conf_fmt_u64(pid < 0 ? 0u : (uint64_t)pid, num);
    size_t o = 0;
    bool fits = true;
    for (const char *p = conf->stats_file; *p; p++) {
        const char *piece = p;
        size_t n = 1;
        if (p[0] == '%' && p[1] == 'p') {
            piece = num;
            n = numlen;
            p++;
        } else if (p[0] == '%' && p[1] == '%') { /* a literal '%' (a directory's, below) */
            p++;
        }
        if (o + n >= size) {
            fits = false;
            break;
        }
        memcpy(buf + o, piece, n);
        o += n;
    }
    if (size)
        buf[o < size ? o : size - 1u] = 0;
    return fits;
}

/* The directory's '%' written "%%", so that talc_conf_stats_path gives it back as it is:
 * until 2026-12-07 a "%p" in the working directory's name became the process id, and the
 * file went to a directory that did not exist (found by a review). */
bool talc_conf_stats_prefix(talc_conf_t *conf, const char *dir)
{
    size_t d = strlen(dir), pct = 0, f = strlen(conf->stats_file);
    for (size_t i = 0; i < d; i++)
        pct += dir[i] == '%';
    bool slash = d == 0 || dir[d - 1] != '/';
    /* (the escapes are not the path's: until 2026-12-07 they counted, and a directory of
     * many '%' made a short path too long; found by a review) */
    if (d + slash + f >= TALC_CONF_PATH_MAX)
        return false;
    size_t o = d + pct;
    memmove(conf->stats_file + o + slash, conf->stats_file, f + 1u);
    for (size_t i = 0, k = 0; i < d; i++) {
        conf->stats_file[k++] = dir[i];
        if (dir[i] == '%')
            conf->stats_file[k++] = '%';
    }
    if (slash)
        conf->stats_file[o] = '/';
    return true;
}

void talc_conf_escape(const char *s, size_t max, char out[TALC_CONF_LINE_MAX])
{
    talc_line_t l = {.n = 0};
    talc_sv_t v = talc_sv(s);
    if (max > sizeof l.buf - 1u)
        max = sizeof l.buf - 1u;           /* the buffer cuts too: with the marker likewise */
    if (talc_line_put(&l, v, max) < v.n) { /* cut: again, with room for the marker */
        l.n = 0;
        talc_line_put(&l, v, max > 3u ? max - 3u : 0u);
        talc_line_put(&l, talc_sv("..."), max - l.n);
    }
    memcpy(out, l.buf, l.n + 1u);
}
