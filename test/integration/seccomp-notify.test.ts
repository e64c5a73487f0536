/**
 * Seccomp user notification: SCMP_ACT_NOTIFY rules and linux.seccomp.listenerPath. The runtime
 * hands each process's filter listener to the agent on that socket, with the container process
 * state (config-linux.md), and the agent answers the notified syscalls for the container: here
 * test/helpers/seccomp-agent.py, which makes mkdir fail with ENOSPC, makes rmdir "succeed"
 * without removing anything and lets uname run (SECCOMP_USER_NOTIF_FLAG_CONTINUE). The same
 * tests run on runc (RUNTIME=runc), which has had the feature since 1.1.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import type { LinuxSeccomp } from '../../packages/spec/src';
import { itTsrun, ok, pidAlive, Spec, useSandbox, waitFor } from '../helpers/runtime';
import { Agent, AgentEvent, startAgent } from '../helpers/seccomp-agent';

const sb = useSandbox();
let sockets = 0;

const RULES = ['mkdir=errno:28', 'mkdirat=errno:28', 'rmdir=value:0', 'unlinkat=value:0', 'uname=continue'];
const METADATA = 'MKNOD=/dev/null;from the test';
const ANNOTATIONS = { 'org.example.notify': 'yes' };
const AT_REMOVEDIR = 0x200;

/** Notify mkdir, rmdir (unlinkat with AT_REMOVEDIR where there is no rmdir) and uname; allow the rest. */
function notifying(listenerPath: string | undefined, change?: (p: LinuxSeccomp) => void): LinuxSeccomp {
  const p: LinuxSeccomp = {
    defaultAction: 'SCMP_ACT_ALLOW',
    listenerPath,
    listenerMetadata: METADATA,
    syscalls: [
      { names: ['mkdir', 'mkdirat', 'rmdir', 'uname'], action: 'SCMP_ACT_NOTIFY' },
      { names: ['unlinkat'], action: 'SCMP_ACT_NOTIFY', args: [{ index: 2, value: AT_REMOVEDIR, valueTwo: AT_REMOVEDIR, op: 'SCMP_CMP_MASKED_EQ' }] },
    ],
  };
  if (!listenerPath) delete p.listenerPath;
  change?.(p);
  return p;
}

async function agent(): Promise<Agent> {
  return startAgent(sb.path(`agent-${++sockets}.sock`), RULES);
}

function bundle(args: string[], seccomp: LinuxSeccomp, nnp = true): string {
  return sb.bundle(args, (s: Spec) => {
    s.linux.seccomp = seccomp;
    s.process.noNewPrivileges = nnp;
    s.process.user = { uid: 1000, gid: 1000 };
    s.annotations = ANNOTATIONS;
  });
}

/** What the container runs: each notified syscall once, and what the process looks like. */
const SCRIPT = [
  'mkdir /dev/shm/d; echo "mkdir=$?"',
  'rmdir /dev/shm; echo "rmdir=$?"',
  'ls -d /dev/shm',
  'uname -s',
  // The listener is the agent's: no process of the container holds it.
  'echo "listeners=$(ls -l /proc/$$/fd | grep -c seccomp)"',
  'grep -E "^(Uid|NoNewPrivs|Seccomp):" /proc/self/status',
].join('; ');

function expectAnswered(r: { stdout: string; stderr: string; code: number }, nnp: boolean): void {
  expect(r.stderr).toBe("mkdir: can't create directory '/dev/shm/d': No space left on device\n");
  expect(r.stdout).toBe(
    `mkdir=1\nrmdir=0\n/dev/shm\nLinux\nlisteners=0\nUid:\t1000\t1000\t1000\t1000\nNoNewPrivs:\t${nnp ? 1 : 0}\nSeccomp:\t2\n`,
  );
  expect(r.code).toBe(0);
}

/**
 * The mkdir and rmdir notifications the agent answered, in order (mkdirat and unlinkat as the
 * calls they stand for), once its report of the last one (rmdir) has arrived here.
 */
async function answered(a: Agent): Promise<{ syscall: string; path: string | null; answer: string }[]> {
  await a.wait('its answer to rmdir', (e): e is AgentEvent => e.event === 'notif' && /^(rmdir|unlinkat)$/.test(e.syscall));
  return a
    .events()
    .filter((e): e is Extract<AgentEvent, { event: 'notif' }> => e.event === 'notif' && e.syscall !== 'uname')
    .map(({ syscall, path, answer }) => ({ syscall: syscall.replace(/^unlinkat$/, 'rmdir').replace(/^mkdirat$/, 'mkdir'), path, answer }));
}

const isState = (e: AgentEvent): e is Extract<AgentEvent, { event: 'state' }> => e.event === 'state';

/** The container process state the agent must get for `pid` of container `id`. */
function expectedState(id: string, bundleDir: string, pid: number, status: string, initPid: number) {
  return {
    event: 'state',
    fds: 1,
    fdKind: 'anon_inode:seccomp notify',
    state: {
      ociVersion: expect.stringMatching(/^1\.\d+\.\d+/),
      fds: ['seccompFd'],
      pid,
      metadata: METADATA,
      state: { ociVersion: expect.stringMatching(/^1\.\d+\.\d+/), id, status, pid: initPid, bundle: bundleDir, annotations: ANNOTATIONS },
    },
  };
}

for (const nnp of [true, false]) {
  describe(`noNewPrivileges ${nnp}`, () => {
    it('create hands the listener of init to the agent, with the "creating" state, before start', async () => {
      const a = await agent();
      const id = sb.id('notify');
      const dir = bundle(['sleep', '1000'], notifying(a.sock), nnp);
      ok(sb.create(id, dir));
      const pid = sb.hostPid(id);
      const got = await a.wait('the state of init', isState);
      expect(got).toEqual(expectedState(id, dir, pid, 'creating', pid));
      // runc's key order (its ContainerProcessState struct).
      expect(Object.keys(got.state)).toEqual(['ociVersion', 'fds', 'pid', 'metadata', 'state']);
      expect(sb.state(id).status).toBe('created');
      ok(sb.rt(['delete', '--force', id]));
      await a.wait('that no process uses the filter of init any more', (e): e is AgentEvent => e.event === 'closed' && e.pid === pid);
      expect(a.states()).toHaveLength(1);
    });

    it("init: the container sees the agent's answers", async () => {
      const a = await agent();
      const r = sb.run(sb.id('notify'), bundle(['sh', '-c', SCRIPT], notifying(a.sock), nnp));
      expectAnswered(r, nnp);
      expect(await answered(a)).toEqual([
        { syscall: 'mkdir', path: '/dev/shm/d', answer: 'errno:28' },
        { syscall: 'rmdir', path: '/dev/shm', answer: 'value:0' },
      ]);
      // uname ran for real (the script printed Linux), after the agent let it continue.
      expect(a.events()).toContainEqual(expect.objectContaining({ event: 'notif', syscall: 'uname', answer: 'continue' }));
    });

    it("exec: the exec'd process's listener goes to the agent, with the \"running\" state naming init, and it sees the answers", async () => {
      const a = await agent();
      const id = sb.id('notify-exec');
      const dir = bundle(['sleep', '1000'], notifying(a.sock), nnp);
      const init = await sb.startDetached(id, dir);
      await a.wait('the state of init', isState);
      const pidFile = sb.path(`${id}.exec.pid`);
      const r = sb.rt(['exec', '--pid-file', pidFile, id, 'sh', '-c', SCRIPT]);
      expectAnswered(r, nnp);
      const execPid = Number(fs.readFileSync(pidFile, 'utf8'));
      const got = await a.wait("the exec'd process's state", (e): e is Extract<AgentEvent, { event: 'state' }> => isState(e) && e.state.pid === execPid);
      expect(got).toEqual(expectedState(id, dir, execPid, 'running', init));
      expect(a.states()).toHaveLength(2);
      expect(await answered(a)).toEqual([
        { syscall: 'mkdir', path: '/dev/shm/d', answer: 'errno:28' },
        { syscall: 'rmdir', path: '/dev/shm', answer: 'value:0' },
      ]);
      ok(sb.rt(['delete', '--force', id]));
    });
  });
}

describe('refused: one line, a non-zero exit, nothing left behind', () => {
  it('SCMP_ACT_NOTIFY without listenerPath', async () => {
    const r = sb.run(sb.id('notify-bad'), bundle(['true'], notifying(undefined)));
    await sb.expectRefused(r, /listenerPath is not set/);
  });

  it('a listenerPath nobody listens on', async () => {
    const r = sb.run(sb.id('notify-bad'), bundle(['true'], notifying(sb.path('nobody.sock'))));
    await sb.expectRefused(r, /failed to connect with seccomp agent specified in the seccomp profile: dial unix \S*nobody\.sock: connect: no such file or directory/);
  });

  it('a listenerPath whose listener is gone (the socket file is left)', async () => {
    const stale = sb.path('stale.sock');
    const made = spawnSync('python3', ['-c', 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])', stale]);
    expect(made.status).toBe(0);
    const r = sb.run(sb.id('notify-bad'), bundle(['true'], notifying(stale)));
    await sb.expectRefused(r, /failed to connect with seccomp agent specified in the seccomp profile: dial unix \S*stale\.sock: connect: connection refused/);
  });

  it('SCMP_ACT_NOTIFY as the default action', async () => {
    const a = await agent();
    const p: LinuxSeccomp = { defaultAction: 'SCMP_ACT_NOTIFY', listenerPath: a.sock, syscalls: [{ names: ['getpid'], action: 'SCMP_ACT_ALLOW' }] };
    await sb.expectRefused(sb.run(sb.id('notify-bad'), bundle(['true'], p)), /SCMP_ACT_NOTIFY cannot be used as default action/);
    expect(a.states()).toEqual([]);
  });

  // tsrun's own hand-over call (runc's is write, which runc refuses for the same reason).
  itTsrun('SCMP_ACT_NOTIFY for sendmsg, the syscall that hands the listener over', async () => {
    const a = await agent();
    const p = notifying(a.sock, (q) => q.syscalls![0].names.push('sendmsg'));
    await sb.expectRefused(sb.run(sb.id('notify-bad'), bundle(['true'], p)), /SCMP_ACT_NOTIFY cannot be used for the sendmsg syscall/);
  });

  it('exec once the agent is gone: the exec fails and its process does not stay', async () => {
    const a = await agent();
    const id = sb.id('notify-gone');
    const init = await sb.startDetached(id, bundle(['sleep', '1000'], notifying(a.sock)));
    await a.wait('the state of init', isState);
    await a.kill();
    const r = sb.rt(['exec', id, 'sleep', '999']);
    expect(r.code).not.toBe(0);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/failed to connect with seccomp agent specified in the seccomp profile: dial unix \S*agent-\d+\.sock: connect: connection refused/);
    // Only init is left in the container.
    await waitFor(() => sb.findProcesses().every((p) => p.pid === init), "the exec'd process to be gone");
    expect(pidAlive(init)).toBe(true);
    ok(sb.rt(['delete', '--force', id]));
  });
});

describe('features and flags', () => {
  it('features lists SCMP_ACT_NOTIFY', () => {
    const f = JSON.parse(ok(sb.rt(['features'])).stdout);
    expect(f.linux.seccomp.actions).toContain('SCMP_ACT_NOTIFY');
  });

  // runc 1.1.5 knows no seccomp flags.
  itTsrun('TSYNC (dropped: the kernel refuses it with a listener) and WAIT_KILLABLE_RECV with a notifying profile', async () => {
    const f = JSON.parse(ok(sb.rt(['features'])).stdout);
    expect(f.linux.seccomp.knownFlags).toContain('SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV');
    const flags = ['SECCOMP_FILTER_FLAG_TSYNC', ...(f.linux.seccomp.supportedFlags.includes('SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV') ? ['SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV'] : [])];
    const a = await agent();
    const r = sb.run(sb.id('notify-flags'), bundle(['sh', '-c', SCRIPT], notifying(a.sock, (p) => (p.flags = flags as never))));
    expectAnswered(r, true);
  });
});
