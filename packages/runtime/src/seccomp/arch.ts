/**
 * Architectures of linux.seccomp.architectures: the names runc (libseccomp) accepts, the
 * AUDIT_ARCH_* value the kernel puts in seccomp_data.arch, and the syscall tables we have.
 */
import { table as aarch64 } from './tables/aarch64';
import { table as i386 } from './tables/i386';
import type { SyscallTable } from './tables/types';
import { table as x32 } from './tables/x32';
import { table as x86_64 } from './tables/x86_64';

export const AUDIT_ARCH_X86_64 = 0xc000003e;
export const AUDIT_ARCH_I386 = 0x40000003;
export const AUDIT_ARCH_AARCH64 = 0xc00000b7;
/** x32 syscalls run with AUDIT_ARCH_X86_64 and this bit set in the syscall number. */
export const X32_SYSCALL_BIT = 0x40000000;

/** Every SCMP_ARCH_* name libseccomp knows; a name outside this list is an error, as in runc. */
export const KNOWN_ARCHES = [
  'SCMP_ARCH_X86', 'SCMP_ARCH_X86_64', 'SCMP_ARCH_X32', 'SCMP_ARCH_ARM', 'SCMP_ARCH_AARCH64',
  'SCMP_ARCH_MIPS', 'SCMP_ARCH_MIPS64', 'SCMP_ARCH_MIPS64N32', 'SCMP_ARCH_MIPSEL', 'SCMP_ARCH_MIPSEL64',
  'SCMP_ARCH_MIPSEL64N32', 'SCMP_ARCH_PPC', 'SCMP_ARCH_PPC64', 'SCMP_ARCH_PPC64LE', 'SCMP_ARCH_S390',
  'SCMP_ARCH_S390X', 'SCMP_ARCH_PARISC', 'SCMP_ARCH_PARISC64', 'SCMP_ARCH_RISCV64',
];

export interface ArchInfo {
  name: string;
  audit: number;
  table: SyscallTable;
  /** Syscall arguments are 32 bits wide: only the low half is compared (as libseccomp does). */
  args32: boolean;
}

/** The architectures we can filter, keyed by their SCMP_ARCH_* name. */
export const ARCHES: Record<string, ArchInfo> = {
  SCMP_ARCH_X86_64: { name: 'SCMP_ARCH_X86_64', audit: AUDIT_ARCH_X86_64, table: x86_64, args32: false },
  SCMP_ARCH_X32: { name: 'SCMP_ARCH_X32', audit: AUDIT_ARCH_X86_64, table: x32, args32: true },
  SCMP_ARCH_X86: { name: 'SCMP_ARCH_X86', audit: AUDIT_ARCH_I386, table: i386, args32: true },
  SCMP_ARCH_AARCH64: { name: 'SCMP_ARCH_AARCH64', audit: AUDIT_ARCH_AARCH64, table: aarch64, args32: false },
};

/**
 * The architecture of the machine (libseccomp always filters it, listed or not) and the ones
 * its kernel can run besides (others can never reach the filter, so no code is made for them).
 */
export function hostArches(nodeArch: string = process.arch): { native: string; possible: string[] } | undefined {
  switch (nodeArch) {
    case 'x64':
      return { native: 'SCMP_ARCH_X86_64', possible: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X32', 'SCMP_ARCH_X86'] };
    case 'arm64':
      return { native: 'SCMP_ARCH_AARCH64', possible: ['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM'] };
    default:
      return undefined;
  }
}

/** name → number for one table (built once per architecture, on first use). */
const numberCache = new Map<SyscallTable, Map<string, number>>();
export function syscallNumbers(t: SyscallTable): Map<string, number> {
  let m = numberCache.get(t);
  if (!m) {
    m = new Map();
    for (let i = 0; i < t.names.length; i++) {
      const name = t.names[i];
      if (name !== null) m.set(name, t.base + i);
    }
    numberCache.set(t, m);
  }
  return m;
}
