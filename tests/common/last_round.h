/* last_round.h — LAST_ROUND_RUNS: whether a test may run allocator code in glibc's last round
 * of thread-specific data destructors (a cache made too late for its own destructor, which the
 * thread caches then find as lost: arenas/tcache.c, talc_tc_reap).
 *
 * ThreadSanitizer's runtime has finished the thread by that round: any instrumented code there
 * crashes it, with or without libtalc (a plain program whose last-round destructor calls malloc
 * gets the same SEGV at address 0xd0; clang 14). Tests that need the round skip under TSan.
 */
#ifndef TALC_TEST_LAST_ROUND_H
#define TALC_TEST_LAST_ROUND_H

#if defined(__SANITIZE_THREAD__)
#define LAST_ROUND_RUNS 0
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define LAST_ROUND_RUNS 0
#endif
#endif
#ifndef LAST_ROUND_RUNS
#define LAST_ROUND_RUNS 1
#endif

#endif /* TALC_TEST_LAST_ROUND_H */
