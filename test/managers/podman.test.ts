/**
 * podman running its containers on the runtime under test (`podman --runtime <RUNTIME>`), each
 * case asserting what a podman user sees. RUNTIME=runc runs the same cases on runc. The cgroup
 * manager is podman's default for the host: systemd where systemd is init (containers in
 * machine.slice/libpod-<id>.scope, made by the runtime over D-Bus), cgroupfs elsewhere.
 *
 * podman gets a storage root, run root, tmpdir and containers.conf of its own under a temporary
 * directory, and an image imported from a busybox rootfs (no registry). containers.conf pins the
 * rlimits podman would otherwise set to 1048576, which a host without CAP_SYS_RESOURCE refuses
 * (runc fails the same way). Everything podman made is removed after the file; the runtime's
 * state root (podman passes none: the default one) must be left without our containers.
 */
import { spawnSync, SpawnSyncReturns } from 'child_process';
import * as fs from 'fs';
import * as http from 'http';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import { cgroupRoots, removeCgroups } from '../helpers/cgroups';
import { containerNamer, onTerminal, stopUnits, systemdHost, systemdUnits, unmountUnder, waitForSync } from '../helpers/managers';
import { buildRootfs, isRunc, RUNTIME, waitFor } from '../helpers/runtime';

jest.setTimeout(120_000);

const IMAGE = 'localhost/tsrun-test-busybox:latest';
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-podman-'));
const confFile = path.join(work, 'containers.conf');
/** The same, plus the runtime listed as understanding --log-format=json (podman's runc dialect). */
const jsonConfFile = path.join(work, 'containers-json.conf');
const stateRoot = isRunc ? '/run/runc' : '/run/tsrun';
const made: string[] = [];

function podmanArgs(args: string[]): string[] {
  return [
    '--root', path.join(work, 'root'),
    '--runroot', path.join(work, 'runroot'),
    '--tmpdir', path.join(work, 'tmp'),
    '--storage-driver', 'vfs',
    '--cgroup-manager', systemdHost ? 'systemd' : 'cgroupfs',
    '--events-backend', 'none',
    '--runtime', RUNTIME,
    ...args,
  ];
}

const env = { ...process.env, CONTAINERS_CONF: confFile };
const jsonEnv = { ...process.env, CONTAINERS_CONF: jsonConfFile };

function podman(args: string[], input?: string, e = env): SpawnSyncReturns<string> {
  return spawnSync('podman', podmanArgs(args), { encoding: 'utf8', input, env: e, timeout: 60_000 });
}

/** podman, expecting success; returns stdout. */
function pm(...args: string[]): string {
  const r = podman(args);
  if (r.status !== 0) throw new Error(`podman ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}

const name = containerNamer(made, 'tsrun-t');

function containerIdOf(n: string): string {
  return pm('inspect', '-f', '{{.Id}}', n).trim();
}

/** What of the runtime's state and of the containers' cgroups existed before: anything new after is a leak. */
let stateBefore: Set<string>;
let cgroupsBefore: Set<string>;
function dirsIn(dir: string, keep: (name: string) => boolean): string[] {
  try {
    return fs.readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory() && keep(e.name)).map((e) => path.join(dir, e.name));
  } catch {
    return []; // absent
  }
}
/** The runtime's container state: nothing but containers' directories (caches live elsewhere). */
function stateEntries(): string[] {
  return dirsIn(stateRoot, () => true);
}
/**
 * The containers' cgroups: libpod_parent/libpod-<id> in every hierarchy (cgroupfs; libpod_parent
 * and its conmon are podman's own), or machine.slice/libpod-<id>.scope (systemd; conmon's are
 * libpod-conmon-<id>.scope, podman's own).
 */
function containerCgroups(): string[] {
  if (systemdHost) return dirsIn('/sys/fs/cgroup/machine.slice', (e) => /^libpod-[0-9a-f]{64}\.scope$/.test(e));
  return cgroupRoots().flatMap((root) => dirsIn(path.join(root, 'libpod_parent'), (e) => e.startsWith('libpod-')));
}
/** The containers' scope units (systemd host): the runtime starts them and must leave none. */
function containerUnits(): string[] {
  return systemdUnits('libpod-*.scope').filter((u) => !u.startsWith('libpod-conmon-'));
}
let unitsBefore: Set<string>;
/**
 * podman (cgroupfs manager) makes libpod_parent and libpod_parent/conmon in each hierarchy and
 * never removes them; each container's conmon moves itself there and exits on its own time
 * after the container. Those that this file's runs made are removed again at the end. Other
 * podman users on the machine share libpod_parent: only this file's processes are killed there.
 */
const PODMAN_PARENTS = ['libpod_parent/conmon', 'libpod_parent'];
let parentsBefore: Set<string>;
function podmanParents(): string[] {
  if (systemdHost) return []; // conmon's scopes: systemd removes them once empty
  return cgroupRoots().flatMap((root) => PODMAN_PARENTS.map((p) => path.join(root, p))).filter((d) => fs.existsSync(d));
}
/** A process of this file's: podman's or conmon's for our storage (its command line names `work`), or a container rooted there. */
function ours(pid: number): boolean {
  try {
    if (fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(`${work}/`)) return true;
    return fs.readlinkSync(`/proc/${pid}/root`).startsWith(`${work}/`);
  } catch {
    return false; // gone
  }
}

beforeAll(() => {
  stateBefore = new Set(stateEntries());
  cgroupsBefore = new Set(containerCgroups());
  parentsBefore = new Set(podmanParents());
  unitsBefore = new Set(containerUnits());
  // Logs in files under the run root whether or not systemd runs (podman's default is journald where it does).
  const conf = '[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]\nlog_driver = "k8s-file"\n';
  fs.writeFileSync(confFile, conf);
  const runtimeName = path.basename(RUNTIME);
  fs.writeFileSync(jsonConfFile, `${conf}[engine]\nruntime_supports_json = ["runc", "crun", ${JSON.stringify(runtimeName)}]\n`);
  const rootfs = path.join(work, 'rootfs');
  buildRootfs(rootfs);
  const tar = path.join(work, 'rootfs.tar');
  const t = spawnSync('tar', ['-C', rootfs, '-cf', tar, '.']);
  if (t.status !== 0) throw new Error(`tar: ${t.stderr}`);
  pm('import', '--quiet', tar, IMAGE);
});

afterAll(() => {
  try {
    podman(['rm', '--force', '--time', '0', ...made]);
    podman(['rmi', '--force', '--all']);
    // podman leaves its storage mounts (shm, netns) until reset; nothing of ours may stay.
    podman(['system', 'reset', '--force']);
  } finally {
    unmountUnder(work);
    fs.rmSync(work, { recursive: true, force: true });
  }
  const leakedState = stateEntries().filter((e) => !stateBefore.has(e));
  for (const e of leakedState) fs.rmSync(e, { recursive: true, force: true });
  // The containers' cgroups left (the runtime's to remove: a leak, asserted below), then
  // podman's parents that this file's runs made, once what is still in them is gone.
  const leakedCgroups = containerCgroups().filter((e) => !cgroupsBefore.has(e));
  const parentsMade = podmanParents().filter((d) => !parentsBefore.has(d));
  // inUse: kept busy by another podman user's processes or cgroups; theirs, left alone.
  const leakedUnits = containerUnits().filter((u) => !unitsBefore.has(u));
  stopUnits(leakedUnits);
  const { left } = removeCgroups([...leakedCgroups, ...parentsMade], { owns: ours });
  expect([...leakedState, ...leakedCgroups, ...leakedUnits]).toEqual([]);
  expect(left).toEqual([]);
});

describe('podman run', () => {
  it('--rm prints the output of the container and removes it', () => {
    const n = name('rm');
    expect(pm('run', '--rm', '--name', n, IMAGE, 'echo', 'hello from podman')).toBe('hello from podman\n');
    expect(podman(['inspect', n]).status).not.toBe(0);
  });

  it('passes the exit code of the process, and 128+N after podman kill', () => {
    expect(podman(['run', '--rm', IMAGE, 'sh', '-c', 'exit 42']).status).toBe(42);
    const n = name('killed');
    pm('run', '-d', '--name', n, IMAGE, 'sleep', '600');
    pm('kill', '--signal', 'KILL', n);
    expect(pm('wait', n).trim()).toBe('137');
    expect(pm('inspect', '-f', '{{.State.ExitCode}}', n).trim()).toBe('137');
    pm('rm', n);
  });

  it.each([
    ['bare', env],
    ['--log-format=json --log', jsonEnv],
  ])('a command that does not exist is exit 127 with the runtime\'s message (%s dialect)', (_dialect, e) => {
    const r = podman(['run', '--rm', IMAGE, '/no/such/binary'], undefined, e);
    expect(r.status).toBe(127);
    expect(r.stderr).toMatch(/\/no\/such\/binary.*(no such file or directory|not found)/);
  });

  it('a permission problem is exit 126 (json dialect)', () => {
    const r = podman(['run', '--rm', IMAGE, '/etc/passwd'], undefined, jsonEnv);
    expect(r.status).toBe(126);
    expect(r.stderr).toMatch(/permission denied/);
  });

  it('-e, -w and --user reach the process', () => {
    const out = pm('run', '--rm', '-e', 'GREETING=hi there', '-w', '/tmp', '--user', '1000:1001', IMAGE,
      'sh', '-c', 'echo "$GREETING"; pwd; id -u; id -g');
    expect(out).toBe('hi there\n/tmp\n1000\n1001\n');
  });

  it('-v binds a host directory read-write and a file read-only', () => {
    const dir = fs.mkdtempSync(path.join(work, 'vol-'));
    fs.writeFileSync(path.join(dir, 'in.txt'), 'from host\n');
    const file = path.join(work, 'ro-file.txt');
    fs.writeFileSync(file, 'read only\n');
    const out = pm('run', '--rm', '-v', `${dir}:/data`, '-v', `${file}:/etc/ro.txt:ro`, IMAGE,
      'sh', '-c', 'cat /data/in.txt; echo from container > /data/out.txt; cat /etc/ro.txt; echo x >> /etc/ro.txt || echo ro-refused');
    expect(out).toBe('from host\nread only\nro-refused\n');
    expect(fs.readFileSync(path.join(dir, 'out.txt'), 'utf8')).toBe('from container\n');
    expect(fs.readFileSync(file, 'utf8')).toBe('read only\n');
  });

  it('--read-only: / refuses writes, /tmp and /run are writable tmpfs copies', () => {
    const out = pm('run', '--rm', '--read-only', IMAGE, 'sh', '-c',
      'touch /newfile 2>/dev/null && echo wrote-root || echo root-ro; echo t > /tmp/t && echo tmp-ok; ' +
      'grep -E " /(tmp|run) " /proc/self/mountinfo | cut -d" " -f5,9 | sort');
    expect(out).toBe('root-ro\ntmp-ok\n/run tmpfs\n/tmp tmpfs\n');
  });

  it('--cap-drop all empties the capability sets; --cap-add adds one', () => {
    const none = pm('run', '--rm', '--cap-drop', 'all', IMAGE, 'grep', '^CapEff', '/proc/self/status');
    expect(none).toBe('CapEff:\t0000000000000000\n');
    const one = pm('run', '--rm', '--cap-drop', 'all', '--cap-add', 'NET_ADMIN', IMAGE, 'grep', '^CapEff', '/proc/self/status');
    expect(one).toBe('CapEff:\t0000000000001000\n');
  });

  it('--memory, --pids-limit and --cpus become the container\'s cgroup limits', () => {
    const n = name('limits');
    pm('run', '-d', '--name', n, '--memory', '64m', '--pids-limit', '20', '--cpus', '0.5', IMAGE, 'sleep', '60');
    const id = containerIdOf(n);
    const pid = Number(pm('inspect', '-f', '{{.State.Pid}}', n).trim());
    // From the host: the cgroups the container's init is in carry the limits.
    const cg = new Map(fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8').trim().split('\n').map((l) => {
      const [, ctl, p] = l.split(':');
      return [ctl, p] as [string, string];
    }));
    const v2 = !fs.existsSync('/sys/fs/cgroup/memory');
    const read = (ctl: string, file: string): string =>
      fs.readFileSync(v2 ? path.join('/sys/fs/cgroup', cg.get('')!, file) : path.join('/sys/fs/cgroup', ctl, cg.get(ctl)!, file), 'utf8').trim();
    if (v2) {
      expect(read('', 'memory.max')).toBe('67108864');
      expect(read('', 'pids.max')).toBe('20');
      expect(read('', 'cpu.max')).toBe('50000 100000');
    } else {
      expect(read('memory', 'memory.limit_in_bytes')).toBe('67108864');
      expect(read('pids', 'pids.max')).toBe('20');
      expect(read('cpu', 'cpu.cfs_quota_us')).toBe('50000');
      expect(read('cpu', 'cpu.cfs_period_us')).toBe('100000');
    }
    expect(cg.get(v2 ? '' : 'pids')).toContain(id);
    if (systemdHost) {
      // The runtime's scope unit, started with the limits as unit properties (as runc does).
      expect(cg.get(v2 ? '' : 'pids')).toBe(`/machine.slice/libpod-${id}.scope`);
      const show = spawnSync('systemctl', ['show', '-p', 'MemoryMax', '-p', 'TasksMax', '-p', 'Delegate', `libpod-${id}.scope`], { encoding: 'utf8' });
      expect(show.stdout.trim().split('\n').sort()).toEqual(['Delegate=yes', 'MemoryMax=67108864', 'TasksMax=20']);
    }
    pm('rm', '--force', '--time', '0', n);
  });

  it('-p publishes a port on 127.0.0.1 to a server inside the container', async () => {
    const n = name('web');
    const port = await freePort();
    pm('run', '-d', '--name', n, '-p', `127.0.0.1:${port}:8080`, IMAGE, 'sh', '-c',
      'mkdir /www && echo hello over http > /www/index.html && exec httpd -f -p 8080 -h /www');
    const body = await waitFor(async () => {
      try {
        return await httpGet(`http://127.0.0.1:${port}/index.html`);
      } catch {
        return undefined;
      }
    }, 'the published port to answer', 20_000);
    expect(body).toBe('hello over http\n');
    pm('rm', '--force', '--time', '0', n);
  });
});

describe('podman container lifecycle', () => {
  it('-d, ps, logs, stop and rm', () => {
    const n = name('life');
    pm('run', '-d', '--name', n, IMAGE, 'sh', '-c', 'echo started; trap "echo bye; exit 0" TERM; while :; do sleep 0.1; done');
    expect(pm('ps', '--filter', `name=${n}`, '--format', '{{.Names}}')).toBe(`${n}\n`);
    expect(pm('inspect', '-f', '{{.State.Status}}', n).trim()).toBe('running');
    const id = containerIdOf(n);
    expect(fs.existsSync(path.join(stateRoot, id))).toBe(true);
    waitForSync(() => pm('logs', n).includes('started'), 'the log line');
    pm('stop', '--time', '10', n);
    expect(pm('inspect', '-f', '{{.State.Status}} {{.State.ExitCode}}', n).trim()).toBe('exited 0');
    expect(pm('logs', n)).toBe('started\nbye\n');
    pm('rm', n);
    expect(podman(['inspect', n]).status).not.toBe(0);
    expect(fs.existsSync(path.join(stateRoot, id))).toBe(false);
  });

  it('stop escalates to SIGKILL when the process ignores SIGTERM (exit 137)', () => {
    const n = name('stubborn');
    pm('run', '-d', '--name', n, IMAGE, 'sleep', '600');
    pm('stop', '--time', '1', n);
    expect(pm('inspect', '-f', '{{.State.ExitCode}}', n).trim()).toBe('137');
    pm('rm', n);
  });

  it('exec runs in the container (namespaces, env, user, cwd) and returns its exit code', () => {
    const n = name('exec');
    pm('run', '-d', '--name', n, '--hostname', 'inner', IMAGE, 'sleep', '600');
    const pid = Number(pm('inspect', '-f', '{{.State.Pid}}', n).trim());
    const out = pm('exec', '-e', 'X=y', '-u', '65534', '-w', '/tmp', n, 'sh', '-c',
      'hostname; echo $X; id -u; pwd; readlink /proc/self/ns/pid; readlink /proc/self/ns/mnt');
    const ns = ['pid', 'mnt'].map((t) => fs.readlinkSync(`/proc/${pid}/ns/${t}`));
    expect(out).toBe(`inner\ny\n65534\n/tmp\n${ns.join('\n')}\n`);
    expect(podman(['exec', n, 'sh', '-c', 'exit 5']).status).toBe(5);
    pm('rm', '--force', '--time', '0', n);
  });

  it('exec -t gives the process a terminal', () => {
    const n = name('exect');
    pm('run', '-d', '--name', n, IMAGE, 'sleep', '600');
    const out = pm('exec', '-t', n, 'sh', '-c', 'tty; test -t 0 && test -t 1 && echo both-tty');
    expect(out.replace(/\r/g, '')).toMatch(/^\/dev\/pts\/\d+\nboth-tty\n$/);
    pm('rm', '--force', '--time', '0', n);
  });

  it('run -it: an interactive shell on a terminal', () => {
    // `script` gives podman a terminal of its own; what we type reaches the container's shell.
    const r = onTerminal(['podman', ...podmanArgs(['run', '--rm', '-it', IMAGE, 'sh'])], env, 'tty; echo "in=$((6*7))"; exit 3\n');
    const out = r.stdout.replace(/\r/g, '');
    expect(out).toMatch(/\/dev\/pts\/\d+/);
    expect(out).toContain('in=42');
    expect(r.status).toBe(3);
  });

  it('pause freezes the container and unpause thaws it', () => {
    const n = name('pause');
    pm('run', '-d', '--name', n, IMAGE, 'sh', '-c', 'i=0; while :; do i=$((i+1)); echo $i > /tmp/count; sleep 0.05; done');
    const count = () => Number(pm('exec', n, 'cat', '/tmp/count').trim());
    waitForSync(() => count() > 2, 'the counter to run');
    pm('pause', n);
    expect(pm('inspect', '-f', '{{.State.Status}}', n).trim()).toBe('paused');
    const pid = Number(pm('inspect', '-f', '{{.State.Pid}}', n).trim());
    // Frozen tasks do not run: the counter file (read from the host) stays still.
    const file = `/proc/${pid}/root/tmp/count`;
    const before = fs.readFileSync(file, 'utf8');
    spawnSync('sleep', ['0.5']);
    expect(fs.readFileSync(file, 'utf8')).toBe(before);
    pm('unpause', n);
    expect(pm('inspect', '-f', '{{.State.Status}}', n).trim()).toBe('running');
    waitForSync(() => fs.readFileSync(file, 'utf8') !== before, 'the counter to move again');
    pm('rm', '--force', '--time', '0', n);
  });

  it('top lists the container\'s processes and stats reads its cgroup', () => {
    const n = name('top');
    pm('run', '-d', '--name', n, '--memory', '128m', IMAGE, 'sleep', '600');
    const top = pm('top', n);
    expect(top).toMatch(/sleep 600/);
    const stats = JSON.parse(pm('stats', '--no-stream', '--format', 'json', n));
    const s = Array.isArray(stats) ? stats[0] : stats;
    expect(s.name).toBe(n);
    expect(String(s.mem_usage)).toMatch(/\/ 134.2MB|\/ 128MiB/);
    expect(Number(s.pids)).toBe(1);
    pm('rm', '--force', '--time', '0', n);
  });
});

// ------------------------------------------------------------------ helpers



function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

function httpGet(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { timeout: 2000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`HTTP ${res.statusCode}`))));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

