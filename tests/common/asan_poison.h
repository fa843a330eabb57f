/* tests/common/asan_poison.h — POISON / UNPOISON a byte range for AddressSanitizer when the
 * test is built with it (gcc's __SANITIZE_ADDRESS__ or clang's feature test), for valgrind's
 * memcheck in a TALC_MEMCHECK build, no-ops otherwise.
 * A test that hands memory to the library and takes it back poisons what the library must not
 * touch, so that an access there is reported.
 *
 * Who may use it: test code only. Concurrency: as ASan's interface (any thread).
 */
#ifndef TALC_TEST_ASAN_POISON_H
#define TALC_TEST_ASAN_POISON_H

#if defined(__SANITIZE_ADDRESS__)
#define TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TEST_ASAN 1
#endif
#endif
#ifdef TEST_ASAN
#include <sanitizer/asan_interface.h>
#define POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#define TEST_NO_ASAN __attribute__((no_sanitize_address))
#elif defined(TALC_MEMCHECK) && TALC_MEMCHECK
#include <valgrind/memcheck.h>
#define POISON(p, n) ((void)VALGRIND_MAKE_MEM_NOACCESS((p), (n)))
#define UNPOISON(p, n) ((void)VALGRIND_MAKE_MEM_DEFINED((p), (n)))
#define TEST_NO_ASAN
#else
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#define TEST_NO_ASAN
#endif

/* A stray write of one byte anywhere in a heap's memory, as a test stages one: inside a free
 * chunk too, which the library keeps poisoned (src/heap_poison.h), so unchecked by ASan and
 * with memcheck's reports off. */
static inline TEST_NO_ASAN void stray_xor(unsigned char *p, unsigned char x)
{
#if defined(TALC_MEMCHECK) && TALC_MEMCHECK
    VALGRIND_DISABLE_ERROR_REPORTING;
    *p ^= x;
    VALGRIND_ENABLE_ERROR_REPORTING;
#else
    *p ^= x;
#endif
}

#endif /* TALC_TEST_ASAN_POISON_H */
