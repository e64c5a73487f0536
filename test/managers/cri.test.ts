/**
 * Kubernetes reaching the runtime under test: containerd's CRI plugin with a runtime handler
 * (what a RuntimeClass names) whose runc options have `BinaryName = <RUNTIME>`. The calls are a
 * kubelet's, over the CRI (runtime.v1 gRPC, test/helpers/cri.ts): run a pod sandbox, create and
 * start a container in it with resources, exec, stats, update, stop, remove; each case asserts
 * what a kubelet sees and what the node shows (runtime state, cgroups, units, mounts,
 * processes). RUNTIME=runc runs the same cases on runc.
 *
 * The test starts a containerd of its own (config, root, state and socket under a temporary
 * directory) with the CRI plugin on, and imports into its `k8s.io` namespace two images that
 * tsbuild makes from a busybox rootfs: the containers' image, and the sandbox ("pause") image,
 * the same rootfs with a CMD that sleeps forever. Pods use the node's network namespace
 * (hostNetwork), for which containerd 1.6 does not call CNI: without a CNI config the CRI
 * reports NetworkReady=false (and logs an error at start), and host-network pods run all the
 * same, as on a node whose network plugin is not installed yet. The CNI directories are the
 * test's own (empty), so the host's /etc/cni is neither read nor created.
 *
 * On a systemd host the handler has `SystemdCgroup = true` (a systemd node's setting, where the
 * kubelet's cgroup driver is systemd): the pod's cgroup parent is a slice and each container a
 * `cri-containerd-<id>.scope` in it; otherwise cgroupfs, under /tsruncri/<pod>. Everything is
 * torn down after the file, also after a failure.
 */
import { ChildProcess, spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { cgroupPaths, removeCgroups } from '../helpers/cgroups';
import { CriClient, criCode, Msg } from '../helpers/cri';
import { busyboxImageArchive, stopUnits, systemdHost, systemdUnits, unmountUnder } from '../helpers/managers';
import { parseMountinfo, removeCgroupDirsNamed, RUNTIME, waitFor } from '../helpers/runtime';

jest.setTimeout(180_000);

const IMAGE = 'localhost/tsrun-test-busybox:latest';
const PAUSE = 'localhost/tsrun-test-pause:latest';
/** The containerd namespace of the CRI plugin. */
const NS = 'k8s.io';
/** The runtime handler (a RuntimeClass's `handler`) that runs on the runtime under test. */
const HANDLER = 'tsrun-test';
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-cri-'));
const sock = path.join(work, 'containerd.sock');
/** The handler's runc option `Root`: the shim passes `--root <Root>/<namespace>` to the runtime. */
const runtimeRoot = path.join(work, 'runtime-root');
const stateDir = (id: string): string => path.join(runtimeRoot, NS, id);
let daemon: ChildProcess | undefined;
let cri: CriClient;
const sandboxes: string[] = [];

/** The pod's cgroup parent: a slice (no dash: systemd nests a-b.slice in a.slice), or a cgroupfs path. */
const SLICE = 'tsruncri.slice';
const CGROUPFS_TOP = '/tsruncri';
const POD_UID = `uid-${process.pid}`;
const cgroupParent = systemdHost ? SLICE : `${CGROUPFS_TOP}/pod-${process.pid}`;
/** A container's (or the sandbox's) cgroup, as the CRI derives it from the parent. */
function cgroupOf(id: string): string {
  return systemdHost ? `/${SLICE}/cri-containerd-${id}.scope` : `${cgroupParent}/${id}`;
}
const unitOf = (id: string): string => `cri-containerd-${id}.scope`;
const criUnits = (): string[] => systemdUnits('cri-containerd-*.scope');
let unitsBefore: Set<string>;
let mountsBefore: Set<string>;

/**
 * Lowering oom_score_adj (the CRI gives the sandbox -998) takes CAP_SYS_RESOURCE, which some
 * hosts (containers, CI sandboxes) do not give even to root: there the CRI is told to keep it
 * at or above containerd's own (`restrict_oom_score_adj`, meant for that), and runc and the
 * runtime under test would otherwise both fail the sandbox's create.
 */
function hasCapSysResource(): boolean {
  const eff = /^CapEff:\s*([0-9a-f]+)$/m.exec(fs.readFileSync('/proc/self/status', 'utf8'));
  return eff !== null && (BigInt(`0x${eff[1]}`) & (1n << 24n)) !== 0n;
}

function configToml(): string {
  const cri = 'plugins."io.containerd.grpc.v1.cri"';
  return [
    'version = 2',
    `root = "${work}/root"`,
    `state = "${work}/state"`,
    '[grpc]',
    `  address = "${sock}"`,
    `[${cri}]`,
    `  sandbox_image = "${PAUSE}"`,
    '  disable_cgroup = false',
    `  restrict_oom_score_adj = ${!hasCapSysResource()}`,
    '  stream_server_address = "127.0.0.1"',
    '  stream_server_port = "0"',
    `[${cri}.cni]`,
    `  bin_dir = "${work}/cni/bin"`,
    `  conf_dir = "${work}/cni/net.d"`,
    `[${cri}.containerd]`,
    '  default_runtime_name = "runc"',
    // A table of runtimes replaces the default one: runc stays the default, as on a node.
    `[${cri}.containerd.runtimes.runc]`,
    '  runtime_type = "io.containerd.runc.v2"',
    `[${cri}.containerd.runtimes.${HANDLER}]`,
    '  runtime_type = "io.containerd.runc.v2"',
    `[${cri}.containerd.runtimes.${HANDLER}.options]`,
    `  BinaryName = "${RUNTIME}"`,
    `  Root = "${runtimeRoot}"`,
    `  SystemdCgroup = ${systemdHost}`,
    '',
  ].join('\n');
}

function ctr(args: string[]): string {
  const r = spawnSync('ctr', ['--address', sock, '--namespace', NS, ...args], { encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0) throw new Error(`ctr ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}

/** The sandbox image: the busybox image (already in tsbuild's store under <work>/images) with a CMD that sleeps forever. */
function pauseImageArchive(): string {
  const tsbuild = path.resolve(__dirname, '../../packages/builder/bin/tsbuild');
  const run = (args: string[], input?: string) => {
    const r = spawnSync(process.execPath, [tsbuild, '--root', path.join(work, 'images'), ...args], { encoding: 'utf8', input });
    if (r.status !== 0) throw new Error(`tsbuild ${args.join(' ')}: ${r.stderr}`);
  };
  // An absolute path, as the real pause image's /pause: the CRI gives the sandbox only the image's Env.
  run(['build', '-q', '-t', PAUSE, '-'], `FROM ${IMAGE}\nCMD ["/bin/sleep", "2147483647"]\n`);
  const out = path.join(work, 'pause.tar');
  run(['save', '-o', out, PAUSE]);
  return out;
}

/** containerd-shim-runc-v2 processes of our containerd (their command line has `-address <sock>`). */
function ourShims(): number[] {
  const out: number[] = [];
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const argv = fs.readFileSync(`/proc/${e}/cmdline`, 'utf8').split('\0');
      const i = argv.indexOf('-address');
      if (i >= 0 && argv[i + 1] === sock) out.push(Number(e));
    } catch {
      /* gone */
    }
  }
  return out;
}

/** A process that exists and is not a zombie. */
function alive(pid: number): boolean {
  try {
    return !/^State:\s+Z/m.test(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}
const mountsUnderWork = (): string[] =>
  parseMountinfo(fs.readFileSync('/proc/self/mountinfo', 'utf8')).map((m) => m.mountPoint).filter((p) => p.startsWith(`${work}/`));

/** The cgroup a process is in: v1's memory hierarchy's path when there is one (hybrid), else v2's. */
function cgroupPathOf(pid: number): { path: string; v2: boolean } {
  const lines = fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8').trim().split('\n').map((l) => l.split(':'));
  const v1 = lines.find(([, c]) => c.split(',').includes('memory'));
  return v1 ? { path: v1[2], v2: false } : { path: lines.find(([h]) => h === '0')![2], v2: true };
}

/** Limits from the host's view of a process's cgroup (v1 or v2 files), in v1's terms. */
function limitsOf(pid: number): { memory: string; quota: string; period: string; shares?: string; weight?: string } {
  const { path: cg, v2 } = cgroupPathOf(pid);
  const read = (f: string) => fs.readFileSync(f, 'utf8').trim();
  if (v2) {
    const [quota, period] = read(`/sys/fs/cgroup${cg}/cpu.max`).split(' ');
    return { memory: read(`/sys/fs/cgroup${cg}/memory.max`), quota, period, weight: read(`/sys/fs/cgroup${cg}/cpu.weight`) };
  }
  const cpu = `/sys/fs/cgroup/cpu${cgroupOf1(pid, 'cpu')}`;
  return {
    memory: read(`/sys/fs/cgroup/memory${cg}/memory.limit_in_bytes`),
    quota: read(`${cpu}/cpu.cfs_quota_us`),
    period: read(`${cpu}/cpu.cfs_period_us`),
    shares: read(`${cpu}/cpu.shares`),
  };
}
function cgroupOf1(pid: number, controller: string): string {
  const line = fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8').trim().split('\n').map((l) => l.split(':')).find(([, c]) => c.split(',').includes(controller));
  return line![2];
}

/** `systemctl show` properties of a unit, as an object. */
function unitProps(unit: string, props: string[]): Record<string, string> {
  const r = spawnSync('systemctl', ['show', ...props.flatMap((p) => ['-p', p]), unit], { encoding: 'utf8' });
  return Object.fromEntries(r.stdout.trim().split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
}

/** The runtime's own view of a container (`<RUNTIME> --root <Root>/k8s.io state <id>`). */
function runtimeState(id: string): Msg {
  const r = spawnSync(RUNTIME, ['--root', path.join(runtimeRoot, NS), 'state', id], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${RUNTIME} state ${id}: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

/** What a node must not keep of a container once it is removed: state, cgroup, unit, process. */
function leftOf(id: string, pid: number): string[] {
  const left: string[] = [];
  if (fs.existsSync(stateDir(id))) left.push(`runtime state ${stateDir(id)}`);
  for (const d of cgroupPaths(cgroupOf(id))) if (fs.existsSync(d)) left.push(`cgroup ${d}`);
  if (systemdHost && systemdUnits(unitOf(id)).length) left.push(`unit ${unitOf(id)}`);
  if (alive(pid)) left.push(`process ${pid}`);
  return left;
}

/** Waits (the CRI deletes a task as it sees it exit) until nothing of a container is left, else fails with what is. */
async function expectNothingLeftOf(id: string, pid: number): Promise<void> {
  await waitFor(() => leftOf(id, pid).length === 0, 'the container to be gone', 30_000).catch(() => undefined);
  expect(leftOf(id, pid)).toEqual([]);
}

/** A container's log path on the host; a kubelet makes its directory before CreateContainer. */
function logOf(name: string): string {
  const log = path.join(sandboxConfig.log_directory, name, '0.log');
  fs.mkdirSync(path.dirname(log), { recursive: true });
  return log;
}

const MiB = 1024 * 1024;
const LIMITS = { memory_limit_in_bytes: 64 * MiB, cpu_period: 100_000, cpu_quota: 50_000, cpu_shares: 512 };

const sandboxConfig: Msg = {
  metadata: { name: `tsrun-${process.pid}`, uid: POD_UID, namespace: 'default', attempt: 0 },
  log_directory: path.join(work, 'pods', `default_tsrun-${process.pid}_${POD_UID}`),
  labels: { 'io.kubernetes.pod.name': `tsrun-${process.pid}` },
  linux: {
    cgroup_parent: cgroupParent,
    // hostNetwork: true (no CNI); the pod's own pid and ipc namespaces, as a kubelet asks.
    security_context: { namespace_options: { network: 'NODE', pid: 'POD', ipc: 'POD' } },
  },
};

function containerConfig(name: string, command: string[], resources: Msg = {}): Msg {
  return {
    metadata: { name, attempt: 0 },
    image: { image: IMAGE },
    command,
    log_path: `${name}/0.log`,
    linux: {
      resources,
      // A kubelet's v1 pod: the container's own pid namespace, the pod's network (the node's) and ipc.
      security_context: { namespace_options: { network: 'NODE', pid: 'CONTAINER', ipc: 'POD' } },
    },
  };
}

beforeAll(async () => {
  unitsBefore = new Set(criUnits());
  fs.mkdirSync(sandboxConfig.log_directory, { recursive: true });
  fs.writeFileSync(path.join(work, 'config.toml'), configToml());
  daemon = spawn('containerd', ['--config', path.join(work, 'config.toml')], {
    stdio: ['ignore', 'ignore', fs.openSync(path.join(work, 'containerd.log'), 'w')],
  });
  cri = new CriClient(sock);
  await waitFor(() => cri.runtime('Version', {}, 5_000), 'the CRI to answer', 60_000, 200);
  ctr(['images', 'import', busyboxImageArchive(work, IMAGE)]);
  ctr(['images', 'import', pauseImageArchive()]);
  // The CRI learns of images that ctr imports from containerd's events.
  for (const image of [IMAGE, PAUSE]) {
    await waitFor(async () => (await cri.image('ImageStatus', { image: { image } })).image, `the CRI to see ${image}`, 30_000, 100);
  }
  mountsBefore = new Set(mountsUnderWork());
});

afterAll(async () => {
  const left: string[] = [];
  const running = () => daemon !== undefined && daemon.exitCode === null && daemon.signalCode === null;
  try {
    for (const id of running() ? sandboxes : []) {
      // A kubelet's teardown: stop (containers too), then remove.
      await cri.runtime('StopPodSandbox', { pod_sandbox_id: id }, 30_000).catch(() => undefined);
      await cri.runtime('RemovePodSandbox', { pod_sandbox_id: id }, 30_000).catch(() => undefined);
    }
  } finally {
    cri?.close();
    if (running()) {
      const exited = new Promise((r) => daemon!.once('exit', r));
      daemon!.kill('SIGTERM');
      const timer = setTimeout(() => daemon!.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(timer);
    }
    // Shims outlive their daemon while they hold tasks: none should be left, and none may stay.
    for (const pid of ourShims()) {
      left.push(`shim ${pid}`);
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    unmountUnder(work);
    const state = path.join(runtimeRoot, NS);
    if (fs.existsSync(state)) left.push(...fs.readdirSync(state).map((e) => `runtime state ${e}`));
    const units = criUnits().filter((u) => !unitsBefore.has(u));
    left.push(...units);
    stopUnits([...units, ...(systemdHost ? [SLICE] : [])]);
    // The pods' parents are the test's own; what the runtime left below them is killed and removed too.
    const { left: cgroupsLeft } = removeCgroups(cgroupPaths(CGROUPFS_TOP), { subtree: true });
    left.push(...cgroupsLeft);
    if (systemdHost) removeCgroupDirsNamed(SLICE);
    fs.rmSync(work, { recursive: true, force: true });
  }
  expect(left).toEqual([]);
});

describe('the CRI of containerd with a runtime handler on the runtime under test', () => {
  let sandbox = '';
  let sandboxPid = 0;
  let main = '';
  let mainPid = 0;

  it('answers as a kubelet expects: Version, Status (runtime ready; no CNI, so network not ready), images', async () => {
    const v = await cri.runtime('Version', { version: 'v1' });
    expect(v.runtime_name).toBe('containerd');
    expect(v.runtime_api_version).toBe('v1');
    const conditions = Object.fromEntries((await cri.runtime('Status', {})).status.conditions.map((c: Msg) => [c.type, c.status]));
    expect(conditions).toEqual({ RuntimeReady: true, NetworkReady: false });
    const tags = (await cri.image('ListImages', {})).images.flatMap((i: Msg) => i.repo_tags);
    expect(tags).toEqual(expect.arrayContaining([IMAGE, PAUSE]));
    const status = await cri.image('ImageStatus', { image: { image: IMAGE } });
    expect(status.image.repo_tags).toEqual([IMAGE]);
    expect(status.image.id).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(status.image.size).toBeGreaterThan(0);
  });

  it('RunPodSandbox: the sandbox is READY, its container runs on the runtime, in the pod\'s cgroup', async () => {
    sandbox = (await cri.runtime('RunPodSandbox', { config: sandboxConfig, runtime_handler: HANDLER })).pod_sandbox_id;
    sandboxes.push(sandbox);
    const { status, info } = await cri.runtime('PodSandboxStatus', { pod_sandbox_id: sandbox, verbose: true });
    expect(status.state).toBe('SANDBOX_READY');
    expect(status.runtime_handler).toBe(HANDLER);
    expect(status.metadata).toEqual(sandboxConfig.metadata);
    expect(status.linux.namespaces.options.network).toBe('NODE');
    const details = JSON.parse(info.info);
    expect(details.runtimeOptions).toMatchObject({ binary_name: RUNTIME, root: runtimeRoot });
    sandboxPid = details.pid;

    // The runtime under test made it: its state under the shim's --root, and its view agrees.
    expect(fs.existsSync(stateDir(sandbox))).toBe(true);
    expect(runtimeState(sandbox)).toMatchObject({ id: sandbox, status: 'running', pid: sandboxPid });
    expect(fs.readFileSync(`/proc/${sandboxPid}/cmdline`, 'utf8')).toBe('/bin/sleep\u00002147483647\u0000');
    expect(cgroupPathOf(sandboxPid).path).toBe(cgroupOf(sandbox));
    // hostNetwork: the node's network namespace; a pid namespace of the pod's own.
    expect(fs.readlinkSync(`/proc/${sandboxPid}/ns/net`)).toBe(fs.readlinkSync('/proc/self/ns/net'));
    expect(fs.readlinkSync(`/proc/${sandboxPid}/ns/pid`)).not.toBe(fs.readlinkSync('/proc/self/ns/pid'));
    if (systemdHost) {
      expect(unitProps(unitOf(sandbox), ['ActiveState', 'Slice', 'Delegate'])).toEqual({ ActiveState: 'active', Slice: SLICE, Delegate: 'yes' });
    }
  });

  it('CreateContainer + StartContainer with resources: RUNNING, and the limits in its cgroup', async () => {
    logOf('main');
    const config = containerConfig('main', ['sleep', '2147483647'], LIMITS);
    main = (await cri.runtime('CreateContainer', { pod_sandbox_id: sandbox, config, sandbox_config: sandboxConfig })).container_id;
    const listed = async () => (await cri.runtime('ListContainers', { filter: { pod_sandbox_id: sandbox } })).containers.map((c: Msg) => [c.id, c.state]);
    expect(await listed()).toEqual([[main, 'CONTAINER_CREATED']]);
    await cri.runtime('StartContainer', { container_id: main });
    expect(await listed()).toEqual([[main, 'CONTAINER_RUNNING']]);

    const { status, info } = await cri.runtime('ContainerStatus', { container_id: main, verbose: true });
    expect(status.state).toBe('CONTAINER_RUNNING');
    expect(status.started_at).toBeGreaterThan(0);
    expect(status.image.image).toBe(IMAGE);
    mainPid = JSON.parse(info.info).pid;
    expect(runtimeState(main)).toMatchObject({ id: main, status: 'running', pid: mainPid });
    expect(cgroupPathOf(mainPid).path).toBe(cgroupOf(main));

    const limits = limitsOf(mainPid);
    expect(limits.memory).toBe(String(64 * MiB));
    expect([limits.quota, limits.period]).toEqual(['50000', '100000']);
    // cpu.shares 512 is v2's cpu.weight 20 (runc's conversion: 1 + (shares - 2) * 9999 / 262142).
    if (cgroupPathOf(mainPid).v2) expect(limits.weight).toBe('20');
    else expect(limits.shares).toBe('512');
    if (systemdHost) {
      expect(unitProps(unitOf(main), ['ActiveState', 'Slice', 'MemoryMax'])).toEqual({ ActiveState: 'active', Slice: SLICE, MemoryMax: String(64 * MiB) });
    }
  });

  it('ExecSync returns stdout, stderr and the exit code, from inside the container', async () => {
    const r = await cri.runtime('ExecSync', { container_id: main, cmd: ['sh', '-c', 'echo out; echo err >&2; exit 3'], timeout: 30 });
    expect([r.stdout.toString(), r.stderr.toString(), r.exit_code]).toEqual(['out\n', 'err\n', 3]);
    const ns = await cri.runtime('ExecSync', { container_id: main, cmd: ['sh', '-c', 'readlink /proc/self/ns/mnt; readlink /proc/self/ns/pid'], timeout: 30 });
    expect(ns.stdout.toString().trim().split('\n')).toEqual([fs.readlinkSync(`/proc/${mainPid}/ns/mnt`), fs.readlinkSync(`/proc/${mainPid}/ns/pid`)]);
    expect(ns.exit_code).toBe(0);
  });

  it('ContainerStats has the container\'s memory and cpu usage', async () => {
    const { stats } = await cri.runtime('ContainerStats', { container_id: main });
    expect(stats.attributes.id).toBe(main);
    expect(stats.memory.working_set_bytes.value).toBeGreaterThan(0);
    expect(stats.memory.timestamp).toBeGreaterThan(0);
    expect(stats.cpu.usage_core_nano_seconds.value).toBeGreaterThan(0);
  });

  it('UpdateContainerResources changes the memory limit (the runtime\'s update -r -)', async () => {
    const linux = { ...LIMITS, memory_limit_in_bytes: 96 * MiB };
    await cri.runtime('UpdateContainerResources', { container_id: main, linux });
    expect(limitsOf(mainPid).memory).toBe(String(96 * MiB));
    const { status } = await cri.runtime('ContainerStatus', { container_id: main });
    expect(status.resources.linux.memory_limit_in_bytes).toBe(96 * MiB);
    if (systemdHost) expect(unitProps(unitOf(main), ['MemoryMax'])).toEqual({ MemoryMax: String(96 * MiB) });
  });

  it('StopContainer of a process that traps TERM: exit code 0, and its log as a kubelet reads it', async () => {
    const log = logOf('trap');
    const config = containerConfig('trap', ['sh', '-c', 'trap "echo bye; exit 0" TERM; echo started; while :; do sleep 0.1; done']);
    const id = (await cri.runtime('CreateContainer', { pod_sandbox_id: sandbox, config, sandbox_config: sandboxConfig })).container_id;
    await cri.runtime('StartContainer', { container_id: id });
    const pid = JSON.parse((await cri.runtime('ContainerStatus', { container_id: id, verbose: true })).info.info).pid;
    await waitFor(() => fs.existsSync(log) && fs.readFileSync(log, 'utf8').includes('started'), 'the container to start', 30_000);
    await cri.runtime('StopContainer', { container_id: id, timeout: 30 });
    const { status } = await cri.runtime('ContainerStatus', { container_id: id });
    expect([status.state, status.exit_code, status.reason]).toEqual(['CONTAINER_EXITED', 0, 'Completed']);
    expect(status.finished_at).toBeGreaterThanOrEqual(status.started_at);
    // The CRI's log format: <RFC3339Nano time> <stream> <F(ull)|P(artial)> <line>
    await waitFor(() => fs.readFileSync(log, 'utf8').includes('bye'), 'the last line in the log', 10_000).catch(() => undefined);
    expect(fs.readFileSync(log, 'utf8')).toMatch(/^\S+ stdout F started\n\S+ stdout F bye\n$/);
    await cri.runtime('RemoveContainer', { container_id: id });
    await expectNothingLeftOf(id, pid);
  });

  it('StopContainer past its grace period: killed, exit code 137; nothing of it left on the node', async () => {
    // sleep is pid 1 of its pid namespace: TERM, without a handler, does nothing.
    await cri.runtime('StopContainer', { container_id: main, timeout: 2 });
    const { status } = await cri.runtime('ContainerStatus', { container_id: main });
    expect([status.state, status.exit_code, status.reason]).toEqual(['CONTAINER_EXITED', 137, 'Error']);
    // The CRI deletes the task on exit: the runtime's state, cgroup and unit go with it.
    await expectNothingLeftOf(main, mainPid);
    await cri.runtime('RemoveContainer', { container_id: main });
    expect((await cri.runtime('ListContainers', { filter: { pod_sandbox_id: sandbox } })).containers).toEqual([]);
    const gone = await cri.runtime('ContainerStatus', { container_id: main }).catch((e) => e);
    expect(criCode(gone)).toBe(5); // NOT_FOUND
    expect((await cri.runtime('PodSandboxStatus', { pod_sandbox_id: sandbox })).status.state).toBe('SANDBOX_READY');
  });

  it('StopPodSandbox + RemovePodSandbox leave no runtime state, cgroup, unit, mount, process or shim', async () => {
    await cri.runtime('StopPodSandbox', { pod_sandbox_id: sandbox });
    expect((await cri.runtime('PodSandboxStatus', { pod_sandbox_id: sandbox })).status.state).toBe('SANDBOX_NOTREADY');
    await cri.runtime('RemovePodSandbox', { pod_sandbox_id: sandbox });
    const gone = await cri.runtime('PodSandboxStatus', { pod_sandbox_id: sandbox }).catch((e) => e);
    expect(criCode(gone)).toBe(5); // NOT_FOUND
    await expectNothingLeftOf(sandbox, sandboxPid);
    // The shim exits once its last task is deleted.
    await waitFor(() => ourShims().length === 0, 'the shim to exit', 30_000).catch(() => undefined);
    expect(ourShims()).toEqual([]);
    expect(fs.existsSync(path.join(runtimeRoot, NS)) ? fs.readdirSync(path.join(runtimeRoot, NS)) : []).toEqual([]);
    expect(criUnits().filter((u) => !unitsBefore.has(u))).toEqual([]);
    expect(mountsUnderWork().filter((m) => !mountsBefore.has(m))).toEqual([]);
    // Only the pod's parent is left (the CRI's to keep, a kubelet's to remove): nothing below it.
    const below = cgroupPaths(systemdHost ? `/${SLICE}` : cgroupParent).flatMap((d) =>
      fs.existsSync(d) ? fs.readdirSync(d, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => path.join(d, e.name)) : []);
    expect(below).toEqual([]);
    sandboxes.splice(sandboxes.indexOf(sandbox), 1);
  });
});
