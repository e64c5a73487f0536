/**
 * Docker running its containers on the runtime under test (`dockerd --add-runtime
 * tsrun=<RUNTIME>`, `docker run --runtime tsrun`): dockerd asks its containerd for
 * containerd-shim-runc-v2, which calls the runtime as it calls runc. RUNTIME=runc runs the same
 * cases on runc.
 *
 * The test starts a dockerd of its own (data root, exec root, socket and pid file under a
 * temporary directory; no iptables, no bridge; vfs storage) which runs a containerd of its own
 * there too, and loads an image that tsbuild makes from a busybox rootfs. Everything is torn down
 * after the file. On a systemd host dockerd runs with native.cgroupdriver=systemd, as Docker's
 * packages set it up there: the containers are scopes in the slice given as --cgroup-parent.
 */
import { ChildProcess, spawn, spawnSync, SpawnSyncReturns } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { busyboxImageArchive, containerNamer, onTerminal, stopUnits, systemdHost, systemdUnits, unmountUnder, waitForSync } from '../helpers/managers';
import { removeCgroupDirsNamed, RUNTIME } from '../helpers/runtime';

jest.setTimeout(120_000);

const IMAGE = 'localhost/tsrun-test-busybox:latest';
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-docker-'));
const sock = path.join(work, 'docker.sock');
const execRoot = path.join(work, 'exec');
let daemon: ChildProcess | undefined;
const made: string[] = [];
/** Where the containers' cgroups go: a slice of its own (systemd driver) or a cgroupfs dir. */
const PARENT = systemdHost ? 'tsrundockertest.slice' : 'tsrun-docker-test'; // a-b.slice would nest in a.slice
/** The containers' scope units (systemd driver): the runtime starts them and must leave none. */
const containerUnits = (): string[] => systemdUnits('docker-*.scope');
let unitsBefore: Set<string>;

function docker(args: string[], input?: string): SpawnSyncReturns<string> {
  return spawnSync('docker', ['-H', `unix://${sock}`, ...args], { encoding: 'utf8', timeout: 60_000, input });
}

function ok(...args: string[]): string {
  const r = docker(args);
  if (r.status !== 0) throw new Error(`docker ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}

const name = containerNamer(made);

const RUN = ['run', '--runtime', 'tsrun', '--network', 'none'];
/** The container's memory limit as it sees it (cgroup v1 or v2). */
const MEMORY_LIMIT = ['sh', '-c', 'cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max'];


/** The runtime's state dir of a container, under the --root the shim passes. */
function stateDir(id: string): string {
  return path.join(execRoot, 'runtime-runc', 'moby', id);
}

beforeAll(() => {
  unitsBefore = new Set(containerUnits());
  daemon = spawn('dockerd', [
    '--data-root', path.join(work, 'data'),
    '--exec-root', execRoot,
    '--pidfile', path.join(work, 'docker.pid'),
    '-H', `unix://${sock}`,
    '--add-runtime', `tsrun=${RUNTIME}`,
    '--iptables=false',
    '--ip6tables=false',
    '--bridge=none',
    '--storage-driver', 'vfs',
    '--cgroup-parent', PARENT,
    ...(systemdHost ? ['--exec-opt', 'native.cgroupdriver=systemd'] : []),
  ], { stdio: ['ignore', 'ignore', fs.openSync(path.join(work, 'dockerd.log'), 'w')] });
  waitForSync(() => docker(['info']).status === 0, 'dockerd to answer');

  ok('load', '-i', busyboxImageArchive(work, IMAGE));
});

afterAll(async () => {
  try {
    if (made.length) docker(['rm', '--force', ...made]);
    docker(['rmi', '--force', IMAGE]);
  } finally {
    if (daemon && daemon.exitCode === null) {
      const exited = new Promise((r) => daemon!.once('exit', r));
      daemon.kill('SIGTERM');
      await exited;
    }
    unmountUnder(work);
    const moby = path.join(execRoot, 'runtime-runc', 'moby');
    const leftState = fs.existsSync(moby) ? fs.readdirSync(moby) : [];
    fs.rmSync(work, { recursive: true, force: true });
    const leftUnits = containerUnits().filter((u) => !unitsBefore.has(u));
    stopUnits([...leftUnits, ...(systemdHost ? [PARENT] : [])]);
    // --cgroup-parent is relative: under dockerd's own cgroup in each hierarchy, maybe nested.
    removeCgroupDirsNamed(PARENT);
    expect([...leftState, ...leftUnits]).toEqual([]);
  }
});

describe('docker run', () => {
  it('--rm prints the container\'s output and passes its exit code', () => {
    expect(ok(...RUN, '--rm', IMAGE, 'echo', 'hello from docker')).toBe('hello from docker\n');
    expect(docker([...RUN, '--rm', IMAGE, 'sh', '-c', 'exit 9']).status).toBe(9);
  });

  it('a missing command is docker\'s exit 127 with the runtime\'s message', () => {
    const r = docker([...RUN, '--rm', IMAGE, '/no/such/binary']);
    expect(r.status).toBe(127);
    expect(r.stderr).toMatch(/\/no\/such\/binary.*no such file or directory/);
  });

  it('-e, -w, -u and --read-only reach the process', () => {
    const out = ok(...RUN, '--rm', '-e', 'X=from-docker', '-w', '/tmp', '-u', '1000:1000', '--read-only', IMAGE,
      'sh', '-c', 'echo $X; pwd; id -u; touch /f 2>/dev/null || echo ro');
    expect(out).toBe('from-docker\n/tmp\n1000\nro\n');
  });

  it('-it gives an interactive terminal', () => {
    const r = onTerminal(['docker', '-H', `unix://${sock}`, ...RUN, '--rm', '-it', IMAGE, 'sh', '-c', 'tty; exit 2']);
    expect(r.stdout.replace(/\r/g, '')).toMatch(/\/dev\/pts\/\d+\n/);
    expect(r.status).toBe(2);
  });
});

describe('a running docker container', () => {
  let n: string;
  let id: string;
  beforeAll(() => {
    n = name('life');
    id = ok(...RUN, '-d', '--name', n, '--memory', '64m', IMAGE, 'sh', '-c',
      'i=0; trap "exit 0" TERM; while :; do i=$((i+1)); echo $i > /tmp/count; sleep 0.05; done').trim();
  });

  it('has the runtime\'s state and the memory limit', () => {
    expect(fs.existsSync(stateDir(id))).toBe(true);
    expect(ok('exec', n, ...MEMORY_LIMIT).trim()).toBe(String(64 * 1024 * 1024));
    if (systemdHost) {
      // cgroupsPath <slice>:docker:<id>: the runtime's scope, with the limit as a property.
      const pid = Number(ok('inspect', '-f', '{{.State.Pid}}', n).trim());
      expect(fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8')).toMatch(new RegExp(`^0::/${PARENT}/docker-${id}\\.scope$`, 'm'));
      const show = spawnSync('systemctl', ['show', '-p', 'MemoryMax', `docker-${id}.scope`], { encoding: 'utf8' });
      expect(show.stdout.trim()).toBe(`MemoryMax=${64 * 1024 * 1024}`);
    }
  });

  it('exec runs inside with its exit code; exec -t on a terminal', () => {
    expect(docker(['exec', n, 'sh', '-c', 'test -f /tmp/count && exit 6']).status).toBe(6);
    const r = onTerminal(['docker', '-H', `unix://${sock}`, 'exec', '-t', n, 'sh', '-c', 'tty']);
    expect(r.stdout.replace(/\r/g, '')).toMatch(/\/dev\/pts\/\d+/);
  });

  it('update changes the live memory limit (runtime update --resources -)', () => {
    ok('update', '--memory', '128m', '--memory-swap', '256m', n);
    expect(ok('exec', n, ...MEMORY_LIMIT).trim()).toBe(String(128 * 1024 * 1024));
  });

  it('top (runtime ps --format json) and stats', () => {
    expect(ok('top', n)).toMatch(/sh -c/);
    expect(ok('stats', '--no-stream', '--format', '{{.Name}} {{.MemUsage}}', n)).toMatch(new RegExp(`^${n} .+ / 128MiB`));
  });

  it('pause freezes it and unpause thaws it', () => {
    const pid = Number(ok('inspect', '-f', '{{.State.Pid}}', n).trim());
    const file = `/proc/${pid}/root/tmp/count`;
    ok('pause', n);
    expect(ok('inspect', '-f', '{{.State.Status}}', n).trim()).toBe('paused');
    const before = fs.readFileSync(file, 'utf8');
    spawnSync('sleep', ['0.4']);
    expect(fs.readFileSync(file, 'utf8')).toBe(before);
    ok('unpause', n);
    waitForSync(() => fs.readFileSync(file, 'utf8') !== before, 'the counter to move again');
  });

  it('stop and rm end it and remove the runtime\'s state', () => {
    ok('stop', '-t', '5', n);
    expect(ok('inspect', '-f', '{{.State.ExitCode}}', n).trim()).toBe('0');
    ok('rm', n);
    expect(fs.existsSync(stateDir(id))).toBe(false);
  });
});
