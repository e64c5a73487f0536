/**
 * A RUN step: a container on the step's snapshot, run to completion through the runtime
 * library (run-worker.ts), its output streamed to the caller.
 *
 * The container gets what `docker build` gives a RUN: Docker's default capabilities and
 * seccomp profile, the image's Env plus the stage's build args, WorkingDir, User (resolved
 * through the image's /etc/passwd), no terminal, stdin from /dev/null, and BuildKit's
 * /etc/resolv.conf and /etc/hosts (netfiles.ts). Network: `default` is a network namespace
 * of the step's own with outbound access through slirp4netns (slirp.ts, started by the worker),
 * `none` one with only loopback, `host` the host's (an entitlement: entitlements.ts).
 * `--security=insecure` gives every capability and no seccomp filter or masked paths.
 *
 * Mount points the step needed that the image did not have are removed from the upper dir
 * afterwards (stubs.ts), so they do not end up in the layer.
 */
import { spawn, type ChildProcess } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { defaultSpec, specJSON, type Mount, type Spec } from '@tsrun/spec';
import { resolveUser } from '../bundle/user';
import { hostsFile, resolvConf } from './netfiles';
import { mountStubs } from './stubs';

export const DOCKER_CAPS = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW', 'CAP_SETGID',
  'CAP_SETUID', 'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_CHROOT', 'CAP_KILL', 'CAP_AUDIT_WRITE',
];

/** Capabilities by number (linux/capability.h). */
const CAP_NAMES = [
  'CHOWN', 'DAC_OVERRIDE', 'DAC_READ_SEARCH', 'FOWNER', 'FSETID', 'KILL', 'SETGID', 'SETUID', 'SETPCAP', 'LINUX_IMMUTABLE',
  'NET_BIND_SERVICE', 'NET_BROADCAST', 'NET_ADMIN', 'NET_RAW', 'IPC_LOCK', 'IPC_OWNER', 'SYS_MODULE', 'SYS_RAWIO', 'SYS_CHROOT',
  'SYS_PTRACE', 'SYS_PACCT', 'SYS_ADMIN', 'SYS_BOOT', 'SYS_NICE', 'SYS_RESOURCE', 'SYS_TIME', 'SYS_TTY_CONFIG', 'MKNOD', 'LEASE',
  'AUDIT_WRITE', 'AUDIT_CONTROL', 'SETFCAP', 'MAC_OVERRIDE', 'MAC_ADMIN', 'SYSLOG', 'WAKE_ALARM', 'BLOCK_SUSPEND', 'AUDIT_READ',
  'PERFMON', 'BPF', 'CHECKPOINT_RESTORE',
].map((n) => `CAP_${n}`);

/** --security=insecure: every capability this process may hand on (its bounding set). */
function allCaps(): string[] {
  try {
    const hex = /^CapBnd:\s*([0-9a-f]+)$/m.exec(fs.readFileSync('/proc/self/status', 'utf8'))?.[1];
    if (hex) {
      const bits = BigInt(`0x${hex}`);
      return CAP_NAMES.filter((_, i) => (bits >> BigInt(i)) & 1n);
    }
  } catch {
    /* no /proc: Docker's set below */
  }
  return DOCKER_CAPS;
}

/** A RUN container's hostname (BuildKit's is buildkitsandbox). */
const HOSTNAME = 'tsbuild';

/** Where the runtime keeps the state of RUN containers while they run. */
export const RUN_STATE_ROOT = '/run/tsbuild';

export interface RunRequest {
  /** The snapshot's merged dir (the rootfs) and its private dir (for the bundle). */
  rootfs: string;
  upper: string;
  scratch: string;
  args: string[];
  env: string[];
  cwd: string;
  user?: string;
  network: 'default' | 'none' | 'host';
  insecure: boolean;
  mounts: Mount[];
  onOutput(stream: 'stdout' | 'stderr', chunk: Buffer): void;
  /** Running steps, so that a failing or interrupted build can stop the others. */
  track(step: RunningStep): () => void;
}

/** A RUN in progress: its worker process and its container's id. */
export interface RunningStep {
  child: ChildProcess;
  id: string;
}

/**
 * Stops a running step: SIGKILL to every process of its container (a pid 1 without handlers
 * ignores SIGTERM), through the runtime library; the worker then sees it exit and removes it.
 * A container not created yet is retried for a moment, then its worker is told to stop.
 */
export function stopStep(step: RunningStep, tries = 20): void {
  try {
    const { killContainer, makeContext, Logger } = require('@tsrun/runtime') as typeof import('@tsrun/runtime');
    killContainer(makeContext(RUN_STATE_ROOT, new Logger()), step.id, 9, true);
  } catch {
    if (step.child.exitCode !== null || step.child.signalCode !== null) return;
    if (tries > 0) setTimeout(() => stopStep(step, tries - 1), 100).unref();
    else step.child.kill('SIGTERM');
  }
}

export class RunError extends Error {
  constructor(message: string, readonly exitCode: number) {
    super(message);
  }
}

function workerPath(): string {
  const here = path.join(__dirname, 'run-worker.js');
  if (fs.existsSync(here)) return here;
  // Loaded from src/ (ts-jest): the compiled worker is in dist/.
  return path.resolve(__dirname, '../../dist/engine/run-worker.js');
}

/** The hard RLIMIT_NOFILE we have (BuildKit gives RUN 1048576; a container cannot get more than us). */
function nofile(): number {
  try {
    const line = fs.readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith('Max open files'));
    const hard = line?.trim().split(/\s+/)[4];
    if (hard && /^[0-9]+$/.test(hard)) return Math.min(Number(hard), 1048576);
  } catch {
    /* no /proc: the runc default below */
  }
  return 1024;
}

/** The host files bind-mounted read-only over the image's, as BuildKit mounts them. */
export interface EtcFiles {
  resolvConf: string;
  hosts: string;
}

export function runSpec(r: RunRequest, etc: EtcFiles): Spec {
  const spec = defaultSpec();
  const user = resolveUser(r.user, r.rootfs);
  const caps = r.insecure ? allCaps() : DOCKER_CAPS;
  spec.process = {
    terminal: false,
    user,
    args: r.args,
    env: r.env,
    cwd: r.cwd,
    capabilities: { bounding: [...caps], effective: [...caps], permitted: [...caps] },
    rlimits: [{ type: 'RLIMIT_NOFILE', hard: nofile(), soft: nofile() }],
    noNewPrivileges: false,
  };
  spec.root = { path: r.rootfs, readonly: false };
  spec.hostname = HOSTNAME;
  const ro = ['rbind', 'ro', 'nosuid', 'nodev', 'noexec'];
  spec.mounts = [
    ...(spec.mounts ?? []),
    { destination: '/etc/resolv.conf', type: 'bind', source: etc.resolvConf, options: ro },
    { destination: '/etc/hosts', type: 'bind', source: etc.hosts, options: ro },
    ...r.mounts,
  ];
  const linux = spec.linux!;
  if (r.network === 'host') linux.namespaces = linux.namespaces!.filter((n) => n.type !== 'network');
  if (r.insecure) {
    delete linux.seccomp;
    linux.maskedPaths = [];
    linux.readonlyPaths = [];
    linux.resources = { devices: [{ allow: true, access: 'rwm' }] };
    spec.mounts = spec.mounts.map((m) => (m.destination === '/sys' || m.destination === '/sys/fs/cgroup' ? { ...m, options: (m.options ?? []).filter((o) => o !== 'ro') } : m));
  }
  return spec;
}

/** Runs the step; resolves when it exited 0, else rejects with RunError (exit code, output tail). */
export async function runStep(r: RunRequest): Promise<void> {
  const bundle = path.join(r.scratch, 'bundle');
  fs.mkdirSync(bundle, { mode: 0o700 });
  const etc: EtcFiles = { resolvConf: path.join(bundle, 'resolv.conf'), hosts: path.join(bundle, 'hosts') };
  fs.writeFileSync(etc.resolvConf, resolvConf(r.network), { mode: 0o644 });
  fs.writeFileSync(etc.hosts, hostsFile(HOSTNAME), { mode: 0o644 });
  const spec = runSpec(r, etc);
  const stubs = mountStubs(r.rootfs, r.upper, spec.mounts!.map((m) => m.destination));
  fs.writeFileSync(path.join(bundle, 'config.json'), specJSON(spec));
  fs.mkdirSync(RUN_STATE_ROOT, { recursive: true, mode: 0o700 });
  const id = `tsbuild-${process.pid}-${crypto.randomBytes(4).toString('hex')}`;
  const net = r.network === 'default' ? 'slirp' : '-';
  const child = spawn(process.execPath, [workerPath(), RUN_STATE_ROOT, bundle, id, net], { stdio: ['ignore', 'pipe', 'pipe'] });
  const untrack = r.track({ child, id });
  child.stdout!.on('data', (b: Buffer) => r.onOutput('stdout', b));
  child.stderr!.on('data', (b: Buffer) => r.onOutput('stderr', b));
  const code = await new Promise<number>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (c, sig) => resolve(c ?? 128 + (sig ? (require('os').constants.signals[sig] as number) : 0)));
  }).finally(untrack);
  stubs.remove();
  if (code !== 0) throw new RunError(`exit code: ${code}`, code);
}
