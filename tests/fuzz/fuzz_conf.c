/* tests/fuzz/fuzz_conf.c — libFuzzer harness for the TALC_CONF parser (shim/conf.c).
 *
 * TALC_CONF comes from the environment of whatever process loads the shim, so the parser must
 * take any bytes. The input, cut at its first NUL, is parsed; the harness checks what the
 * parser promises (shim/conf.h): warnings are single lines of the documented prefix within
 * TALC_CONF_LINE_MAX, printable ASCII only (the user's other bytes escaped), one callback per
 * counted warning; every field is in range (stripes, trim_ms, arena count, names of
 * 1..TALC_ARENA_NAME_MAX name characters, unique, terminated strings); each arena item's
 * configuration passes talc_arena_create's own checks for a bad config (budgets and borrow
 * ceiling below a granule, initial size above the hard budget, soft budget above the hard one
 * plus the borrow ceiling, stripes); the stats path is terminated for any pid; and a second parse
 * of the same text gives the same result and the same warnings.
 *
 * Build: with -DTALC_FUZZ=ON (ctest fuzz_conf_short); see tests/fuzz/README.md. Concurrency:
 * one thread.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "talc/reserve.h"

#define FC_TEXT_MAX 4096

typedef struct fc_warn {
    unsigned calls;
    uint64_t hash; /* of every line, in order */
} fc_warn_t;

__attribute__((noreturn)) static void fc_die(const char *what, const char *text)
{
    fprintf(stderr, "fuzz_conf: %s (TALC_CONF=\"%s\")\n", what, text);
    abort();
}

static const char *fc_text;

static void fc_collect(const char *line, void *ctx)
{
    fc_warn_t *w = ctx;
    size_t n = strnlen(line, TALC_CONF_LINE_MAX);
    if (n >= TALC_CONF_LINE_MAX)
        fc_die("warning line not terminated within TALC_CONF_LINE_MAX", fc_text);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)line[i] < 0x20u || (unsigned char)line[i] >= 0x7fu)
            fc_die("warning line holds a byte outside printable ASCII", fc_text);
    if (strncmp(line, "libtalc: TALC_CONF: ", 20) != 0)
        fc_die("warning line without the prefix", fc_text);
    w->calls++;
    for (size_t i = 0; i < n; i++)
        w->hash = (w->hash ^ (unsigned char)line[i]) * 0x100000001b3ull;
    w->hash = (w->hash ^ 0xff) * 0x100000001b3ull;
}

static bool fc_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '.';
}

static void fc_check_arena(const talc_conf_t *c, unsigned i, const char *text)
{
    const talc_conf_arena_t *a = &c->arenas[i];
    size_t n = strnlen(a->name, sizeof a->name);
    if (n == 0 || n > TALC_ARENA_NAME_MAX)
        fc_die("arena name empty or not terminated", text);
    for (size_t k = 0; k < n; k++)
        if (!fc_name_char(a->name[k]))
            fc_die("arena name with a character outside [A-Za-z0-9_.-]", text);
    for (unsigned j = 0; j < i; j++)
        if (strcmp(c->arenas[j].name, a->name) == 0)
            fc_die("two arena items of one name", text);
    if (a->stripes_set && a->stripes > TALC_STRIPES_MAX)
        fc_die("arena stripes out of range", text);
    if ((unsigned)a->thread_cache > TALC_TCACHE_OFF)
        fc_die("arena thread_cache out of range", text);
    size_t granule = (size_t)1 << TALC_PAGEMAP_SHIFT, most = a->hard_budget + a->borrow_ceiling;
    if (most < a->hard_budget)
        most = SIZE_MAX;
    if (a->hard_budget && a->soft_budget > most)
        fc_die("arena soft budget above its hard budget and borrow ceiling", text);
    if ((a->hard_budget && a->hard_budget < granule) ||
        (a->borrow_ceiling && a->borrow_ceiling < granule))
        fc_die("arena budget or borrow ceiling below one granule", text);
    if (a->hard_budget && a->initial_size > a->hard_budget)
        fc_die("arena initial size above its hard budget", text);
    talc_arena_config_t cfg = talc_conf_arena_config(c, a);
    if (cfg.name != a->name)
        fc_die("the config's name does not point into the item", text);
    if (cfg.stripes > TALC_STRIPES_MAX || (unsigned)cfg.thread_cache > TALC_TCACHE_OFF)
        fc_die("arena config out of range", text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char text[FC_TEXT_MAX + 1];
    size_t n = size < FC_TEXT_MAX ? size : FC_TEXT_MAX;
    memcpy(text, data, n);
    text[n] = 0;
    fc_text = text;

    static talc_conf_t c1, c2;
    fc_warn_t w1 = {0, 0xcbf29ce484222325ull}, w2 = w1;
    unsigned n1 = talc_conf_parse(text, &c1, fc_collect, &w1);
    if (n1 != w1.calls)
        fc_die("warning count differs from the callbacks", text);
    if (c1.stripes > TALC_STRIPES_MAX || c1.narenas > TALC_CONF_ARENAS_MAX ||
        (unsigned)c1.thread_cache > TALC_TCACHE_OFF || (unsigned)c1.stats > TALC_CONF_STATS_JSON ||
        (c1.reserve_flags & ~(TALC_RESERVE_PREFAULT | TALC_RESERVE_MLOCK)) != 0 ||
        (c1.trim_ms != 0 && (c1.trim_ms < 10u || c1.trim_ms > 86400000u)))
        fc_die("a top-level field out of range", text);
    if (strnlen(c1.stats_file, sizeof c1.stats_file) >= sizeof c1.stats_file)
        fc_die("stats_file not terminated", text);
    for (unsigned i = 0; i < c1.narenas; i++)
        fc_check_arena(&c1, i, text);
    char path[TALC_CONF_PATH_MAX];
    static const long pids[] = {0, 1, 4194304, -1, 9223372036854775807L};
    for (size_t i = 0; i < sizeof pids / sizeof pids[0]; i++) {
        (void)talc_conf_stats_path(&c1, pids[i], path, sizeof path);
        if (strnlen(path, sizeof path) >= sizeof path)
            fc_die("stats path not terminated", text);
    }
    /* A pure function: the same text gives the same result, warnings included. */
    unsigned n2 = talc_conf_parse(text, &c2, fc_collect, &w2);
    if (n2 != n1 || w2.hash != w1.hash || memcmp(&c1, &c2, sizeof c1) != 0)
        fc_die("a second parse differs", text);
    /* A NULL callback is allowed and counts the same warnings. */
    if (talc_conf_parse(text, &c2, NULL, NULL) != n1)
        fc_die("warning count differs without a callback", text);
    return 0;
}
