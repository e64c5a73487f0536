/*
 * One mkdir("/dev/shm/abi", 0755) through the x86 syscall ABI chosen at compile time, and
 * its raw result printed as "ret=N" (N = -errno on failure). Used by the seccomp tests to
 * make i386 and x32 syscalls from a 64-bit process: `int $0x80` enters the kernel as i386
 * (seccomp sees AUDIT_ARCH_I386), and a syscall number with bit 30 set as x32.
 *
 *   cc -static -nostdlib -no-pie -fno-stack-protector -O2 -DABI=64|32|320 abi-mkdir.c
 *
 * No libc, so it runs in any rootfs; -no-pie keeps the path below 4 GiB for `int $0x80`.
 */
#define X32_SYSCALL_BIT 0x40000000L

static long sys64(long n, long a, long b, long c) {
  long r;
  __asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
  return r;
}

static long sys32(long n, long a, long b) {
  long r;
  __asm__ volatile("int $0x80" : "=a"(r) : "a"(n), "b"(a), "c"(b) : "memory");
  return r;
}

static const char path[] = "/dev/shm/abi";

__attribute__((force_align_arg_pointer, noreturn)) void _start(void) {
#if ABI == 32
  long r = sys32(39, (long)path, 0755); /* i386 mkdir */
#elif ABI == 320
  long r = sys64(X32_SYSCALL_BIT | 83, (long)path, 0755, 0); /* x32 mkdir */
#else
  long r = sys64(83, (long)path, 0755, 0); /* x86_64 mkdir */
#endif
  char buf[32] = "ret=";
  int n = 4;
  unsigned long v = r < 0 ? -r : r;
  if (r < 0) buf[n++] = '-';
  char digits[24];
  int d = 0;
  do {
    digits[d++] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  while (d) buf[n++] = digits[--d];
  buf[n++] = '\n';
  sys64(1, 1, (long)buf, n); /* write */
  for (;;) sys64(231, 0, 0, 0); /* exit_group */
}
