/* test_topology.c — CPU and cache topology (src/topology*.c): loaded once, at load time,
 * the invariants of the built struct, the sysfs backend on fake trees (SMT + two L3 domains;
 * no caches; nothing at all), the possible-CPU count from a sparse list, sanitising of bad
 * raw facts, the stripe map's
 * promises on synthetic machines, and agreement of the hwloc and sysfs backends on this one.
 *
 * Also: hwloc opened at run time is closed again after the probe, and a libhwloc that is
 * missing or of another ABI is turned down (the library then answers from sysfs: ctest
 * test_topology_fallback runs describes_this_machine that way, TALC_TEST_EXPECT_TOPOLOGY=sysfs;
 * test_topology_env_sysfs runs it with TALC_TOPOLOGY=sysfs, which skips hwloc).
 *
 * Build: the hwloc build's library has both backends. The sysfs build's has only sysfs; to
 * compare, compile src/topology_hwloc.c in (hwloc's headers; nothing to link) and define
 * TALC_TEST_WITH_HWLOC=1 (else those tests skip). TALC_TEST_FAKE_HWLOC is the path of
 * tests/common/fake_hwloc.c built as a library, TALC_TEST_FAKE_HWLOC_EMPTY of
 * tests/common/fake_hwloc_empty.c (hwloc's ABI, no CPUs; it records the probe's flags).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "talc/platform.h"
#include "topology.h"

#ifndef TALC_TEST_WITH_HWLOC
#define TALC_TEST_WITH_HWLOC 0
#endif

#define NONE TALC_TOPOLOGY_NONE
#define HWLOC_SONAME "libhwloc.so.15" /* CMake TALC_HWLOC_SONAME's default */
/* hwloc_topology_flags_e of the 2.x ABI (hwloc.h), for what fake_hwloc_empty records */
#define HWLOC_FLAG_INCLUDE_DISALLOWED (1ul << 0)
#define HWLOC_FLAG_DONT_CHANGE_BINDING (1ul << 6)

/* ---- Helpers ----------------------------------------------------------------------------- */

/* Checks every invariant written on talc_topology_cpu_t and talc_topology_t. */
static void check_topology(const talc_topology_t *t)
{
    cr_assert_geq(t->ncpus, 1);
    cr_assert(t->ncores >= 1 && t->ncores <= t->ncpus, "ncores %u", t->ncores);
    cr_assert(t->ndomains >= 1 && t->ndomains <= t->ncores, "ndomains %u", t->ndomains);
    cr_assert_leq(t->domain_level, TALC_TOPOLOGY_LEVELS);
    cr_assert(t->line_size >= 16 && (t->line_size & (t->line_size - 1)) == 0);
    unsigned *cores_in = calloc(t->ndomains, sizeof *cores_in);
    int *seen_core = calloc(t->ncores, sizeof *seen_core);
    unsigned next_core = 0, next_domain = 0;
    for (unsigned c = 0; c < t->ncpus; c++) {
        const talc_topology_cpu_t *x = &t->cpu[c];
        cr_assert_lt(x->core, t->ncores, "cpu %u", c);
        cr_assert_lt(x->domain, t->ndomains, "cpu %u", c);
        cr_assert_lt(x->core_in_domain, x->domain_cores, "cpu %u", c);
        cr_assert_leq(x->core, next_core, "cores numbered in order of first CPU (cpu %u)", c);
        cr_assert_leq(x->domain, next_domain, "domains numbered in order (cpu %u)", c);
        if (x->core == next_core) {
            next_core++;
            cores_in[x->domain]++;
            seen_core[x->core] = 1;
        }
        if (x->domain == next_domain)
            next_domain++;
        for (unsigned d = 0; d < c; d++)
            if (t->cpu[d].core == x->core)
                cr_assert(t->cpu[d].domain == x->domain &&
                              t->cpu[d].core_in_domain == x->core_in_domain,
                          "cpus %u and %u share a core, not its domain", d, c);
    }
    cr_assert_eq(next_core, t->ncores);
    cr_assert_eq(next_domain, t->ndomains);
    for (unsigned c = 0; c < t->ncpus; c++)
        cr_assert_eq(t->cpu[c].domain_cores, cores_in[t->cpu[c].domain], "cpu %u", c);
    free(cores_in);
    free(seen_core);
}

/* A built topology in test-owned memory. */
typedef struct built {
    talc_topology_t t;
    talc_topology_cpu_t *cpu;
    uint32_t *scratch;
} built_t;

static void build(built_t *b, const talc_topology_raw_t *raw, unsigned n, unsigned line)
{
    b->cpu = calloc(n, sizeof *b->cpu);
    b->scratch = calloc(TALC_TOPOLOGY_SCRATCH_WORDS(n), sizeof *b->scratch);
    talc_topology_build(&b->t, b->cpu, raw, n, line, b->scratch);
    check_topology(&b->t);
}

static void unbuild(built_t *b)
{
    free(b->cpu);
    free(b->scratch);
}

/* A synthetic machine: n CPUs, SMT siblings c and c + n/smt, `per_domain` cores per L3 domain,
 * private L1/L2 per core. */
static void synth(talc_topology_raw_t *raw, unsigned n, unsigned smt, unsigned per_domain)
{
    unsigned ncores = n / smt;
    talc_topology_raw_clear(raw, n);
    for (unsigned c = 0; c < n; c++) {
        unsigned core = c % ncores, first_l3 = core - core % per_domain;
        raw[c].core_first = core;
        raw[c].cache_first[0] = core;
        raw[c].cache_first[1] = core;
        raw[c].cache_first[2] = first_l3;
    }
}

/* Creates root/rel (and its directories) holding text. */
static void put(const char *root, const char *rel, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    for (char *s = path + strlen(root) + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        cr_assert(mkdir(path, 0755) == 0 || errno == EEXIST, "mkdir %s", path);
        *s = '/';
    }
    if (!text) {
        cr_assert(mkdir(path, 0755) == 0 || errno == EEXIST, "mkdir %s", path);
        return;
    }
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "create %s", path);
    fputs(text, f);
    fclose(f);
}

static void make_root(char *root)
{
    strcpy(root, "/tmp/talc-topo-XXXXXX");
    cr_assert_not_null(mkdtemp(root));
}

static void remove_root(const char *root)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    cr_assert_eq(system(cmd), 0);
}

/* ---- Loading ----------------------------------------------------------------------------- */

static void *get_from_thread(void *arg)
{
    (void)arg;
    return (void *)talc_topology_get();
}

/* The library probes from a constructor (topology.c, "When"): before the test runs, once. */
Test(topology, loads_once_at_load_time)
{
    cr_assert_eq(talc_topology_probes(), 1, "probed by the constructor, before any get");
    pthread_t th[8];
    for (int i = 0; i < 8; i++)
        cr_assert_eq(pthread_create(&th[i], NULL, get_from_thread, NULL), 0);
    const talc_topology_t *first = talc_topology_get();
    for (int i = 0; i < 8; i++) {
        void *r;
        pthread_join(th[i], &r);
        cr_assert_eq(r, first, "every caller sees the same struct");
    }
    cr_assert_eq(talc_topology_probes(), 1, "probed exactly once");
    cr_assert_eq(talc_topology_get(), first);
    cr_assert_eq(talc_topology_probes(), 1);
}

Test(topology, describes_this_machine)
{
    const talc_topology_t *t = talc_topology_get();
    check_topology(t);
    cr_assert_geq(t->ncpus, (unsigned)sysconf(_SC_NPROCESSORS_CONF));
    cr_assert_eq(t->ncpus, talc_topology_possible_cpus());
    const char *want = getenv("TALC_TEST_EXPECT_TOPOLOGY");
    if (!want)
        want = TALC_TOPOLOGY_HWLOC ? "hwloc" : "sysfs";
    cr_log_info("%u CPUs, %u cores, %u domains (level %u), line %u, backend %s", t->ncpus,
                t->ncores, t->ndomains, t->domain_level, t->line_size, talc_topology_backend());
    cr_assert_str_eq(talc_topology_backend(), want, "the backend that answered");
    for (unsigned c = 0; c < t->ncpus; c++)
        cr_log_info("  cpu %u: core %u domain %u (%u of %u)", c, t->cpu[c].core, t->cpu[c].domain,
                    t->cpu[c].core_in_domain, t->cpu[c].domain_cores);
    cr_assert_eq(talc_topology_auto_stripes(t), t->ncores < 32 ? 2 * t->ncores : 64);
    for (unsigned c = 0; c < t->ncpus; c++) {
        cr_assert_eq(talc_topology_stripe_of_cpu(t, c, 1), 0);
        cr_assert_eq(talc_topology_stripe_of_cpu(t, c, t->ncpus), c);
    }
}

/* ---- The two backends on this machine ---------------------------------------------------- */

typedef struct compared {
    unsigned cores, caches;
} compared_t;

/* Asserts that a and b agree on every fact both know; counts the facts compared. */
static compared_t compare_raw(const talc_topology_raw_t *a, const talc_topology_raw_t *b,
                              unsigned n)
{
    compared_t k = {0, 0};
    for (unsigned c = 0; c < n; c++) {
        if (a[c].core_first != NONE && b[c].core_first != NONE) {
            cr_assert_eq(a[c].core_first, b[c].core_first, "cpu %u core", c);
            k.cores++;
        }
        for (unsigned l = 0; l < TALC_TOPOLOGY_LEVELS; l++) {
            if (a[c].cache_first[l] == NONE || b[c].cache_first[l] == NONE)
                continue;
            cr_assert_eq(a[c].cache_first[l], b[c].cache_first[l], "cpu %u L%u", c, l + 1);
            k.caches++;
        }
    }
    return k;
}

static int probe_other(talc_topology_raw_t *raw, unsigned n)
{
#if TALC_TOPOLOGY_HWLOC
    return talc_topology_probe_sysfs("/sys/devices/system", raw, n);
#elif TALC_TEST_WITH_HWLOC
    return talc_topology_probe_hwloc(raw, n);
#else
    (void)raw;
    (void)n;
    cr_skip_test("sysfs build without hwloc: nothing to compare with");
    return -1;
#endif
}

static int probe_mine(talc_topology_raw_t *raw, unsigned n)
{
#if TALC_TOPOLOGY_HWLOC
    (void)raw;
    (void)n;
    return -1; /* hwloc: talc_topology_get() already loaded it; do not load it again */
#else
    return talc_topology_probe_sysfs("/sys/devices/system", raw, n);
#endif
}

Test(topology, backends_agree_on_this_machine)
{
    const talc_topology_t *t = talc_topology_get();
    unsigned n = t->ncpus;
    talc_topology_raw_t *other = calloc(n, sizeof *other);
    talc_topology_raw_clear(other, n);
    int line = probe_other(other, n);
    cr_assert_geq(line, 0, "the other backend loads");
    built_t b;
    build(&b, other, n, (unsigned)line);

    /* The library's topology against the other backend, built. */
    cr_assert_eq(b.t.ncpus, t->ncpus);
    cr_assert_eq(b.t.ncores, t->ncores, "cores: library %u, other %u", t->ncores, b.t.ncores);
    for (unsigned c = 0; c < n; c++)
        cr_assert_eq(b.cpu[c].core, t->cpu[c].core, "cpu %u core", c);
    if (b.t.domain_level != 0 && t->domain_level != 0) {
        cr_assert_eq(b.t.domain_level, t->domain_level);
        cr_assert_eq(b.t.ndomains, t->ndomains);
        for (unsigned c = 0; c < n; c++)
            cr_assert_eq(b.cpu[c].domain, t->cpu[c].domain, "cpu %u domain", c);
    }
    /* Raw facts (the library's own raw only in the sysfs build: hwloc must not load twice). */
    talc_topology_raw_t *mine = calloc(n, sizeof *mine);
    talc_topology_raw_clear(mine, n);
    if (probe_mine(mine, n) >= 0) {
        compared_t k = compare_raw(mine, other, n);
        cr_assert_eq(k.cores, n, "both backends know every CPU's core");
        cr_log_info("raw facts compared: %u cores, %u caches", k.cores, k.caches);
    }
    cr_log_info("library: %u cores, %u domains at L%u, line %u; other: %u cores, %u domains "
                "at L%u, line %d",
                t->ncores, t->ndomains, t->domain_level, t->line_size, b.t.ncores, b.t.ndomains,
                b.t.domain_level, line);
    unbuild(&b);
    free(other);
    free(mine);
}

/* Both probes side by side on the real sysfs and hwloc, called directly (the library's own
 * probe ran once already, from its constructor, and is not repeated). */
Test(topology, raw_facts_agree_on_this_machine)
{
#if TALC_TOPOLOGY_HWLOC || TALC_TEST_WITH_HWLOC
    unsigned n = talc_topology_possible_cpus();
    talc_topology_raw_t *h = calloc(n, sizeof *h), *s = calloc(n, sizeof *s);
    talc_topology_raw_clear(h, n);
    talc_topology_raw_clear(s, n);
    int hline = talc_topology_probe_hwloc(h, n);
    int sline = talc_topology_probe_sysfs("/sys/devices/system", s, n);
    cr_assert_geq(hline, 0);
    compared_t k = compare_raw(h, s, n);
    cr_assert_eq(k.cores, n, "both backends know every CPU's core");
    if (hline > 0 && sline > 0)
        cr_assert_eq(hline, sline, "L1d line size");
    cr_log_info("hwloc vs sysfs: %u cores, %u caches agree; line %d / %d", k.cores, k.caches, hline,
                sline);
    cr_assert_eq(talc_topology_probes(), 1, "the backends alone do not count as the probe");
    free(h);
    free(s);
#else
    cr_skip_test("no hwloc in this build");
#endif
}

/* ---- Opening hwloc ----------------------------------------------------------------------- */

#if TALC_TOPOLOGY_HWLOC || TALC_TEST_WITH_HWLOC
static bool hwloc_is_mapped(void)
{
    void *h = dlopen(HWLOC_SONAME, RTLD_LAZY | RTLD_NOLOAD);
    if (h)
        dlclose(h);
    return h != NULL;
}

/* A failed probe leaves every raw fact unknown. */
static void assert_untouched(const talc_topology_raw_t *raw, unsigned n)
{
    for (unsigned c = 0; c < n; c++) {
        cr_assert_eq(raw[c].core_first, NONE, "cpu %u", c);
        for (unsigned l = 0; l < TALC_TOPOLOGY_LEVELS; l++)
            cr_assert_eq(raw[c].cache_first[l], NONE, "cpu %u L%u", c, l + 1);
    }
}
#endif

Test(topology, hwloc_is_closed_after_the_probe)
{
#if TALC_TOPOLOGY_HWLOC || TALC_TEST_WITH_HWLOC
    /* the library's probe at load time has closed it again, and nothing here links it */
    cr_assert(!hwloc_is_mapped(), "libhwloc mapped before the test's probe");
    unsigned n = talc_topology_possible_cpus();
    talc_topology_raw_t *raw = calloc(n, sizeof *raw);
    talc_topology_raw_clear(raw, n);
    cr_assert_geq(talc_topology_probe_hwloc(raw, n), 0, "the real libhwloc loads");
    cr_assert_neq(raw[0].core_first, NONE, "and tells CPU 0's core");
    cr_assert(!hwloc_is_mapped(), "libhwloc unmapped again after the probe");
    free(raw);
#else
    cr_skip_test("no hwloc in this build");
#endif
}

Test(topology, missing_or_foreign_hwloc_is_turned_down)
{
#if TALC_TOPOLOGY_HWLOC || TALC_TEST_WITH_HWLOC
    unsigned n = talc_topology_possible_cpus();
    talc_topology_raw_t *raw = calloc(n, sizeof *raw);
    talc_topology_raw_clear(raw, n);
    cr_assert_eq(talc_topology_probe_hwloc_from("libtalc-test-no-such-library.so.0", raw, n), -1);
    assert_untouched(raw, n);
    /* libc has none of hwloc's functions */
    cr_assert_eq(talc_topology_probe_hwloc_from("libc.so.6", raw, n), -1);
    assert_untouched(raw, n);
    /* every function, of API 1.11: calling any but the version aborts */
    cr_assert_eq(talc_topology_probe_hwloc_from(TALC_TEST_FAKE_HWLOC, raw, n), -1);
    assert_untouched(raw, n);
    void *fake = dlopen(TALC_TEST_FAKE_HWLOC, RTLD_LAZY | RTLD_NOLOAD);
    cr_assert_null(fake, "the refused library is closed again");
    free(raw);
#else
    cr_skip_test("no hwloc in this build");
#endif
}

/* A library that loads but lists no CPU is no answer (the library then asks sysfs), and the
 * probe forbids hwloc to move the thread: its x86 backend would bind it to each CPU in turn,
 * also to CPUs taskset keeps the process off. */
Test(topology, hwloc_without_cpus_is_no_answer_and_never_rebinds)
{
#if (TALC_TOPOLOGY_HWLOC || TALC_TEST_WITH_HWLOC) && defined(TALC_TEST_FAKE_HWLOC_EMPTY)
    unsigned n = talc_topology_possible_cpus();
    talc_topology_raw_t *raw = calloc(n, sizeof *raw);
    talc_topology_raw_clear(raw, n);
    void *fake = dlopen(TALC_TEST_FAKE_HWLOC_EMPTY, RTLD_NOW | RTLD_LOCAL); /* kept open */
    cr_assert_not_null(fake, "%s", dlerror());
    unsigned long *flags = (unsigned long *)dlsym(fake, "fake_hwloc_flags");
    cr_assert_not_null(flags);
    cr_assert_eq(talc_topology_probe_hwloc_from(TALC_TEST_FAKE_HWLOC_EMPTY, raw, n), -1);
    assert_untouched(raw, n);
    cr_assert(*flags & HWLOC_FLAG_DONT_CHANGE_BINDING, "flags %#lx", *flags);
    cr_assert(*flags & HWLOC_FLAG_INCLUDE_DISALLOWED, "flags %#lx", *flags);
    dlclose(fake);
    free(raw);
#else
    cr_skip_test("no hwloc in this build");
#endif
}

/* A sparse possible list ("0-1,8-9": sysconf says 4) gives one more than its highest id; a
 * list too long to read whole, or none, leaves sysconf's count. */
Test(topology, possible_cpus_cover_the_highest_id)
{
    char root[64], path[96];
    unsigned conf = (unsigned)sysconf(_SC_NPROCESSORS_CONF);
    make_root(root);
    snprintf(path, sizeof path, "%s/possible", root);
    put(root, "possible", "0-1,8-9\n");
    cr_assert_eq(talc_topology_possible_cpus_from(path), conf > 10 ? conf : 10);
    put(root, "possible", "0\n");
    cr_assert_eq(talc_topology_possible_cpus_from(path), conf);
    put(root, "possible",
        "0,2,4,6,8,10,12,14,16,18,20,22,24,26,28,30,32,34,36,38,40,42,44,46,"
        "48,50,52,54,56,58,60,62,64,66\n");
    cr_assert_eq(talc_topology_possible_cpus_from(path), conf, "not read whole: not trusted");
    put(root, "possible", "0-99999999\n");
    cr_assert_eq(talc_topology_possible_cpus_from(path), conf, "beyond the sanity cap");
    snprintf(path, sizeof path, "%s/none", root);
    cr_assert_eq(talc_topology_possible_cpus_from(path), conf);
    remove_root(root);
}

/* ---- The sysfs backend on fake trees ----------------------------------------------------- */

/* 8 CPUs, 4 cores with SMT siblings c and c + 4, private L1d/L1i/L2, an L3 per 2 cores
 * (CPUs 0,1,4,5 and 2,3,6,7). */
static void fake_smt_machine(const char *root)
{
    static const char *const l3[2] = {"0-1,4-5\n", "2-3,6-7\n"};
    char rel[256], list[32];
    for (unsigned c = 0; c < 8; c++) {
        unsigned core = c % 4, half = core / 2;
        snprintf(list, sizeof list, "%u,%u\n", core, core + 4);
        snprintf(rel, sizeof rel, "cpu/cpu%u/topology/thread_siblings_list", c);
        put(root, rel, list);
        static const char *const kind[4] = {"Data\n", "Instruction\n", "Unified\n", "Unified\n"};
        static const char *const lvl[4] = {"1\n", "1\n", "2\n", "3\n"};
        for (unsigned k = 0; k < 4; k++) {
            snprintf(rel, sizeof rel, "cpu/cpu%u/cache/index%u/level", c, k);
            put(root, rel, lvl[k]);
            snprintf(rel, sizeof rel, "cpu/cpu%u/cache/index%u/type", c, k);
            put(root, rel, kind[k]);
            snprintf(rel, sizeof rel, "cpu/cpu%u/cache/index%u/shared_cpu_list", c, k);
            put(root, rel, k == 3 ? l3[half] : list);
            snprintf(rel, sizeof rel, "cpu/cpu%u/cache/index%u/coherency_line_size", c, k);
            put(root, rel, "128\n");
        }
    }
}

Test(topology, sysfs_probe_reads_smt_cores_and_l3_domains)
{
    char root[64];
    make_root(root);
    fake_smt_machine(root);
    talc_topology_raw_t raw[8];
    talc_topology_raw_clear(raw, 8);
    cr_assert_eq(talc_topology_probe_sysfs(root, raw, 8), 128);
    for (unsigned c = 0; c < 8; c++) {
        cr_assert_eq(raw[c].core_first, c % 4, "cpu %u", c);
        cr_assert_eq(raw[c].cache_first[0], c % 4, "cpu %u L1d (not the L1i)", c);
        cr_assert_eq(raw[c].cache_first[1], c % 4);
        cr_assert_eq(raw[c].cache_first[2], (c % 4) / 2 * 2);
        cr_assert_eq(raw[c].cache_first[3], NONE);
    }
    built_t b;
    build(&b, raw, 8, 128);
    cr_assert_eq(b.t.ncores, 4);
    cr_assert_eq(b.t.ndomains, 2);
    cr_assert_eq(b.t.domain_level, 3);
    cr_assert_eq(b.t.line_size, 128);
    static const unsigned domain[8] = {0, 0, 1, 1, 0, 0, 1, 1};
    static const unsigned rank[8] = {0, 1, 0, 1, 0, 1, 0, 1};
    for (unsigned c = 0; c < 8; c++) {
        cr_assert_eq(b.cpu[c].core, c % 4);
        cr_assert_eq(b.cpu[c].domain, domain[c], "cpu %u", c);
        cr_assert_eq(b.cpu[c].core_in_domain, rank[c], "cpu %u", c);
        cr_assert_eq(b.cpu[c].domain_cores, 2);
    }
    cr_assert_eq(talc_topology_auto_stripes(&b.t), 8);
    unbuild(&b);
    remove_root(root);
}

/* Like qemu-user on a host without cache information: cores only. */
Test(topology, sysfs_probe_without_caches_falls_back_to_cores)
{
    char root[64], rel[128];
    make_root(root);
    for (unsigned c = 0; c < 4; c++) {
        snprintf(rel, sizeof rel, "cpu/cpu%u/topology/core_cpus_list", c);
        put(root, rel, c < 2 ? "0-1\n" : "2-3\n"); /* no thread_siblings_list: fallback file */
    }
    talc_topology_raw_t raw[4];
    talc_topology_raw_clear(raw, 4);
    cr_assert_eq(talc_topology_probe_sysfs(root, raw, 4), 0, "no line size known");
    built_t b;
    build(&b, raw, 4, 0);
    cr_assert_eq(b.t.ncores, 2);
    cr_assert_eq(b.t.ndomains, 2, "each core is its own domain");
    cr_assert_eq(b.t.domain_level, 0);
    cr_assert_eq(b.t.line_size, talc_cache_line_size(), "line from the platform fallback");
    cr_assert_eq(b.cpu[1].core, 0);
    cr_assert_eq(b.cpu[3].domain, 1);
    unbuild(&b);
    remove_root(root);
}

Test(topology, sysfs_probe_of_an_empty_tree_gives_one_core_per_cpu)
{
    char root[64];
    make_root(root);
    talc_topology_raw_t raw[3];
    talc_topology_raw_clear(raw, 3);
    cr_assert_eq(talc_topology_probe_sysfs(root, raw, 3), 0);
    for (unsigned c = 0; c < 3; c++)
        cr_assert(raw[c].core_first == NONE && raw[c].cache_first[0] == NONE);
    built_t b;
    build(&b, raw, 3, 0);
    cr_assert_eq(b.t.ncores, 3);
    cr_assert_eq(b.t.ndomains, 3);
    unbuild(&b);
    remove_root(root);
}

Test(topology, build_treats_inconsistent_raw_facts_as_unknown)
{
    talc_topology_raw_t raw[4];
    talc_topology_raw_clear(raw, 4);
    raw[0].core_first = 2;     /* above the CPU: impossible */
    raw[1].core_first = 0;     /* fine: 0 and 1 would be siblings... */
    raw[2].core_first = 1;     /* ...but 1 is not a leader, so 2 leads itself */
    raw[3].core_first = 99;    /* out of range */
    raw[1].cache_first[2] = 3; /* above the CPU */
    raw[3].cache_first[1] = 0; /* an L2 shared with CPU 0 */
    raw[0].cache_first[1] = 0;
    built_t b;
    build(&b, raw, 4, 24); /* 24 is no power of two: ignored */
    cr_assert_eq(b.cpu[0].core, 0);
    cr_assert_eq(b.cpu[1].core, 0, "cpu 1 is cpu 0's sibling");
    cr_assert_eq(b.cpu[2].core, 1, "a non-leader cannot lead a core");
    cr_assert_eq(b.cpu[3].core, 2);
    cr_assert_eq(b.t.ncores, 3);
    cr_assert_eq(b.cpu[3].domain, b.cpu[0].domain, "the shared L2 joins cores 0 and 2");
    cr_assert_eq(b.t.domain_level, 2);
    cr_assert_eq(b.t.line_size, talc_cache_line_size());
    unbuild(&b);
}

/* CPUs the backends know nothing about (offline or not present, while sysconf counts every
 * possible CPU) join the first known CPU's core: SMT turned off on 8 cores, CPUs 8..15
 * offline, one L3; and a VM with 4 of 64 possible CPUs present, on 2 cores, CPU 0 among the
 * absent ones. Before 2026-12-04 each absent CPU was a core and a domain of its own. */
Test(topology, cpus_without_any_fact_do_not_count_as_cores)
{
    talc_topology_raw_t raw[64];
    synth(raw, 8, 1, 8);
    talc_topology_raw_clear(raw + 8, 8);
    built_t b;
    build(&b, raw, 16, 64);
    cr_assert_eq(b.t.ncores, 8);
    cr_assert_eq(b.t.ndomains, 1);
    cr_assert_eq(talc_topology_auto_stripes(&b.t), 16);
    for (unsigned c = 0; c < 8; c++)
        cr_assert_eq(talc_topology_stripe_of_cpu(&b.t, c, 8), c, "one stripe per online core");
    for (unsigned c = 8; c < 16; c++)
        cr_assert_eq(b.cpu[c].core, b.cpu[0].core, "absent cpu %u joins the first known", c);
    unbuild(&b);

    talc_topology_raw_clear(raw, 64);
    for (unsigned c = 2; c < 6; c++) { /* cores {2,3} and {4,5}, one shared L3 */
        raw[c].core_first = c & ~1u;
        raw[c].cache_first[1] = c & ~1u;
        raw[c].cache_first[2] = 2;
    }
    build(&b, raw, 64, 64);
    cr_assert_eq(b.t.ncores, 2);
    cr_assert_eq(b.t.ndomains, 1);
    cr_assert_eq(talc_topology_auto_stripes(&b.t), 4);
    cr_assert_neq(talc_topology_stripe_of_cpu(&b.t, 2, 4), talc_topology_stripe_of_cpu(&b.t, 4, 4),
                  "the two present cores get their own stripes");
    cr_assert_eq(b.t.domain_level, 3, "the L3 domain, read from CPU 0's core");
    unbuild(&b);
}

/* The domain rule: the highest cache level shared by more than one core, else the L2, else
 * the core. Checked on 8 single-thread cores with the caches each case gives them. */
static void cluster_caches(talc_topology_raw_t *raw, unsigned l2_per, unsigned l3_per)
{
    talc_topology_raw_clear(raw, 8);
    for (unsigned c = 0; c < 8; c++) {
        raw[c].core_first = c;
        raw[c].cache_first[0] = c;
        if (l2_per)
            raw[c].cache_first[1] = c - c % l2_per;
        if (l3_per)
            raw[c].cache_first[2] = c - c % l3_per;
    }
}

Test(topology, build_picks_the_highest_cache_shared_by_several_cores)
{
    talc_topology_raw_t raw[8];
    built_t b;
    cluster_caches(raw, 2, 4); /* L2 per pair, L3 per four: domains are the L3s */
    build(&b, raw, 8, 64);
    cr_assert_eq(b.t.domain_level, 3);
    cr_assert_eq(b.t.ndomains, 2);
    cr_assert_eq(b.cpu[5].domain, 1);
    cr_assert_eq(b.cpu[5].core_in_domain, 1);
    unbuild(&b);
    cluster_caches(raw, 2, 1); /* L2 per pair, private L3s: the shared L2 wins */
    build(&b, raw, 8, 64);
    cr_assert_eq(b.t.domain_level, 2);
    cr_assert_eq(b.t.ndomains, 4);
    unbuild(&b);
    cluster_caches(raw, 1, 1); /* nothing shared: the (private) L2 */
    build(&b, raw, 8, 64);
    cr_assert_eq(b.t.domain_level, 2);
    cr_assert_eq(b.t.ndomains, 8);
    unbuild(&b);
    cluster_caches(raw, 0, 1); /* no L2, private L3: the core */
    build(&b, raw, 8, 64);
    cr_assert_eq(b.t.domain_level, 0);
    cr_assert_eq(b.t.ndomains, 8);
    unbuild(&b);
}

/* ---- The stripe map ---------------------------------------------------------------------- */

/* With fewer stripes than domains, domains are spread evenly: the number of domains per
 * stripe differs by at most one between stripes. */
static void check_even_spread(const talc_topology_t *t, unsigned s)
{
    unsigned *per_stripe = calloc(s, sizeof *per_stripe);
    int *counted = calloc(t->ndomains, sizeof *counted);
    for (unsigned c = 0; c < t->ncpus; c++) {
        if (counted[t->cpu[c].domain]++)
            continue;
        per_stripe[talc_topology_stripe_of_cpu(t, c, s)]++;
    }
    unsigned lo = ~0u, hi = 0;
    for (unsigned i = 0; i < s; i++) {
        lo = per_stripe[i] < lo ? per_stripe[i] : lo;
        hi = per_stripe[i] > hi ? per_stripe[i] : hi;
    }
    cr_assert_leq(hi - lo, 1, "stripes %u: %u..%u domains per stripe", s, lo, hi);
    free(per_stripe);
    free(counted);
}

/* Checks the promises of talc_topology_stripe_of_cpu for one machine and stripe count. */
static void check_stripes(const talc_topology_t *t, unsigned s)
{
    unsigned n = t->ncpus;
    unsigned *owner = calloc(s, sizeof *owner); /* 1 + the domain using each stripe */
    for (unsigned c = 0; c < n; c++) {
        const talc_topology_cpu_t *x = &t->cpu[c];
        unsigned st = talc_topology_stripe_of_cpu(t, c, s);
        cr_assert_lt(st, s, "cpu %u stripes %u", c, s);
        cr_assert_eq(talc_topology_stripe_of_cpu(t, c, s), st, "deterministic");
        cr_assert_eq(talc_topology_stripe_of_cpu(t, c + n, s), st, "cpu folded modulo ncpus");
        if (s >= n) {
            cr_assert_eq(st, c, "own stripe per CPU (stripes %u)", s);
            continue;
        }
        for (unsigned d = 0; d < c; d++) {
            unsigned sd = talc_topology_stripe_of_cpu(t, d, s);
            if (t->cpu[d].core == x->core)
                cr_assert_eq(sd, st, "cpus %u, %u share a core (stripes %u)", d, c, s);
            if (s <= t->ndomains && t->cpu[d].domain == x->domain)
                cr_assert_eq(sd, st, "cpus %u, %u share a domain (stripes %u)", d, c, s);
        }
        if (s >= t->ndomains)
            cr_assert(owner[st] == 0 || owner[st] == x->domain + 1,
                      "stripe %u serves two domains (stripes %u)", st, s);
        owner[st] = x->domain + 1;
    }
    if (s < t->ndomains)
        check_even_spread(t, s);
    free(owner);
}

Test(topology, stripe_map_keeps_cores_and_domains_together)
{
    static const unsigned shapes[][3] = {
        /* cpus, smt, cores per domain */
        {16, 2, 2}, {16, 1, 4}, {12, 2, 3}, {24, 1, 8}, {7, 1, 7}, {10, 1, 1}, {1, 1, 1},
    };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        unsigned n = shapes[i][0];
        talc_topology_raw_t *raw = calloc(n, sizeof *raw);
        synth(raw, n, shapes[i][1], shapes[i][2]);
        built_t b;
        build(&b, raw, n, 64);
        unsigned ncores = n / shapes[i][1];
        cr_assert_eq(b.t.ndomains, (ncores + shapes[i][2] - 1) / shapes[i][2]);
        for (unsigned s = 0; s <= n + 3; s++)
            check_stripes(&b.t, s == 0 ? 1 : s);
        cr_assert_eq(talc_topology_stripe_of_cpu(&b.t, n - 1, 0), 0, "0 stripes counts as 1");
        unbuild(&b);
        free(raw);
    }
}

Test(topology, stripe_map_spreads_domains_evenly_over_few_stripes)
{
    talc_topology_raw_t raw[16];
    synth(raw, 16, 1, 2); /* 16 cores, 8 domains of 2 */
    built_t b;
    build(&b, raw, 16, 64);
    cr_assert_eq(b.t.ndomains, 8);
    /* 3 stripes over 8 domains: domain d -> d * 3 / 8 = 0,0,0,1,1,1,2,2 */
    static const unsigned want3[8] = {0, 0, 0, 1, 1, 1, 2, 2};
    for (unsigned c = 0; c < 16; c++)
        cr_assert_eq(talc_topology_stripe_of_cpu(&b.t, c, 3), want3[c / 2], "cpu %u", c);
    /* 12 stripes over 8 domains of 2 cores: domains own 1 or 2 stripes, cores spread. */
    unsigned used[12] = {0};
    for (unsigned c = 0; c < 16; c++)
        used[talc_topology_stripe_of_cpu(&b.t, c, 12)]++;
    for (unsigned s = 0; s < 12; s++)
        cr_assert_geq(used[s], 1, "stripe %u unused with 12 stripes and 16 cores", s);
    unbuild(&b);
}

Test(topology, auto_stripes_is_twice_the_core_count_capped_at_64)
{
    unsigned n = 200;
    talc_topology_raw_t *raw = calloc(n, sizeof *raw);
    synth(raw, n, 2, 10); /* 100 cores */
    built_t b;
    build(&b, raw, n, 64);
    cr_assert_eq(b.t.ncores, 100);
    cr_assert_eq(talc_topology_auto_stripes(&b.t), 64);
    unbuild(&b);
    synth(raw, 6, 2, 3); /* 3 cores */
    build(&b, raw, 6, 64);
    cr_assert_eq(talc_topology_auto_stripes(&b.t), 6);
    unbuild(&b);
    talc_topology_raw_clear(raw, 1);
    build(&b, raw, 1, 0);
    cr_assert_eq(talc_topology_auto_stripes(&b.t), 2);
    unbuild(&b);
    free(raw);
}
