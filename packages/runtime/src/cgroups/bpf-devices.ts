/**
 * cgroup v2 has no devices.allow/deny: the kernel asks a BPF_PROG_TYPE_CGROUP_DEVICE program
 * attached to the cgroup. This module turns the same ordered rule list the v1 driver writes
 * (effectiveDeviceRules) into that program's instructions, as runc's devicefilter does, and
 * installs it through the addon's bpf(2) calls (BPF_F_ALLOW_MULTI, then detaching the programs
 * it replaces, so the cgroup is never left without a filter).
 *
 * Semantics: the last "all devices" rule ("a", from deny-all) sets the default; the rules after
 * it are tried last-first and the first match decides. That is what the v1 controller ends up
 * enforcing for the lists tsrun and runc produce (deny-all, then allows and specific denies).
 */
import * as fs from 'fs';
import { BPF_F_ALLOW_MULTI, cgroupNative } from './native-cgroup';
import { CgroupError, LinuxDeviceCgroup } from './types';

// struct bpf_insn opcodes (linux/bpf_common.h, linux/bpf.h).
const LDX_MEM_W = 0x61; // r_dst = *(u32 *)(r_src + off)
const ALU32_AND_K = 0x54;
const ALU32_RSH_K = 0x74;
const ALU32_MOV_X = 0xbc;
const ALU64_MOV_K = 0xb7;
const JMP_JNE_K = 0x55;
const JMP_JNE_X = 0x5d;
const EXIT = 0x95;

// bpf_cgroup_dev_ctx: access_type = (BPF_DEVCG_ACC_* << 16) | BPF_DEVCG_DEV_*; major; minor.
const DEV_BLOCK = 1;
const DEV_CHAR = 2;
const ACC_MKNOD = 1;
const ACC_READ = 2;
const ACC_WRITE = 4;

export interface Insn {
  code: number;
  dst: number;
  src: number;
  off: number;
  imm: number;
}

const insn = (code: number, dst: number, src: number, off: number, imm: number): Insn => ({ code, dst, src, off, imm });

function accessBits(access: string | undefined): number {
  let bits = 0;
  for (const c of access ?? 'rwm') {
    if (c === 'r') bits |= ACC_READ;
    else if (c === 'w') bits |= ACC_WRITE;
    else if (c === 'm') bits |= ACC_MKNOD;
    else throw new CgroupError(`cgroup: invalid device rule access "${access}" (want a combination of r, w, m)`);
  }
  return bits;
}

const wildcard = (n: number | undefined | null): boolean => n === undefined || n === null || n < 0;

/** One rule: jump past the block unless type, access, major and minor all match; else return allow. */
function ruleBlock(r: LinuxDeviceCgroup): Insn[] {
  const checks: Insn[] = []; // off is patched to "end of block" below
  const type = r.type ?? 'a';
  if (type === 'b' || type === 'c') checks.push(insn(JMP_JNE_K, 2, 0, 0, type === 'b' ? DEV_BLOCK : DEV_CHAR));
  else if (type !== 'a') throw new CgroupError(`cgroup: invalid device rule type "${type}" (want a, b or c)`);
  const bits = accessBits(r.access);
  if (bits !== (ACC_READ | ACC_WRITE | ACC_MKNOD)) {
    // Matches when the requested access is a subset of the rule's: (r3 & bits) == r3.
    checks.push(insn(ALU32_MOV_X, 1, 3, 0, 0), insn(ALU32_AND_K, 1, 0, 0, bits), insn(JMP_JNE_X, 1, 3, 0, 0));
  }
  if (!wildcard(r.major)) checks.push(insn(JMP_JNE_K, 4, 0, 0, r.major!));
  if (!wildcard(r.minor)) checks.push(insn(JMP_JNE_K, 5, 0, 0, r.minor!));
  const block = [...checks, insn(ALU64_MOV_K, 0, 0, 0, r.allow ? 1 : 0), insn(EXIT, 0, 0, 0, 0)];
  return block.map((x, i) => (x.code === JMP_JNE_K || x.code === JMP_JNE_X ? { ...x, off: block.length - (i + 1) } : x));
}

/** The program for an ordered rule list (the first rule is usually deny-all). */
export function deviceFilterProgram(rules: LinuxDeviceCgroup[]): Insn[] {
  let start = 0;
  let defaultAllow = false; // a cgroup with rules but no "a" rule starts from deny, as our lists do
  rules.forEach((r, i) => {
    if ((r.type ?? 'a') === 'a' && wildcard(r.major) && wildcard(r.minor) && accessBits(r.access) === 7) {
      start = i + 1;
      defaultAllow = r.allow;
    }
  });
  const prologue = [
    insn(LDX_MEM_W, 2, 1, 0, 0), // r2 = access_type
    insn(ALU32_AND_K, 2, 0, 0, 0xffff), // r2 = device type
    insn(LDX_MEM_W, 3, 1, 0, 0),
    insn(ALU32_RSH_K, 3, 0, 0, 16), // r3 = requested access
    insn(LDX_MEM_W, 4, 1, 4, 0), // r4 = major
    insn(LDX_MEM_W, 5, 1, 8, 0), // r5 = minor
  ];
  const blocks = rules.slice(start).reverse().flatMap(ruleBlock);
  return [...prologue, ...blocks, insn(ALU64_MOV_K, 0, 0, 0, defaultAllow ? 1 : 0), insn(EXIT, 0, 0, 0, 0)];
}

/** struct bpf_insn[] as the kernel reads it (little-endian x86/arm hosts). */
export function encodeProgram(prog: Insn[]): Buffer {
  const buf = Buffer.alloc(prog.length * 8);
  prog.forEach((x, i) => {
    buf.writeUInt8(x.code, i * 8);
    buf.writeUInt8((x.src << 4) | x.dst, i * 8 + 1);
    buf.writeInt16LE(x.off, i * 8 + 2);
    buf.writeInt32LE(x.imm | 0, i * 8 + 4);
  });
  return buf;
}

/** Replace the device programs tsrun (or anyone) attached to `dir` with one for `rules`. */
export function installDeviceFilter(dir: string, rules: LinuxDeviceCgroup[]): void {
  const addon = cgroupNative();
  let prog = -1;
  let cg = -1;
  try {
    try {
      prog = addon.bpfLoadCgroupDevice(encodeProgram(deviceFilterProgram(rules)), 'Apache');
      cg = fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
      const old = addon.bpfQueryCgroupDevice(cg);
      addon.bpfAttachCgroupDevice(cg, prog, BPF_F_ALLOW_MULTI);
      for (const id of old) {
        const fd = addon.bpfProgFdById(id);
        try {
          addon.bpfDetachCgroupDevice(cg, fd);
        } finally {
          fs.closeSync(fd);
        }
      }
    } catch (e) {
      const err = e as Error & { errno?: number };
      throw new CgroupError(`cgroup: cannot install the device filter (eBPF) on ${dir}: ${err.message}`, err.errno === 1 ? 'EPERM' : undefined);
    }
  } finally {
    if (prog >= 0) fs.closeSync(prog);
    if (cg >= 0) fs.closeSync(cg);
  }
}
