/* heap_asan.h — AddressSanitizer annotations of the engine's chunks.
 *
 * When the library itself is compiled with AddressSanitizer (TALC_SANITIZE=asan, TALC_FUZZ, or
 * a user's -fsanitize=address build of these sources), the engine poisons the inside of every
 * free chunk: all of it but its header, its two list links and its footer, the words the engine
 * reads there. A program that reads or writes a block after freeing it (past the block's
 * first two words, which hold the links) or runs off the end of a block into a free
 * neighbour then gets ASan's "use-after-poison" report where it happens, in memory ASan could
 * not see before, since it was carved from an mmap or from the caller's buffer. An allocated
 * chunk is unpoisoned whole, header to end: every byte talc_heap_usable_size promises is
 * usable. Memory the engine gives back (a truncated or released span) is unpoisoned again, and
 * so are the words a new heap or span writes (its control block, span header, fence).
 *
 * Poisoning costs ASan a shadow byte per 8 bytes, so it is bounded (TALC_ASAN_POISON_MAX below):
 * a free chunk's inside is poisoned for at least its first TALC_ASAN_HEAD bytes and for the
 * first TALC_ASAN_POISON_MAX bytes of every block freed into it, not necessarily beyond.
 *
 * Reads at addresses the engine has not validated yet (the header of a pointer handed to free,
 * a neighbour named by a possibly damaged word, the checker's walk, a thread cache's look at a
 * freed pointer) are made in functions marked TALC_NO_ASAN, so that a wild pointer or a
 * damaged heap still reaches the fatal handler or the checker's verdict, not an ASan report.
 *
 * Without ASan every name here compiles to nothing and the engine makes no call: the engine
 * still links on bare metal.
 *
 * Concurrency: as the chunk annotated. Each call covers memory of one chunk that the caller
 * owns at that moment (the heap's holder for heap chunks; a thread cache's owner for a block
 * it holds), and chunk bases are 8-byte aligned, so no two threads ever write the same shadow
 * byte.
 */
#ifndef TALC_HEAP_ASAN_H
#define TALC_HEAP_ASAN_H

#if defined(__SANITIZE_ADDRESS__)
#define TALC_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TALC_ASAN 1
#endif
#endif

#ifdef TALC_ASAN
#include <sanitizer/asan_interface.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#define TALC_NO_ASAN __attribute__((no_sanitize_address))

/* ASan's shadow takes a byte per 8 bytes poisoned, written and resident. So one call poisons at
 * most TALC_ASAN_POISON_MAX bytes (from its start): a free chunk of 8 GiB, poisoned whole, made
 * 1 GiB of shadow resident in 6.5 s (found by a review). What a free chunk keeps poisoned is
 * then: at least the first TALC_ASAN_HEAD bytes of its inside (an overrun of the block below it
 * is reported), and the first TALC_ASAN_POISON_MAX bytes of every block freed into it. */
#define TALC_ASAN_POISON_MAX ((size_t)1 << 20)
#define TALC_ASAN_HEAD ((size_t)4096)
/* Unpoisoned through ASan's interface below this; larger ranges give their whole shadow
 * pages back to the OS instead (zero is addressable), as ASan does for its own large clears. */
#define TALC_ASAN_UNPOISON_PAGES ((size_t)16 << 20)

static inline void talc_asan_poison(const void *p, size_t n)
{
    ASAN_POISON_MEMORY_REGION(p, n < TALC_ASAN_POISON_MAX ? n : TALC_ASAN_POISON_MAX);
}

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

static inline void talc_asan_unpoison(const void *p, size_t n)
{
    if (n < TALC_ASAN_UNPOISON_PAGES || !talc_asan_unpoison_pages(p, n))
        ASAN_UNPOISON_MEMORY_REGION(p, n);
}
#else
#define TALC_NO_ASAN
#define talc_asan_poison(p, n) ((void)(p), (void)(n))
#define talc_asan_unpoison(p, n) ((void)(p), (void)(n))
#endif

#endif /* TALC_HEAP_ASAN_H */
