/* atomic.h — the only place atomics are spelled: C11 atomics with the memory order in the name.
 *
 * Every use site says, in a comment, what the operation orders. Concurrency: these are the
 * primitives; see each caller for its protocol.
 *
 * Race exposure (STYLE row 18): built with TALC_DEBUG_YIELD=1 (hosted builds only), every
 * operation below first calls talc_debug_yield(), which yields the CPU at random (about one
 * call in eight), so that tests see interleavings a quiet machine would hide.
 */
#ifndef TALC_ATOMIC_H
#define TALC_ATOMIC_H

#include "talc/config.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* TALC_DEBUG_YIELD: see talc/config.h. */

#if TALC_DEBUG_YIELD && __STDC_HOSTED__ /* a freestanding build has no sched_yield */
#include <sched.h>
/* A per-thread xorshift decides; the state is per translation unit, which is fine for a
 * debugging aid. Plain (non-atomic) because it is thread-local. */
static inline void talc_debug_yield(void)
{
    static _Thread_local uint32_t state;
    uint32_t x = state ? state : ((uint32_t)(uintptr_t)&state | 1u);
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    state = x;
    if ((x & 7u) == 0u)
        sched_yield();
}
#else
static inline void talc_debug_yield(void) {}
#endif

typedef atomic_uint talc_atomic_u32;
typedef atomic_size_t talc_atomic_size;

static inline uint32_t talc_atomic_load_relaxed_u32(talc_atomic_u32 *a)
{
    talc_debug_yield();
    return atomic_load_explicit(a, memory_order_relaxed);
}
static inline uint32_t talc_atomic_load_acquire_u32(talc_atomic_u32 *a)
{
    talc_debug_yield();
    return atomic_load_explicit(a, memory_order_acquire);
}
static inline uint32_t talc_atomic_exchange_acquire_u32(talc_atomic_u32 *a, uint32_t v)
{
    talc_debug_yield();
    return atomic_exchange_explicit(a, v, memory_order_acquire);
}
static inline uint32_t talc_atomic_exchange_release_u32(talc_atomic_u32 *a, uint32_t v)
{
    talc_debug_yield();
    return atomic_exchange_explicit(a, v, memory_order_release);
}
/* Strong CAS, acquire on success, relaxed on failure. Returns true iff *a was `expected`. */
static inline bool talc_atomic_cas_acquire_u32(talc_atomic_u32 *a, uint32_t expected,
                                               uint32_t desired)
{
    talc_debug_yield();
    return atomic_compare_exchange_strong_explicit(a, &expected, desired, memory_order_acquire,
                                                   memory_order_relaxed);
}
static inline void talc_atomic_store_release_u32(talc_atomic_u32 *a, uint32_t v)
{
    talc_debug_yield();
    atomic_store_explicit(a, v, memory_order_release);
}
static inline void talc_atomic_store_relaxed_u32(talc_atomic_u32 *a, uint32_t v)
{
    talc_debug_yield();
    atomic_store_explicit(a, v, memory_order_relaxed);
}
static inline size_t talc_atomic_load_relaxed_size(talc_atomic_size *a)
{
    talc_debug_yield();
    return atomic_load_explicit(a, memory_order_relaxed);
}
static inline void talc_atomic_store_relaxed_size(talc_atomic_size *a, size_t v)
{
    talc_debug_yield();
    atomic_store_explicit(a, v, memory_order_relaxed);
}
static inline size_t talc_atomic_load_acquire_size(talc_atomic_size *a)
{
    talc_debug_yield();
    return atomic_load_explicit(a, memory_order_acquire);
}
static inline void talc_atomic_store_release_size(talc_atomic_size *a, size_t v)
{
    talc_debug_yield();
    atomic_store_explicit(a, v, memory_order_release);
}
static inline size_t talc_atomic_fetch_add_relaxed_size(talc_atomic_size *a, size_t v)
{
    talc_debug_yield();
    return atomic_fetch_add_explicit(a, v, memory_order_relaxed);
}

/* Relaxed read of a 32-bit word that is not an _Atomic object but is written concurrently by
 * another agent (the kernel's rseq area). Single-copy atomic; orders nothing. */
static inline uint32_t talc_atomic_load_relaxed_u32_ext(const uint32_t *p)
{
    talc_debug_yield();
    return __atomic_load_n(p, __ATOMIC_RELAXED);
}

/* ---- Pointers ---------------------------------------------------------------------------- */

typedef _Atomic(void *) talc_atomic_ptr;

static inline void *talc_atomic_load_relaxed_ptr(talc_atomic_ptr *a)
{
    talc_debug_yield();
    return atomic_load_explicit(a, memory_order_relaxed);
}
static inline void *talc_atomic_load_acquire_ptr(talc_atomic_ptr *a)
{
    talc_debug_yield();
    return atomic_load_explicit(a, memory_order_acquire);
}
static inline void talc_atomic_store_relaxed_ptr(talc_atomic_ptr *a, void *v)
{
    talc_debug_yield();
    atomic_store_explicit(a, v, memory_order_relaxed);
}
static inline void talc_atomic_store_release_ptr(talc_atomic_ptr *a, void *v)
{
    talc_debug_yield();
    atomic_store_explicit(a, v, memory_order_release);
}
/* Strong CAS: acq_rel on success, acquire on failure (*expected then holds the current value,
 * whose pointee is then safe to read). Returns true iff *a was *expected and is now desired. */
static inline bool talc_atomic_cas_acq_rel_ptr(talc_atomic_ptr *a, void **expected, void *desired)
{
    talc_debug_yield();
    return atomic_compare_exchange_strong_explicit(a, expected, desired, memory_order_acq_rel,
                                                   memory_order_acquire);
}

/* A hint to the CPU that we are spinning. */
static inline void talc_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__) || defined(__arm__)
    __asm__ __volatile__("yield" ::: "memory");
#endif
}

#endif /* TALC_ATOMIC_H */
