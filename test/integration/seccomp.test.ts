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

describe('architectures (x86_64 machines): i386 and x32 syscalls from a 64-bit process', () => {
  // test/helpers/abi-mkdir.c makes one mkdir through each ABI; it needs a C compiler (the
  // addon's build has one) and an x86_64 machine.
  const canBuild = process.arch === 'x64' && spawnSync('cc', ['--version']).status === 0;
  const itAbi = canBuild ? it : it.skip;
  const skipped = canBuild ? '' : ' [SKIPPED: needs cc on x86_64]';
  let bin = '';
  beforeAll(() => {
    if (!canBuild) return;
    bin = sb.mkdir('abi');
    for (const abi of ['64', '32', '320']) {
      const src = path.resolve(__dirname, '../helpers/abi-mkdir.c');
      const flags = ['-static', '-nostdlib', '-no-pie', '-fno-stack-protector', '-O2', `-DABI=${abi}`];
      const r = spawnSync('cc', [...flags, '-o', path.join(bin, `mkdir${abi}`), src], { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`cc: ${r.stderr}`);
    }
  });

  function abiRun(abi: string, architectures: string[]): Result {
    const p: LinuxSeccomp = { ...deny(['mkdir'], 'SCMP_ACT_ERRNO', 5), architectures };
    return run([`/abi/mkdir${abi}`], p, (s) => s.mounts.push({ destination: '/abi', type: 'bind', source: bin, options: ['rbind', 'ro'] }));
  }

  itAbi(`each listed architecture is filtered with its own syscall numbers${skipped}`, () => {
    const all = ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'];
    for (const abi of ['64', '32', '320']) {
      const r = abiRun(abi, all);
      expect(`${abi}: ${r.stdout}`).toBe(`${abi}: ret=-5\n`);
    }
  });

  itAbi(`an architecture not listed is killed (SIGSYS); the machine's own is always filtered${skipped}`, () => {
    expect(abiRun('32', ['SCMP_ARCH_X86_64']).code).toBe(SIGSYS_EXIT);
    expect(abiRun('320', ['SCMP_ARCH_X86_64']).code).toBe(SIGSYS_EXIT);
    expect(abiRun('64', ['SCMP_ARCH_X86']).stdout).toBe('ret=-5\n');
  });
});

describe('compiled filters cached under the state root', () => {
  itTsrun('each profile gets its own filter, a changed profile is recompiled, a damaged entry is not used', () => {
    const cache = path.join(sb.root, '~cache', 'seccomp');
    const entries = () => (fs.existsSync(cache) ? fs.readdirSync(cache).filter((f) => f.endsWith('.bpf')) : []);
    const before = entries().length;
    // Names no kernel has (ignored by the compiler) make these profiles unlike any other test's.
    const denyMkdir = deny(['mkdir', 'mkdirat', 'not_a_syscall_cache_1'], 'SCMP_ACT_ERRNO');
    const denyRmdir = deny(['rmdir', 'not_a_syscall_cache_2'], 'SCMP_ACT_ERRNO');
    expect(run(MKDIR, denyMkdir).stderr).toMatch(/Operation not permitted/);
    expect(entries().length).toBe(before + 1);
    // The same profile again: served from the cache, same effect.
    expect(run(MKDIR, denyMkdir).stderr).toMatch(/Operation not permitted/);
    expect(entries().length).toBe(before + 1);
    // Another profile: its own entry, its own effect.
    const r = run(MKDIR, denyRmdir);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(entries().length).toBe(before + 2);
    // A damaged entry (its profile copy no longer matches) is ignored and the profile recompiled.
    for (const f of entries()) {
      const file = path.join(cache, f);
      const buf = fs.readFileSync(file);
      buf[12] ^= 0xff;
      fs.writeFileSync(file, buf);
    }
    expect(run(MKDIR, denyMkdir).stderr).toMatch(/Operation not permitted/);
    expect(ok(run(MKDIR, denyRmdir)).code).toBe(0);
    // The cache directory is not a container: list shows nothing of it.
    expect(ok(sb.rt(['list', '-q'])).stdout).toBe('');
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
