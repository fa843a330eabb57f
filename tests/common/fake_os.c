/* tests/common/fake_os.c — the fake OS memory seam (fake_os.h). */
#include "fake_os.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

/* Takes one map from the budget: 1 if it may proceed, 0 if it must fail. */
static int fake_os_take(fake_os_t *f)
{
    pthread_mutex_lock(&f->lock);
    int ok = f->fail_after != 0;
    if (!ok)
        f->map_failures++;
    else if (f->fail_after > 0)
        f->fail_after--;
    pthread_mutex_unlock(&f->lock);
    return ok;
}

static void *fake_os_map(size_t size, size_t align, void *ctx)
{
    fake_os_t *f = ctx;
    if (!fake_os_take(f)) {
        errno = ENOMEM;
        return NULL;
    }
    if (f->map_delay_us)
        usleep(f->map_delay_us);
    void *p = talc_os_map(size, align);
    if (!p)
        return NULL;
    pthread_mutex_lock(&f->lock);
    f->maps++;
    f->mapped_bytes += size;
    pthread_mutex_unlock(&f->lock);
    return p;
}

static void fake_os_unmap(void *p, size_t size, void *ctx)
{
    fake_os_t *f = ctx;
    pthread_mutex_lock(&f->lock);
    f->unmaps++;
    f->mapped_bytes -= size;
    pthread_mutex_unlock(&f->lock);
    talc_os_unmap(p, size);
}

static int fake_os_commit(void *p, size_t size, void *ctx)
{
    fake_os_t *f = ctx;
    pthread_mutex_lock(&f->lock);
    f->commits++;
    pthread_mutex_unlock(&f->lock);
    return talc_os_commit(p, size);
}

static int fake_os_decommit(void *p, size_t size, void *ctx)
{
    fake_os_t *f = ctx;
    pthread_mutex_lock(&f->lock);
    f->decommits++;
    int err = f->decommit_error;
    pthread_mutex_unlock(&f->lock);
    return err ? err : talc_os_decommit(p, size);
}

void fake_os_init(fake_os_t *f)
{
    memset(f, 0, sizeof *f);
    pthread_mutex_init(&f->lock, NULL);
    f->ops.map = fake_os_map;
    f->ops.unmap = fake_os_unmap;
    f->ops.commit = fake_os_commit;
    f->ops.decommit = fake_os_decommit;
    f->ops.ctx = f;
    f->fail_after = -1;
}
