/* tests/fuzz/fuzz_arena_worker.c — the arena harness's second thread: it allocates, frees
 * (cross-thread frees of the harness thread's blocks), flushes its caches and exits on
 * request, while the harness thread waits for it.
 *
 * Who may use it: the driver (fuzz_arena.c). Concurrency: the two threads take turns under
 * fz_w.lock, never running at once (below).
 */
#include <pthread.h>

#include "fuzz_arena.h"

__thread bool fz_on_worker; /* set by fz_worker, read by the ABORT handler */

/* ---- A second thread ----------------------------------------------------------------------*/

/* One worker thread at a time runs jobs handed over by the harness thread, which waits for
 * each to finish: the two never run at once, so the model needs no lock and every input runs
 * the same way, while the worker's frees of the main thread's blocks are cross-thread frees,
 * its thread caches persist between jobs, and its exit gives its caches back. */
typedef enum fz_job { FZ_JOB_NONE, FZ_JOB_MALLOC, FZ_JOB_FREE, FZ_JOB_FLUSH, FZ_JOB_EXIT } fz_job_t;

static struct {
    pthread_t tid;
    bool running;
    pthread_mutex_t lock;
    pthread_cond_t cv;
    fz_job_t job;
    talc_arena_t *arena;
    void *p;
    size_t n;
    int err;
} fz_w = {.lock = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static void *fz_worker(void *arg)
{
    (void)arg;
    fz_on_worker = true;
    pthread_mutex_lock(&fz_w.lock);
    for (;;) {
        while (fz_w.job == FZ_JOB_NONE)
            pthread_cond_wait(&fz_w.cv, &fz_w.lock);
        fz_job_t job = fz_w.job;
        switch (job) {
        case FZ_JOB_MALLOC:
            fz_w.p =
                fz_call(&(fz_req_t){FZ_MALLOC, fz_w.arena, fz_w.arena, NULL, fz_w.n, 0}, &fz_w.err);
            break;
        case FZ_JOB_FREE:
            talc_free(fz_w.p);
            break;
        case FZ_JOB_FLUSH:
            talc_thread_cache_flush();
            break;
        default:
            break;
        }
        fz_w.job = FZ_JOB_NONE;
        pthread_cond_broadcast(&fz_w.cv);
        if (job == FZ_JOB_EXIT)
            break;
    }
    pthread_mutex_unlock(&fz_w.lock);
    return NULL; /* the thread's caches go back at its exit */
}

static void fz_run(fz_job_t job)
{
    if (!fz_w.running) {
        if (job == FZ_JOB_EXIT)
            return;
        if (pthread_create(&fz_w.tid, NULL, fz_worker, NULL) != 0)
            fz_die("pthread_create failed");
        fz_w.running = true;
    }
    pthread_mutex_lock(&fz_w.lock);
    fz_w.job = job;
    pthread_cond_broadcast(&fz_w.cv);
    while (fz_w.job != FZ_JOB_NONE)
        pthread_cond_wait(&fz_w.cv, &fz_w.lock);
    pthread_mutex_unlock(&fz_w.lock);
    if (job == FZ_JOB_EXIT) {
        pthread_join(fz_w.tid, NULL);
        fz_w.running = false;
    }
}

void fz_worker_exit(void) { fz_run(FZ_JOB_EXIT); }

void fz_op_worker(void)
{
    fz.op = "worker";
    unsigned v = (unsigned)fz_take(1);
    switch (v % 5) {
    case 0:
    case 1: { /* allocate there: the block is the worker's cache's to take back */
        fz.op = "worker malloc";
        talc_arena_t *a = fz_pick_arena();
        size_t n = fz_size();
        if (fz.nblk == FZ_MAX_BLOCKS)
            return;
        fz_w.arena = a ? a : talc_arena_default();
        fz_w.n = n;
        fz_run(FZ_JOB_MALLOC);
        fz_after_alloc(fz_w.p, n, 0, fz_w.arena, false, fz_w.err);
        break;
    }
    case 2: { /* free there: a cross-thread free of a block the main thread may own */
        fz.op = "worker free";
        if (!fz.nblk)
            return;
        size_t i = (size_t)fz_take(1) % fz.nblk;
        fz_check_block(i);
        fz_w.p = fz.blk[i].p;
        fz_run(FZ_JOB_FREE);
        fz_drop(i);
        break;
    }
    case 3:
        fz.op = "worker flush";
        fz_run(FZ_JOB_FLUSH);
        break;
    default:
        fz.op = "worker exit";
        fz_run(FZ_JOB_EXIT);
    }
}
