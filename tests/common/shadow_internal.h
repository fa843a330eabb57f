/* tests/common/shadow_internal.h — what the files of the shadow model (tests/common/shadow*.c,
 * listed in shadow.c) share and shadow.h's users do not see: the error macros, four one-line
 * helpers, and a declaration for each function that one file defines and another calls,
 * grouped by the file that defines it. Every other function of the model is static.
 *
 * Who may use it: the shadow model's files only. Concurrency: one model per thread.
 */
#ifndef TALC_TEST_SHADOW_INTERNAL_H
#define TALC_TEST_SHADOW_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shadow.h"

/* ---- Errors (shadow.c) --------------------------------------------------------------------*/

/* Write "step N (op): " and the message into s->err; returns -1. */
int shadow_fail(shadow_t *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define FAIL(...) return shadow_fail(s, __VA_ARGS__)
#define TRY(expr)                                                                                  \
    do {                                                                                           \
        if ((expr) != 0)                                                                           \
            return -1;                                                                             \
    } while (0)

/* ---- Small helpers ------------------------------------------------------------------------*/

static inline uintptr_t addr(const void *p) { return (uintptr_t)p; }
static inline size_t max_sz(size_t a, size_t b) { return a > b ? a : b; }
static inline size_t min_sz(size_t a, size_t b) { return a < b ? a : b; }

static inline uint64_t take(shadow_src_t *src, unsigned n) { return src->take(src->ctx, n); }

/* The chunk header: 8 bytes on every target (docs/heap.md, "Chunks": usable_size is size - 8). */
#define SHADOW_HDR ((size_t)8)

/* ---- The heap's calls, in its form (shadow_calls.c) ---------------------------------------*/

/* The locked form's lock ops (talc_lock_ops_t): ctx is the model. */
void model_lock(void *ctx);
void model_unlock(void *ctx);

/* Hold the lock for the caller's next calls; returns whether it was taken here. */
bool sh_hold(shadow_t *s);
void sh_unhold(shadow_t *s, bool taken);

void *sh_alloc(shadow_t *s, size_t n);
void *sh_alloc_aligned(shadow_t *s, size_t n, size_t align);
void sh_free(shadow_t *s, void *p);
void *sh_realloc(shadow_t *s, void *p, size_t n);
size_t sh_usable(shadow_t *s, const void *p);
talc_span_t *sh_claim(shadow_t *s, void *base, size_t n);
void sh_counters(shadow_t *s, talc_heap_counters_t *c);
bool sh_resize(shadow_t *s, void *p, size_t n);
void sh_span_info(shadow_t *s, talc_span_t *span, talc_span_info_t *info);
size_t sh_span_min(shadow_t *s);

/* ---- The model's records (shadow_model.c) -------------------------------------------------*/

void shadow_caller_owns(void *p, size_t n);
void shadow_heap_owns(void *p, size_t n);
int shadow_slot_get(shadow_t *s);
unsigned char *shadow_slot_buf(shadow_t *s, int i);

/* The heap's fatal handler and OOM hook (talc_heap_opts_t): ctx is the model. */
void shadow_fatal(const talc_fault_info_t *info, void *ctx);
talc_oom_verdict_t shadow_oom(talc_heap_t *heap, size_t size, size_t align, void *ctx);

size_t shadow_span_blocks(shadow_t *s, const shadow_span_t *sp);
int model_claim(shadow_t *s, int slot, unsigned char *buf, size_t buf_size, size_t off, size_t size,
                talc_span_t **out);
void model_drop_span(shadow_t *s, size_t i);
int model_add_block(shadow_t *s, void *p, size_t size, size_t align);
void model_remove_block(shadow_t *s, size_t i);

int shadow_walk(shadow_t *s);
size_t shadow_largest_free(shadow_t *s);
int shadow_check_no_fit(shadow_t *s, size_t size, size_t align);
int shadow_verify_block_prefix(shadow_t *s, const shadow_block_t *b, size_t n, const char *what);

/* ---- Decoding, and what every operation needs (shadow_step.c) -----------------------------*/

size_t shadow_decode_size(shadow_t *s, shadow_src_t *src);
size_t shadow_decode_align(shadow_src_t *src);
size_t shadow_pick_block(shadow_t *s, shadow_src_t *src);
size_t shadow_pick_span(shadow_t *s, shadow_src_t *src);
bool shadow_over_cap(const shadow_t *s);
void shadow_set_oom_expect(shadow_t *s, size_t size, size_t align);

/* ---- Operations (shadow_op_*.c) -----------------------------------------------------------
 * Each decodes its arguments from src, runs against the heap, checks the answer and updates
 * the model. Returns 0, or -1 with s->err set. */

int shadow_op_alloc(shadow_t *s, shadow_src_t *src, bool aligned);
int shadow_op_free(shadow_t *s, shadow_src_t *src);
int shadow_op_realloc(shadow_t *s, shadow_src_t *src);
int shadow_op_resize(shadow_t *s, shadow_src_t *src);

int shadow_op_claim(shadow_t *s, shadow_src_t *src);
int shadow_op_extend(shadow_t *s, shadow_src_t *src);
int shadow_op_truncate(shadow_t *s, shadow_src_t *src);
int shadow_op_release(shadow_t *s, shadow_src_t *src);
int shadow_op_free_span(shadow_t *s, shadow_src_t *src);

int shadow_op_invalid(shadow_t *s, shadow_src_t *src);
int shadow_op_bad_pointer(shadow_t *s, shadow_src_t *src);
int shadow_op_corrupt(shadow_t *s, shadow_src_t *src);

#endif /* TALC_TEST_SHADOW_INTERNAL_H */
