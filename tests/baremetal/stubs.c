/* stubs.c — everything the bare-metal check image has besides the heap engine and main.c:
 * the four C library functions the engine may call (memcpy, memmove, memset, abort), a
 * process entry point and two raw system calls to report the result, for x86_64, aarch64
 * and 32-bit ARM Linux. No libc, no libgcc, no start files. The ctest baremetal_symbols
 * checks that the engine needs nothing else.
 *
 * The loops go through volatile pointers so that the compiler cannot turn them back into
 * calls to memcpy/memset (which would recurse). */
#include <stddef.h>

#include "baremetal.h"

void *memcpy(void *restrict dst, const void *restrict src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
_Noreturn void abort(void);

void *memcpy(void *restrict dst, const void *restrict src, size_t n)
{
    volatile unsigned char *d = dst;
    const unsigned char *s = src;
    for (size_t i = 0; i < n; i++)
        d[i] = s[i];
    return dst;
}

void *memmove(void *dst, const void *src, size_t n)
{
    volatile unsigned char *d = dst;
    const unsigned char *s = src;
    if (d < s) {
        for (size_t i = 0; i < n; i++)
            d[i] = s[i];
    } else {
        for (size_t i = n; i > 0; i--)
            d[i - 1] = s[i - 1];
    }
    return dst;
}

void *memset(void *dst, int c, size_t n)
{
    volatile unsigned char *d = dst;
    for (size_t i = 0; i < n; i++)
        d[i] = (unsigned char)c;
    return dst;
}

_Noreturn void abort(void)
{
    talc_bm_puts("talc bare-metal: abort() called\n");
    talc_bm_exit(134);
}

static size_t bm_strlen(const char *s)
{
    size_t n = 0;
    while (s[n] != '\0')
        n++;
    return n;
}

#if defined(__x86_64__)

void talc_bm_puts(const char *s)
{
    long ret;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"(1L), "D"(1L), "S"(s), "d"(bm_strlen(s))
                     : "rcx", "r11", "memory");
    (void)ret;
}

_Noreturn void talc_bm_exit(int status)
{
    __asm__ volatile("syscall" : : "a"(231L), "D"((long)status) : "rcx", "r11", "memory");
    __builtin_unreachable();
}

/* The kernel enters with the stack 16-byte aligned and no return address. */
__asm__(".text\n"
        ".globl _start\n"
        ".type _start, @function\n"
        "_start:\n"
        "    xor %ebp, %ebp\n"
        "    and $-16, %rsp\n"
        "    call talc_bm_main\n"
        "    mov %eax, %edi\n"
        "    call talc_bm_exit\n"
        "    hlt\n");

#elif defined(__aarch64__)

void talc_bm_puts(const char *s)
{
    register long x8 __asm__("x8") = 64; /* write */
    register long x0 __asm__("x0") = 1;
    register const char *x1 __asm__("x1") = s;
    register size_t x2 __asm__("x2") = bm_strlen(s);
    __asm__ volatile("svc #0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2) : "memory");
}

_Noreturn void talc_bm_exit(int status)
{
    register long x8 __asm__("x8") = 94; /* exit_group */
    register long x0 __asm__("x0") = status;
    __asm__ volatile("svc #0" : : "r"(x8), "r"(x0) : "memory");
    __builtin_unreachable();
}

__asm__(".text\n"
        ".globl _start\n"
        ".type _start, %function\n"
        "_start:\n"
        "    mov x29, #0\n"
        "    mov x30, #0\n"
        "    bl talc_bm_main\n"
        "    bl talc_bm_exit\n");

#elif defined(__arm__)

/* 32-bit ARM EABI: the call number in r7 (also Thumb's frame pointer, which -O2 and up leave
 * free), arguments from r0. */
void talc_bm_puts(const char *s)
{
    register long r7 __asm__("r7") = 4; /* write */
    register long r0 __asm__("r0") = 1;
    register const char *r1 __asm__("r1") = s;
    register size_t r2 __asm__("r2") = bm_strlen(s);
    __asm__ volatile("svc #0" : "+r"(r0) : "r"(r7), "r"(r1), "r"(r2) : "memory");
}

_Noreturn void talc_bm_exit(int status)
{
    register long r7 __asm__("r7") = 248; /* exit_group */
    register long r0 __asm__("r0") = status;
    __asm__ volatile("svc #0" : : "r"(r7), "r"(r0) : "memory");
    __builtin_unreachable();
}

/* The kernel enters with the stack 8-byte aligned (AAPCS asks no more) and lr undefined. */
__asm__(".text\n"
        ".globl _start\n"
        ".type _start, %function\n"
        "_start:\n"
        "    mov fp, #0\n"
        "    mov lr, #0\n"
        "    bl talc_bm_main\n"
        "    bl talc_bm_exit\n");

#else
#error "tests/baremetal/stubs.c: no entry point for this architecture (x86_64, aarch64, arm)"
#endif
