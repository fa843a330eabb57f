/* tests/common/fake_os.h — a fake OS memory seam for tests: talc_os_ops_t that counts calls and
 * can be told to fail. It hands out real memory (through talc_os_map), so code under test can
 * use what it gets.
 *
 * Who may use it: test code only. Concurrency: the ops may be called from many threads (a
 * mutex guards the counters); read the counters once those threads are done.
 */
#ifndef TALC_TEST_FAKE_OS_H
#define TALC_TEST_FAKE_OS_H

#include <pthread.h>
#include <stddef.h>

#include "os_mem.h"

typedef struct fake_os {
    talc_os_ops_t ops;     /* pass &fake.ops; ops.ctx points back to this struct */
    unsigned maps;         /* successful maps */
    unsigned map_failures; /* maps refused because of fail_after */
    unsigned unmaps;
    unsigned commits;
    unsigned decommits;
    size_t mapped_bytes;   /* bytes mapped and not yet unmapped */
    long fail_after;       /* maps still allowed to succeed; < 0 = never fail */
    int decommit_error;    /* 0, or the negative errno that decommit returns */
    unsigned map_delay_us; /* sleep this long inside each map (widens race windows) */
    pthread_mutex_t lock;  /* guards the fields above during calls */
} fake_os_t;

/* Resets every counter, fail_after = -1 (never fail), decommit succeeds, no delay. */
void fake_os_init(fake_os_t *f);

#endif /* TALC_TEST_FAKE_OS_H */
