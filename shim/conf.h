/* conf.h — TALC_CONF, the malloc shim's one environment variable: its parsed form and parser.
 *
 * Grammar (docs/shim.md has the reference):
 *
 *   TALC_CONF  := item ("," item)*
 *   item       := key "=" value                      spaces around keys and values are ignored
 *   stripes=N                  default arena's stripes, 0..TALC_STRIPES_MAX (0 = from topology)
 *   cache_aligned=0|1          default arena in cache-aligned mode, and the default for
 *                              every arena= item (as stripes and thread_cache are)
 *   thread_cache=0|1           per-thread caches off/on for the arenas TALC_CONF configures
 *                              (unset: on for the default arena, off for named ones)
 *   reserve=SIZE[:prefault][:mlock]   set up the process reserve at start-up
 *   stats=off|text|json        print every arena's statistics at exit
 *   stats_file=PATH            where (default stderr); "%p" in PATH becomes the process id,
 *                              "%%" a '%'
 *   trim_ms=N                  a background thread trims every arena every N ms, 10..86400000
 *                              (0, the default: no thread)
 *   arena=NAME[:k=v]*          create arena NAME at start-up; NAME "default" configures the
 *                              default arena instead. k: budget, soft, initial (SIZE), stripes,
 *                              cache_aligned, thread_cache, borrow (SIZE), priority (N),
 *                              guaranteed (SIZE)
 *   SIZE := digits [k|K|m|M|g|G]  (binary multiples)
 *
 * An unknown key or a malformed value produces exactly one warning line naming the key, and the
 * key (or, for a bad arena name, the whole arena item) is ignored; the rest still applies. So
 * is an arena item's field that talc_arena_create would refuse the whole item for (a borrow
 * ceiling below one owner-map granule, initial above the budget, soft above the budget plus
 * the borrow ceiling): one line, the field dropped; a budget below a granule is raised to one,
 * with its line. A guaranteed share without (or above) a borrow ceiling, and a borrow ceiling
 * or guaranteed share without a reserve, stay set (the library takes them) with one line each:
 * they have no effect.
 *
 * Who calls it: shim/init.c once at start-up, and the unit test. The parser is a pure function:
 * no allocation (it runs inside the first malloc), no globals, no I/O; warnings go to a
 * callback as complete lines without a newline. Concurrency: reentrant.
 */
#ifndef TALC_SHIM_CONF_H
#define TALC_SHIM_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "talc/arena.h"

#define TALC_CONF_ARENAS_MAX 16 /* named arenas TALC_CONF may create */
#define TALC_CONF_PATH_MAX 4096 /* bytes of stats_file, with its NUL: Linux's PATH_MAX */
#define TALC_CONF_LINE_MAX 200  /* bytes of one warning line, with its NUL */

typedef enum talc_conf_stats {
    TALC_CONF_STATS_OFF = 0,
    TALC_CONF_STATS_TEXT,
    TALC_CONF_STATS_JSON,
} talc_conf_stats_t;

/* One arena item. cfg.name points at name[] only after talc_conf_arena_config(). */
typedef struct talc_conf_arena {
    char name[TALC_ARENA_NAME_MAX + 1];
    size_t hard_budget, soft_budget, initial_size, borrow_ceiling, reserve_guaranteed;
    unsigned borrow_priority;
    unsigned stripes; /* valid iff stripes_set */
    bool stripes_set;
    bool cache_aligned; /* valid iff cache_aligned_set */
    bool cache_aligned_set;
    talc_tcache_mode_t thread_cache; /* TALC_TCACHE_DEFAULT = not set here */
} talc_conf_arena_t;

typedef struct talc_conf {
    unsigned stripes; /* 0 = from the topology */
    bool cache_aligned;
    talc_tcache_mode_t thread_cache; /* TALC_TCACHE_DEFAULT = not set */
    size_t reserve_size;             /* 0 = no reserve */
    unsigned reserve_flags;          /* TALC_RESERVE_PREFAULT | TALC_RESERVE_MLOCK */
    talc_conf_stats_t stats;
    /* "" = stderr. At most TALC_CONF_PATH_MAX - 1 bytes as given, and as the path it names;
     * twice that room, for a working directory put in front with its '%' written "%%". */
    char stats_file[2 * TALC_CONF_PATH_MAX];
    unsigned trim_ms;                               /* 0 = no background trimmer */
    talc_conf_arena_t arenas[TALC_CONF_ARENAS_MAX]; /* "default" may be among them */
    unsigned narenas;
} talc_conf_t;

/* Receives one warning line (NUL-terminated, no newline). */
typedef void (*talc_conf_warn_fn)(const char *line, void *ctx);

/* Parse `text` (NULL or "" = all defaults) into *out, which is reset first. Returns the number
 * of warnings passed to `warn` (which may be NULL). Cost O(strlen(text)). */
unsigned talc_conf_parse(const char *text, talc_conf_t *out, talc_conf_warn_fn warn, void *ctx);

/* The arena configuration an item describes, with the top-level stripes, cache_aligned and
 * thread_cache as defaults for what the item does not set. The result's name points into
 * `item`. */
talc_arena_config_t talc_conf_arena_config(const talc_conf_t *conf, const talc_conf_arena_t *item);

/* "%p" in conf->stats_file replaced by `pid` and "%%" by "%", into buf (size bytes). Returns
 * false if the result does not fit (buf then holds a truncated, terminated string). */
bool talc_conf_stats_path(const talc_conf_t *conf, long pid, char *buf, size_t size);

/* conf->stats_file with `dir` (its '%' written "%%") and a '/' in front (a relative path made
 * absolute). Returns false, the path unchanged, if the path it names (with one '%' for each
 * "%%" of the directory) would not fit TALC_CONF_PATH_MAX. */
bool talc_conf_stats_prefix(talc_conf_t *conf, const char *dir);

/* v in decimal into buf, terminated; returns its length (at most 20). No allocation, no locale:
 * also for lines written inside an allocation (shim/init.c). */
size_t talc_conf_fmt_u64(uint64_t v, char buf[24]);

/* s as warnings show the user's text: bytes outside printable ASCII as \xNN, at most `max`
 * bytes (and what fits out[TALC_CONF_LINE_MAX], terminated); a cut text ends with "..."
 * (within `max`), and never inside an \xNN. */
void talc_conf_escape(const char *s, size_t max, char out[TALC_CONF_LINE_MAX]);

#endif /* TALC_SHIM_CONF_H */
