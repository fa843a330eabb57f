/* mailbox.h — how the arena concurrency tests hand blocks from one thread to another, so that
 * frees are cross-thread: one bounded box per receiving thread, behind a mutex.
 *
 * A sender posts a block (false when the box is full: the sender then frees it itself); the
 * receiver takes every posted block at once and checks and frees them outside the lock.
 *
 * Concurrency: post and take may run on any threads at once; initialise each box with
 * TEST_MAILBOX_INIT (or pthread_mutex_init on .lock) before the threads start.
 */
#ifndef TALC_TEST_MAILBOX_H
#define TALC_TEST_MAILBOX_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define TEST_MAILBOX_CAP 256

/* A live block as the tests track it: where, how big, what it was filled with, and the index
 * of the arena it must belong to. */
typedef struct test_block {
    unsigned char *p;
    size_t n;
    uint32_t seed; /* the fill: a test_pattern seed, or a byte repeated */
    unsigned arena;
} test_block_t;

typedef struct test_mailbox {
    pthread_mutex_t lock;
    test_block_t q[TEST_MAILBOX_CAP];
    unsigned n;
} test_mailbox_t;

#define TEST_MAILBOX_INIT                                                                          \
    {                                                                                              \
        .lock = PTHREAD_MUTEX_INITIALIZER                                                          \
    }

/* Hand b to the box's owner. False if the box is full (b stays the caller's). */
static inline bool test_mailbox_post(test_mailbox_t *m, const test_block_t *b)
{
    pthread_mutex_lock(&m->lock);
    bool ok = m->n < TEST_MAILBOX_CAP;
    if (ok)
        m->q[m->n++] = *b;
    pthread_mutex_unlock(&m->lock);
    return ok;
}

/* Move every posted block to out[0..TEST_MAILBOX_CAP); returns how many. */
static inline unsigned test_mailbox_take(test_mailbox_t *m, test_block_t *out)
{
    pthread_mutex_lock(&m->lock);
    unsigned n = m->n;
    memcpy(out, m->q, n * sizeof out[0]);
    m->n = 0;
    pthread_mutex_unlock(&m->lock);
    return n;
}

#endif /* TALC_TEST_MAILBOX_H */
