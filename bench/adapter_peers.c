/* adapter_peers.c — the peer allocators behind the benchmark adapter interface (bench.h).
 *
 *   glibc          the process malloc (malloc / posix_memalign / realloc / free). The harness
 *                  runs on a spawned thread, so this is a non-main glibc arena — as in Talc's
 *                  harness and in shared/reference/benchmarks.md.
 *   mimalloc-heap  a first-class mimalloc heap per trial: mi_heap_new, mi_heap_malloc(_aligned),
 *                  mi_heap_realloc(_aligned), mi_free, mi_heap_delete.
 *   jemalloc-arena one explicit arena (mallctl "arenas.create") and one explicit thread cache
 *                  ("tcache.create") for the whole process; mallocx / rallocx / sdallocx with
 *                  MALLOCX_ARENA(a) | MALLOCX_TCACHE(tc). The explicit tcache is jemalloc's
 *                  normal fast path (MALLOCX_TCACHE_NONE would send every call to the arena's
 *                  locked bins) and, being explicit, only ever holds blocks of that arena.
 *                  The cache is flushed after every trial.
 *
 * The two peer libraries are loaded with dlopen(RTLD_LOCAL) and called through dlsym'd
 * pointers: both Debian builds also export malloc/free, and linking either would replace glibc's
 * malloc for the whole process (then "glibc" would not be glibc). jemalloc's initial-exec TLS
 * needs static-TLS surplus under dlopen; main.c re-executes the binary once with
 * GLIBC_TUNABLES=glibc.rtld.optional_static_tls=... for that. A library that cannot be loaded
 * makes its adapter unavailable (setup returns false); the run goes on without it.
 *
 * Page residency: each random-actions trial replays its actions untimed on the same instance
 * first (wl_random_actions.c). glibc's trimming is off for the process (tb_glibc_setup). jemalloc's
 * arena and mimalloc's heaps run with their defaults: never purging the arena (dirty and muzzy
 * decay -1) left jemalloc mapping new pages instead of reusing its dirty ones (115 MiB dirty
 * after the 20 trials of one run, and more faults in the timed runs, not fewer), and mimalloc
 * with decommit off (mi_option_allow_decommit 0) faulted as often; see bench/README.md, the
 * "Page faults" bullet.
 *
 * Realloc keeps alignment above 16 bytes: glibc by posix_memalign + copy + free (Rust's
 * System::realloc fallback), mimalloc and jemalloc with their aligned realloc.
 *
 * Concurrency: used only from the bench thread; mimalloc heaps must be (and are) created and
 * used on that thread.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "bench_arena.h"

#define TB_DEFAULT_ALIGN ((size_t)16)

/* ---- glibc ---------------------------------------------------------------------------------*/

static int glibc_token;

/* glibc never trims in this process, from the moment a glibc adapter is set up (mallopt(3):
 * -1 = never): a random-actions trial keeps the pages its replay faulted in
 * (wl_random_actions.c), where the replay's frees would otherwise give the top of the arena
 * back for the timed run to fault in again. glibc has no per-arena setting, and any
 * M_TRIM_THRESHOLD also stops glibc raising its mmap threshold (128 KiB) for the rest of the
 * process, so it is set once, before any workload: every glibc trial of every workload runs
 * in the same state (no bench workload asks glibc for 128 KiB or more). The other allocators
 * make no malloc calls in their trials. */
static bool tb_glibc_setup(void)
{
    mallopt(M_TRIM_THRESHOLD, -1);
    return true;
}

static bool glibc_setup(void) { return tb_glibc_setup(); }
static void *glibc_begin(void *arena, size_t arena_size)
{
    (void)arena;
    (void)arena_size;
    return &glibc_token;
}
static void glibc_end(void *inst) { (void)inst; }

static void *glibc_alloc(void *inst, size_t size, size_t align)
{
    (void)inst;
    if (align <= TB_DEFAULT_ALIGN)
        return malloc(size);
    void *p = NULL;
    return posix_memalign(&p, align, size) == 0 ? p : NULL;
}

static void glibc_free(void *inst, void *ptr, size_t size, size_t align)
{
    (void)inst;
    (void)size;
    (void)align;
    free(ptr);
}

static void *glibc_realloc(void *inst, void *ptr, size_t old_size, size_t align, size_t new_size)
{
    if (align <= TB_DEFAULT_ALIGN)
        return realloc(ptr, new_size);
    void *q = glibc_alloc(inst, new_size, align);
    if (q == NULL)
        return NULL;
    memcpy(q, ptr, old_size < new_size ? old_size : new_size);
    free(ptr);
    return q;
}

static const tb_allocator_t glibc_adapter = {
    .name = "glibc",
    .desc = "glibc malloc/free on a spawned thread (non-main arena)",
    .setup = glibc_setup,
    .begin = glibc_begin,
    .end = glibc_end,
    .alloc = glibc_alloc,
    .free = glibc_free,
    .realloc = glibc_realloc,
};

const tb_allocator_t *tb_adapter_glibc(void) { return &glibc_adapter; }

/* ---- dlopen helper -------------------------------------------------------------------------*/

/* Open the first library of `names` that loads; NULL (with a note on stderr) if none does. */
static void *tb_dlopen_any(const char *const *names)
{
    const char *err = "not found";
    for (; *names; names++) {
        void *h = dlopen(*names, RTLD_NOW | RTLD_LOCAL);
        if (h)
            return h;
        err = dlerror();
    }
    fprintf(stderr, "[bench] peer unavailable: %s\n", err);
    return NULL;
}

/* dlsym every name into the matching slot of `out`; false if any is missing. */
static bool tb_dlsym_all(void *lib, const char *const *names, void **out)
{
    for (size_t i = 0; names[i]; i++) {
        out[i] = dlsym(lib, names[i]);
        if (out[i] == NULL) {
            fprintf(stderr, "[bench] peer symbol missing: %s\n", names[i]);
            return false;
        }
    }
    return true;
}

/* ---- mimalloc heaps ------------------------------------------------------------------------*/

static struct {
    void *(*heap_new)(void);
    void (*heap_delete)(void *heap);
    void *(*heap_malloc)(void *heap, size_t size);
    void *(*heap_malloc_aligned)(void *heap, size_t size, size_t align);
    void *(*heap_realloc)(void *heap, void *p, size_t size);
    void *(*heap_realloc_aligned)(void *heap, void *p, size_t size, size_t align);
    void (*free)(void *p);
} mi;

static bool mi_setup(void)
{
    static const char *const libs[] = {"libmimalloc.so.2", "libmimalloc.so", NULL};
    static const char *const syms[] = {
        "mi_heap_new",     "mi_heap_delete",          "mi_heap_malloc", "mi_heap_malloc_aligned",
        "mi_heap_realloc", "mi_heap_realloc_aligned", "mi_free",        NULL};
    void *lib = tb_dlopen_any(libs);
    void *slots[7];
    if (lib == NULL || !tb_dlsym_all(lib, syms, slots))
        return false;
    /* POSIX guarantees object <-> function pointer conversion for dlsym results. */
    memcpy(&mi.heap_new, &slots[0], sizeof(void *));
    memcpy(&mi.heap_delete, &slots[1], sizeof(void *));
    memcpy(&mi.heap_malloc, &slots[2], sizeof(void *));
    memcpy(&mi.heap_malloc_aligned, &slots[3], sizeof(void *));
    memcpy(&mi.heap_realloc, &slots[4], sizeof(void *));
    memcpy(&mi.heap_realloc_aligned, &slots[5], sizeof(void *));
    memcpy(&mi.free, &slots[6], sizeof(void *));
    return true;
}

static void *mi_begin(void *arena, size_t arena_size)
{
    (void)arena;
    (void)arena_size;
    return mi.heap_new();
}

static void mi_end(void *inst) { mi.heap_delete(inst); }

static void *mi_alloc(void *inst, size_t size, size_t align)
{
    if (align <= TB_DEFAULT_ALIGN)
        return mi.heap_malloc(inst, size);
    return mi.heap_malloc_aligned(inst, size, align);
}

static void mi_free_block(void *inst, void *ptr, size_t size, size_t align)
{
    (void)inst;
    (void)size;
    (void)align;
    mi.free(ptr);
}

static void *mi_realloc_block(void *inst, void *ptr, size_t old_size, size_t align, size_t new_size)
{
    (void)old_size;
    if (align <= TB_DEFAULT_ALIGN)
        return mi.heap_realloc(inst, ptr, new_size);
    return mi.heap_realloc_aligned(inst, ptr, new_size, align);
}

static const tb_allocator_t mi_adapter = {
    .name = "mimalloc-heap",
    .desc = "mimalloc first-class heap (mi_heap_new per trial)",
    .setup = mi_setup,
    .begin = mi_begin,
    .end = mi_end,
    .alloc = mi_alloc,
    .free = mi_free_block,
    .realloc = mi_realloc_block,
};

const tb_allocator_t *tb_adapter_mimalloc(void) { return &mi_adapter; }

/* ---- jemalloc explicit arena ---------------------------------------------------------------*/

/* jemalloc's public flag encoding (jemalloc.h, stable ABI of the 5.x series). */
#define TB_JE_LG_ALIGN(la) ((int)(la))
#define TB_JE_TCACHE(tc) ((int)(((tc) + 2) << 8))
#define TB_JE_ARENA(a) ((((int)(a)) + 1) << 20)

static struct {
    int (*mallctl)(const char *name, void *oldp, size_t *oldlenp, void *newp, size_t newlen);
    void *(*mallocx)(size_t size, int flags);
    void *(*rallocx)(void *p, size_t size, int flags);
    void (*sdallocx)(void *p, size_t size, int flags);
    unsigned arena, tcache;
    int flags;
} je;

static int je_align_flag(size_t align)
{
    return align <= TB_DEFAULT_ALIGN ? 0 : TB_JE_LG_ALIGN(__builtin_ctzll(align));
}

static bool je_setup(void)
{
    static const char *const libs[] = {"libjemalloc.so.2", "libjemalloc.so", NULL};
    static const char *const syms[] = {"mallctl", "mallocx", "rallocx", "sdallocx", NULL};
    void *lib = tb_dlopen_any(libs);
    void *slots[4];
    if (lib == NULL || !tb_dlsym_all(lib, syms, slots))
        return false;
    memcpy(&je.mallctl, &slots[0], sizeof(void *));
    memcpy(&je.mallocx, &slots[1], sizeof(void *));
    memcpy(&je.rallocx, &slots[2], sizeof(void *));
    memcpy(&je.sdallocx, &slots[3], sizeof(void *));
    size_t sz = sizeof(unsigned);
    if (je.mallctl("arenas.create", &je.arena, &sz, NULL, 0) != 0)
        return false;
    sz = sizeof(unsigned);
    if (je.mallctl("tcache.create", &je.tcache, &sz, NULL, 0) != 0)
        return false;
    je.flags = TB_JE_ARENA(je.arena) | TB_JE_TCACHE(je.tcache);
    return true;
}

static void *je_begin(void *arena, size_t arena_size)
{
    (void)arena;
    (void)arena_size;
    return &je;
}

static void je_end(void *inst)
{
    (void)inst;
    je.mallctl("tcache.flush", NULL, NULL, &je.tcache, sizeof(unsigned));
}

static void *je_alloc(void *inst, size_t size, size_t align)
{
    (void)inst;
    return je.mallocx(size, je.flags | je_align_flag(align));
}

static void je_free(void *inst, void *ptr, size_t size, size_t align)
{
    (void)inst;
    je.sdallocx(ptr, size, je.flags | je_align_flag(align));
}

static void *je_realloc(void *inst, void *ptr, size_t old_size, size_t align, size_t new_size)
{
    (void)inst;
    (void)old_size;
    return je.rallocx(ptr, new_size, je.flags | je_align_flag(align));
}

static const tb_allocator_t je_adapter = {
    .name = "jemalloc-arena",
    .desc = "jemalloc explicit arena + explicit tcache (mallocx/rallocx/sdallocx)",
    .setup = je_setup,
    .begin = je_begin,
    .end = je_end,
    .alloc = je_alloc,
    .free = je_free,
    .realloc = je_realloc,
};

const tb_allocator_t *tb_adapter_jemalloc(void) { return &je_adapter; }

/* ---- harness floor (opt-in: --allocators null) ---------------------------------------------*/

/* A bump pointer over the arena that never reuses memory and wraps when full: no allocator
 * work at all, so its score is the harness's own ceiling. Not a real allocator; never listed
 * by default. */
static struct {
    unsigned char *base;
    size_t size, off;
} bump;

static bool null_setup(void) { return true; }
static void *null_begin(void *arena, size_t arena_size)
{
    bump.base = arena;
    bump.size = arena_size;
    bump.off = 0;
    return &bump;
}
static void null_end(void *inst) { (void)inst; }
static void *null_alloc(void *inst, size_t size, size_t align)
{
    (void)inst;
    size_t off = (bump.off + align - 1) & ~(align - 1);
    if (off + size > bump.size)
        off = 0;
    bump.off = off + size;
    return bump.base + off;
}
static void null_free(void *inst, void *ptr, size_t size, size_t align)
{
    (void)inst;
    (void)ptr;
    (void)size;
    (void)align;
}
static void *null_realloc(void *inst, void *ptr, size_t old_size, size_t align, size_t new_size)
{
    (void)ptr;
    (void)old_size;
    return null_alloc(inst, new_size, align);
}

static const tb_allocator_t null_adapter = {
    .name = "null",
    .desc = "harness floor: bump pointer, free does nothing (opt-in)",
    .setup = null_setup,
    .begin = null_begin,
    .end = null_end,
    .alloc = null_alloc,
    .free = null_free,
    .realloc = null_realloc,
};

const tb_allocator_t *tb_adapter_null(void) { return &null_adapter; }

/* ==== Multi-threaded adapters (bench_arena.h) ================================================
 *
 *   glibc                   malloc & co. from every thread (glibc gives threads their own arenas)
 *   mimalloc-heap           mi_heap_new on each worker thread (kept for the run); blocks freed
 *                           with mi_free by whichever thread frees them (a remote free goes to
 *                           the owning page's thread-free list)
 *   jemalloc-arena          one explicit arena per thread (arenas.create), MALLOCX_ARENA(i) |
 *                           MALLOCX_TCACHE_NONE on every call: the honest "explicit arena", each
 *                           call goes to the arena's locked bins, as ours goes to a locked heap.
 *                           This is the peer of the arena targets.
 *   jemalloc-arena-tcache   the same plus one explicit tcache per thread (tcache.create) on
 *                           every call, frees included (a block freed by another thread goes
 *                           to that thread's tcache and back to its arena in batches):
 *                           jemalloc's normal fast path, for reference. Flushed after each
 *                           trial.
 *   jemalloc-shared         one explicit arena for all threads, no tcache: the like-for-like
 *                           peer of our shared arena.
 */

#define TB_JE_TCACHE_NONE TB_JE_TCACHE(-1)

static bool mt_mi_setup(void) { return mi.heap_new != NULL || mi_setup(); }
static bool mt_je_setup(void) { return je.mallocx != NULL || je_setup(); }

static bool mt_glibc_setup(void) { return tb_glibc_setup(); }
static void *mt_glibc_thread_init(int tid)
{
    (void)tid;
    return &glibc_token;
}

static const tb_mt_allocator_t mt_glibc_adapter = {
    .name = "glibc",
    .desc = "glibc malloc/free from every thread (per-thread glibc arenas)",
    .setup = mt_glibc_setup,
    .thread_init = mt_glibc_thread_init,
    .alloc = glibc_alloc,
    .free = glibc_free,
    .realloc = glibc_realloc,
};

const tb_mt_allocator_t *tb_mt_glibc(void) { return &mt_glibc_adapter; }

static void *mt_mi_heaps[TB_MT_MAX_THREADS];

static void *mt_mi_thread_init(int tid)
{
    if (mt_mi_heaps[tid] == NULL)
        mt_mi_heaps[tid] = mi.heap_new(); /* on its thread */
    return mt_mi_heaps[tid];
}

static const tb_mt_allocator_t mt_mi_adapter = {
    .name = "mimalloc-heap",
    .desc = "mimalloc: mi_heap_new per thread, mi_heap_malloc(_aligned)/realloc, mi_free",
    .setup = mt_mi_setup,
    .thread_init = mt_mi_thread_init,
    .alloc = mi_alloc,
    .free = mi_free_block,
    .realloc = mi_realloc_block,
};

const tb_mt_allocator_t *tb_mt_mimalloc(void) { return &mt_mi_adapter; }

/* A jemalloc handle: the flags of the thread's calls. */
typedef struct mt_je_handle {
    int alloc_flags; /* MALLOCX_ARENA(a) | tcache choice */
    int free_flags;  /* tcache choice of the freeing thread */
    unsigned tcache; /* explicit tcache, if any */
    bool has_tcache;
} mt_je_handle_t;

static mt_je_handle_t mt_je_notc[TB_MT_MAX_THREADS], mt_je_tc[TB_MT_MAX_THREADS], mt_je_one;

static bool mt_je_new_arena(unsigned *arena)
{
    size_t sz = sizeof *arena;
    return je.mallctl("arenas.create", arena, &sz, NULL, 0) == 0;
}

static void *mt_je_thread_init(int tid)
{
    mt_je_handle_t *h = &mt_je_notc[tid];
    unsigned a;
    if (h->alloc_flags == 0) {
        if (!mt_je_new_arena(&a))
            return NULL;
        h->alloc_flags = TB_JE_ARENA(a) | TB_JE_TCACHE_NONE;
        h->free_flags = TB_JE_TCACHE_NONE;
    }
    return h;
}

static void *mt_je_tc_thread_init(int tid)
{
    mt_je_handle_t *h = &mt_je_tc[tid];
    unsigned a;
    if (h->alloc_flags == 0) {
        size_t sz = sizeof h->tcache;
        if (!mt_je_new_arena(&a) || je.mallctl("tcache.create", &h->tcache, &sz, NULL, 0) != 0)
            return NULL;
        h->has_tcache = true;
        h->alloc_flags = TB_JE_ARENA(a) | TB_JE_TCACHE(h->tcache);
        h->free_flags = TB_JE_TCACHE(h->tcache);
    }
    return h;
}

static bool mt_je_shared_setup(void)
{
    unsigned a;
    if (!mt_je_setup())
        return false;
    if (mt_je_one.alloc_flags == 0) {
        if (!mt_je_new_arena(&a))
            return false;
        mt_je_one.alloc_flags = TB_JE_ARENA(a) | TB_JE_TCACHE_NONE;
        mt_je_one.free_flags = TB_JE_TCACHE_NONE;
    }
    return true;
}

static void *mt_je_shared_thread_init(int tid)
{
    (void)tid;
    return &mt_je_one;
}

static void mt_je_quiesce(void *hp)
{
    mt_je_handle_t *h = hp;
    if (h->has_tcache)
        je.mallctl("tcache.flush", NULL, NULL, &h->tcache, sizeof h->tcache);
}

static void *mt_je_alloc(void *hp, size_t size, size_t align)
{
    const mt_je_handle_t *h = hp;
    return je.mallocx(size, h->alloc_flags | je_align_flag(align));
}

static void mt_je_free(void *hp, void *p, size_t size, size_t align)
{
    const mt_je_handle_t *h = hp;
    je.sdallocx(p, size, h->free_flags | je_align_flag(align));
}

static void *mt_je_realloc(void *hp, void *p, size_t old_size, size_t align, size_t new_size)
{
    const mt_je_handle_t *h = hp;
    (void)old_size;
    return je.rallocx(p, new_size, h->alloc_flags | je_align_flag(align));
}

static const tb_mt_allocator_t mt_je_adapter = {
    .name = TB_MT_JE,
    .desc = "jemalloc: explicit arena per thread, MALLOCX_ARENA(i) | MALLOCX_TCACHE_NONE",
    .setup = mt_je_setup,
    .thread_init = mt_je_thread_init,
    .quiesce = mt_je_quiesce,
    .alloc = mt_je_alloc,
    .free = mt_je_free,
    .realloc = mt_je_realloc,
};

static const tb_mt_allocator_t mt_je_tc_adapter = {
    .name = "jemalloc-arena-tcache",
    .desc = "jemalloc: explicit arena + explicit tcache per thread (frees via the freeing "
            "thread's tcache)",
    .setup = mt_je_setup,
    .thread_init = mt_je_tc_thread_init,
    .quiesce = mt_je_quiesce,
    .alloc = mt_je_alloc,
    .free = mt_je_free,
    .realloc = mt_je_realloc,
};

static const tb_mt_allocator_t mt_je_shared_adapter = {
    .name = "jemalloc-shared",
    .desc = "jemalloc: one explicit arena for all threads, MALLOCX_TCACHE_NONE",
    .setup = mt_je_shared_setup,
    .thread_init = mt_je_shared_thread_init,
    .quiesce = mt_je_quiesce,
    .alloc = mt_je_alloc,
    .free = mt_je_free,
    .realloc = mt_je_realloc,
};

const tb_mt_allocator_t *tb_mt_jemalloc(void) { return &mt_je_adapter; }
const tb_mt_allocator_t *tb_mt_jemalloc_tcache(void) { return &mt_je_tc_adapter; }
const tb_mt_allocator_t *tb_mt_jemalloc_shared(void) { return &mt_je_shared_adapter; }
