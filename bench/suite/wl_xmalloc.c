/* wl_xmalloc.c — xmalloc: producer/consumer, every free is remote (modelled on the xmalloc
 * description in shared/reference/benchmarks.md; our own code).
 *
 * -t N runs N pairs (2N threads). In each pair the producer mallocs XM_SIZE-byte blocks,
 * fills them (sw_block.h, keyed by the pair and the block's sequence number) and pushes them
 * through a bounded single-producer/single-consumer ring of XM_RING slots; the consumer pops
 * them in order, checks each against the sequence number it expects, and frees it. A thread
 * that finds the ring full (empty) spins XM_SPIN times, then sched_yield()s. Score: blocks
 * freed per second (unit=blocks), summed over pairs.
 *
 * Threading rules: each ring has exactly one producer and one consumer. `head` is written by
 * the consumer only, `tail` by the producer only, each on its own cache line; a release store
 * of `tail` publishes the slot (and the block's contents) written before it, a release store
 * of `head` hands the slot back. At stop the producer sets `done` (release) after its last
 * push; the consumer drains the ring and returns once it sees done and an empty ring.
 */
#define _GNU_SOURCE
#include "sw_block.h"
#include "sw_harness.h"

#include <sched.h>
#include <stdlib.h>

#define XM_SIZE 64u
#define XM_RING 1024u
#define XM_SPIN 64u

typedef struct xm_ring {
    _Alignas(64) atomic_size_t head; /* next slot to pop: consumer-owned */
    _Alignas(64) atomic_size_t tail; /* next slot to fill: producer-owned */
    _Alignas(64) atomic_int done;
    void *slot[XM_RING];
    uint64_t pair_key;
} xm_ring_t;

static uint64_t xm_key(const xm_ring_t *r, uint64_t seq) { return r->pair_key ^ (seq << 16); }

static void xm_wait(unsigned *spins)
{
    if (++*spins >= XM_SPIN) {
        *spins = 0;
        sched_yield();
    }
}

static uint64_t xm_produce(xm_ring_t *r)
{
    size_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
    unsigned spins = 0;
    while (!sw_stop_requested()) {
        if (tail - atomic_load_explicit(&r->head, memory_order_acquire) == XM_RING) {
            xm_wait(&spins);
            continue;
        }
        void *p = sw_xmalloc(XM_SIZE);
        sw_block_fill(p, XM_SIZE, xm_key(r, tail));
        r->slot[tail % XM_RING] = p;
        atomic_store_explicit(&r->tail, ++tail, memory_order_release); /* publishes the slot */
    }
    atomic_store_explicit(&r->done, 1, memory_order_release); /* after the last push */
    return 0;
}

static uint64_t xm_consume(xm_ring_t *r)
{
    size_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
    unsigned spins = 0;
    for (;;) {
        int done = atomic_load_explicit(&r->done, memory_order_acquire);
        if (head == atomic_load_explicit(&r->tail, memory_order_acquire)) {
            if (done)
                break; /* done was read before tail: nothing can follow */
            xm_wait(&spins);
            continue;
        }
        void *p = r->slot[head % XM_RING];
        if (sw_block_check(p, xm_key(r, head)) != XM_SIZE)
            sw_fail("xmalloc: block %zu of pair %llx damaged", head,
                    (unsigned long long)r->pair_key);
        free(p);
        atomic_store_explicit(&r->head, ++head, memory_order_release); /* hands the slot back */
    }
    return head;
}

static uint64_t xm_worker(unsigned index, void *arg)
{
    return (index & 1u) ? xm_consume(arg) : xm_produce(arg);
}

int main(int argc, char **argv)
{
    sw_args_t args;
    sw_parse(argc, argv, "xmalloc", &args);
    xm_ring_t *rings[SW_MAX_THREADS];
    void *per_thread[2 * SW_MAX_THREADS];
    for (unsigned i = 0; i < args.threads; i++) {
        rings[i] = aligned_alloc(64, sizeof(xm_ring_t));
        if (!rings[i])
            return 1;
        atomic_init(&rings[i]->head, 0);
        atomic_init(&rings[i]->tail, 0);
        atomic_init(&rings[i]->done, 0);
        rings[i]->pair_key = args.seed ^ ((uint64_t)(i + 1) << 56);
        per_thread[2 * i] = per_thread[2 * i + 1] = rings[i];
    }
    double elapsed;
    uint64_t blocks = sw_run_timed(2 * args.threads, xm_worker, per_thread, args.seconds, &elapsed);
    for (unsigned i = 0; i < args.threads; i++)
        free(rings[i]);
    return sw_report("xmalloc", &args, blocks, elapsed, "blocks");
}
