/**
 * containerd running its containers on the runtime under test: `ctr run --runc-binary
 * <RUNTIME>` makes containerd-shim-runc-v2 call it exactly as it calls runc (and as dockerd
 * does through the same shim). RUNTIME=runc runs the same cases on runc.
 *
 * The test starts a containerd of its own (config, root, state and socket under a temporary
 * directory) and imports an image that tsbuild makes from a busybox rootfs. Everything is torn
 * down after the file: containers, tasks, the daemon, its mounts, and the runtime state under
 * the shim's --root (ctr's --runc-root, plus /<namespace>). On a systemd host the shim runs the
 * runtime with --systemd-cgroup (`ctr run --runc-systemd-cgroup`, what `SystemdCgroup = true`
 * sets for the CRI), and each container is a scope unit in a slice of the test's own.
 */
import { ChildProcess, spawn, spawnSync, SpawnSyncReturns } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { busyboxImageArchive, containerNamer, onTerminal, stopUnits, systemdHost, systemdUnits, unmountUnder, waitForSync } from '../helpers/managers';
import { removeCgroupDirsNamed, RUNTIME } from '../helpers/runtime';

jest.setTimeout(120_000);

const IMAGE = 'localhost/tsrun-test-busybox:latest';
const NS = 'tsrun-test';
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-containerd-'));
const sock = path.join(work, 'containerd.sock');
let daemon: ChildProcess | undefined;
const made: string[] = [];

function ctr(args: string[], opts: { input?: string } = {}): SpawnSyncReturns<string> {
  return spawnSync('ctr', ['--address', sock, '--namespace', NS, ...args], { encoding: 'utf8', timeout: 60_000, input: opts.input });
}

function ok(args: string[]): string {
  const r = ctr(args);
  if (r.status !== 0) throw new Error(`ctr ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}

const name = containerNamer(made);

/** The slice of the containers' scopes on a systemd host (no dash: systemd nests a-b.slice in a.slice). */
const SLICE = 'tsrunctrtest.slice';
/** The container's cgroup: /<namespace>/<id> (cgroupfs), /<slice>/<namespace>-<id>.scope (systemd). */
function cgroupOf(n: string): string {
  return systemdHost ? `/${SLICE}/${NS}-${n}.scope` : `/${NS}/${n}`;
}
const containerUnits = (): string[] => systemdUnits(`${NS}-*.scope`);
let unitsBefore: Set<string>;

/** ctr run's flags for our runtime (and the systemd driver, with runc's slice:prefix:name). */
function runtimeFlags(n: string): string[] {
  return ['--runc-binary', RUNTIME, '--runc-root', runtimeRoot, ...(systemdHost ? ['--runc-systemd-cgroup', '--cgroup', `${SLICE}:${NS}:${n}`] : [])];
}

/** `ctr run` with our runtime; returns the result (stdout is the container's). */
function run(n: string, args: string[], flags: string[] = []): SpawnSyncReturns<string> {
  return ctr(['run', ...runtimeFlags(n), ...flags, IMAGE, n, ...args]);
}


/** The runtime's --root as the shim passes it: <runc-root>/<namespace>. */
const runtimeRoot = path.join(work, 'runtime-root');
function stateDir(id: string): string {
  return path.join(runtimeRoot, NS, id);
}


function taskStatus(n: string): string {
  const line = ok(['task', 'ls']).split('\n').find((l) => l.split(/\s+/)[0] === n);
  return line ? line.trim().split(/\s+/)[2] : '';
}

/** Kill, delete the task and the container; quiet when they are gone already. */
function remove(n: string): void {
  ctr(['task', 'kill', '--signal', 'SIGKILL', n]);
  waitForSync(() => !['RUNNING', 'PAUSED', 'CREATED'].includes(taskStatus(n)), `task ${n} to stop`);
  ctr(['task', 'delete', n]);
  ctr(['container', 'delete', n]);
}

beforeAll(async () => {
  unitsBefore = new Set(containerUnits());
  fs.writeFileSync(
    path.join(work, 'config.toml'),
    [
      'version = 2',
      `root = "${work}/root"`,
      `state = "${work}/state"`,
      // Kubernetes' CRI plugin is not what this file tests (and wants CNI).
      'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
      '[grpc]',
      `  address = "${sock}"`,
      '',
    ].join('\n'),
  );
  daemon = spawn('containerd', ['--config', path.join(work, 'config.toml')], {
    stdio: ['ignore', 'ignore', fs.openSync(path.join(work, 'containerd.log'), 'w')],
  });
  waitForSync(() => ctr(['version']).status === 0, 'containerd to answer', 30_000);

  ok(['images', 'import', busyboxImageArchive(work, IMAGE)]);
});

afterAll(async () => {
  try {
    for (const n of made) remove(n);
    ctr(['images', 'remove', IMAGE]);
  } finally {
    if (daemon && daemon.exitCode === null) {
      const exited = new Promise((r) => daemon!.once('exit', r));
      daemon.kill('SIGTERM');
      await exited;
    }
    // The shims outlive a stopped daemon only while they have tasks: none are left.
    unmountUnder(work);
    const leftState = fs.existsSync(path.join(runtimeRoot, NS)) ? fs.readdirSync(path.join(runtimeRoot, NS)) : [];
    fs.rmSync(work, { recursive: true, force: true });
    const leftUnits = containerUnits().filter((u) => !unitsBefore.has(u));
    stopUnits([...leftUnits, ...(systemdHost ? [SLICE] : [])]);
    // The runtime made the namespace's parent cgroup (/<namespace>) on the way to each container's.
    removeCgroupDirsNamed(systemdHost ? SLICE : NS);
    expect([...leftState, ...leftUnits]).toEqual([]);
  }
});

describe('ctr run', () => {
  it('--rm prints the container\'s output and leaves no state', () => {
    const n = name('rm');
    const r = run(n, ['echo', 'hello from containerd'], ['--rm']);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('hello from containerd\n');
    expect(r.status).toBe(0);
    expect(fs.existsSync(stateDir(n))).toBe(false);
  });

  it('exits with the process\'s exit code', () => {
    expect(run(name('code'), ['sh', '-c', 'exit 7'], ['--rm']).status).toBe(7);
  });

  it('init is in the cgroup the shim reads metrics from (cgroupsPath /<namespace>/<id> or slice:prefix:name)', () => {
    const n = name('cg');
    const out = run(n, ['cat', '/proc/self/cgroup'], ['--rm']).stdout;
    expect(out).toMatch(new RegExp(`:${cgroupOf(n).replace(/\./g, '\\.')}$`, 'm'));
  });

  it('--memory-limit is the container\'s memory limit (on systemd also its scope\'s MemoryMax)', () => {
    const n = name('mem');
    expect(run(n, ['sleep', '600'], ['-d', '--memory-limit', String(48 * 1024 * 1024)]).status).toBe(0);
    waitForSync(() => taskStatus(n) === 'RUNNING', 'the task to run');
    const pid = Number(ok(['task', 'ls']).split('\n').find((l) => l.startsWith(n))!.trim().split(/\s+/)[1]);
    // From the host, through the cgroup the init is in (v2's one line, or v1's memory line).
    const lines = fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8').trim().split('\n').map((l) => l.split(':'));
    const v1 = lines.find(([, c]) => c.split(',').includes('memory'));
    const limit = v1 ? fs.readFileSync(`/sys/fs/cgroup/memory${v1[2]}/memory.limit_in_bytes`, 'utf8')
      : fs.readFileSync(`/sys/fs/cgroup${lines.find(([h]) => h === '0')![2]}/memory.max`, 'utf8');
    expect(limit.trim()).toBe(String(48 * 1024 * 1024));
    if (systemdHost) {
      const show = spawnSync('systemctl', ['show', '-p', 'MemoryMax', '-p', 'Delegate', `${NS}-${n}.scope`], { encoding: 'utf8' });
      expect(show.stdout.trim().split('\n').sort()).toEqual(['Delegate=yes', `MemoryMax=${48 * 1024 * 1024}`]);
    }
    remove(n);
    expect(containerUnits().filter((u) => !unitsBefore.has(u))).toEqual([]);
  });

  it('a failed create shows the runtime\'s error and leaves nothing', () => {
    const n = name('fail');
    const r = run(n, ['/no/such/binary'], ['--rm']);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/\/no\/such\/binary.*no such file or directory/);
    expect(fs.existsSync(stateDir(n))).toBe(false);
  });

  it('-t gives the process a terminal', () => {
    const n = name('tty');
    const r = onTerminal(['ctr', '--address', sock, '--namespace', NS, 'run', '--rm', '-t', ...runtimeFlags(n), IMAGE, n, 'sh', '-c', 'tty; exit 3']);
    expect(r.stdout.replace(/\r/g, '')).toMatch(/\/dev\/pts\/\d+\n/);
    expect(r.status).toBe(3);
  });
});

describe('ctr task', () => {
  let n: string;
  let pid: number;
  beforeAll(() => {
    n = name('task');
    expect(run(n, ['sh', '-c', 'i=0; while :; do i=$((i+1)); echo $i > /tmp/count; sleep 0.05; done'], ['-d']).status).toBe(0);
    waitForSync(() => taskStatus(n) === 'RUNNING', 'the task to run');
    pid = Number(ok(['task', 'ls']).split('\n').find((l) => l.startsWith(n))!.trim().split(/\s+/)[1]);
  });

  it('exec runs in the container\'s namespaces and cgroup, with its exit code', () => {
    const r = ctr(['task', 'exec', '--exec-id', 'e1', n, 'sh', '-c', 'readlink /proc/self/ns/pid; readlink /proc/self/ns/mnt; grep pids /proc/self/cgroup || grep "^0::" /proc/self/cgroup; exit 5']);
    expect(r.status).toBe(5);
    const [pidNs, mntNs, cg] = r.stdout.trim().split('\n');
    expect(pidNs).toBe(fs.readlinkSync(`/proc/${pid}/ns/pid`));
    expect(mntNs).toBe(fs.readlinkSync(`/proc/${pid}/ns/mnt`));
    expect(cg.endsWith(cgroupOf(n))).toBe(true);
  });

  it('exec -t gives the process a terminal', () => {
    const r = onTerminal(['ctr', '--address', sock, '--namespace', NS, 'task', 'exec', '-t', '--exec-id', 'e2', n, 'sh', '-c', 'tty; exit 4']);
    expect(r.stdout.replace(/\r/g, '')).toMatch(/\/dev\/pts\/\d+\n/);
    expect(r.status).toBe(4);
  });

  it('ps lists the container\'s pids (runtime ps --format json)', () => {
    const pids = ok(['task', 'ps', n]).trim().split('\n').slice(1).map((l) => Number(l.trim().split(/\s+/)[0]));
    expect(pids).toContain(pid);
  });

  it('pause freezes the task and resume thaws it', () => {
    const file = `/proc/${pid}/root/tmp/count`;
    ok(['task', 'pause', n]);
    expect(taskStatus(n)).toBe('PAUSED');
    const before = fs.readFileSync(file, 'utf8');
    spawnSync('sleep', ['0.4']);
    expect(fs.readFileSync(file, 'utf8')).toBe(before);
    ok(['task', 'resume', n]);
    expect(taskStatus(n)).toBe('RUNNING');
    waitForSync(() => fs.readFileSync(file, 'utf8') !== before, 'the counter to move again');
  });

  it('metrics come from the container\'s cgroup', () => {
    const m = ok(['task', 'metrics', n]);
    expect(m).toMatch(/memory\.usage_in_bytes\s+[1-9]\d*|memory\.usage\s+[1-9]\d*/);
  });

  it('kill and delete end the task and remove the runtime\'s state', () => {
    expect(fs.existsSync(stateDir(n))).toBe(true);
    ok(['task', 'kill', '--signal', 'SIGKILL', n]);
    waitForSync(() => taskStatus(n) === 'STOPPED', 'the task to stop');
    ok(['task', 'delete', n]);
    expect(fs.existsSync(stateDir(n))).toBe(false);
    expect(fs.existsSync(`/proc/${pid}`)).toBe(false);
  });
});
