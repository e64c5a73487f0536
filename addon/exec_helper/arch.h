// Raw system calls and the process entry point for the exec helper, which links against no
// C library (so that it is a few kilobytes, static, and runs nothing before its own code).
#pragma once

#include <asm/unistd.h>

#if defined(__x86_64__)

static inline long raw_syscall(long n, long a, long b, long c, long d, long e, long f) {
  register long r10 __asm__("r10") = d;
  register long r8 __asm__("r8") = e;
  register long r9 __asm__("r9") = f;
  long ret;
  __asm__ volatile("syscall"
                   : "=a"(ret)
                   : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                   : "rcx", "r11", "memory");
  return ret;
}

// The kernel starts us with %rsp at argc (16-byte aligned); `call` leaves the alignment the
// ABI expects at a function's entry.
#define HELPER_ENTRY(fn)                         \
  __asm__(".text\n.global _start\n_start:\n"     \
          "  xor %rbp, %rbp\n"                   \
          "  mov %rsp, %rdi\n"                   \
          "  call " #fn "\n"                     \
          "  hlt\n");

#elif defined(__aarch64__)

static inline long raw_syscall(long n, long a, long b, long c, long d, long e, long f) {
  register long x8 __asm__("x8") = n;
  register long x0 __asm__("x0") = a;
  register long x1 __asm__("x1") = b;
  register long x2 __asm__("x2") = c;
  register long x3 __asm__("x3") = d;
  register long x4 __asm__("x4") = e;
  register long x5 __asm__("x5") = f;
  __asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5) : "memory");
  return x0;
}

#define HELPER_ENTRY(fn)                         \
  __asm__(".text\n.global _start\n_start:\n"     \
          "  mov x29, #0\n"                      \
          "  mov x30, #0\n"                      \
          "  mov x0, sp\n"                       \
          "  bl " #fn "\n"                       \
          "  brk #0\n");

#else
#error "tsrun's exec helper supports x86_64 and aarch64"
#endif

// A failed call returns -errno, as the kernel does.
static inline long sys6(long n, long a = 0, long b = 0, long c = 0, long d = 0, long e = 0, long f = 0) {
  return raw_syscall(n, a, b, c, d, e, f);
}
