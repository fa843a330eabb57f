/* tests/common/shadow_calls.c — every call the shadow model makes into its heap, in the form
 * the heap runs in: the plain heap (talc/heap.h) or the locked one (talc/heap_locked.h), whose
 * lock is the model's own (model_lock, model_unlock): it counts takes and releases and records
 * misuse, which shadow_verify checks.
 *
 * Who may use it: the shadow model's files (shadow_internal.h). Concurrency: one model per
 * thread; the model's lock only counts, it excludes no one.
 */
#include "shadow_internal.h"

/* In the locked form a call that has a talc_locked_* twin goes through it, unless the lock is
 * held already (an OOM hook, or a step that holds it): then the inner heap is called directly.
 * A call without a twin takes the lock around itself unless it is held. */
static bool twin_form(const shadow_t *s) { return s->lh && s->lock_depth == 0; }

void model_lock(void *ctx)
{
    shadow_t *s = ctx;
    s->locks++;
    if (s->lock_depth++ != 0)
        s->lock_misuse = true; /* taken while held: a real lock would deadlock here */
}

void model_unlock(void *ctx)
{
    shadow_t *s = ctx;
    s->unlocks++;
    if (s->lock_depth == 0)
        s->lock_misuse = true;
    else
        s->lock_depth--;
}

/* Hold the lock for the caller's next calls; returns whether it was taken here. */
bool sh_hold(shadow_t *s)
{
    if (!twin_form(s))
        return false;
    (void)talc_locked_acquire(s->lh);
    return true;
}

void sh_unhold(shadow_t *s, bool taken)
{
    if (taken)
        talc_locked_release(s->lh);
}

void *sh_alloc(shadow_t *s, size_t n)
{
    return twin_form(s) ? talc_locked_alloc(s->lh, n) : talc_heap_alloc(s->heap, n);
}

void *sh_alloc_aligned(shadow_t *s, size_t n, size_t align)
{
    return twin_form(s) ? talc_locked_alloc_aligned(s->lh, n, align)
                        : talc_heap_alloc_aligned(s->heap, n, align);
}

void sh_free(shadow_t *s, void *p)
{
    if (twin_form(s))
        talc_locked_free(s->lh, p);
    else
        talc_heap_free(s->heap, p);
}

void *sh_realloc(shadow_t *s, void *p, size_t n)
{
    return twin_form(s) ? talc_locked_realloc(s->lh, p, n) : talc_heap_realloc(s->heap, p, n);
}

size_t sh_usable(shadow_t *s, const void *p)
{
    return twin_form(s) ? talc_locked_usable_size(s->lh, p) : talc_heap_usable_size(s->heap, p);
}

talc_span_t *sh_claim(shadow_t *s, void *base, size_t n)
{
    return twin_form(s) ? talc_locked_claim(s->lh, base, n) : talc_heap_claim(s->heap, base, n);
}

void sh_counters(shadow_t *s, talc_heap_counters_t *c)
{
    if (twin_form(s))
        talc_locked_counters(s->lh, c);
    else
        talc_heap_counters(s->heap, c);
}

bool sh_resize(shadow_t *s, void *p, size_t n)
{
    bool taken = sh_hold(s);
    bool ok = talc_heap_resize_in_place(s->heap, p, n);
    sh_unhold(s, taken);
    return ok;
}

void sh_span_info(shadow_t *s, talc_span_t *span, talc_span_info_t *info)
{
    bool taken = sh_hold(s);
    talc_span_get_info(s->heap, span, info);
    sh_unhold(s, taken);
}

size_t sh_span_min(shadow_t *s)
{
    bool taken = sh_hold(s);
    size_t n = talc_span_min_size(s->heap);
    sh_unhold(s, taken);
    return n;
}
