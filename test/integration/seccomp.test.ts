/**
 * linux.seccomp at work: real syscalls made by busybox inside the container, the outcome seen
 * from inside (error texts, /proc/self/status) and from the host (exit codes). The same
 * profiles run on runc (RUNTIME=runc), which uses libseccomp; runc 1.1.5 has no seccomp
 * flags, so only the flags test is tsrun's alone.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { defaultSeccomp } from '../../packages/spec/src';
import type { LinuxSeccomp } from '../../packages/spec/src';
import { DEFAULT_CAPS, itTsrun, ok, Result, Spec, useSandbox } from '../helpers/runtime';

const sb = useSandbox();

function run(args: string[], seccomp: LinuxSeccomp | undefined, edit?: (s: Spec) => void): Result {
  return sb.run(
    sb.id('sec'),
    sb.bundle(args, (s) => {
      if (seccomp) s.linux.seccomp = seccomp;
      edit?.(s);
    }),
  );
}

/** Allow everything but `names`, which get `action`. */
function deny(names: string[], action: string, errnoRet?: number): LinuxSeccomp {
  return { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names, action: action as never, errnoRet }] };
}

/** Docker's profile, as `tsrun spec` writes it, with `change` applied to a copy. */
function docker(change?: (p: LinuxSeccomp) => void): LinuxSeccomp {
  const p = defaultSeccomp();
  change?.(p);
  return p;
}

const SIGSYS_EXIT = 128 + 31;
const MKDIR = ['mkdir', '/dev/shm/d'];

describe('actions', () => {
  it('without a profile, mkdir works (the control)', () => {
    const r = run(MKDIR, undefined);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });

  it('SCMP_ACT_ERRNO: mkdir fails with EPERM, other syscalls still work', () => {
    const r = run(['sh', '-c', 'mkdir /dev/shm/d; echo "mkdir=$?"; grep ^Seccomp: /proc/self/status'], deny(['mkdir', 'mkdirat'], 'SCMP_ACT_ERRNO'));
    expect(r.stderr).toMatch(/can't create directory '\/dev\/shm\/d': Operation not permitted/);
    expect(r.stdout).toBe('mkdir=1\nSeccomp:\t2\n');
    expect(r.code).toBe(0);
  });

  it('errnoRet: the process sees the errno the profile chose (38, ENOSYS)', () => {
    const r = run(MKDIR, deny(['mkdir', 'mkdirat'], 'SCMP_ACT_ERRNO', 38));
    expect(r.stderr).toMatch(/can't create directory '\/dev\/shm\/d': Function not implemented/);
    expect(r.code).toBe(1);
  });

  it('SCMP_ACT_KILL_PROCESS: the process dies of SIGSYS', () => {
    const r = run(MKDIR, deny(['mkdir', 'mkdirat'], 'SCMP_ACT_KILL_PROCESS'));
    expect(r.code).toBe(SIGSYS_EXIT);
  });

  it('SCMP_ACT_KILL (= KILL_THREAD): a single-threaded process dies of SIGSYS', () => {
    const r = run(MKDIR, deny(['mkdir', 'mkdirat'], 'SCMP_ACT_KILL'));
    expect(r.code).toBe(SIGSYS_EXIT);
  });

  it('SCMP_ACT_TRAP: SIGSYS is a signal the process can catch', () => {
    const p = deny(['chdir'], 'SCMP_ACT_TRAP');
    const r = run(['sh', '-c', 'trap "echo caught SIGSYS" SYS; cd /tmp; echo "still running"'], p);
    expect(r.stdout).toBe('caught SIGSYS\nstill running\n');
    expect(r.code).toBe(0);
    // The same syscall under KILL_PROCESS cannot be caught.
    expect(run(['sh', '-c', 'trap "echo caught SIGSYS" SYS; cd /tmp; echo "still running"'], deny(['chdir'], 'SCMP_ACT_KILL_PROCESS')).code).toBe(SIGSYS_EXIT);
  });

  it('SCMP_ACT_TRACE without a tracer: ENOSYS; SCMP_ACT_LOG: allowed', () => {
    const traced = run(MKDIR, deny(['mkdir', 'mkdirat'], 'SCMP_ACT_TRACE'));
    expect(traced.stderr).toMatch(/Function not implemented/);
    const logged = run(MKDIR, deny(['mkdir', 'mkdirat'], 'SCMP_ACT_LOG'));
    expect(logged.stderr).toBe('');
    expect(logged.code).toBe(0);
  });

  it('defaultAction ERRNO with defaultErrnoRet and an allow list', () => {
    const p = docker((d) => {
      d.defaultErrnoRet = 13; // EACCES
      d.syscalls![0].names = d.syscalls![0].names.filter((n) => n !== 'mkdir' && n !== 'mkdirat');
    });
    const r = run(['sh', '-c', 'mkdir /dev/shm/d; ls -d /dev/shm'], p);
    expect(r.stderr).toMatch(/can't create directory '\/dev\/shm\/d': Permission denied/);
    expect(r.stdout).toBe('/dev/shm\n');
  });

  it('syscall names the runtime does not know are ignored', () => {
    const r = run(MKDIR, deny(['no_such_syscall', 'mkdir', 'mkdirat'], 'SCMP_ACT_ERRNO'));
    expect(r.stderr).toMatch(/Operation not permitted/);
  });
});

describe('argument conditions', () => {
  const uname = ['sh', '-c', 'linux32 uname -m; linux64 uname -m'];

  it('personality denied unless its argument is PER_LINUX32 (SCMP_CMP_NE on a deny rule)', () => {
    const p: LinuxSeccomp = {
      defaultAction: 'SCMP_ACT_ALLOW',
      syscalls: [{ names: ['personality'], action: 'SCMP_ACT_ERRNO', args: [{ index: 0, value: 8, op: 'SCMP_CMP_NE' }] }],
    };
    const r = run(uname, p);
    expect(r.stdout).toBe('i686\n');
    expect(r.stderr).toMatch(/linux64: personality\(0x0\): Operation not permitted/);
  });

  it('personality allowed for one value only (SCMP_CMP_EQ on an allow rule, default ERRNO)', () => {
    const p = docker((d) => {
      d.syscalls = d.syscalls!.filter((s) => !s.names.includes('personality'));
      d.syscalls.push({ names: ['personality'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 8, op: 'SCMP_CMP_EQ' }] });
    });
    const r = run(uname, p);
    expect(r.stdout).toBe('i686\n');
    expect(r.stderr).toMatch(/linux64: personality\(0x0\): Operation not permitted/);
  });

  it('several entries for one syscall are ORed; a 64-bit value above 2^32 does not match a small one', () => {
    const p: LinuxSeccomp = {
      defaultAction: 'SCMP_ACT_ALLOW',
      syscalls: [
        { names: ['personality'], action: 'SCMP_ACT_ERRNO', args: [{ index: 0, value: 0x100000000, op: 'SCMP_CMP_EQ' }] },
        { names: ['personality'], action: 'SCMP_ACT_ERRNO', errnoRet: 22, args: [{ index: 0, value: 0, op: 'SCMP_CMP_EQ' }] },
      ],
    };
    const r = run(uname, p);
    expect(r.stdout).toBe('i686\n');
    expect(r.stderr).toMatch(/linux64: personality\(0x0\): Invalid argument/);
  });

  it('SCMP_CMP_MASKED_EQ: denied when the PER_LINUX32 bit is set', () => {
    const p: LinuxSeccomp = {
      defaultAction: 'SCMP_ACT_ALLOW',
      syscalls: [{ names: ['personality'], action: 'SCMP_ACT_ERRNO', args: [{ index: 0, value: 0xff, valueTwo: 0x8, op: 'SCMP_CMP_MASKED_EQ' }] }],
    };
    const r = run(uname, p);
    expect(r.stdout).toBe('x86_64\n');
    expect(r.stderr).toMatch(/linux32: personality\(0x8\): Operation not permitted/);
  });
});

describe("Docker's default profile (what `tsrun spec` writes)", () => {
  it('busybox works under it', () => {
    const script = [
      'ls /bin/busybox',
      'echo hello | sed s/hello/world/ | tr a-z A-Z',
      'seq 3 | sort -r | head -1',
      'awk "BEGIN { print 6 * 7 }"',
      'sleep 0.1 && echo slept',
      'mkdir /dev/shm/d && rmdir /dev/shm/d && echo dirs',
      '(echo sub) & wait',
      'ps -o pid,comm | grep -c ps',
      'id -u',
      'grep ^Seccomp: /proc/self/status',
    ].join('; ');
    const r = ok(run(['sh', '-c', script], docker()));
    expect(r.stdout).toBe('/bin/busybox\nWORLD\n3\n42\nslept\ndirs\nsub\n1\n0\nSeccomp:\t2\n');
  });

  it('blocks unshare and mount even with CAP_SYS_ADMIN (which lets them work without it)', () => {
    const withAdmin = (s: Spec) => {
      for (const set of ['bounding', 'effective', 'permitted']) s.process.capabilities[set] = [...DEFAULT_CAPS, 'CAP_SYS_ADMIN'];
    };
    const script = 'unshare -m true && echo unshared; mount -t tmpfs none /mnt && echo mounted && umount /mnt; true';
    const free = ok(run(['sh', '-c', script], undefined, withAdmin));
    expect(free.stdout).toBe('unshared\nmounted\n');
    const filtered = ok(run(['sh', '-c', script], docker(), withAdmin));
    expect(filtered.stdout).toBe('');
    expect(filtered.stderr).toMatch(/unshare.*Operation not permitted/);
    expect(filtered.stderr).toMatch(/mount: permission denied/); // busybox's words for EPERM
  });
});

describe('where the filter is loaded', () => {
  it('without noNewPrivileges, for a non-root user (the filter goes in before capabilities are dropped)', () => {
    const r = run(['sh', '-c', 'mkdir /dev/shm/d; grep -E "^(NoNewPrivs|Seccomp|Uid):" /proc/self/status'], deny(['mkdir', 'mkdirat'], 'SCMP_ACT_ERRNO'), (s) => {
      s.process.noNewPrivileges = false;
      s.process.user = { uid: 1000, gid: 1000 };
    });
    expect(r.stderr).toMatch(/Operation not permitted/);
    expect(r.stdout).toBe('Uid:\t1000\t1000\t1000\t1000\nNoNewPrivs:\t0\nSeccomp:\t2\n');
  });
});

type Abi = '64' | '32' | '320';
const ABIS: Abi[] = ['64', '32', '320'];
const ABI_NAMES: Record<Abi, string> = { '64': 'x86_64', '32': 'i386', '320': 'x32' };
/** What to do on a kernel that does not run the ABI. */
const ABI_HINTS: Record<Abi, string> = {
  '64': '',
  '32': 'no i386 emulation (ia32_emulation=0, or a kernel without IA32_EMULATION)',
  '320': 'x32 disabled (Debian\'s kernels: boot with syscall.x32=y)',
};
/** The directory the helper makes (on the host when probing). */
const ABI_DIR = '/dev/shm/abi';

/**
 * What the kernel does with an ABI. 'runs': the helper printed ret=0 or ret=-17 (its mkdir
 * made ABI_DIR or found it there). 'absent': the kernel refused the ABI: ENOSYS, or the process
 * killed before it printed anything (never for the machine's own ABI). 'broken': anything else.
 */
type Verdict = { kind: 'runs' } | { kind: 'absent'; why: string } | { kind: 'broken'; why: string };

/**
 * Compiles test/helpers/abi-mkdir.c for each ABI into `bin` and runs each once directly on the
 * host, a plain child of this process (no container, no runtime, no filter of ours).
 */
function buildAndProbeAbis(bin: string): { bin: string; verdicts: Record<Abi, Verdict> } {
  const src = path.resolve(__dirname, '../helpers/abi-mkdir.c');
  const verdicts = {} as Record<Abi, Verdict>;
  for (const abi of ABIS) {
    const exe = path.join(bin, `mkdir${abi}`);
    const flags = ['-static', '-nostdlib', '-no-pie', '-fno-stack-protector', '-O2', `-DABI=${abi}`];
    const c = spawnSync('cc', [...flags, '-o', exe, src], { encoding: 'utf8' });
    verdicts[abi] = c.status === 0 ? probeAbi(abi, exe) : { kind: 'broken', why: `cc: ${c.error ?? c.stderr}` };
  }
  return { bin, verdicts };
}

function probeAbi(abi: Abi, exe: string): Verdict {
  const r = spawnSync(exe, [], { encoding: 'utf8', timeout: 10_000 });
  const m = /^ret=(-?\d+)\n$/.exec(r.stdout ?? '');
  const ret = m ? Number(m[1]) : undefined;
  if (ret === 0) {
    try {
      fs.rmdirSync(ABI_DIR); // the probe's own
    } catch {
      /* gone already */
    }
  }
  const exited = !r.error && r.status === 0;
  if (exited && (ret === 0 || ret === -17)) return { kind: 'runs' };
  if (abi !== '64') {
    if (exited && ret === -38) return { kind: 'absent', why: `the kernel answers ENOSYS: ${ABI_HINTS[abi]}` };
    if (!r.error && r.signal && !r.stdout) return { kind: 'absent', why: `the kernel kills the process (${r.signal}): ${ABI_HINTS[abi]}` };
  }
  const how = r.error ? String(r.error) : r.signal ? `killed by ${r.signal}` : `exit ${r.status}`;
  return { kind: 'broken', why: `${exe} on the host: ${how}, stdout ${JSON.stringify(r.stdout)}, stderr ${JSON.stringify(r.stderr)}` };
}

describe('architectures (x86_64 machines): i386 and x32 syscalls from a 64-bit process', () => {
  // test/helpers/abi-mkdir.c makes one mkdir through each ABI; it needs a C compiler (the
  // addon's build has one) and an x86_64 machine. Kernels may not run the 32-bit ABIs: x32 is
  // off unless booted with syscall.x32=y on Debian's kernels (ENOSYS, or the process killed),
  // and without i386 emulation (ia32_emulation=0, or no IA32_EMULATION) `int $0x80` kills the
  // process. So each helper first runs once directly on the host, outside any container and
  // filter: that is the kernel alone, so what it says cannot come from a runtime bug. The
  // ABIs it runs are asserted; the others are skipped, with why in the test's name.
  const canBuild = process.arch === 'x64' && spawnSync('cc', ['--version']).status === 0;
  const probe = canBuild ? buildAndProbeAbis(sb.mkdir('abi')) : undefined;

  function abiRun(abi: Abi, architectures: string[]): Result {
    const p: LinuxSeccomp = { ...deny(['mkdir'], 'SCMP_ACT_ERRNO', 5), architectures };
    return run([`/abi/mkdir${abi}`], p, (s) => s.mounts.push({ destination: '/abi', type: 'bind', source: probe!.bin, options: ['rbind', 'ro'] }));
  }

  /** A test of `abi`: run when the kernel runs it, skipped (saying why) when it does not. */
  function itAbi(abi: Abi, title: string, fn: () => void): void {
    const verdict = probe?.verdicts[abi];
    if (!verdict) return it.skip(`${ABI_NAMES[abi]}: ${title} [SKIPPED: needs cc on x86_64]`, fn);
    if (verdict.kind === 'absent') return it.skip(`${ABI_NAMES[abi]}: ${title} [SKIPPED: ${verdict.why}]`, fn);
    it(`${ABI_NAMES[abi]}: ${title}`, () => {
      // The helper did not behave as any kernel would, on the host: nothing to compare with.
      if (verdict.kind === 'broken') throw new Error(`the host probe of ${ABI_NAMES[abi]} is inconclusive: ${verdict.why}`);
      fn();
    });
  }

  const ALL = ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'];
  for (const abi of ABIS) {
    itAbi(abi, 'filtered with its own syscall numbers when its architecture is listed', () => {
      const r = abiRun(abi, ALL);
      expect({ stdout: r.stdout, code: r.code }).toEqual({ stdout: 'ret=-5\n', code: 0 });
    });
  }
  itAbi('32', 'killed (SIGSYS) when its architecture is not listed', () => {
    expect(abiRun('32', ['SCMP_ARCH_X86_64']).code).toBe(SIGSYS_EXIT);
  });
  itAbi('320', 'killed (SIGSYS) when its architecture is not listed', () => {
    expect(abiRun('320', ['SCMP_ARCH_X86_64']).code).toBe(SIGSYS_EXIT);
  });
  itAbi('64', "the machine's own architecture is filtered even when not listed", () => {
    const r = abiRun('64', ['SCMP_ARCH_X86']);
    expect({ stdout: r.stdout, code: r.code }).toEqual({ stdout: 'ret=-5\n', code: 0 });
  });
});

describe('compiled filters cached outside the state root', () => {
  itTsrun('each profile gets its own filter, a changed profile is recompiled, a damaged entry is not used; the root holds only containers', () => {
    const cache = '/run/tsrun-cache/seccomp';
    const entries = () => (fs.existsSync(cache) ? fs.readdirSync(cache).filter((f) => f.endsWith('.bpf')) : []);
    const before = new Set(entries());
    const ours = () => entries().filter((f) => !before.has(f));
    // Names no kernel has (ignored by the compiler) make these profiles unlike any other run's.
    const denyMkdir = deny(['mkdir', 'mkdirat', `not_a_syscall_${sb.token}_1`], 'SCMP_ACT_ERRNO');
    const denyRmdir = deny(['rmdir', `not_a_syscall_${sb.token}_2`], 'SCMP_ACT_ERRNO');
    expect(run(MKDIR, denyMkdir).stderr).toMatch(/Operation not permitted/);
    expect(ours()).toHaveLength(1);
    // The same profile again: served from the cache, same effect.
    expect(run(MKDIR, denyMkdir).stderr).toMatch(/Operation not permitted/);
    expect(ours()).toHaveLength(1);
    // Another profile: its own entry, its own effect.
    const r = run(MKDIR, denyRmdir);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(ours()).toHaveLength(2);
    // The cache is root's alone.
    const st = fs.statSync(cache);
    expect([st.uid, st.mode & 0o777]).toEqual([0, 0o700]);
    // A damaged entry (its profile copy no longer matches) is ignored and the profile recompiled.
    for (const f of ours()) {
      const file = path.join(cache, f);
      const buf = fs.readFileSync(file);
      buf[12] ^= 0xff;
      fs.writeFileSync(file, buf);
    }
    expect(run(MKDIR, denyMkdir).stderr).toMatch(/Operation not permitted/);
    expect(ok(run(MKDIR, denyRmdir)).code).toBe(0);
    for (const f of ours()) fs.rmSync(path.join(cache, f), { force: true });
    // Nothing but containers under the state root.
    expect(fs.existsSync(sb.root) ? fs.readdirSync(sb.root) : []).toEqual([]);
  });
});

describe('exec', () => {
  it("a process exec'd into the container gets the container's filter", async () => {
    const id = sb.id('sec');
    const bundle = sb.bundle(['sleep', '30'], (s) => (s.linux.seccomp = deny(['mkdir', 'mkdirat'], 'SCMP_ACT_ERRNO', 38)));
    await sb.startDetached(id, bundle);
    const r = sb.rt(['exec', id, 'sh', '-c', 'mkdir /dev/shm/d; grep ^Seccomp: /proc/self/status']);
    expect(r.stderr).toMatch(/can't create directory '\/dev\/shm\/d': Function not implemented/);
    expect(r.stdout).toBe('Seccomp:\t2\n');
  });
});

describe('profiles the runtime refuses: one line, nothing left behind', () => {
  async function refused(p: LinuxSeccomp, message: RegExp): Promise<void> {
    const r = run(['true'], p);
    expect(r.code).not.toBe(0);
    const lines = r.stderr.split('\n').filter((l) => l.trim());
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(message);
    expect(await sb.settledLeftovers()).toEqual([]);
  }

  it('an argument index above 5', async () => {
    await refused(
      { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_ERRNO', args: [{ index: 6, value: 1, op: 'SCMP_CMP_EQ' }] }] },
      /syscalls only have up to 6 arguments \(6 given\)/,
    );
  });

  it('an unknown architecture', async () => {
    await refused({ defaultAction: 'SCMP_ACT_ALLOW', architectures: ['SCMP_ARCH_PDP11'] }, /SCMP_ARCH_PDP11/);
  });

  it('an unknown action', async () => {
    await refused({ defaultAction: 'SCMP_ACT_MAYBE' as never }, /SCMP_ACT_MAYBE/);
  });
});

describe('flags (runc 1.1.5 supports none)', () => {
  itTsrun('TSYNC, LOG and SPEC_ALLOW are accepted and the filter works', () => {
    const p = deny(['mkdir', 'mkdirat'], 'SCMP_ACT_ERRNO');
    p.flags = ['SECCOMP_FILTER_FLAG_TSYNC', 'SECCOMP_FILTER_FLAG_LOG', 'SECCOMP_FILTER_FLAG_SPEC_ALLOW'];
    const r = run(MKDIR, p);
    expect(r.stderr).toMatch(/Operation not permitted/);
  });
});
