/**
 * A seccomp profile → a classic BPF program over struct seccomp_data, with the effect
 * libseccomp's filter has under runc:
 *
 *   1. seccomp_data.arch: the x86_64 family (x86_64 and x32, told apart by bit 30 of the
 *      syscall number), i386, aarch64; an architecture not in the profile (the machine's own is
 *      always in) gets SECCOMP_RET_KILL_THREAD, libseccomp's "bad arch" action.
 *   2. The syscall number, by binary search over ranges of numbers that share an outcome, so
 *      a few hundred allowed syscalls cost a few dozen instructions and ~8 comparisons.
 *   3. Syscalls with argument conditions get a block of their own: its rules in profile order,
 *      64-bit values compared as two 32-bit halves (high, then low); the first rule whose
 *      conditions all hold gives the action, else the default action.
 *
 * As runc does, a syscall numbered above every syscall the profile names gets -ENOSYS rather
 * than the default action (unless that is permissive), so that programs fall back from
 * syscalls newer than the profile (e.g. clone3) instead of failing with EPERM.
 */
import type { LinuxSeccomp } from '@tsrun/spec';
import { ArchInfo, ARCHES, AUDIT_ARCH_X86_64, hostArches, syscallNumbers, X32_SYSCALL_BIT } from './arch';
import { Assembler, JEQ, JGE, JGT, JSET, Label } from './bpf';
import {
  Condition, ENOSYS, parseProfile, Profile, RET_ALLOW, RET_ERRNO, RET_KILL_THREAD, RET_LOG, RET_TRACE, Rule,
  SeccompError,
} from './profile';

export { SeccompError } from './profile';

export interface CompiledSeccomp {
  /** struct sock_filter[] for seccomp(SECCOMP_SET_MODE_FILTER). */
  filter: Buffer;
  /** SECCOMP_FILTER_FLAG_* */
  flags: number;
}

// Offsets in struct seccomp_data (little-endian machines: an argument's low half comes first).
const NR = 0;
const ARCH = 4;
const argLo = (i: number) => 16 + 8 * i;
const argHi = (i: number) => 20 + 8 * i;

export function compileSeccomp(spec: LinuxSeccomp, nodeArch: string = process.arch): CompiledSeccomp {
  const profile = parseProfile(spec);
  const host = hostArches(nodeArch);
  if (!host) throw new SeccompError(`seccomp: not supported on this machine's architecture (${nodeArch})`);
  const wanted = new Set([host.native, ...profile.architectures]);
  const arches = host.possible.filter((a) => wanted.has(a) && ARCHES[a]).map((a) => ARCHES[a]);
  try {
    return { filter: new Codegen(profile).program(arches), flags: profile.flags };
  } catch (e) {
    throw new SeccompError(`seccomp: ${(e as Error).message}`);
  }
}

interface Segment {
  /** First syscall number of the range (it runs up to the next segment's start). */
  start: number;
  target: Label;
}

class Codegen {
  private readonly asm = new Assembler();
  private readonly rets = new Map<number, Label>();
  private readonly enosysStub: boolean;

  constructor(private readonly profile: Profile) {
    const d = profile.defaultAction;
    const permissive = d === RET_ALLOW || d === RET_LOG || (d & 0xffff0000) === RET_TRACE;
    this.enosysStub = !permissive && d !== (RET_ERRNO | ENOSYS);
  }

  program(arches: ArchInfo[]): Buffer {
    const a = this.asm;
    const bad = this.ret(RET_KILL_THREAD);
    const x64 = arches.find((x) => x.name === 'SCMP_ARCH_X86_64');
    const x32 = arches.find((x) => x.name === 'SCMP_ARCH_X32');
    // One entry per AUDIT_ARCH value; x86_64 and x32 share theirs.
    const audits: { audit: number; emit: () => void }[] = [];
    if (x64 || x32) {
      audits.push({
        audit: AUDIT_ARCH_X86_64,
        emit: () => {
          const l64 = x64 ? a.newLabel() : bad;
          const l32 = x32 ? a.newLabel() : bad;
          a.load(NR);
          a.branch(JSET, X32_SYSCALL_BIT, l32, l64);
          if (x64) {
            a.place(l64);
            this.dispatch(x64);
          }
          if (x32) {
            a.place(l32);
            this.dispatch(x32);
          }
        },
      });
    }
    for (const arch of arches) {
      if (arch.audit === AUDIT_ARCH_X86_64) continue;
      audits.push({
        audit: arch.audit,
        emit: () => {
          a.load(NR);
          this.dispatch(arch);
        },
      });
    }

    a.load(ARCH);
    const entries = audits.map(() => a.newLabel());
    for (const [i, { audit }] of audits.entries()) {
      const next = i + 1 < audits.length ? a.newLabel() : bad;
      a.branch(JEQ, audit, entries[i], next);
      if (next !== bad) a.place(next);
    }
    if (audits.length === 0) a.jump(bad);
    for (const [i, { emit }] of audits.entries()) {
      a.place(entries[i]);
      emit();
    }
    // The return instructions, one per distinct action, come last: everything jumps forward.
    for (const [k, l] of this.rets) {
      a.place(l);
      a.ret(k);
    }
    return a.assemble();
  }

  private ret(k: number): Label {
    let l = this.rets.get(k >>> 0);
    if (l === undefined) {
      l = this.asm.newLabel();
      this.rets.set(k >>> 0, l);
    }
    return l;
  }

  /** With A = the syscall number: jump to the outcome of every number of this architecture. */
  private dispatch(arch: ArchInfo): void {
    const numbers = syscallNumbers(arch.table);
    let max = -1;
    for (const n of this.profile.names) {
      const nr = numbers.get(n);
      if (nr !== undefined && nr > max) max = nr;
    }
    const byNr = new Map<number, Rule[]>();
    for (const [name, rules] of this.profile.rules) {
      const nr = numbers.get(name);
      if (nr === undefined) continue; // not a syscall of this architecture: ignored, as runc does
      byNr.set(nr, [...(byNr.get(nr) ?? []), ...rules]);
    }
    const dflt = this.ret(this.profile.defaultAction);
    const blocks: { label: Label; rules: Rule[] }[] = [];
    const segs: Segment[] = [];
    const add = (start: number, target: Label) => {
      if (segs.length && segs[segs.length - 1].target === target) return;
      segs.push({ start, target });
    };
    // Numbers no syscall of this architecture has (holes in the table, never filled) may share
    // the outcome of the range before them: that makes fewer ranges, and the kernel answers
    // ENOSYS for them whatever the filter allows.
    const unused = (from: number, to: number) => {
      for (let n = from; n < to; n++) if (arch.table.names[n - arch.table.base] !== null) return false;
      return to - arch.table.base <= arch.table.names.length;
    };
    let next = 0;
    for (const nr of [...byNr.keys()].sort((x, y) => x - y)) {
      if (nr > next && !(segs.length && unused(next, nr))) add(next, dflt);
      const rules = byNr.get(nr)!;
      // libseccomp: an unconditional rule makes the other rules of its syscall moot.
      const always = rules.find((r) => r.conditions.length === 0);
      if (always) {
        add(nr, this.ret(always.action));
      } else {
        const label = this.asm.newLabel();
        blocks.push({ label, rules });
        add(nr, label);
      }
      next = nr + 1;
    }
    if (max + 1 > next) add(next, dflt);
    if (max >= 0 && this.enosysStub) add(max + 1, this.ret(RET_ERRNO | ENOSYS));
    else add(Math.max(next, max + 1), dflt);
    this.tree(segs, 0, segs.length - 1);
    for (const b of blocks) {
      this.asm.place(b.label);
      this.ruleBlock(b.rules, arch.args32, dflt);
    }
  }

  /** Binary search: the code placed here handles the numbers of segs[i..j]. */
  private tree(segs: Segment[], i: number, j: number): void {
    const a = this.asm;
    if (i === j) {
      a.jump(segs[i].target);
      return;
    }
    const m = (i + j + 1) >> 1;
    const right = m === j ? segs[j].target : a.newLabel();
    const left = m - 1 === i ? segs[i].target : a.newLabel();
    a.branch(JGE, segs[m].start, right, left);
    if (m - 1 !== i) {
      a.place(left);
      this.tree(segs, i, m - 1);
    }
    if (m !== j) {
      a.place(right);
      this.tree(segs, m, j);
    }
  }

  private ruleBlock(rules: Rule[], args32: boolean, dflt: Label): void {
    const a = this.asm;
    for (const [ri, rule] of rules.entries()) {
      const act = this.ret(rule.action);
      const fail = ri === rules.length - 1 ? dflt : a.newLabel();
      for (const [ci, c] of rule.conditions.entries()) {
        const pass = ci === rule.conditions.length - 1 ? act : a.newLabel();
        this.condition(c, args32, pass, fail);
        if (pass !== act) a.place(pass);
      }
      if (fail !== dflt) a.place(fail);
    }
  }

  /** Jump to `pass` when the condition holds, else to `fail`. */
  private condition(c: Condition, args32: boolean, pass: Label, fail: Label): void {
    const a = this.asm;
    const hi = Number(c.value >> 32n);
    const lo = Number(c.value & 0xffffffffn);
    const lowHalf = () => {
      a.load(argLo(c.index));
      switch (c.op) {
        case 'SCMP_CMP_EQ':
          return a.branch(JEQ, lo, pass, fail);
        case 'SCMP_CMP_NE':
          return a.branch(JEQ, lo, fail, pass);
        case 'SCMP_CMP_GT':
          return a.branch(JGT, lo, pass, fail);
        case 'SCMP_CMP_GE':
          return a.branch(JGE, lo, pass, fail);
        case 'SCMP_CMP_LT':
          return a.branch(JGE, lo, fail, pass);
        case 'SCMP_CMP_LE':
          return a.branch(JGT, lo, fail, pass);
        case 'SCMP_CMP_MASKED_EQ':
          a.and(lo);
          return a.branch(JEQ, Number(c.valueTwo & 0xffffffffn), pass, fail);
      }
    };
    if (args32) return lowHalf();

    // The high halves decide unless they are equal; then the low halves do.
    const low = a.newLabel();
    a.load(argHi(c.index));
    switch (c.op) {
      case 'SCMP_CMP_EQ':
        a.branch(JEQ, hi, low, fail);
        break;
      case 'SCMP_CMP_NE':
        a.branch(JEQ, hi, low, pass);
        break;
      case 'SCMP_CMP_GT':
      case 'SCMP_CMP_GE': {
        const eq = a.newLabel();
        a.branch(JGT, hi, pass, eq);
        a.place(eq);
        a.branch(JEQ, hi, low, fail);
        break;
      }
      case 'SCMP_CMP_LT':
      case 'SCMP_CMP_LE': {
        const eq = a.newLabel();
        a.branch(JGT, hi, fail, eq);
        a.place(eq);
        a.branch(JEQ, hi, low, pass);
        break;
      }
      case 'SCMP_CMP_MASKED_EQ':
        a.and(hi);
        a.branch(JEQ, Number(c.valueTwo >> 32n), low, fail);
        break;
    }
    a.place(low);
    lowHalf();
  }
}
