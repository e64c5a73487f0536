/**
 * The container process: user, groups, umask, cwd, env, args, capabilities,
 * rlimits, noNewPrivileges, sysctl and oom_score_adj, read back from inside.
 */
import * as fs from 'fs';
import * as path from 'path';
import { capMask, DEFAULT_CAPS, itTsrun, ok, Spec, useSandbox } from '../helpers/runtime';

const sb = useSandbox();

function inside(args: string[], edit?: (s: Spec) => void): string {
  return ok(sb.run(sb.id('proc'), sb.bundle(args, edit))).stdout;
}

/** Selected fields of the container process' /proc/self/status. */
function status(edit?: (s: Spec) => void): Record<string, string> {
  const out = inside(['cat', '/proc/self/status'], edit);
  const res: Record<string, string> = {};
  for (const line of out.split('\n')) {
    const i = line.indexOf(':');
    if (i > 0) res[line.slice(0, i)] = line.slice(i + 1).trim().split(/\s+/).join(' ');
  }
  return res;
}

describe('user', () => {
  it('runs as root by default', () => {
    // No supplementary groups unless additionalGids says so (busybox id then omits "groups=").
    expect(inside(['id'])).toBe('uid=0(root) gid=0(root)\n');
  });

  it('uid, gid and additionalGids', () => {
    const st = status((s) => (s.process.user = { uid: 1000, gid: 1001, additionalGids: [10, 65534] }));
    expect(st.Uid).toBe('1000 1000 1000 1000');
    expect(st.Gid).toBe('1001 1001 1001 1001');
    expect(st.Groups).toBe('10 65534');
    const id = inside(['id'], (s) => (s.process.user = { uid: 1000, gid: 1001, additionalGids: [10, 65534] }));
    expect(id).toBe('uid=1000 gid=1001 groups=10,65534(nobody)\n');
  });

  it('a user from /etc/passwd gets its name and home', () => {
    const out = inside(['sh', '-c', 'id; echo $HOME'], (s) => (s.process.user = { uid: 65534, gid: 65534 }));
    expect(out).toBe('uid=65534(nobody) gid=65534(nobody)\n/nonexistent\n');
  });

  it('without additionalGids the supplementary groups are empty', () => {
    expect(status((s) => (s.process.user = { uid: 1000, gid: 1000 })).Groups).toBe('');
  });
});

describe('umask', () => {
  it('defaults to 0022', () => {
    expect(inside(['sh', '-c', 'umask'])).toBe('0022\n');
  });

  it('applies process.user.umask', () => {
    const rootfs = sb.privateRootfs();
    const out = inside(['sh', '-c', 'umask; touch /tmp/f; stat -c %a /tmp/f'], (s) => {
      s.root = { path: rootfs, readonly: false };
      s.process.user.umask = 0o077;
    });
    expect(out).toBe('0077\n600\n');
  });
});

describe('cwd', () => {
  it('starts in process.cwd', () => {
    expect(inside(['pwd'], (s) => (s.process.cwd = '/etc'))).toBe('/etc\n');
  });

  it('creates a missing cwd', () => {
    const rootfs = sb.privateRootfs();
    const out = inside(['pwd'], (s) => {
      s.root.path = rootfs;
      s.process.cwd = '/new/work/dir';
    });
    expect(out).toBe('/new/work/dir\n');
    expect(fs.statSync(path.join(rootfs, 'new/work/dir')).isDirectory()).toBe(true);
  });
});

describe('env and args', () => {
  it('the environment is exactly process.env plus HOME from /etc/passwd', () => {
    const out = inside(['env'], (s) => (s.process.env = ['PATH=/bin', 'A=b=c', 'EMPTY=', 'TERM=xterm']));
    expect(out).toBe('PATH=/bin\nA=b=c\nEMPTY=\nTERM=xterm\nHOME=/root\n');
  });

  it('a HOME in process.env is kept', () => {
    const out = inside(['env'], (s) => (s.process.env = ['PATH=/bin', 'HOME=/home/x']));
    expect(out).toBe('PATH=/bin\nHOME=/home/x\n');
  });

  it('a duplicated variable keeps its last value', () => {
    const out = inside(['env'], (s) => (s.process.env = ['PATH=/bin', 'DUP=1', 'DUP=2']));
    expect(out.split('\n').filter((l) => l.startsWith('DUP='))).toEqual(['DUP=2']);
  });

  it('args[0] is looked up on the PATH of process.env, inside the rootfs', () => {
    // Only /bin holds busybox applets in the rootfs; the host's PATH does not matter.
    expect(inside(['hostname'], (s) => (s.process.env = ['PATH=/nowhere:/bin']))).toBe('runc\n');
    const r = sb.run(sb.id('nopath'), sb.bundle(['hostname'], (s) => (s.process.env = ['PATH=/usr/bin'])));
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/executable file not found in \$PATH/);
  });

  it('an absolute args[0] is run directly and argv is passed verbatim', () => {
    const out = inside(['/bin/sh', '-c', 'echo "$0|$1|$2"', 'zero', 'one two', '']);
    expect(out).toBe('zero|one two|\n');
  });

  it('stdin is not a terminal (terminal: false)', () => {
    expect(inside(['sh', '-c', 'test -t 0 && echo tty || echo notty'])).toBe('notty\n');
  });
});

describe('capabilities', () => {
  it('the default spec: bounding=permitted=effective, no inheritable, ambient dropped (needs inheritable)', () => {
    const st = status();
    const m = capMask(DEFAULT_CAPS);
    expect(st.CapBnd).toBe(m);
    expect(st.CapPrm).toBe(m);
    expect(st.CapEff).toBe(m);
    expect(st.CapInh).toBe('0000000000000000');
    expect(st.CapAmb).toBe('0000000000000000');
  });

  it('root with distinct sets (no_new_privs caps permitted at the configured set; effective = permitted)', () => {
    const st = status((s) => {
      s.process.capabilities = {
        bounding: ['CAP_CHOWN', 'CAP_KILL', 'CAP_SYS_ADMIN'],
        effective: ['CAP_KILL'],
        permitted: ['CAP_KILL', 'CAP_CHOWN'],
        inheritable: ['CAP_CHOWN'],
        ambient: ['CAP_CHOWN'],
      };
    });
    expect(st.CapBnd).toBe(capMask(['CAP_CHOWN', 'CAP_KILL', 'CAP_SYS_ADMIN']));
    expect(st.CapPrm).toBe(capMask(['CAP_KILL', 'CAP_CHOWN']));
    expect(st.CapEff).toBe(capMask(['CAP_KILL', 'CAP_CHOWN']));
    expect(st.CapInh).toBe(capMask(['CAP_CHOWN']));
    expect(st.CapAmb).toBe(capMask(['CAP_CHOWN']));
  });

  it('a non-root user keeps its capabilities through exec via the ambient set', () => {
    const caps = ['CAP_KILL', 'CAP_NET_BIND_SERVICE'];
    const st = status((s) => {
      s.process.user = { uid: 1000, gid: 1000 };
      s.process.capabilities = { bounding: caps, effective: caps, permitted: caps, inheritable: caps, ambient: caps };
    });
    const m = capMask(caps);
    expect([st.CapBnd, st.CapPrm, st.CapEff, st.CapInh, st.CapAmb]).toEqual([m, m, m, m, m]);
  });

  it('a non-root user without inheritable/ambient loses permitted and effective at exec', () => {
    const st = status((s) => (s.process.user = { uid: 1000, gid: 1000 }));
    expect(st.CapBnd).toBe(capMask(DEFAULT_CAPS));
    expect(st.CapPrm).toBe('0000000000000000');
    expect(st.CapEff).toBe('0000000000000000');
  });

  it('no capabilities object: every set is empty', () => {
    const st = status((s) => delete s.process.capabilities);
    for (const k of ['CapBnd', 'CapPrm', 'CapEff', 'CapInh', 'CapAmb']) expect([k, st[k]]).toEqual([k, '0000000000000000']);
  });

  it('an unknown capability name is ignored with a warning', () => {
    // runc 1.1 logs `ignoring unknown or unavailable capabilities: [CAP_NOPE]` and carries on.
    const r = sb.run(
      sb.id('badcap'),
      sb.bundle(['grep', 'CapBnd', '/proc/self/status'], (s) => {
        s.process.capabilities = { bounding: ['CAP_KILL', 'CAP_NOPE'], permitted: ['CAP_KILL', 'CAP_NOPE'] };
      }),
    );
    ok(r);
    expect(r.stdout.trim().split(/\s+/)[1]).toBe(capMask(['CAP_KILL']));
    expect(r.stderr).toMatch(/level=warning.*CAP_NOPE/);
  });
});

describe('noNewPrivileges', () => {
  it('true → NoNewPrivs: 1', () => {
    expect(status().NoNewPrivs).toBe('1');
  });
  it('false → NoNewPrivs: 0', () => {
    expect(status((s) => (s.process.noNewPrivileges = false)).NoNewPrivs).toBe('0');
  });
});

describe('rlimits', () => {
  it('the default RLIMIT_NOFILE 1024/1024', () => {
    const out = inside(['sh', '-c', 'ulimit -Sn; ulimit -Hn; grep "Max open files" /proc/self/limits']);
    const [soft, hard, line] = out.trim().split('\n');
    expect([soft, hard]).toEqual(['1024', '1024']);
    expect(line.split(/\s{2,}/).slice(1, 3)).toEqual(['1024', '1024']);
  });

  it('lowered soft and hard limits', () => {
    const out = inside(['sh', '-c', 'ulimit -Sn; ulimit -Hn; grep -E "Max (open files|processes|core)" /proc/self/limits'], (s) => {
      s.process.rlimits = [
        { type: 'RLIMIT_NOFILE', hard: 1000, soft: 512 },
        { type: 'RLIMIT_NPROC', hard: 300, soft: 200 },
        { type: 'RLIMIT_CORE', hard: 0, soft: 0 },
      ];
    });
    const lines = out.trim().split('\n');
    expect(lines.slice(0, 2)).toEqual(['512', '1000']);
    const limits = Object.fromEntries(lines.slice(2).map((l) => {
      const f = l.split(/\s{2,}/);
      return [f[0], `${f[1]}/${f[2]}`];
    }));
    expect(limits).toEqual({ 'Max core file size': '0/0', 'Max processes': '200/300', 'Max open files': '512/1000' });
  });

  it('an unknown rlimit type is rejected', () => {
    const id = sb.id('badrl');
    const r = sb.run(id, sb.bundle(['true'], (s) => s.process.rlimits.push({ type: 'RLIMIT_NOPE', hard: 1, soft: 1 })));
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/RLIMIT_NOPE/);
    expect(sb.listIds()).not.toContain(id);
  });
});

describe('hostname, sysctl, oomScoreAdj', () => {
  it('hostname', () => {
    expect(inside(['hostname'], (s) => (s.hostname = 'proc-test'))).toBe('proc-test\n');
  });

  it('sysctl in a new network namespace', () => {
    const out = inside(['cat', '/proc/sys/net/ipv4/ip_forward', '/proc/sys/net/ipv4/ip_default_ttl'], (s) => {
      s.linux.sysctl = { 'net.ipv4.ip_forward': '1', 'net.ipv4.ip_default_ttl': '42' };
    });
    expect(out).toBe('1\n42\n');
  });

  it('sysctl in a new IPC namespace', () => {
    const out = inside(['cat', '/proc/sys/kernel/msgmax'], (s) => (s.linux.sysctl = { 'kernel.msgmax': '4096' }));
    expect(out).toBe('4096\n');
  });

  it('a net.* sysctl without a network namespace is rejected', () => {
    const id = sb.id('badsysctl');
    const r = sb.run(
      id,
      sb.bundle(['true'], (s) => {
        s.linux.namespaces = s.linux.namespaces.filter((n: Spec) => n.type !== 'network');
        s.linux.sysctl = { 'net.ipv4.ip_forward': '1' };
      }),
    );
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/sysctl.*net\.ipv4\.ip_forward/);
    expect(sb.listIds()).not.toContain(id);
  });

  it('oomScoreAdj (raised above the current value; lowering needs CAP_SYS_RESOURCE)', () => {
    expect(inside(['cat', '/proc/self/oom_score_adj'], (s) => (s.process.oomScoreAdj = 500))).toBe('500\n');
  });

  it('without oomScoreAdj the value is inherited', () => {
    const mine = fs.readFileSync('/proc/self/oom_score_adj', 'utf8');
    expect(inside(['cat', '/proc/self/oom_score_adj'])).toBe(mine);
  });
});

// runtime-spec 1.2 fields that runc 1.1.5 predates (it ignores them): tsrun only.
describe('scheduler and ioPriority', () => {
  itTsrun('process.scheduler (policy, nice) and process.ioPriority are the process\'s own, also in exec', async () => {
    const edit = (s: Spec) => {
      (s.process as Record<string, unknown>).scheduler = { policy: 'SCHED_BATCH', nice: 5 };
      (s.process as Record<string, unknown>).ioPriority = { class: 'IOPRIO_CLASS_IDLE', priority: 0 };
    };
    // /proc/self/stat fields 19 and 41: nice and policy (SCHED_BATCH = 3).
    expect(inside(['sh', '-c', 'ionice -p $$; cut -d" " -f19,41 /proc/self/stat'], edit)).toBe('idle\n5 3\n');
    const id = sb.id('sched');
    await sb.startDetached(id, sb.bundle(['sleep', '1000']));
    const file = sb.writeFile('process.json', JSON.stringify({
      args: ['sh', '-c', 'ionice -p $$; cut -d" " -f19,41 /proc/self/stat'],
      env: ['PATH=/bin'],
      cwd: '/',
      scheduler: { policy: 'SCHED_OTHER', nice: 7 },
      ioPriority: { class: 'IOPRIO_CLASS_BE', priority: 6 },
    }));
    expect(ok(sb.rt(['exec', '-p', file, id])).stdout).toBe('best-effort: prio 6\n7 0\n');
  });

  itTsrun('a bad value is a one-line error before anything is made', () => {
    const r = sb.run(sb.id('badio'), sb.bundle(['true'], (s) => {
      (s.process as Record<string, unknown>).ioPriority = { class: 'IOPRIO_CLASS_BE', priority: 9 };
    }));
    expect(r.code).not.toBe(0);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/process\.ioPriority: priority 9 is not between 0 and 7/);
  });
});

describe('linux.personality', () => {
  // runc 1.2 applies it; Debian's runc 1.1.5 does not know the field.
  // PER_LINUX32 makes uname report i686 on x86_64 hosts.
  (process.arch === 'x64' ? itTsrun : it.skip)('LINUX32: the container sees a 32-bit machine in uname, LINUX the host\'s', () => {
    expect(inside(['uname', '-m'], (s) => (s.linux.personality = { domain: 'LINUX32' }))).toBe('i686\n');
    expect(inside(['uname', '-m'], (s) => (s.linux.personality = { domain: 'LINUX' }))).toBe('x86_64\n');
  });

  itTsrun('an unknown domain is a one-line error, and nothing is made', () => {
    const id = sb.id('badpers');
    const r = sb.run(id, sb.bundle(['true'], (s) => (s.linux.personality = { domain: 'LINUX64' })));
    expect(r.code).not.toBe(0);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/linux\/personality\/domain: must be one of LINUX, LINUX32 \(got \\?"LINUX64\\?"\)/);
    expect(sb.listIds()).not.toContain(id);
  });
});
