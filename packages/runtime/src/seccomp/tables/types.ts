/** One architecture's syscall numbers, as generated from the kernel's headers. */
export interface SyscallTable {
  arch: 'x86_64' | 'i386' | 'x32' | 'aarch64';
  /** Added to an index of `names` to give the syscall number (x32's numbers have bit 30 set). */
  base: number;
  /** names[nr - base]; null for numbers no syscall uses. */
  names: (string | null)[];
}
