/**
 * A classic-BPF interpreter for seccomp filters, held to the kernel's rules (only the opcodes
 * seccomp accepts, jumps inside the program, a return at the end), to check what a compiled
 * filter answers for a given syscall without loading it.
 */
export interface SeccompData {
  arch: number;
  nr: number;
  /** Up to six 64-bit arguments. */
  args?: bigint[];
}

export function runFilter(filter: Buffer, d: SeccompData): number {
  const n = filter.length / 8;
  if (!Number.isInteger(n) || n < 1 || n > 4096) throw new Error(`bad filter length ${filter.length}`);
  const data = Buffer.alloc(64);
  data.writeInt32LE(d.nr | 0, 0);
  data.writeUInt32LE(d.arch >>> 0, 4);
  for (const [i, a] of (d.args ?? []).entries()) data.writeBigUInt64LE(BigInt.asUintN(64, a), 16 + 8 * i);
  let A = 0;
  let pc = 0;
  for (let steps = 0; steps <= n; steps++) {
    if (pc >= n) throw new Error(`fell off the program at ${pc}`);
    const o = pc * 8;
    const code = filter.readUInt16LE(o);
    const jt = filter.readUInt8(o + 2);
    const jf = filter.readUInt8(o + 3);
    const k = filter.readUInt32LE(o + 4);
    pc++;
    const jump = (off: number) => {
      if (pc + off >= n) throw new Error(`jump out of the program at ${pc - 1}`);
      pc += off;
    };
    switch (code) {
      case 0x20: // ld [k]
        if (k % 4 !== 0 || k + 4 > 64) throw new Error(`bad load offset ${k}`);
        A = data.readUInt32LE(k);
        break;
      case 0x54: // and #k
        A = (A & k) >>> 0;
        break;
      case 0x05: // ja
        jump(k);
        break;
      case 0x15:
        jump(A === k ? jt : jf);
        break;
      case 0x25:
        jump(A > k ? jt : jf);
        break;
      case 0x35:
        jump(A >= k ? jt : jf);
        break;
      case 0x45:
        jump((A & k) !== 0 ? jt : jf);
        break;
      case 0x06: // ret #k
        return k;
      default:
        throw new Error(`opcode ${code.toString(16)} at ${pc - 1} is not allowed in seccomp`);
    }
  }
  throw new Error('loop');
}

export const AUDIT = { X86_64: 0xc000003e, I386: 0x40000003, AARCH64: 0xc00000b7, ARM: 0x40000028 };
export const RET = {
  KILL_PROCESS: 0x80000000,
  KILL_THREAD: 0,
  TRAP: 0x30000,
  ERRNO: (e: number) => 0x50000 + e,
  USER_NOTIF: 0x7fc00000,
  TRACE: (e: number) => 0x7ff00000 + e,
  LOG: 0x7ffc0000,
  ALLOW: 0x7fff0000,
};
