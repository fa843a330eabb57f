/* init.c — start-up and shut-down of the malloc shim: the state machine that makes the first
 * malloc initialise libtalc safely, TALC_CONF, and the statistics written at exit.
 *
 * States (talc_shim_state): UNINIT -> INITING -> READY (or READY_SPAWN), never back to the
 * first two.
 *   UNINIT   no call has arrived yet. The first allocation (or the load-time constructor,
 *            whichever comes first) wins a CAS to INITING and runs talc_shim_init_run().
 *   INITING  one thread is initialising: reading TALC_CONF, setting the reserve up, creating
 *            the default arena (which loads the hwloc topology and registers fork handlers)
 *            and the TALC_CONF arenas. Every allocation in this window, by that thread (hwloc,
 *            stdio and pthread_atfork call malloc) or by any other thread, is served by the
 *            bootstrap heap (boot.c), so nothing waits for the initialising thread and nothing
 *            re-enters the pthread_once that is running. Only when the bootstrap heap is full
 *            (its buffer and its overflow) does another thread wait (yielding) for READY; the
 *            initialising thread then gets NULL + ENOMEM, and so does a child forked by another
 *            thread during the start-up (orphaned: nobody initialises there). The reporting
 *            calls (mallinfo2, malloc_info, malloc_stats, malloc_trim) never wait.
 *   READY    the library is fully initialised; every allocation goes to the dispatcher, which
 *            from now on never allocates itself (docs/shim.md has the argument).
 *   READY_SPAWN  READY, with TALC_CONF's background trimmer still to start: the start-up ends
 *            here when trim_ms is set, and a fork child's handler comes back here from READY.
 *            The next allocation takes the cold path, moves the state to READY with a CAS
 *            (the winner starts the thread: trimmer.c) and allocates as READY does. Every
 *            other entry point treats it as READY.
 *
 * Concurrency: the state is one atomic word; the CAS elects the initialising thread, the
 * release store of READY publishes everything it did. talc_shim_in_init is thread-local with
 * the initial-exec model (a general-dynamic access may call malloc). talc_shim_conf is written
 * only by the initialising thread before READY and read only after it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "arena_internal.h" /* talc_arena_default_preset */
#include "conf.h"
#include "fork_internal.h" /* talc_atfork */
#include "shim_internal.h"
#include "talc/platform.h"
#include "talc/reserve.h"
#include "talc/stats.h"

talc_atomic_u32 talc_shim_state;
__thread bool talc_shim_in_init __attribute__((tls_model("initial-exec"))); /* shim_internal.h */
static talc_conf_t talc_shim_conf;

/* ---- Messages (one line each, written with one writev: no stdio, no allocation) ----------*/

/* The parts (NULL ones skipped) and a newline, in one writev: async-signal-safe and
 * allocation-free, so it may run inside an allocation (the soft-budget callback). */
static void talc_shim_linev(const char *const *parts, unsigned n)
{
    struct iovec iov[8];
    int k = 0;
    for (unsigned i = 0; i < n && k < 7; i++) {
        if (!parts[i])
            continue;
        iov[k].iov_base = (void *)(uintptr_t)parts[i];
        iov[k].iov_len = strlen(parts[i]);
        k++;
    }
    iov[k].iov_base = (void *)(uintptr_t) "\n";
    iov[k].iov_len = 1;
    ssize_t rc = writev(2, iov, k + 1);
    (void)rc; /* nothing to do if stderr is gone */
}

static void talc_shim_line(const char *a, const char *b, const char *c, const char *d)
{
    const char *parts[] = {a, b, c, d};
    talc_shim_linev(parts, 4);
}

/* One line about the statistics file: the path as warnings show the user's bytes (no raw
 * control bytes on stderr), cut with "..." so that the whole line stays within
 * TALC_CONF_LINE_MAX - 1 bytes, as every TALC_CONF warning does (docs/shim.md). */
static void talc_shim_path_line(const char *path, const char *what, const char *detail)
{
    static const char head[] = "libtalc: TALC_CONF: stats_file \"";
    char shown[TALC_CONF_LINE_MAX];
    size_t used = sizeof head - 1u + strlen(what) + (detail ? strlen(detail) : 0u);
    talc_conf_escape(path, used < TALC_CONF_LINE_MAX - 1u ? TALC_CONF_LINE_MAX - 1u - used : 0u,
                     shown);
    talc_shim_line(head, shown, what, detail);
}

static void talc_shim_conf_warn(const char *line, void *ctx)
{
    (void)ctx;
    talc_shim_line(line, NULL, NULL, NULL);
}

static const char *talc_shim_reason(int e)
{
    switch (e) {
    case EINVAL:
        return "invalid configuration (budgets, stripes or size)";
    case EEXIST:
        return "the name is taken";
    case ENOMEM:
        return "out of memory";
    case EPERM:
        return "not permitted (RLIMIT_MEMLOCK?)";
    case EALREADY:
        return "already set up";
    default:
        return "failed";
    }
}

/* ---- TALC_CONF ----------------------------------------------------------------------------*/

static void talc_shim_apply_reserve(const talc_conf_t *c)
{
    if (!c->reserve_size)
        return;
    int rc = talc_reserve_init(c->reserve_size, c->reserve_flags);
    /* mlock says ENOMEM where a nonzero RLIMIT_MEMLOCK is too small (EPERM where it is 0) */
    bool locked = (c->reserve_flags & TALC_RESERVE_MLOCK) && rc == -ENOMEM;
    if (rc < 0)
        talc_shim_line("libtalc: TALC_CONF: reserve: ",
                       locked ? "out of memory, or above RLIMIT_MEMLOCK" : talc_shim_reason(-rc),
                       " (no reserve)", NULL);
}

static const talc_conf_arena_t *talc_shim_conf_item(const talc_conf_t *c, const char *name)
{
    for (unsigned i = 0; i < c->narenas; i++)
        if (strcmp(c->arenas[i].name, name) == 0)
            return &c->arenas[i];
    return NULL;
}

/* on_soft_budget of every arena TALC_CONF gives a soft budget: one line per crossing (until
 * 2026-12-07 none was installed, and "soft" did nothing visible; found by a review). It runs
 * inside the allocation whose growth crossed the budget, with no allocator lock held
 * (talc/arena.h): numbers formatted on the stack, one writev, errno kept; nothing allocated. */
static void talc_shim_soft_budget(talc_arena_t *arena, size_t footprint, size_t soft, void *ctx)
{
    (void)ctx;
    int saved = errno;
    char now[24], level[24];
    (void)talc_conf_fmt_u64(footprint, now);
    (void)talc_conf_fmt_u64(soft, level);
    const char *parts[] = {"libtalc: arena \"",
                           talc_arena_name(arena),
                           "\": footprint ",
                           now,
                           " reached the soft budget ",
                           level};
    talc_shim_linev(parts, 6);
    errno = saved;
}

static talc_arena_config_t talc_shim_item_config(const talc_conf_t *c,
                                                 const talc_conf_arena_t *item)
{
    talc_arena_config_t cfg = talc_conf_arena_config(c, item);
    if (cfg.soft_budget)
        cfg.on_soft_budget = talc_shim_soft_budget;
    return cfg;
}

/* The default arena takes the top-level stripes/cache_aligned/thread_cache and an
 * "arena=default:..." item. Must run before the default arena exists. The parser drops the
 * fields the library would refuse; should the preset refuse the item all the same, the
 * top-level keys are tried without it (until 2026-12-07 one bad field of the item cost every
 * setting; found by a review). Returns the item that applies, or NULL. */
static const talc_conf_arena_t *talc_shim_apply_default(const talc_conf_t *c)
{
    static const talc_conf_arena_t plain = {.name = "default"};
    const talc_conf_arena_t *item = talc_shim_conf_item(c, "default");
    if (!item && !c->stripes && !c->cache_aligned && c->thread_cache == TALC_TCACHE_DEFAULT)
        return NULL;
    talc_arena_config_t cfg = talc_shim_item_config(c, item ? item : &plain);
    int rc = talc_arena_default_preset(&cfg);
    if (rc == -EINVAL && item) {
        cfg = talc_shim_item_config(c, &plain);
        rc = talc_arena_default_preset(&cfg);
        talc_shim_line("libtalc: TALC_CONF: arena \"default\": ", talc_shim_reason(EINVAL),
                       rc == 0 ? " (the item ignored, the top-level keys applied)"
                               : " (settings ignored)",
                       NULL);
        return NULL;
    }
    if (rc == -EALREADY)
        talc_shim_line("libtalc: TALC_CONF: arena \"default\": it was created before the shim "
                       "started (settings ignored)",
                       NULL, NULL, NULL);
    else if (rc < 0)
        talc_shim_line("libtalc: TALC_CONF: arena \"default\": ", talc_shim_reason(-rc),
                       " (settings ignored)", NULL);
    return rc == 0 ? item : NULL;
}

/* The bytes talc_arena_create maps for initial_size: rounded up to granules, down to the hard
 * budget's (include/talc/arena.h). */
static size_t talc_shim_initial_want(const talc_conf_arena_t *item)
{
    size_t g = (size_t)1 << TALC_PAGEMAP_SHIFT, want = item->initial_size;
    want = want > SIZE_MAX - (g - 1) ? SIZE_MAX & ~(g - 1) : (want + g - 1) & ~(g - 1);
    if (item->hard_budget && want > (item->hard_budget & ~(g - 1)))
        want = item->hard_budget & ~(g - 1);
    return want;
}

/* The default arena maps its initial_size on a best-effort basis (it must exist); a named one
 * is not created without it ("not created: out of memory"). Until 2026-12-07 a shortfall of the
 * default arena's went unsaid (found by a review): one line now, from its statistics, without
 * allocating. */
static void talc_shim_check_initial(const talc_conf_arena_t *item)
{
    talc_arena_t *a = talc_arena_default();
    talc_arena_stats_t st;
    if (!item || !item->initial_size || !a || talc_arena_get_stats(a, &st) != 0)
        return;
    size_t want = talc_shim_initial_want(item);
    if (st.source_bytes >= want)
        return;
    char have[24], asked[24];
    (void)talc_conf_fmt_u64(st.source_bytes, have);
    (void)talc_conf_fmt_u64(want, asked);
    const char *parts[] = {"libtalc: TALC_CONF: arena \"default\": initial: out of memory (", have,
                           " of ", asked, " mapped)"};
    talc_shim_linev(parts, 5);
}

static void talc_shim_apply_arenas(const talc_conf_t *c)
{
    for (unsigned i = 0; i < c->narenas; i++) {
        const talc_conf_arena_t *item = &c->arenas[i];
        if (strcmp(item->name, "default") == 0)
            continue;
        talc_arena_config_t cfg = talc_shim_item_config(c, item);
        if (!talc_arena_create(&cfg))
            talc_shim_line("libtalc: TALC_CONF: arena \"", item->name,
                           "\": not created: ", talc_shim_reason(errno));
    }
}

/* A relative stats_file is made absolute at start-up: resolved at exit, it followed a daemon's
 * chdir (until 2026-12-07; found by a review). getcwd into a fixed buffer allocates nothing;
 * where the directory is unknown or the whole path too long, one line, and no statistics. */
static void talc_shim_stats_absolute(talc_conf_t *c)
{
    if (c->stats == TALC_CONF_STATS_OFF || !c->stats_file[0] || c->stats_file[0] == '/')
        return;
    char cwd[TALC_CONF_PATH_MAX];
    if (getcwd(cwd, sizeof cwd) && talc_conf_stats_prefix(c, cwd))
        return;
    talc_shim_path_line(c->stats_file,
                        "\": relative, and the working directory is unknown or makes it too "
                        "long (no statistics written)",
                        NULL);
    c->stats = TALC_CONF_STATS_OFF;
}

/* ---- Start-up -----------------------------------------------------------------------------*/

static void talc_shim_fork_prepare(void) { talc_boot_lock_for_fork(); }
static void talc_shim_fork_after(void) { talc_boot_unlock_after_fork(); }

/* The child has no trimmer thread (fork copies only the calling one): its next allocation
 * starts one (trimmer.c). Nothing is allocated here: libtalc's own fork handlers, registered
 * after this one, have not released the allocator's locks yet. */
static void talc_shim_fork_child(void)
{
    talc_boot_unlock_after_fork();
    /* (READY_EXIT: another thread of the parent was writing the statistics; not this one) */
    if (talc_atomic_load_acquire_u32(&talc_shim_state) >= TALC_SHIM_READY)
        talc_atomic_store_release_u32(
            &talc_shim_state, talc_shim_conf.trim_ms ? TALC_SHIM_READY_SPAWN : TALC_SHIM_READY);
}

/* The process the start-up runs in (0 until the initialiser stores it, its first act). A
 * child forked while another thread was initialising has no initialiser (it was not copied):
 * nobody will finish the start-up there, so the child lives on the bootstrap heap, as the
 * initialiser does, and never waits for READY. Told by the process id rather than by a fork
 * handler, so that a fork before the handlers are registered counts too; 0 counts as this
 * process (another thread may see INITING before the id: it must wait, not fail), so only a
 * fork in the few instructions between the election and that store is missed. Written once,
 * by the initialiser. */
static talc_atomic_u32 talc_shim_init_pid;

static bool talc_shim_orphaned(void)
{
    uint32_t pid = talc_atomic_load_relaxed_u32(&talc_shim_init_pid);
    return pid != 0 && pid != (uint32_t)getpid();
}

/* Runs once, on the thread that moved the state to INITING. */
static void talc_shim_init_run(void)
{
    int saved = errno;
    talc_shim_in_init = true;
    talc_atomic_store_relaxed_u32(&talc_shim_init_pid, (uint32_t)getpid());
    /* First, so that a fork by another thread during the start-up is handled (its allocation
     * comes from the bootstrap heap now). */
    (void)talc_atfork(talc_shim_fork_prepare, talc_shim_fork_after, talc_shim_fork_child);
    /* secure_getenv: a set-user-ID program ignores TALC_CONF (stats_file would write files) */
    (void)talc_conf_parse(secure_getenv("TALC_CONF"), &talc_shim_conf, talc_shim_conf_warn, NULL);
    talc_shim_stats_absolute(&talc_shim_conf);
    talc_shim_apply_reserve(&talc_shim_conf);
    const talc_conf_arena_t *preset = talc_shim_apply_default(&talc_shim_conf);
    (void)talc_arena_default(); /* topology (hwloc), fork handlers, the default arena */
    talc_shim_check_initial(preset);
    (void)talc_cache_line_size(); /* may read sysfs: do it now, under the bootstrap heap */
    talc_shim_apply_arenas(&talc_shim_conf);
    talc_shim_in_init = false;
    /* release: everything above is visible to any thread that sees READY (acquire). With a
     * trimmer to start, READY_SPAWN: the first allocation starts it, outside the start-up. */
    talc_atomic_store_release_u32(&talc_shim_state,
                                  talc_shim_conf.trim_ms ? TALC_SHIM_READY_SPAWN : TALC_SHIM_READY);
    talc_boot_trim(); /* start-up's peak is over: its pages need not stay resident */
    errno = saved;
}

/* Move UNINIT -> INITING and initialise, if nobody has. Returns the state seen afterwards. */
static uint32_t talc_shim_try_init(void)
{
    uint32_t st = talc_atomic_load_acquire_u32(&talc_shim_state);
    if (st == TALC_SHIM_UNINIT &&
        talc_atomic_cas_acquire_u32(&talc_shim_state, TALC_SHIM_UNINIT, TALC_SHIM_INITING))
        talc_shim_init_run();
    return talc_atomic_load_acquire_u32(&talc_shim_state);
}

/* READY_SPAWN -> READY; the thread that moves it starts the trimmer (whose pthread_create
 * allocates: that allocation finds READY). No allocator lock is held here. A thread that
 * could not be made is not tried again. */
static void talc_shim_spawn(void)
{
    if (!talc_atomic_cas_acquire_u32(&talc_shim_state, TALC_SHIM_READY_SPAWN, TALC_SHIM_READY))
        return;
    int err = talc_trimmer_start(talc_shim_conf.trim_ms);
    if (err != 0)
        talc_shim_line("libtalc: TALC_CONF: trim_ms: no trimmer thread (", strerror(err),
                       "); free memory goes back at malloc_trim only", NULL);
}

void *talc_shim_alloc_cold(size_t size, size_t align)
{
    for (;;) {
        uint32_t st = talc_shim_try_init();
        if (st == TALC_SHIM_READY_SPAWN)
            talc_shim_spawn();
        if (st >= TALC_SHIM_READY && !talc_shim_in_init) /* READY_EXIT: not the writer */
            return talc_shim_alloc_ready(size, align);
        if (st == TALC_SHIM_UNINIT)
            continue; /* lost the CAS to a thread that has not stored INITING yet: retry */
        void *p = talc_boot_alloc(size, align);
        if (p || talc_shim_in_init || talc_shim_orphaned())
            return p;
        sched_yield(); /* the bootstrap heap is full and another thread initialises: wait */
    }
}

bool talc_shim_start(void)
{
    if (talc_shim_in_init) /* the start-up's own call, or the statistics' writer at exit */
        return false;
    for (;;) {
        if (talc_shim_try_init() >= TALC_SHIM_READY)
            return true;
        if (talc_shim_in_init || talc_shim_orphaned())
            return false;
        sched_yield();
    }
}

bool talc_shim_started(void) { return talc_shim_try_init() >= TALC_SHIM_READY; }

/* Initialise at load time at the latest, so that a program that never calls malloc before
 * main still has its TALC_CONF arenas, and so that start-up cost is not paid inside a
 * latency-sensitive first allocation. Priority 101: before a statically linked program's own
 * constructors. */
__attribute__((constructor(101))) static void talc_shim_on_load(void)
{
    (void)talc_shim_try_init();
}

/* ---- Exit ---------------------------------------------------------------------------------*/

/* While the statistics are written, the calling thread allocates from the bootstrap heap, which
 * they do not count: fopen's FILE was live in the default arena when the snapshots were taken,
 * so a program that had freed everything showed live_bytes 472 in the file, and 0 on stderr
 * (until 2026-12-07; found by a review). Other threads allocate as before, through the cold
 * path. Returns the state to restore. */
static uint32_t talc_shim_exit_begin(void)
{
    for (;;) {
        uint32_t st = talc_atomic_load_acquire_u32(&talc_shim_state);
        if (st != TALC_SHIM_READY && st != TALC_SHIM_READY_SPAWN)
            return st; /* (a second destructor run: READY_EXIT already) */
        if (talc_atomic_cas_acquire_u32(&talc_shim_state, st, TALC_SHIM_READY_EXIT)) {
            talc_shim_in_init = true;
            return st;
        }
    }
}

static void talc_shim_exit_end(uint32_t st)
{
    talc_shim_in_init = false;
    if (st != TALC_SHIM_READY_EXIT)
        (void)talc_atomic_cas_acquire_u32(&talc_shim_state, TALC_SHIM_READY_EXIT, st);
}

static void talc_shim_write_stats(const talc_conf_t *c)
{
    talc_stats_format_t fmt = c->stats == TALC_CONF_STATS_JSON ? TALC_STATS_JSON : TALC_STATS_TEXT;
    if (!c->stats_file[0]) {
        (void)talc_stats_write(stderr, fmt);
        (void)fflush(stderr);
        return;
    }
    char path[TALC_CONF_PATH_MAX + 32];
    if (!talc_conf_stats_path(c, (long)getpid(), path, sizeof path)) {
        talc_shim_path_line(c->stats_file, "\": path too long (no statistics written)", NULL);
        return;
    }
    FILE *f = fopen(path, "w");
    if (!f) {
        talc_shim_path_line(path, "\": cannot open: ", strerror(errno));
        return;
    }
    int rc = talc_stats_write(f, fmt);
    if (fclose(f) != 0 || rc != 0)
        talc_shim_path_line(path, "\": write failed", NULL);
}

/* The signals whose handler would interrupt a write with EINTR: a handler installed without
 * SA_RESTART. stdio gives up on EINTR, and the writes after it went on: the figures had a gap
 * in the middle (a review's program, a 100 us SIGALRM while stderr was a slow pipe). Ignored
 * signals and default actions interrupt nothing (a signal that terminates still ends the
 * process during the write). Nothing is allocated: an exit that has freed everything shows
 * zeros. */
static void talc_shim_eintr_signals(sigset_t *set)
{
    sigemptyset(set);
    for (int sig = 1; sig < NSIG; sig++) {
        struct sigaction sa;
        if (sig == SIGKILL || sig == SIGSTOP || sigaction(sig, NULL, &sa) != 0)
            continue; /* (glibc's own signals answer EINVAL) */
        if (sa.sa_handler != SIG_DFL && sa.sa_handler != SIG_IGN && !(sa.sa_flags & SA_RESTART))
            sigaddset(set, sig);
    }
}

/* An ELF destructor, not atexit: atexit handlers and C++ static destructors run before it;
 * as libtalc-malloc.so it is finalised after the program (it was initialised before it), and
 * linked into a program, priority 101 makes it the program's last destructor. So the figures
 * include nearly everything. The library is never torn down: later destructors (other
 * libraries') may still allocate and free. */
__attribute__((destructor(101))) static void talc_shim_on_exit(void)
{
    if (!talc_shim_ready() || talc_shim_conf.stats == TALC_CONF_STATS_OFF)
        return;
    int saved = errno;
    /* Writing the figures must not change how the process ends: a write to a pipe whose
     * reader has gone (stderr of `prog | head`) raises SIGPIPE, whose default action killed
     * the process (status 141 instead of its own). SIGPIPE is blocked around the write, and
     * one the write raised is taken off again. So are the signals that would interrupt the
     * writes (talc_shim_eintr_signals); they are delivered once the figures are out. */
    sigset_t pipe_sig, mask, old, pending;
    sigemptyset(&pipe_sig);
    sigaddset(&pipe_sig, SIGPIPE);
    talc_shim_eintr_signals(&mask);
    sigaddset(&mask, SIGPIPE);
    bool was_pending = sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE) == 1;
    bool blocked = pthread_sigmask(SIG_BLOCK, &mask, &old) == 0;
    uint32_t st = talc_shim_exit_begin();
    talc_shim_write_stats(&talc_shim_conf);
    talc_shim_exit_end(st);
    if (blocked) {
        if (!was_pending && sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE) == 1) {
            const struct timespec now = {0, 0};
            (void)sigtimedwait(&pipe_sig, NULL, &now);
        }
        (void)pthread_sigmask(SIG_SETMASK, &old, NULL);
    }
    errno = saved;
}
