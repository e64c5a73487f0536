/**
 * Rootless containers: an unprivileged user runs `spec --rootless` and `run`, with a user
 * namespace mapping them to root, state under $XDG_RUNTIME_DIR, and no cgroup of their own
 * unless one was delegated to them. What such a user cannot have fails with runc's messages.
 *
 * The tests run as the user tsrun-rootless (made by .ci/run, with ranges in /etc/subuid and
 * /etc/subgid), through setpriv. The checkout may sit where that user cannot read (CI clones
 * as root), so tsrun is copied, in the layout bin/tsrun expects, to a directory it can read.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { systemdHost } from '../helpers/managers';
import { isRunc, itTsrun, pidAlive, readIf, RUNTIME, Spec, useSandbox, waitFor } from '../helpers/runtime';

const sb = useSandbox();
const USER = 'tsrun-rootless';
/** A pure cgroup v2 host (no v1 hierarchy mounted), where runc words a missing delegation otherwise. */
const V2 = !/ - cgroup cgroup /.test(fs.readFileSync('/proc/self/mountinfo', 'utf8'));
const NO_DELEGATION_V2 = /rootless needs no limits \+ no cgrouppath when no permission is granted for cgroups/;

interface User {
  uid: number;
  gid: number;
  /** First id and size of the user's /etc/subuid and /etc/subgid ranges. */
  subuid: [number, number];
  subgid: [number, number];
}

function lookupUser(): User {
  const id = (flag: string) => spawnSync('id', [flag, USER], { encoding: 'utf8' });
  const u = id('-u');
  if (u.status !== 0) {
    throw new Error(`the rootless tests run as the user ${USER} with /etc/subuid and /etc/subgid ranges: .ci/run creates it`);
  }
  const range = (file: string): [number, number] => {
    const line = (readIf(file) ?? '').split('\n').find((l) => l.startsWith(`${USER}:`));
    if (!line) throw new Error(`${USER} has no range in ${file}: .ci/run adds one`);
    const [, start, count] = line.split(':');
    return [Number(start), Number(count)];
  };
  return { uid: Number(u.stdout), gid: Number(id('-g').stdout), subuid: range('/etc/subuid'), subgid: range('/etc/subgid') };
}

const user = lookupUser();
/** By its path: tests empty PATH for the user's commands. */
const SETPRIV = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => fs.existsSync(p)) ?? 'setpriv';
/** The runtime's argv prefix, runnable by the user. */
let runtimeArgv: string[] = [];
/** This test run's $XDG_RUNTIME_DIR, owned by the user. */
let xdg = '';
/** Where a rootless runtime keeps its state by default. */
let stateRoot = '';
const made = new Set<string>();

beforeAll(() => {
  if (isRunc) {
    runtimeArgv = [RUNTIME];
  } else {
    // bin/tsrun loads ../dist/tsrun.js (+ its code cache), which loads ../../../build/Release/tsrun_native.node,
    // which copies the exec helper beside it into a sealed memfd; the systemd driver runs
    // dist/tsrun-bus-worker.js in a worker thread.
    const repo = path.resolve(__dirname, '../..');
    const copy = sb.mkdir('runtime-copy');
    for (const rel of ['packages/runtime/bin/tsrun', 'packages/runtime/dist/tsrun.js', 'packages/runtime/dist/tsrun.cache', 'packages/runtime/dist/tsrun-bus-worker.js', 'build/Release/tsrun_native.node', 'build/Release/tsrun-exec']) {
      const from = path.join(repo, rel);
      if (!fs.existsSync(from) && rel.endsWith('.cache')) continue;
      fs.mkdirSync(path.dirname(path.join(copy, rel)), { recursive: true });
      fs.copyFileSync(from, path.join(copy, rel));
    }
    fs.chmodSync(path.join(copy, 'packages/runtime/bin/tsrun'), 0o755);
    runtimeArgv = [process.execPath, path.join(copy, 'packages/runtime/bin/tsrun')];
  }
  xdg = sb.mkdir('xdg');
  fs.chownSync(xdg, user.uid, user.gid);
  fs.chmodSync(xdg, 0o700);
  stateRoot = path.join(xdg, isRunc ? 'runc' : 'tsrun');
});

/** Removes every container the test made (as the user), before the sandbox looks for leaks. */
function cleanup(): void {
  for (const id of made) asUser([...runtimeArgv, 'delete', '--force', id]);
  made.clear();
}

/** `it` whose containers are deleted when it ends, passed or not. */
function itCleans(name: string, fn: () => void | Promise<void>): void {
  it(name, async () => {
    try {
      await fn();
    } finally {
      cleanup();
    }
  });
}

afterAll(() => {
  // Nothing of the user's containers is left.
  expect(fs.existsSync(stateRoot) ? fs.readdirSync(stateRoot) : []).toEqual([]);
});

interface Out {
  code: number;
  stdout: string;
  stderr: string;
  /** Where stdout went: a detached container goes on writing there. */
  outFile: string;
}

let outCounter = 0;

/**
 * Runs argv as the user, with only the environment a login would give, plus `env`. Output
 * goes to files, never pipes: a detached container inherits them and would hold a pipe open.
 */
function asUser(argv: string[], opts: { env?: Record<string, string>; cwd?: string } = {}): Out {
  const env = { PATH: '/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin', HOME: xdg, XDG_RUNTIME_DIR: xdg, ...opts.env };
  const outFile = sb.path(`rl-io-${++outCounter}.out`);
  const fo = fs.openSync(outFile, 'w');
  const fe = fs.openSync(outFile + '.err', 'w');
  let r;
  try {
    r = spawnSync(SETPRIV, ['--reuid', String(user.uid), '--regid', String(user.gid), '--clear-groups', ...argv], {
      env,
      cwd: opts.cwd ?? xdg,
      timeout: 30000,
      killSignal: 'SIGKILL',
      stdio: ['ignore', fo, fe],
    });
  } finally {
    fs.closeSync(fo);
    fs.closeSync(fe);
  }
  return { code: r.status ?? -1, stdout: fs.readFileSync(outFile, 'utf8'), stderr: fs.readFileSync(outFile + '.err', 'utf8'), outFile };
}

function rt(args: string[], opts: { env?: Record<string, string>; cwd?: string } = {}): Out {
  const i = args.findIndex((a) => ['run', 'create'].includes(a));
  if (i >= 0) made.add(args[args.length - 1]);
  return asUser([...runtimeArgv, ...args], opts);
}

function ok(r: Out): Out {
  if (r.code !== 0) throw new Error(`exited ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r;
}

/** A bundle made by the user's own `spec --rootless`, on the sandbox's busybox rootfs. */
function rootlessBundle(args: string[], edit?: (s: Spec) => void): string {
  const dir = sb.mkdir(`rl-bundle-${made.size}-${Date.now()}`);
  fs.chownSync(dir, user.uid, user.gid);
  ok(rt(['spec', '--rootless'], { cwd: dir }));
  const file = path.join(dir, 'config.json');
  const spec = JSON.parse(fs.readFileSync(file, 'utf8')) as Spec;
  spec.root.path = sb.rootfs;
  spec.process.terminal = false;
  spec.process.args = args;
  if (edit) edit(spec);
  fs.writeFileSync(file, JSON.stringify(spec, null, 2));
  return dir;
}

function hostStatus(pid: number, field: string): string {
  return new RegExp(`^${field}:\\s*(.*)$`, 'm').exec(readIf(`/proc/${pid}/status`) ?? '')?.[1] ?? '';
}

describe('a rootless user runs containers', () => {
  itCleans('spec --rootless && run: root in a user namespace mapping only the user, setgroups denied', () => {
    const id = sb.id('rl');
    const r = ok(rt(['run', '--bundle', rootlessBundle(['sh', '-c', 'id; cat /proc/self/uid_map /proc/self/gid_map /proc/self/setgroups']), id]));
    const [idLine, uidMap, gidMap, setgroups] = r.stdout.trim().split('\n');
    expect(idLine).toMatch(/^uid=0\(root\) gid=0\(root\)/);
    expect(uidMap.trim().split(/\s+/)).toEqual(['0', String(user.uid), '1']);
    expect(gidMap.trim().split(/\s+/)).toEqual(['0', String(user.gid), '1']);
    expect(setgroups).toBe('deny');
  });

  itCleans('state lives under $XDG_RUNTIME_DIR; the process runs as the user on the host, in the caller\'s cgroups; exec, kill and delete work', async () => {
    const id = sb.id('rld');
    ok(rt(['run', '--detach', '--bundle', rootlessBundle(['sleep', '1000']), id]));
    expect(fs.existsSync(path.join(stateRoot, id))).toBe(true);
    const state = JSON.parse(ok(rt(['state', id])).stdout);
    expect(state.status).toBe('running');
    const pid = state.pid as number;
    await waitFor(() => readIf(`/proc/${pid}/cmdline`)?.startsWith('sleep'), 'sleep to run');
    expect(hostStatus(pid, 'Uid').split(/\s+/)[0]).toBe(String(user.uid));
    // No delegation: the container stays in the cgroups of whoever ran the runtime.
    expect(readIf(`/proc/${pid}/cgroup`)).toBe(readIf('/proc/self/cgroup'));
    expect(ok(rt(['exec', id, 'id', '-u'])).stdout).toBe('0\n');
    ok(rt(['kill', id, 'KILL']));
    await waitFor(() => !pidAlive(pid), 'the container to die');
    ok(rt(['delete', id]));
    expect(fs.existsSync(path.join(stateRoot, id))).toBe(false);
  });

  itCleans('a multi-id map through newuidmap/newgidmap (/etc/subuid): a container user other than root is a subordinate id on the host', async () => {
    const [su] = user.subuid;
    const [sg] = user.subgid;
    const id = sb.id('rlmulti');
    const bundle = rootlessBundle(['sh', '-c', 'cat /proc/self/uid_map /proc/self/gid_map /proc/self/setgroups; id -u; id -g; exec sleep 1000'], (s) => {
      s.linux.uidMappings = [{ containerID: 0, hostID: user.uid, size: 1 }, { containerID: 1, hostID: su, size: 1000 }];
      s.linux.gidMappings = [{ containerID: 0, hostID: user.gid, size: 1 }, { containerID: 1, hostID: sg, size: 1000 }];
      s.process.user = { uid: 1000, gid: 1000 };
    });
    // Detached: the process keeps running for the host to look at; its output goes on into r.outFile.
    const r = ok(rt(['run', '--detach', '--bundle', bundle, id]));
    const pid = JSON.parse(ok(rt(['state', id])).stdout).pid as number;
    await waitFor(() => readIf(`/proc/${pid}/cmdline`)?.startsWith('sleep'), 'sleep to run');
    const lines = fs.readFileSync(r.outFile, 'utf8').trim().split('\n').map((l) => l.trim().split(/\s+/).join(' '));
    expect(lines).toEqual([
      `0 ${user.uid} 1`, `1 ${su} 1000`,
      `0 ${user.gid} 1`, `1 ${sg} 1000`,
      'allow', // newgidmap wrote gid_map: setgroups stays allowed
      '1000', '1000',
    ]);
    // Container uid 1000 is the 1000th subordinate id.
    expect(hostStatus(pid, 'Uid').split(/\s+/)[0]).toBe(String(su + 999));
    expect(hostStatus(pid, 'Gid').split(/\s+/)[0]).toBe(String(sg + 999));
  });

  // Needs a v1 pids hierarchy; on cgroup v2 hosts the systemd block below delegates instead.
  (fs.existsSync('/sys/fs/cgroup/pids/cgroup.procs') ? itTsrun : it.skip)('a delegated cgroup is used: limits go into it (runc 1.1.5 refuses any cgroupsPath it cannot fully create)', () => {
    // Delegate a pids cgroup to the user, as a login manager would.
    const hier = '/sys/fs/cgroup/pids';
    const deleg = path.join(hier, `rl-deleg-${sb.token}`);
    fs.mkdirSync(deleg);
    try {
      for (const f of ['', 'cgroup.procs', 'tasks']) fs.chownSync(path.join(deleg, f), user.uid, user.gid);
      const id = sb.id('rlcg');
      const r = ok(
        rt(['run', '--bundle', rootlessBundle(['sh', '-c', 'grep pids /proc/self/cgroup; cat /sys/fs/cgroup/pids/pids.max'], (s) => {
          s.linux.cgroupsPath = `/${path.basename(deleg)}/${id}`;
          s.linux.resources = { pids: { limit: 42 } };
        }), id]),
      );
      expect(r.stdout).toMatch(new RegExp(`:pids:/${path.basename(deleg)}/${id}\\n42\\n$`));
      // And removed again with the container.
      expect(fs.readdirSync(deleg, { withFileTypes: true }).filter((e) => e.isDirectory())).toEqual([]);
    } finally {
      cleanup();
      fs.rmdirSync(deleg);
    }
  });
});

/**
 * A systemd host (the VM tier): the user's own manager, user@UID.service, owns its subtree
 * (Delegate=yes), as on any desktop or server where the user has logged in. Two ways in, both
 * as podman uses them rootless: a delegated scope from `systemd-run --user --scope` with the
 * cgroupfs driver, and the systemd driver talking to the user manager over the user bus.
 */
(systemdHost && V2 ? describe : describe.skip)('rootless on a systemd host: the user manager\'s delegation', () => {
  const userDir = `/run/user/${user.uid}`;
  const bus = { DBUS_SESSION_BUS_ADDRESS: `unix:path=${userDir}/bus` };
  let startedManager = false;

  beforeAll(() => {
    // What a login does: start the user's manager (its runtime dir and bus come with it).
    startedManager = spawnSync('systemctl', ['is-active', '--quiet', `user@${user.uid}.service`]).status !== 0;
    const r = spawnSync('systemctl', ['start', `user@${user.uid}.service`], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`systemctl start user@${user.uid}.service: ${r.stderr.trim()}`);
  });
  afterAll(() => {
    if (startedManager) spawnSync('systemctl', ['stop', `user@${user.uid}.service`]);
  });

  /** The user's manager's units matching `pattern` (as `systemctl --user list-units` shows them). */
  function userUnits(pattern: string): string[] {
    const r = asUser(['systemctl', '--user', 'list-units', '--all', '--plain', '--no-legend', '--no-pager', pattern], { env: { ...bus, XDG_RUNTIME_DIR: userDir } });
    return r.stdout.split('\n').map((l) => l.trim().split(/\s+/)[0]).filter(Boolean);
  }

  /** Controllers the user manager hands down (what user@.service's Delegate= gives). */
  function delegated(): string[] {
    const file = `/sys/fs/cgroup/user.slice/user-${user.uid}.slice/user@${user.uid}.service/cgroup.subtree_control`;
    return (readIf(file) ?? '').trim().split(/\s+/).filter(Boolean);
  }

  /** A detached rootless container's cgroup, read from the host, and its limit files. */
  async function detachedCgroup(id: string): Promise<{ pid: number; dir: string }> {
    const state = JSON.parse(ok(rt(['state', id])).stdout);
    const pid = state.pid as number;
    await waitFor(() => readIf(`/proc/${pid}/cmdline`)?.startsWith('sleep'), 'sleep to run');
    const rel = (readIf(`/proc/${pid}/cgroup`) ?? '').trim().replace(/^0::/, '');
    return { pid, dir: path.join('/sys/fs/cgroup', rel) };
  }

  itCleans('in a scope of systemd-run --user --scope: a relative cgroupsPath is made beside it, with the limits', async () => {
    expect(delegated()).toEqual(expect.arrayContaining(['memory', 'pids']));
    const id = sb.id('rlscope');
    const bundle = rootlessBundle(['sleep', '1000'], (s) => {
      s.linux.cgroupsPath = `tsrun-rl-${id}`;
      s.linux.resources = { memory: { limit: 64 * 1024 * 1024 }, pids: { limit: 42 } };
    });
    made.add(id);
    ok(asUser(['systemd-run', '--user', '--scope', '--quiet', '--', ...runtimeArgv, 'run', '--detach', '--bundle', bundle, id], { env: { ...bus } }));
    const { dir } = await detachedCgroup(id);
    // Under the user manager's tree, beside the scope the runtime ran in (runc's rule for v2).
    expect(dir).toMatch(new RegExp(`/user@${user.uid}\\.service/.*/tsrun-rl-${id}$`));
    expect(fs.readFileSync(path.join(dir, 'memory.max'), 'utf8').trim()).toBe(String(64 * 1024 * 1024));
    expect(fs.readFileSync(path.join(dir, 'pids.max'), 'utf8').trim()).toBe('42');
    ok(rt(['delete', '--force', id]));
    expect(fs.existsSync(dir)).toBe(false);
  });

  itCleans('--systemd-cgroup: the user manager starts the scope (user.slice:prefix:name), delete stops it', async () => {
    const id = sb.id('rlsd');
    const bundle = rootlessBundle(['sleep', '1000'], (s) => {
      s.linux.cgroupsPath = `user.slice:tsrun-rl:${id}`;
      s.linux.resources = { memory: { limit: 64 * 1024 * 1024 }, pids: { limit: 42 } };
    });
    ok(rt(['--systemd-cgroup', 'run', '--detach', '--bundle', bundle, id], { env: bus }));
    const unit = `tsrun-rl-${id}.scope`;
    const { dir } = await detachedCgroup(id);
    expect(dir).toBe(`/sys/fs/cgroup/user.slice/user-${user.uid}.slice/user@${user.uid}.service/user.slice/${unit}`);
    expect(fs.readFileSync(path.join(dir, 'memory.max'), 'utf8').trim()).toBe(String(64 * 1024 * 1024));
    expect(fs.readFileSync(path.join(dir, 'pids.max'), 'utf8').trim()).toBe('42');
    expect(userUnits(unit)).toEqual([unit]);
    ok(rt(['--systemd-cgroup', 'delete', '--force', id], { env: bus }));
    expect(userUnits(unit)).toEqual([]);
    expect(fs.existsSync(dir)).toBe(false);
  });
});

describe('what a rootless user cannot have fails with runc\'s messages, leaving nothing', () => {
  // [name, config edit, message, environment of the runtime] (every row has all four: jest takes
  // a missing trailing argument for a done callback).
  const cases: [string, (s: Spec) => void, RegExp, Record<string, string>][] = [
    ['no user namespace', (s) => (s.linux.namespaces = s.linux.namespaces.filter((n: { type: string }) => n.type !== 'user')),
      /rootless container requires user namespaces/, {}],
    ['uids other than its own without newuidmap on PATH',
      (s) => s.linux.uidMappings.push({ containerID: 1, hostID: user.subuid[0], size: 10 }),
      /mapping tool not present/, { PATH: '/nonexistent' }],
    ['gids other than its own without newgidmap on PATH',
      (s) => s.linux.gidMappings.push({ containerID: 1, hostID: user.subgid[0], size: 10 }),
      /mapping tool not present/, { PATH: '/nonexistent' }],
    ['uids outside its /etc/subuid range',
      (s) => s.linux.uidMappings.push({ containerID: 1, hostID: user.subuid[0] + user.subuid[1] + 1000, size: 10 }),
      /failed to use newuid map on \d+/, {}],
    ['a memory limit without a delegated cgroup', (s) => (s.linux.resources = { memory: { limit: 100 * 1024 * 1024 } }),
      V2 ? NO_DELEGATION_V2 : /cannot set memory limits?: container could not join or create/, {}],
    ['a pids limit without a delegated cgroup', (s) => (s.linux.resources = { pids: { limit: 100 } }),
      V2 ? NO_DELEGATION_V2 : /cannot set pids.limit: container could not join or create/, {}],
    ['additional groups', (s) => (s.process.user.additionalGids = [5]), /cannot set any additional groups in a rootless container/, {}],
    ['a user the namespace does not map', (s) => (s.process.user.uid = 5), /cannot set uid to unmapped user in user namespace/, {}],
    ['a group the namespace does not map', (s) => (s.process.user.gid = 7), /cannot set gid to unmapped user in user namespace/, {}],
    ['a uid= mount option for an unmapped uid',
      (s) => s.mounts.push({ destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['uid=5'] }),
      /cannot specify uid= mount options for unmapped uid in rootless containers/, {}],
  ];

  it.each(cases)('%s', (_name, edit, message, env) => {
    try {
      failsCleanly(edit, message, env);
    } finally {
      cleanup();
    }
  });

  function failsCleanly(edit: (s: Spec) => void, message: RegExp, env: Record<string, string>): void {
    const id = sb.id('rlerr');
    const bundle = rootlessBundle(['true'], edit);
    // The runtime by its absolute path: PATH may be emptied to hide newuidmap.
    const r = rt(['run', '--bundle', bundle, id], { env });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(message);
    if (!isRunc) expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(fs.existsSync(path.join(stateRoot, id))).toBe(false);
  }
});
