/**
 * The seccomp compiler: what the filter answers for given syscalls and arguments, run through
 * a cBPF interpreter that enforces the kernel's rules (test/helpers/bpf.ts). The integration
 * tests (test/integration/seccomp.test.ts) load the same filters into the kernel.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { defaultSeccomp, type LinuxSeccomp } from '../../packages/spec/src';
import { compileSeccomp } from '../../packages/runtime/src/seccomp';
import { AUDIT, RET, runFilter } from '../helpers/bpf';

// x86_64 numbers (asm/unistd_64.h), and a few of i386, x32 and aarch64.
const NR = { read: 0, mkdir: 83, personality: 135, socket: 41, clone: 56, unshare: 272, clone3: 435, mount: 165 };
const I386 = { mkdir: 39, personality: 136 };
const X32 = 0x40000000;
const ARM64 = { mkdirat: 34, personality: 92, unshare: 97 };

function filterOf(p: LinuxSeccomp, arch = 'x64'): Buffer {
  return compileSeccomp(p, arch).filter;
}
function x64(f: Buffer, nr: number, ...args: (number | bigint)[]): number {
  return runFilter(f, { arch: AUDIT.X86_64, nr, args: args.map(BigInt) });
}

describe('actions', () => {
  const cases: [string, number | undefined, number][] = [
    ['SCMP_ACT_ERRNO', undefined, RET.ERRNO(1)],
    ['SCMP_ACT_ERRNO', 38, RET.ERRNO(38)],
    ['SCMP_ACT_KILL', undefined, RET.KILL_THREAD],
    ['SCMP_ACT_KILL_THREAD', undefined, RET.KILL_THREAD],
    ['SCMP_ACT_KILL_PROCESS', undefined, RET.KILL_PROCESS],
    ['SCMP_ACT_TRAP', undefined, RET.TRAP],
    ['SCMP_ACT_TRACE', undefined, RET.TRACE(1)],
    ['SCMP_ACT_TRACE', 7, RET.TRACE(7)],
    ['SCMP_ACT_LOG', undefined, RET.LOG],
    ['SCMP_ACT_NOTIFY', undefined, RET.USER_NOTIF],
  ];
  for (const [action, errnoRet, want] of cases) {
    it(`${action}${errnoRet !== undefined ? ` errnoRet ${errnoRet}` : ''}`, () => {
      const f = filterOf({ defaultAction: 'SCMP_ACT_ALLOW', listenerPath: '/run/agent.sock', syscalls: [{ names: ['mkdir'], action: action as never, errnoRet }] });
      expect(x64(f, NR.mkdir)).toBe(want);
      expect(x64(f, NR.read)).toBe(RET.ALLOW);
      expect(x64(f, 1000)).toBe(RET.ALLOW);
    });
  }

  it('defaultAction with defaultErrnoRet; a rule ERRNO without errnoRet is still EPERM', () => {
    const f = filterOf({
      defaultAction: 'SCMP_ACT_ERRNO',
      defaultErrnoRet: 5,
      syscalls: [{ names: ['read'], action: 'SCMP_ACT_ALLOW' }, { names: ['mkdir'], action: 'SCMP_ACT_ERRNO' }],
    });
    expect(x64(f, NR.read)).toBe(RET.ALLOW);
    expect(x64(f, NR.mkdir)).toBe(RET.ERRNO(1));
    expect(x64(f, 1)).toBe(RET.ERRNO(5));
  });

  it('a filter with no rules still answers every syscall with the default', () => {
    const f = filterOf({ defaultAction: 'SCMP_ACT_ALLOW' });
    expect(x64(f, 0)).toBe(RET.ALLOW);
    expect(x64(f, 0x3fffffff)).toBe(RET.ALLOW);
  });
});

describe('architectures', () => {
  const p: LinuxSeccomp = {
    defaultAction: 'SCMP_ACT_ALLOW',
    syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO' }],
  };

  it('the native architecture is filtered even when not listed; unlisted ones are killed', () => {
    const f = filterOf({ ...p, architectures: ['SCMP_ARCH_AARCH64'] });
    expect(x64(f, NR.mkdir)).toBe(RET.ERRNO(1));
    expect(runFilter(f, { arch: AUDIT.I386, nr: I386.mkdir })).toBe(RET.KILL_THREAD);
    // x32 rides on AUDIT_ARCH_X86_64 with bit 30 set in the number: without SCMP_ARCH_X32, killed.
    expect(x64(f, X32 + NR.mkdir)).toBe(RET.KILL_THREAD);
    expect(runFilter(f, { arch: AUDIT.ARM, nr: 1 })).toBe(RET.KILL_THREAD);
  });

  it('i386 and x32 use their own syscall numbers', () => {
    const f = filterOf({ ...p, architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'] });
    expect(runFilter(f, { arch: AUDIT.I386, nr: I386.mkdir })).toBe(RET.ERRNO(1));
    expect(runFilter(f, { arch: AUDIT.I386, nr: NR.mkdir })).toBe(RET.ALLOW);
    expect(x64(f, X32 + NR.mkdir)).toBe(RET.ERRNO(1));
    expect(x64(f, X32 + NR.read)).toBe(RET.ALLOW);
  });

  it('aarch64 (compiled as on an arm64 machine)', () => {
    const f = filterOf(p, 'arm64');
    expect(runFilter(f, { arch: AUDIT.AARCH64, nr: ARM64.mkdirat })).toBe(RET.ERRNO(1));
    expect(runFilter(f, { arch: AUDIT.AARCH64, nr: NR.mkdir })).toBe(RET.ALLOW);
    expect(runFilter(f, { arch: AUDIT.X86_64, nr: NR.mkdir })).toBe(RET.KILL_THREAD);
  });

  it('an unknown architecture name is an error, as in runc', () => {
    expect(() => filterOf({ ...p, architectures: ['SCMP_ARCH_FOO'] })).toThrow('string SCMP_ARCH_FOO is not a valid arch for seccomp');
  });
});

describe('argument conditions', () => {
  const OPS = ['SCMP_CMP_NE', 'SCMP_CMP_LT', 'SCMP_CMP_LE', 'SCMP_CMP_EQ', 'SCMP_CMP_GE', 'SCMP_CMP_GT', 'SCMP_CMP_MASKED_EQ'] as const;
  const holds = (op: (typeof OPS)[number], arg: bigint, v: bigint, v2: bigint): boolean =>
    ({
      SCMP_CMP_NE: arg !== v,
      SCMP_CMP_LT: arg < v,
      SCMP_CMP_LE: arg <= v,
      SCMP_CMP_EQ: arg === v,
      SCMP_CMP_GE: arg >= v,
      SCMP_CMP_GT: arg > v,
      SCMP_CMP_MASKED_EQ: (arg & v) === v2,
    })[op];
  // Values around the 32-bit boundary, so that both halves decide somewhere.
  const VALUES = [0n, 1n, 5n, 0xffffffffn, 0x100000000n, 0x100000004n, 0x100000005n, 0x100000006n, 0x200000000n, 0xffffffff00000005n, (1n << 64n) - 1n];

  for (const op of OPS) {
    it(`${op}: 64-bit values compared as two halves`, () => {
      for (const v of VALUES) {
        const v2 = v & 0xf0000000fn;
        const f = filterOf({
          defaultAction: 'SCMP_ACT_ALLOW',
          syscalls: [{ names: ['personality'], action: 'SCMP_ACT_ERRNO', args: [{ index: 2, value: Number(v), valueTwo: Number(v2), op }] }],
        });
        for (const arg of VALUES) {
          // JSON numbers above 2^53 are rounded: compare with what the profile really says.
          const pv = BigInt(Number(v)) > (1n << 64n) - 1n ? (1n << 64n) - 1n : BigInt(Number(v));
          const pv2 = BigInt(Number(v2));
          const want = holds(op, arg, pv, pv2) ? RET.ERRNO(1) : RET.ALLOW;
          const got = runFilter(f, { arch: AUDIT.X86_64, nr: NR.personality, args: [0n, 0n, arg] });
          if (got !== want) throw new Error(`${op} arg ${arg} value ${pv}: got ${got.toString(16)}, want ${want.toString(16)}`);
        }
      }
    });
  }

  it('i386 compares only the low 32 bits', () => {
    const f = filterOf({
      defaultAction: 'SCMP_ACT_ALLOW',
      architectures: ['SCMP_ARCH_X86'],
      syscalls: [{ names: ['personality'], action: 'SCMP_ACT_ERRNO', args: [{ index: 0, value: 0x100000008, op: 'SCMP_CMP_EQ' }] }],
    });
    expect(runFilter(f, { arch: AUDIT.I386, nr: I386.personality, args: [8n] })).toBe(RET.ERRNO(1));
    expect(runFilter(f, { arch: AUDIT.X86_64, nr: NR.personality, args: [8n] })).toBe(RET.ALLOW);
    expect(runFilter(f, { arch: AUDIT.X86_64, nr: NR.personality, args: [0x100000008n] })).toBe(RET.ERRNO(1));
  });

  it('conditions of one entry are ANDed, entries for one syscall ORed', () => {
    const f = filterOf({
      defaultAction: 'SCMP_ACT_ERRNO',
      syscalls: [
        { names: ['socket'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 1, op: 'SCMP_CMP_EQ' }, { index: 1, value: 2, op: 'SCMP_CMP_EQ' }] },
        { names: ['socket'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 10, op: 'SCMP_CMP_EQ' }] },
      ],
    });
    expect(x64(f, NR.socket, 1, 2)).toBe(RET.ALLOW);
    expect(x64(f, NR.socket, 1, 3)).toBe(RET.ERRNO(1));
    expect(x64(f, NR.socket, 2, 2)).toBe(RET.ERRNO(1));
    expect(x64(f, NR.socket, 10, 99)).toBe(RET.ALLOW);
  });

  it("one argument named twice in an entry: each condition is a rule of its own (runc's rule)", () => {
    const f = filterOf({
      defaultAction: 'SCMP_ACT_ALLOW',
      syscalls: [{ names: ['personality'], action: 'SCMP_ACT_ERRNO', args: [{ index: 0, value: 0, op: 'SCMP_CMP_EQ' }, { index: 0, value: 8, op: 'SCMP_CMP_EQ' }] }],
    });
    expect(x64(f, NR.personality, 0)).toBe(RET.ERRNO(1));
    expect(x64(f, NR.personality, 8)).toBe(RET.ERRNO(1));
    expect(x64(f, NR.personality, 9)).toBe(RET.ALLOW);
  });

  it('an unconditional rule wins over conditional ones; a rule with the default action is dropped (libseccomp, runc)', () => {
    const cond = { names: ['mkdir'], action: 'SCMP_ACT_ERRNO' as const, errnoRet: 38, args: [{ index: 1, value: 0o777, op: 'SCMP_CMP_EQ' as const }] };
    const f1 = filterOf({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [cond, { names: ['mkdir'], action: 'SCMP_ACT_ERRNO', errnoRet: 5 }] });
    expect(x64(f1, NR.mkdir, 0, 0o777)).toBe(RET.ERRNO(5));
    const f2 = filterOf({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_ALLOW' }, cond] });
    expect(x64(f2, NR.mkdir, 0, 0o777)).toBe(RET.ERRNO(38));
    expect(x64(f2, NR.mkdir, 0, 0o755)).toBe(RET.ALLOW);
  });
});

describe('syscalls newer than the profile get ENOSYS (runc)', () => {
  it('with a restrictive default', () => {
    const f = filterOf({ defaultAction: 'SCMP_ACT_ERRNO', syscalls: [{ names: ['read', 'unshare'], action: 'SCMP_ACT_ALLOW' }] });
    expect(x64(f, NR.read)).toBe(RET.ALLOW);
    expect(x64(f, NR.mkdir)).toBe(RET.ERRNO(1));
    expect(x64(f, NR.unshare)).toBe(RET.ALLOW);
    expect(x64(f, NR.unshare + 1)).toBe(RET.ERRNO(38));
    expect(x64(f, NR.clone3)).toBe(RET.ERRNO(38));
  });

  it('not with a permissive default, nor when the default already is ENOSYS', () => {
    const allow = filterOf({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_ERRNO' }] });
    expect(x64(allow, NR.clone3)).toBe(RET.ALLOW);
    const enosys = filterOf({ defaultAction: 'SCMP_ACT_ERRNO', defaultErrnoRet: 38, syscalls: [{ names: ['read'], action: 'SCMP_ACT_ALLOW' }] });
    expect(x64(enosys, NR.mkdir)).toBe(RET.ERRNO(38));
  });
});

describe('names and errors', () => {
  it('syscall names no table knows are ignored, as runc does', () => {
    const f = filterOf({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['nosuchcall', 'mkdir'], action: 'SCMP_ACT_KILL_PROCESS' }] });
    expect(x64(f, NR.mkdir)).toBe(RET.KILL_PROCESS);
  });

  const bad: [string, LinuxSeccomp, string][] = [
    ['bad action', { defaultAction: 'SCMP_ACT_BOGUS' as never }, 'string SCMP_ACT_BOGUS is not a valid action for seccomp'],
    ['bad rule action', { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir'], action: 'X' as never }] }, 'string X is not a valid action for seccomp'],
    ['bad operator', { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_ERRNO', args: [{ index: 0, value: 1, op: 'SCMP_CMP_FOO' as never }] }] }, 'string SCMP_CMP_FOO is not a valid operator for seccomp'],
    ['argument index 6', { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_ERRNO', args: [{ index: 6, value: 1, op: 'SCMP_CMP_EQ' }] }] }, 'syscalls only have up to 6 arguments (6 given)'],
    ['negative value', { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_ERRNO', args: [{ index: 0, value: -1, op: 'SCMP_CMP_EQ' }] }] }, 'is not an unsigned 64-bit integer'],
    ['bad errnoRet', { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_ERRNO', errnoRet: 70000 }] }, 'errnoRet 70000'],
    ['unknown flag', { defaultAction: 'SCMP_ACT_ALLOW', flags: ['SECCOMP_FILTER_FLAG_BOGUS' as never] }, 'seccomp flag "SECCOMP_FILTER_FLAG_BOGUS" is not supported'],
    ['notify without listenerPath', { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_NOTIFY' }] }, 'seccomp listenerPath is not set'],
    ['notify as the default action', { defaultAction: 'SCMP_ACT_NOTIFY', listenerPath: '/run/agent.sock' }, 'SCMP_ACT_NOTIFY cannot be used as default action'],
    ['notify for sendmsg (the listener\'s hand-over)', { defaultAction: 'SCMP_ACT_ALLOW', listenerPath: '/run/agent.sock', syscalls: [{ names: ['mkdir', 'sendmsg'], action: 'SCMP_ACT_NOTIFY' }] }, 'SCMP_ACT_NOTIFY cannot be used for the sendmsg syscall'],
  ];
  for (const [what, p, msg] of bad) {
    it(`${what}: one-line error`, () => {
      let err: Error | undefined;
      try {
        compileSeccomp(p, 'x64');
      } catch (e) {
        err = e as Error;
      }
      expect(err?.message).toContain(msg);
      expect(err?.message).not.toContain('\n');
    });
  }

  it('a machine whose syscall tables we lack: an error, not an unfiltered container', () => {
    expect(() => compileSeccomp({ defaultAction: 'SCMP_ACT_ALLOW' }, 'ppc64')).toThrow(/not supported on this machine's architecture \(ppc64\)/);
  });

  it('flags are passed on', () => {
    const { flags } = compileSeccomp({ defaultAction: 'SCMP_ACT_ALLOW', flags: ['SECCOMP_FILTER_FLAG_TSYNC', 'SECCOMP_FILTER_FLAG_LOG', 'SECCOMP_FILTER_FLAG_SPEC_ALLOW'] }, 'x64');
    expect(flags).toBe(1 | 2 | 4);
  });

  it('a notifying profile gets NEW_LISTENER (and loses TSYNC, which the kernel refuses with it); WAIT_KILLABLE_RECV only with it', () => {
    const all = ['SECCOMP_FILTER_FLAG_TSYNC', 'SECCOMP_FILTER_FLAG_LOG', 'SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV'] as never[];
    const notify = compileSeccomp({ defaultAction: 'SCMP_ACT_ALLOW', listenerPath: '/run/agent.sock', flags: all, syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_NOTIFY' }] }, 'x64');
    expect(notify.flags).toBe(2 | 8 | 32);
    const plain = compileSeccomp({ defaultAction: 'SCMP_ACT_ALLOW', listenerPath: '/run/agent.sock', flags: all, syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_ERRNO' }] }, 'x64');
    expect(plain.flags).toBe(1 | 2);
    // Without SCMP_ACT_NOTIFY rules listenerPath is ignored, as the runtime-spec says.
    expect(compileSeccomp({ defaultAction: 'SCMP_ACT_ALLOW', listenerPath: '/run/agent.sock' }, 'x64').flags).toBe(0);
  });

  it('notify rules keep their conditions; other syscalls are not notified', () => {
    const f = filterOf({
      defaultAction: 'SCMP_ACT_ERRNO',
      listenerPath: '/run/agent.sock',
      syscalls: [
        { names: ['read'], action: 'SCMP_ACT_ALLOW' },
        { names: ['personality'], action: 'SCMP_ACT_NOTIFY', args: [{ index: 0, value: 8, op: 'SCMP_CMP_EQ' }] },
      ],
    });
    expect(x64(f, NR.personality, 8)).toBe(RET.USER_NOTIF);
    expect(x64(f, NR.personality, 0)).toBe(RET.ERRNO(1));
    expect(x64(f, NR.read)).toBe(RET.ALLOW);
  });
});

describe('program shape', () => {
  it('far targets go through trampolines (hundreds of conditional syscalls)', () => {
    const names = Array.from({ length: 300 }, (_, i) => i).filter((i) => i !== NR.read);
    const table = require('../../packages/runtime/src/seccomp/tables/x86_64').table as { names: (string | null)[] };
    const syscalls = names
      .filter((nr) => table.names[nr])
      .map((nr) => ({ names: [table.names[nr]!], action: 'SCMP_ACT_ERRNO' as const, errnoRet: nr % 4000, args: [{ index: 0, value: nr, op: 'SCMP_CMP_EQ' as const }] }));
    const f = filterOf({ defaultAction: 'SCMP_ACT_ALLOW', syscalls });
    expect(f.length / 8).toBeGreaterThan(300);
    for (const s of syscalls) {
      const nr = table.names.indexOf(s.names[0]);
      expect(x64(f, nr, nr)).toBe(RET.ERRNO(nr % 4000));
      expect(x64(f, nr, nr + 1)).toBe(RET.ALLOW);
    }
  });

  it('too many instructions is an error, not a filter the kernel refuses', () => {
    const args = [{ index: 0, value: 1, op: 'SCMP_CMP_GT' as const }];
    const syscalls = Array.from({ length: 1000 }, (_, i) => ({ names: ['mkdir'], action: 'SCMP_ACT_ERRNO' as const, errnoRet: i + 2, args: [...args, { index: 1, value: i, op: 'SCMP_CMP_EQ' as const }] }));
    expect(() => filterOf({ defaultAction: 'SCMP_ACT_ALLOW', syscalls })).toThrow(/more than the kernel's limit of 4096/);
  });
});

describe("the default profile (Docker's, as `tsrun spec` writes it)", () => {
  const f = filterOf(defaultSeccomp('x64'));
  const CLONE_NEWNS = 0x20000;
  const CLONE_NEWUSER = 0x10000000;
  const THREAD_FLAGS = 0x3d0f00; // what glibc's pthread_create passes

  it('is small: a binary search, not a list', () => {
    // Three architectures, ~330 allowed syscalls each.
    expect(f.length / 8).toBeLessThan(400);
  });

  it('allows ordinary syscalls on x86_64, i386 and x32', () => {
    for (const nr of [NR.read, NR.mkdir, 1, 2, 3, 59 /* execve */, 231 /* exit_group */, 158 /* arch_prctl */]) {
      expect(x64(f, nr)).toBe(RET.ALLOW);
    }
    expect(runFilter(f, { arch: AUDIT.I386, nr: I386.mkdir })).toBe(RET.ALLOW);
    expect(x64(f, X32 + NR.read)).toBe(RET.ALLOW);
  });

  it('denies namespace and mount syscalls with EPERM, clone3 with ENOSYS, newer syscalls with ENOSYS', () => {
    expect(x64(f, NR.unshare)).toBe(RET.ERRNO(1));
    expect(x64(f, NR.mount)).toBe(RET.ERRNO(1));
    expect(x64(f, 161 /* chroot */)).toBe(RET.ERRNO(1));
    expect(x64(f, NR.clone3)).toBe(RET.ERRNO(38));
    expect(x64(f, 1000)).toBe(RET.ERRNO(38));
  });

  it('clone without namespace flags only; socket but not AF_VSOCK; personality for a few values', () => {
    expect(x64(f, NR.clone, THREAD_FLAGS)).toBe(RET.ALLOW);
    expect(x64(f, NR.clone, 17 /* SIGCHLD: fork */)).toBe(RET.ALLOW);
    expect(x64(f, NR.clone, 17 | CLONE_NEWNS)).toBe(RET.ERRNO(1));
    expect(x64(f, NR.clone, 17 | CLONE_NEWUSER)).toBe(RET.ERRNO(1));
    expect(x64(f, NR.socket, 2 /* AF_INET */)).toBe(RET.ALLOW);
    expect(x64(f, NR.socket, 40 /* AF_VSOCK */)).toBe(RET.ERRNO(1));
    for (const p of [0, 8, 0x20000, 0x20008, 0xffffffff]) expect(x64(f, NR.personality, p)).toBe(RET.ALLOW);
    expect(x64(f, NR.personality, 0x40000 /* READ_IMPLIES_EXEC */)).toBe(RET.ERRNO(1));
  });

  it('compiles for aarch64 too', () => {
    const a = filterOf(defaultSeccomp('arm64'), 'arm64');
    expect(runFilter(a, { arch: AUDIT.AARCH64, nr: ARM64.mkdirat })).toBe(RET.ALLOW);
    expect(runFilter(a, { arch: AUDIT.AARCH64, nr: ARM64.unshare })).toBe(RET.ERRNO(1));
  });
});

describe('syscall tables', () => {
  const script = path.resolve(__dirname, '../../scripts/gen-syscall-tables.js');
  const haveHeaders = fs.existsSync('/usr/include/x86_64-linux-gnu/asm/unistd_64.h') && fs.existsSync('/usr/aarch64-linux-gnu/include/asm/unistd.h');
  (haveHeaders ? it : it.skip)(
    `are what scripts/gen-syscall-tables.js makes of the kernel headers${haveHeaders ? '' : ' [SKIPPED: linux-libc-dev(-arm64-cross) headers absent]'}`,
    () => {
      const r = spawnSync(process.execPath, [script, '--check'], { encoding: 'utf8' });
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
    },
  );

  it('hold the numbers every libc agrees on', () => {
    const load = (a: string) => require(`../../packages/runtime/src/seccomp/tables/${a}`).table as { base: number; names: (string | null)[] };
    expect(load('x86_64').names[NR.mkdir]).toBe('mkdir');
    expect(load('x86_64').names[NR.clone3]).toBe('clone3');
    expect(load('i386').names[I386.personality]).toBe('personality');
    expect(load('x32').base).toBe(X32);
    expect(load('x32').names[NR.mkdir]).toBe('mkdir');
    expect(load('x32').names[13]).toBeNull(); // x32's rt_sigaction is 512
    expect(load('aarch64').names[ARM64.unshare]).toBe('unshare');
    expect(load('aarch64').names.includes('mkdir')).toBe(false);
  });
});
