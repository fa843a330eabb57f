/* heap_poison.h — what the engine tells a memory checker about its chunks: AddressSanitizer,
 * or valgrind's memcheck.
 *
 * AddressSanitizer: when the library itself is compiled with ASan (TALC_SANITIZE=asan,
 * TALC_FUZZ, or a user's -fsanitize=address build of these sources). Memcheck: when it is
 * compiled with TALC_MEMCHECK=1 (CMake's TALC_VALGRIND=ON; needs valgrind/memcheck.h). Either
 * way the engine poisons the inside of every free chunk: all of it but its header, its two
 * list links and its footer, the words the engine reads there. A program that reads or writes
 * a block after freeing it (past the block's first two words, which hold the links) or runs
 * off the end of a block into a free neighbour then gets the checker's report where it
 * happens, in memory the checker could not see before, since it was carved from an mmap or
 * from the caller's buffer. An allocated chunk is unpoisoned whole, header to end: every byte
 * talc_heap_usable_size promises is usable. Memory the engine gives back (a truncated or
 * released span) is unpoisoned again, and so are the words a new heap or span writes (its
 * control block, span header, fence).
 *
 * Memcheck also tracks which bytes are defined. Unpoisoning marks bytes addressable and
 * undefined, as malloc's are: so no call ever covers a live block's contents (a resize
 * unpoisons only what the block grows into), and a caller that knows a block to be zero
 * without having written it (calloc of fresh OS memory) says so (talc_mark_defined).
 *
 * Poisoning costs ASan a shadow byte per 8 bytes, so it is bounded (TALC_POISON_MAX below), for
 * both checkers alike: a free chunk's inside is poisoned for at least its first
 * TALC_POISON_HEAD bytes and for the first TALC_POISON_MAX bytes of every block freed into
 * it, not necessarily beyond.
 *
 * Reads at addresses the engine has not validated yet (the header of a pointer handed to free,
 * a neighbour named by a possibly damaged word, the checker's walk, a thread cache's look at a
 * freed pointer) are made in functions marked TALC_NO_ASAN and called through TALC_UNCHECKED,
 * so that a wild pointer or a damaged heap still reaches the fatal handler or the checker's
 * verdict, not a checker's report (ASan's, or memcheck's, which with --exit-on-first-error
 * would end the process first).
 *
 * Without a checker every name here compiles to nothing and the engine makes no call: the
 * engine still links on bare metal.
 *
 * Concurrency: as the chunk annotated. Each call covers memory of one chunk that the caller
 * owns at that moment (the heap's holder for heap chunks; a thread cache's owner for a block
 * it holds), and chunk bases are 8-byte aligned, so no two threads ever write the same shadow
 * byte. Memcheck's error-reporting switch (TALC_UNCHECKED) is per thread.
 */
#ifndef TALC_HEAP_POISON_H
#define TALC_HEAP_POISON_H

#if defined(__SANITIZE_ADDRESS__)
#define TALC_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TALC_ASAN 1
#endif
#endif

#include "talc/config.h"

#if defined(TALC_ASAN) && TALC_MEMCHECK
#error "TALC_MEMCHECK and AddressSanitizer exclude each other: one memory checker at a time"
#endif

#if defined(TALC_ASAN) || TALC_MEMCHECK
#define TALC_POISONING 1
/* ASan's shadow takes a byte per 8 bytes poisoned, written and resident. So one call poisons at
 * most TALC_POISON_MAX bytes (from its start): a free chunk of 8 GiB, poisoned whole, made
 * 1 GiB of shadow resident in 6.5 s (found by a review). What a free chunk keeps poisoned is
 * then: at least the first TALC_POISON_HEAD bytes of its inside (an overrun of the block below
 * it is reported), and the first TALC_POISON_MAX bytes of every block freed into it. Memcheck
 * keeps the same bounds, so both checkers see the same poison (and the tests check one rule). */
#define TALC_POISON_MAX ((size_t)1 << 20)
#define TALC_POISON_HEAD ((size_t)4096)
#endif

#ifdef TALC_ASAN
#include <sanitizer/asan_interface.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#define TALC_NO_ASAN __attribute__((no_sanitize_address))
#define TALC_UNCHECKED(call) (call)
/* Unpoisoned through ASan's interface below this; larger ranges give their whole shadow
 * pages back to the OS instead (zero is addressable), as ASan does for its own large clears. */
#define TALC_ASAN_UNPOISON_PAGES ((size_t)16 << 20)

static inline void talc_poison(const void *p, size_t n)
{
    ASAN_POISON_MEMORY_REGION(p, n < TALC_POISON_MAX ? n : TALC_POISON_MAX);
}

static inline void talc_mark_defined(const void *p, size_t n) { (void)p, (void)n; }

/* Unpoison [p, p+n) by giving back the shadow pages that lie wholly in its shadow, and the
 * two ends through the interface. false if it could not (madvise failed): nothing changed. */
static inline bool talc_asan_unpoison_pages(const void *p, size_t n)
{
    size_t scale = 0, off = 0;
    __asan_get_shadow_mapping(&scale, &off);
    uintptr_t lo = (uintptr_t)p, hi = lo + n, pg = (uintptr_t)sysconf(_SC_PAGESIZE);
    /* From the first whole granule: a page starting at the shadow byte of lo's granule when
     * lo is not on a granule would cover bytes below lo, and alo - lo below would wrap (ASan
     * then stops on a failed CHECK in __asan_unpoison_memory_region). */
    uintptr_t g = (uintptr_t)1 << scale;
    uintptr_t slo = (((lo + g - 1) >> scale) + off + pg - 1) & ~(pg - 1);
    uintptr_t shi = ((hi >> scale) + off) & ~(pg - 1);
    if (shi <= slo || madvise((void *)slo, (size_t)(shi - slo), MADV_DONTNEED) != 0)
        return false;
    uintptr_t alo = (slo - off) << scale, ahi = (shi - off) << scale; /* what the pages cover */
    ASAN_UNPOISON_MEMORY_REGION(p, (size_t)(alo - lo));
    ASAN_UNPOISON_MEMORY_REGION((void *)ahi, (size_t)(hi - ahi));
    return true;
}

static inline void talc_unpoison(const void *p, size_t n)
{
    if (n < TALC_ASAN_UNPOISON_PAGES || !talc_asan_unpoison_pages(p, n))
        ASAN_UNPOISON_MEMORY_REGION(p, n);
}
#elif TALC_MEMCHECK
#include <valgrind/memcheck.h>

#define TALC_NO_ASAN
/* The value of call, made with memcheck's error reports off for this thread (the switch
 * nests): for the reads of TALC_NO_ASAN functions. The value is marked defined: read from a
 * wild pointer it may come from bytes the program never wrote (the middle of a new block),
 * and the caller's branches on it, outside the switch, would be memcheck's "Conditional jump
 * or move depends on uninitialised value(s)" before the fatal handler is reached. */
#define TALC_UNCHECKED(call)                                                                       \
    __extension__({                                                                                \
        VALGRIND_DISABLE_ERROR_REPORTING;                                                          \
        __typeof__(call) talc_r_ = (call);                                                         \
        (void)VALGRIND_MAKE_MEM_DEFINED(&talc_r_, sizeof talc_r_);                                 \
        VALGRIND_ENABLE_ERROR_REPORTING;                                                           \
        talc_r_;                                                                                   \
    })

static inline void talc_poison(const void *p, size_t n)
{
    (void)VALGRIND_MAKE_MEM_NOACCESS(p, n < TALC_POISON_MAX ? n : TALC_POISON_MAX);
}

/* Addressable and undefined, as a fresh malloc block: never a live block's contents (the rule
 * above). */
static inline void talc_unpoison(const void *p, size_t n)
{
    (void)VALGRIND_MAKE_MEM_UNDEFINED(p, n);
}

/* Bytes the caller knows hold zeros without having written them (calloc of fresh OS memory). */
static inline void talc_mark_defined(const void *p, size_t n)
{
    (void)VALGRIND_MAKE_MEM_DEFINED(p, n);
}
#else
#define TALC_NO_ASAN
#define TALC_UNCHECKED(call) (call)
#define talc_poison(p, n) ((void)(p), (void)(n))
#define talc_unpoison(p, n) ((void)(p), (void)(n))
#define talc_mark_defined(p, n) ((void)(p), (void)(n))
#endif

#endif /* TALC_HEAP_POISON_H */
