/**
 * A small classic-BPF assembler for seccomp filters: instructions refer to labels, and
 * assemble() lays them out, turning conditional jumps whose target is more than 255
 * instructions away (cBPF's 8-bit jt/jf) into short jumps to `ja` trampolines (32-bit offset).
 * cBPF only jumps forward, so every label must be placed after the jumps that use it.
 */
import * as os from 'os';

// Opcodes (linux/bpf_common.h).
const LD_W_ABS = 0x20; // BPF_LD | BPF_W | BPF_ABS
const ALU_AND_K = 0x54; // BPF_ALU | BPF_AND | BPF_K
const JMP_JA = 0x05; // BPF_JMP | BPF_JA
const RET_K = 0x06; // BPF_RET | BPF_K
export const JEQ = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
export const JGT = 0x25; // BPF_JMP | BPF_JGT | BPF_K
export const JGE = 0x35; // BPF_JMP | BPF_JGE | BPF_K
export const JSET = 0x45; // BPF_JMP | BPF_JSET | BPF_K

/** The kernel's limit on a filter's length (BPF_MAXINSNS). */
export const MAX_INSNS = 4096;

export type Label = number;

interface Insn {
  code: number;
  k: number;
  /** Conditional jumps only. */
  jt?: Label;
  jf?: Label;
  /** `ja` only. */
  to?: Label;
  /** Set during layout: this side jumps through a trampoline. */
  farT?: boolean;
  farF?: boolean;
}

export class Assembler {
  private readonly insns: Insn[] = [];
  /** Label → index of the instruction it stands before. */
  private readonly labels: number[] = [];

  newLabel(): Label {
    this.labels.push(-1);
    return this.labels.length - 1;
  }

  /** Place `l` before the next instruction emitted. */
  place(l: Label): void {
    if (this.labels[l] !== -1) throw new Error(`bpf: label ${l} placed twice`);
    this.labels[l] = this.insns.length;
  }

  load(offset: number): void {
    this.insns.push({ code: LD_W_ABS, k: offset });
  }

  and(k: number): void {
    this.insns.push({ code: ALU_AND_K, k: k >>> 0 });
  }

  ret(k: number): void {
    this.insns.push({ code: RET_K, k: k >>> 0 });
  }

  jump(to: Label): void {
    this.insns.push({ code: JMP_JA, k: 0, to });
  }

  /** if (A <op> k) goto jt else goto jf. */
  branch(op: number, k: number, jt: Label, jf: Label): void {
    this.insns.push({ code: op, k: k >>> 0, jt, jf });
  }

  /** The program as an array of struct sock_filter, in the host's byte order. */
  assemble(): Buffer {
    const unplaced = this.labels.indexOf(-1);
    if (unplaced >= 0) throw new Error(`bpf: label ${unplaced} never placed`);
    const pos = this.layout();
    const total = pos[this.insns.length];
    if (total > MAX_INSNS) {
      throw new Error(`the filter has ${total} instructions, more than the kernel's limit of ${MAX_INSNS}`);
    }
    const out = Buffer.alloc(total * 8);
    // struct sock_filter { u16 code; u8 jt; u8 jf; u32 k; } in the host's byte order, written
    // byte by byte: Buffer's write methods cost more than the rest of compiling when cold.
    const le = os.endianness() === 'LE';
    let o = 0;
    const put = (code: number, jt: number, jf: number, k: number) => {
      if (le) {
        out[o] = code & 0xff;
        out[o + 1] = code >>> 8;
        out[o + 4] = k & 0xff;
        out[o + 5] = (k >>> 8) & 0xff;
        out[o + 6] = (k >>> 16) & 0xff;
        out[o + 7] = k >>> 24;
      } else {
        out[o] = code >>> 8;
        out[o + 1] = code & 0xff;
        out[o + 4] = k >>> 24;
        out[o + 5] = (k >>> 16) & 0xff;
        out[o + 6] = (k >>> 8) & 0xff;
        out[o + 7] = k & 0xff;
      }
      out[o + 2] = jt;
      out[o + 3] = jf;
      o += 8;
    };
    const target = (l: Label) => pos[this.labels[l]];
    for (let i = 0; i < this.insns.length; i++) {
      const ins = this.insns[i];
      const p = pos[i];
      if (ins.to !== undefined) {
        put(ins.code, 0, 0, this.forward(target(ins.to), p + 1));
      } else if (ins.jt !== undefined && ins.jf !== undefined) {
        const tramps = (ins.farT ? 1 : 0) + (ins.farF ? 1 : 0);
        const jt = ins.farT ? 0 : this.forward(target(ins.jt), p + 1);
        const jf = ins.farF ? (ins.farT ? 1 : 0) : this.forward(target(ins.jf), p + 1);
        put(ins.code, jt, jf, ins.k);
        if (ins.farT) put(JMP_JA, 0, 0, this.forward(target(ins.jt), p + 2));
        if (ins.farF) put(JMP_JA, 0, 0, this.forward(target(ins.jf), p + 1 + tramps));
      } else {
        put(ins.code, 0, 0, ins.k);
      }
    }
    return out;
  }

  /**
   * Positions of every instruction once trampolines are added (pos[n] = program length).
   * A side only ever turns far, so the loop ends.
   */
  private layout(): number[] {
    for (;;) {
      const pos: number[] = [];
      let p = 0;
      for (const ins of this.insns) {
        pos.push(p);
        p += 1 + (ins.farT ? 1 : 0) + (ins.farF ? 1 : 0);
      }
      pos.push(p);
      let changed = false;
      for (let i = 0; i < this.insns.length; i++) {
        const ins = this.insns[i];
        if (ins.jt === undefined || ins.jf === undefined) continue;
        // A short side counts from just after the jump itself (its trampolines lie in between).
        if (!ins.farT && pos[this.labels[ins.jt]] - (pos[i] + 1) > 255) {
          ins.farT = changed = true;
        }
        if (!ins.farF && pos[this.labels[ins.jf]] - (pos[i] + 1) > 255) {
          ins.farF = changed = true;
        }
      }
      if (!changed) return pos;
    }
  }

  private forward(to: number, from: number): number {
    if (to < from) throw new Error('bpf: backward jump');
    return to - from;
  }
}
