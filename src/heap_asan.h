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
#define TALC_NO_ASAN __attribute__((no_sanitize_address))
#define talc_asan_poison(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define talc_asan_unpoison(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define TALC_NO_ASAN
#define talc_asan_poison(p, n) ((void)(p), (void)(n))
#define talc_asan_unpoison(p, n) ((void)(p), (void)(n))
#endif

#endif /* TALC_HEAP_ASAN_H */
