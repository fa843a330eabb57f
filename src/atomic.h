/* atomic.h — the only place atomics are spelled: C11 atomics with the memory order in the name.
 *
 * Every use site says, in a comment, what the operation orders. Concurrency: these are the
 * primitives; see each caller for its protocol.
 */
#ifndef TALC_ATOMIC_H
#define TALC_ATOMIC_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

typedef atomic_uint talc_atomic_u32;
typedef atomic_size_t talc_atomic_size;

static inline uint32_t talc_atomic_load_relaxed_u32(talc_atomic_u32 *a)
{
    return atomic_load_explicit(a, memory_order_relaxed);
}
static inline uint32_t talc_atomic_exchange_acquire_u32(talc_atomic_u32 *a, uint32_t v)
{
    return atomic_exchange_explicit(a, v, memory_order_acquire);
}
static inline void talc_atomic_store_release_u32(talc_atomic_u32 *a, uint32_t v)
{
    atomic_store_explicit(a, v, memory_order_release);
}
static inline void talc_atomic_store_relaxed_u32(talc_atomic_u32 *a, uint32_t v)
{
    atomic_store_explicit(a, v, memory_order_relaxed);
}
static inline size_t talc_atomic_load_relaxed_size(talc_atomic_size *a)
{
    return atomic_load_explicit(a, memory_order_relaxed);
}
static inline void talc_atomic_store_relaxed_size(talc_atomic_size *a, size_t v)
{
    atomic_store_explicit(a, v, memory_order_relaxed);
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
