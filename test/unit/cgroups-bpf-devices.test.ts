/**
 * The eBPF device program's shape (the kernel's verdicts are in
 * test/integration/cgroups-bpf-devices.test.ts): instruction encoding, jump targets that land
 * on the next rule, rule order, and the default verdict from the last all-devices rule.
 */
import { deviceFilterProgram, encodeProgram, Insn } from '../../packages/runtime/src/cgroups/bpf-devices';

const EXIT = 0x95;
const MOV_K = 0xb7;

/** Verdicts in program order: [imm of each "r0 = K" before an exit]. */
function verdicts(p: Insn[]): number[] {
  return p.flatMap((x, i) => (x.code === MOV_K && p[i + 1]?.code === EXIT ? [x.imm] : []));
}

describe('deviceFilterProgram', () => {
  test('prologue loads type, access, major and minor from bpf_cgroup_dev_ctx', () => {
    const p = deviceFilterProgram([{ allow: false, access: 'rwm' }]);
    expect(p.slice(0, 6)).toEqual([
      { code: 0x61, dst: 2, src: 1, off: 0, imm: 0 },
      { code: 0x54, dst: 2, src: 0, off: 0, imm: 0xffff },
      { code: 0x61, dst: 3, src: 1, off: 0, imm: 0 },
      { code: 0x74, dst: 3, src: 0, off: 0, imm: 16 },
      { code: 0x61, dst: 4, src: 1, off: 4, imm: 0 },
      { code: 0x61, dst: 5, src: 1, off: 8, imm: 0 },
    ]);
    // Deny-all alone: straight to the default verdict, deny.
    expect(p.slice(6)).toEqual([{ code: MOV_K, dst: 0, src: 0, off: 0, imm: 0 }, { code: EXIT, dst: 0, src: 0, off: 0, imm: 0 }]);
  });

  test('rules after the last all-devices rule are tried last-first; every jump lands on the next rule', () => {
    const p = deviceFilterProgram([
      { allow: true, type: 'c', major: 9, minor: 9, access: 'rwm' }, // before deny-all: dropped
      { allow: false, access: 'rwm' },
      { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' },
      { allow: false, type: 'b', major: 7, access: 'r' },
    ]);
    expect(verdicts(p)).toEqual([0, 1, 0]); // b 7:* r deny, c 1:3 allow, default deny
    expect(p.some((x) => x.imm === 9)).toBe(false);
    p.forEach((x, i) => {
      if (x.code !== 0x55 && x.code !== 0x5d) return;
      const target = i + 1 + x.off;
      // A failed check skips to the first instruction after this rule's exit.
      expect(p[target - 1].code).toBe(EXIT);
    });
  });

  test('encoding: 8 bytes per instruction, src/dst nibbles, little-endian off and imm', () => {
    const buf = encodeProgram([{ code: 0x55, dst: 4, src: 0, off: 3, imm: 136 }, { code: 0x5d, dst: 1, src: 3, off: -1, imm: -1 }]);
    expect([...buf]).toEqual([0x55, 0x04, 3, 0, 136, 0, 0, 0, 0x5d, 0x31, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
  });

  test('bad rules are one-line errors', () => {
    expect(() => deviceFilterProgram([{ allow: true, type: 'x', access: 'r' }])).toThrow('invalid device rule type "x"');
    expect(() => deviceFilterProgram([{ allow: true, type: 'c', access: 'q' }])).toThrow('invalid device rule access "q"');
  });
});
