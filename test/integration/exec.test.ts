/**
 * `exec`: a process run inside a running container joins all of its namespaces and its
 * cgroup and gets the container's security setup (or what the command line or -p says),
 * read back from inside the process and checked from the host.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import {
  capMask, DEFAULT_CAPS, itTsrun, nsLinks, ok, pidAlive, readIf, RUNTIME, Spec, useSandbox, waitFor,
} from '../helpers/runtime';

const sb = useSandbox();

/** A running container whose init sleeps; returns its id and host pid. */
async function running(edit?: (s: Spec) => void): Promise<{ id: string; pid: number }> {
  const id = sb.id('exec');
  const pid = await sb.startDetached(id, sb.bundle(['sleep', '1000'], edit));
  return { id, pid };
}

function exec(id: string, args: string[], flags: string[] = []) {
  return sb.rt(['exec', ...flags, id, ...args]);
}

/** Fields of /proc/self/status as the exec'd process sees them. */
function status(id: string, flags: string[] = []): Record<string, string> {
  const out = ok(exec(id, ['cat', '/proc/self/status'], flags)).stdout;
  const res: Record<string, string> = {};
  for (const line of out.split('\n')) {
    const i = line.indexOf(':');
    if (i > 0) res[line.slice(0, i)] = line.slice(i + 1).trim().split(/\s+/).join(' ');
  }
  return res;
}

const NS = ['cgroup', 'ipc', 'mnt', 'net', 'pid', 'uts', 'user'];

/** Errors: one line naming the failure, status 255 (runc's), no process left. */
function expectExecError(r: ReturnType<typeof exec>, text: string | RegExp): void {
  expect(r.code).toBe(255);
  expect(r.stdout).toBe('');
  const lines = r.stderr.trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(typeof text === 'string' ? new RegExp(text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')) : text);
  expect(lines[0]).toContain('exec failed: ');
}

describe('namespaces and cgroup', () => {
  it('joins every namespace of the container', async () => {
    const { id, pid } = await running();
    const out = ok(exec(id, ['sh', '-c', `for n in ${NS.join(' ')}; do readlink /proc/self/ns/$n; done`])).stdout;
    const init = nsLinks(pid);
    expect(out.trim().split('\n')).toEqual(NS.map((n) => init[n]));
    // And it really is a new pid namespace, not the host's.
    expect(init.pid).not.toBe(nsLinks(process.pid).pid);
  });

  it('sees the container: its hostname, its pid 1, its root', async () => {
    const { id } = await running((s) => (s.hostname = 'exec-host'));
    const out = ok(exec(id, ['sh', '-c', 'hostname; cat /proc/1/cmdline | tr "\\0" " "; echo; ls /; echo $$'])).stdout;
    const lines = out.split('\n');
    expect(lines[0]).toBe('exec-host');
    expect(lines[1]).toBe('sleep 1000 ');
    expect(lines).toContain('bin');
    // A pid of the container's namespace, not of the host's.
    expect(Number(lines[lines.length - 2])).toBeLessThan(100);
  });

  it('joins the container user namespace', async () => {
    const { id, pid } = await running((s) => {
      s.linux.namespaces.push({ type: 'user' });
      s.linux.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
      s.linux.gidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
    });
    const out = ok(exec(id, ['sh', '-c', 'readlink /proc/self/ns/user; cat /proc/self/uid_map; id -u'])).stdout;
    const lines = out.trim().split('\n').map((l) => l.trim().split(/\s+/).join(' '));
    expect(lines).toEqual([nsLinks(pid).user, '0 100000 65536', '0']);
  });

  it('is in the container cgroup', async () => {
    const { id, pid } = await running();
    const out = ok(exec(id, ['cat', '/proc/self/cgroup'])).stdout;
    expect(out).toBe(fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8'));
    expect(out).toContain(`/${id}\n`);
  });
});

describe('the process', () => {
  it('gets the container process caps, rlimits and no_new_privs', async () => {
    const { id } = await running();
    const st = status(id);
    expect(st.CapEff).toBe(capMask(DEFAULT_CAPS));
    expect(st.CapBnd).toBe(capMask(DEFAULT_CAPS));
    expect(st.NoNewPrivs).toBe('1');
    expect(ok(exec(id, ['sh', '-c', 'ulimit -n'])).stdout).toBe('1024\n');
  });

  it('is confined by the container seccomp filter', async () => {
    const { id } = await running((s) => {
      s.linux.seccomp = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO' }] };
    });
    const r = exec(id, ['sh', '-c', 'mkdir /dev/shm/d; echo "mkdir=$?"; grep ^Seccomp: /proc/self/status']);
    expect(r.stderr).toMatch(/can't create directory '\/dev\/shm\/d': Operation not permitted/);
    expect([r.code, r.stdout]).toEqual([0, 'mkdir=1\nSeccomp:\t2\n']);
  });

  it('--cap adds a capability', async () => {
    const { id } = await running();
    const st = status(id, ['--cap', 'CAP_SYS_ADMIN', '--cap', 'CAP_CHOWN']);
    expect(st.CapEff).toBe(capMask([...DEFAULT_CAPS, 'CAP_SYS_ADMIN', 'CAP_CHOWN']));
  });

  it('--no-new-privs sets it when the container does not', async () => {
    const { id } = await running((s) => (s.process.noNewPrivileges = false));
    expect(status(id).NoNewPrivs).toBe('0');
    expect(status(id, ['--no-new-privs']).NoNewPrivs).toBe('1');
  });

  it('-u, -g, --cwd and -e', async () => {
    const { id } = await running();
    const out = ok(exec(id, ['sh', '-c', 'id; pwd; echo $FOO $BAR; echo $HOME'], [
      '-u', '1000:1001', '-g', '10', '--cwd', '/tmp', '-e', 'FOO=foo', '-e', 'BAR=bar',
    ])).stdout;
    expect(out).toBe('uid=1000 gid=1001 groups=10\n/tmp\nfoo bar\n/\n');
  });

  it('-u with a uid only keeps the container gid', async () => {
    const { id } = await running();
    expect(ok(exec(id, ['id'], ['-u', '65534'])).stdout).toBe('uid=65534(nobody) gid=0(root)\n');
  });

  it('flags after the container id belong to the command', async () => {
    const { id } = await running();
    expect(ok(exec(id, ['sh', '-c', 'echo "$@"', 'x', '-u', '--help'])).stdout).toBe('-u --help\n');
  });

  it('-p runs a process.json as it is', async () => {
    const { id } = await running();
    const file = sb.writeFile('process.json', JSON.stringify({
      args: ['sh', '-c', 'id; pwd; echo $X; grep -E "^(CapEff|NoNewPrivs)" /proc/self/status'],
      env: ['PATH=/bin', 'X=from-file'],
      cwd: '/etc',
      user: { uid: 5, gid: 6 },
      // A non-root user keeps capabilities across exec only as ambient ones.
      capabilities: { bounding: ['CAP_KILL'], effective: ['CAP_KILL'], permitted: ['CAP_KILL'], inheritable: ['CAP_KILL'], ambient: ['CAP_KILL'] },
    }));
    const out = ok(exec(id, [], ['-p', file])).stdout;
    expect(out).toBe(`uid=5 gid=6\n/etc\nfrom-file\nCapEff:\t${capMask(['CAP_KILL'])}\nNoNewPrivs:\t0\n`);
  });

  it('exits with the process exit code, or 128+signal', async () => {
    const { id } = await running();
    expect(exec(id, ['sh', '-c', 'exit 7']).code).toBe(7);
    expect(exec(id, ['sh', '-c', 'kill -9 $$']).code).toBe(137);
    const r = exec(id, ['sh', '-c', 'echo out; echo err >&2']);
    expect([r.code, r.stdout, r.stderr]).toEqual([0, 'out\n', 'err\n']);
  });

  it('in the foreground, signals to the runtime are passed on to the process', async () => {
    const { id, pid } = await running();
    const script = 'trap "echo got TERM; exit 3" TERM; touch /dev/shm/ready; while :; do sleep 0.05; done';
    const { child, result } = sb.rtAsync(['exec', id, 'sh', '-c', script]);
    // The trap is set once the file shows up (seen from the host through init's root).
    await waitFor(() => fs.existsSync(`/proc/${pid}/root/dev/shm/ready`), 'the exec\'d shell to be ready');
    child.kill('SIGTERM');
    const r = await result;
    expect([r.code, r.stdout]).toEqual([3, 'got TERM\n']);
  });

  it('stdin reaches the process', async () => {
    const { id } = await running();
    expect(ok(sb.rt(['exec', id, 'cat'], { input: 'piped\n' })).stdout).toBe('piped\n');
  });

  it('--detach returns at once and --pid-file names the process', async () => {
    const { id, pid } = await running();
    const pidFile = sb.path('exec.pid');
    ok(exec(id, ['sleep', '500'], ['--detach', '--pid-file', pidFile]));
    const epid = Number(fs.readFileSync(pidFile, 'utf8'));
    expect(epid).toBeGreaterThan(0);
    try {
      expect(pidAlive(epid)).toBe(true);
      expect(readIf(`/proc/${epid}/cmdline`)).toBe('sleep\x00500\x00');
      expect(nsLinks(epid).pid).toBe(nsLinks(pid).pid);
      expect(fs.readFileSync(`/proc/${epid}/cgroup`, 'utf8')).toBe(fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8'));
      // ps lists it with init.
      const pids = JSON.parse(ok(sb.rt(['ps', '--format', 'json', id])).stdout) as number[];
      expect(pids.sort()).toEqual([pid, epid].sort());
    } finally {
      try {
        process.kill(epid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    await waitFor(() => !pidAlive(epid), 'the exec process to die');
  });

  it('--preserve-fds passes fds 3.. on', async () => {
    const { id } = await running();
    const data = sb.writeFile('fd3.txt', 'through fd 3\n');
    const script = 'cat <&3; ls /proc/self/fd | sort -n | tr "\\n" " "';
    // The runtime is started with fd 3 open on the file, as a manager would pass one.
    const r = spawnSync('sh', ['-c', 'exec "$0" --root "$1" exec --preserve-fds 1 "$2" sh -c "$3" 3<"$4"', RUNTIME, sb.root, id, script, data], {
      encoding: 'utf8',
      timeout: 30000,
    });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    // 0-2, the preserved 3, and the one `ls` opens on /proc/self/fd: nothing else of the runtime's.
    expect(r.stdout).toBe('through fd 3\n0 1 2 3 4 ');
  });

  it('without --preserve-fds only stdio reaches the process', async () => {
    const { id } = await running();
    const data = sb.writeFile('fd3.txt', 'through fd 3\n');
    const r = spawnSync('sh', ['-c', 'exec "$0" --root "$1" exec "$2" sh -c "ls /proc/self/fd | sort -n | tr \'\\n\' \' \'" 3<"$3"', RUNTIME, sb.root, id, data], {
      encoding: 'utf8',
      timeout: 30000,
    });
    expect([r.status, r.stdout, r.stderr]).toEqual([0, '0 1 2 3 ', '']);
  });
});

describe('errors', () => {
  it('on a stopped container', async () => {
    const id = sb.id('stopped');
    ok(sb.create(id, sb.bundle(['true'])));
    ok(sb.rt(['start', id]));
    await sb.waitStatus(id, 'stopped');
    expectExecError(exec(id, ['true']), 'cannot exec in a stopped container');
    ok(sb.rt(['delete', id]));
  });

  it('on a paused container (--ignore-paused is accepted)', async () => {
    const { id } = await running();
    ok(sb.rt(['pause', id]));
    expectExecError(exec(id, ['true']), 'cannot exec in a paused container (use --ignore-paused to override)');
    ok(sb.rt(['resume', id]));
    expect(ok(exec(id, ['echo', 'resumed'], ['--ignore-paused'])).stdout).toBe('resumed\n');
  });

  it('on a missing container', () => {
    expectExecError(exec(sb.id('missing'), ['true']), 'container does not exist');
  });

  it('without a command', async () => {
    const { id } = await running();
    expectExecError(exec(id, []), 'process args cannot be empty');
  });

  it('with a bad process.json', async () => {
    const { id } = await running();
    expectExecError(exec(id, [], ['-p', sb.writeFile('bad.json', '{"args": [')]), /exec failed: .+/);
    expectExecError(exec(id, [], ['-p', sb.path('no-such.json')]), 'no such file or directory');
    expectExecError(exec(id, [], ['-p', sb.writeFile('nocwd.json', '{"args":["true"],"cwd":"rel"}')]), 'Cwd must be an absolute path');
  });

  it('with a command that is not there, or a cwd that is not', async () => {
    const { id, pid } = await running();
    expectExecError(exec(id, ['no-such-command']), 'executable file not found in $PATH');
    expectExecError(exec(id, ['pwd'], ['--cwd', '/no/such/dir']), 'no such file or directory');
    // Nothing is left running in the container but its init.
    await waitFor(() => JSON.stringify(JSON.parse(sb.rt(['ps', '-f', 'json', id]).stdout)) === JSON.stringify([pid]), 'only init in the container');
  });

  it('with bad flags', async () => {
    const { id } = await running();
    expectExecError(exec(id, ['id'], ['-u', 'abc']), 'abc');
    expectExecError(exec(id, ['true'], ['--detach', '--tty']), 'cannot allocate tty if');
    expectExecError(exec(id, ['true'], ['--console-socket', sb.path('cs.sock')]), 'cannot use console socket if');
  });

  it('with an AppArmor profile or SELinux label this host cannot apply', async () => {
    const { id } = await running();
    expectExecError(exec(id, ['true'], ['--apparmor', 'some-profile']), /apparmor/i);
    expectExecError(exec(id, ['true'], ['--process-label', 'system_u:system_r:container_t:s0']), 'selinux');
  });
});

describe('hardening', () => {
  it('a cwd that resolves outside the container is refused (CVE-2024-21626)', async () => {
    const { id } = await running();
    // The runtime holds a host directory as fd 3 and passes it on; /proc/self/fd/3 leads there.
    const r = spawnSync('sh', ['-c', 'exec "$0" --root "$1" exec --preserve-fds 1 --cwd /proc/self/fd/3 "$2" sh -c "pwd; ls" 3<"$3"', RUNTIME, sb.root, id, sb.dir], {
      encoding: 'utf8',
      timeout: 30000,
    });
    expect(r.status).toBe(255);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/current working directory is outside of container mount namespace root -- possible container breakout detected/);
  });


  // runc keeps containers from its binary with a cloned, sealed copy of itself; tsrun makes
  // its processes non-dumpable until they exec the user's program (CVE-2019-5736).
  itTsrun('a process exec\'d into a created container cannot reach init\'s executable', async () => {
    const id = sb.id('created');
    ok(sb.create(id, sb.bundle(['sleep', '1000'])));
    const r = exec(id, ['sh', '-c', 'readlink /proc/1/exe || echo refused; cat /proc/1/environ >/dev/null 2>&1 || echo refused']);
    expect(r.stdout).toBe('refused\nrefused\n');
    expect(r.code).toBe(0);
  });

  it('the exec\'d program itself is dumpable again', async () => {
    const { id } = await running();
    ok(exec(id, ['sleep', '300'], ['-d', '--pid-file', sb.path('d.pid')]));
    const epid = Number(fs.readFileSync(sb.path('d.pid'), 'utf8'));
    try {
      // Its pid inside the container: the last NSpid field.
      const nspid = /^NSpid:\s+(.*)$/m.exec(fs.readFileSync(`/proc/${epid}/status`, 'utf8'))![1].trim().split(/\s+/).pop();
      expect(ok(exec(id, ['readlink', `/proc/${nspid}/exe`])).stdout).toBe('/bin/busybox\n');
    } finally {
      process.kill(epid, 'SIGKILL');
    }
    await waitFor(() => !pidAlive(epid), 'the exec process to die');
  });
});
