/**
 * Integration-test harness for an OCI runtime with runc's command line.
 *
 * RUNTIME (env) chooses the binary under test:
 *   - unset: packages/runtime/bin/tsrun of this repository;
 *   - a bare name such as `runc`: looked up on PATH;
 *   - a path: used as given (resolved against the current directory).
 *
 * Every call goes through a Sandbox, which owns a temporary directory holding
 * the state root (passed as --root on every call), a busybox rootfs shared by
 * the bundles of one test file, the bundles and whatever host files a test
 * needs. Sandbox.reap() (afterEach) and Sandbox.cleanup() (afterAll) tear down
 * every container, kill whatever is left and fail the test if anything leaked:
 * processes, mounts, state directories or cgroups.
 */
import { spawn, spawnSync, ChildProcess } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { defaultSpec, Spec } from './spec';

export { defaultSpec, capMask, CAP_BITS, DEFAULT_CAPS } from './spec';
export type { Spec } from './spec';

function resolveRuntime(): string {
  const env = process.env.RUNTIME;
  if (!env) return path.resolve(__dirname, '../../packages/runtime/bin/tsrun');
  if (env.includes('/')) return path.resolve(env);
  for (const dir of (process.env.PATH || '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin').split(':')) {
    if (!dir) continue;
    const p = path.join(dir, env);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      if (fs.statSync(p).isFile()) return p;
    } catch {
      /* keep looking */
    }
  }
  return env; // not found: spawn will report ENOENT
}

/** Absolute path of the runtime binary under test. */
export const RUNTIME = resolveRuntime();
/** True when the runtime under test is runc itself (used to skip tsrun-only checks). */
export const isRunc = path.basename(RUNTIME) === 'runc';
/** `it` that only runs against tsrun (for features runc 1.1.5 lacks). */
export const itTsrun = isRunc ? it.skip : it;
/** `it` that only runs against runc (for runc-specific observations). */
export const itRunc = isRunc ? it : it.skip;

export const BUSYBOX = process.env.BUSYBOX || '/usr/bin/busybox';

/** The applets the tests rely on; all of `busybox --list` is linked when available. */
const REQUIRED_APPLETS = [
  'sh', 'ls', 'cat', 'echo', 'sleep', 'id', 'hostname', 'mount', 'grep', 'true', 'false', 'mkdir',
  'touch', 'stat', 'readlink', 'ps', 'kill', 'env', 'pwd', 'wc', 'head', 'tail', 'sed', 'awk', 'cut',
  'tr', 'ip', 'ifconfig', 'ln', 'rm', 'test', 'dnsdomainname', 'uname', 'sort', 'xargs',
];

export interface Result {
  /** Exit code; 128+signal when the runtime itself was killed by a signal. */
  code: number;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  /** The argv that was run, for diagnostics. */
  argv: string[];
}

export interface RtOptions {
  input?: string;
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Do not pass `--root` (e.g. to test the default root); default false. */
  noRoot?: boolean;
  /** Run the runtime through this command instead of RUNTIME (e.g. a private copy of its binary). */
  via?: string[];
  /** Global flags before the command, e.g. ['--systemd-cgroup']. */
  global?: string[];
}

export interface AsyncRun {
  child: ChildProcess;
  result: Promise<Result>;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Poll `pred` every `intervalMs` until it returns a truthy value or `timeoutMs` passes. */
export async function waitFor<T>(
  pred: () => T | Promise<T>,
  what: string,
  timeoutMs = 10000,
  intervalMs = 20,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await pred();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs}ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    }
    await sleep(intervalMs);
  }
}

/** Throw (with the runtime's stderr) unless the call exited 0. */
export function ok(r: Result): Result {
  if (r.code !== 0) {
    throw new Error(
      `\`${r.argv.join(' ')}\` exited ${r.code}${r.timedOut ? ' (timed out)' : ''}\n` +
        `stdout: ${r.stdout}\nstderr: ${r.stderr}`,
    );
  }
  return r;
}

/** /proc/PID/ns/* link targets, e.g. { pid: 'pid:[4026531836]', ... }. */
export function nsLinks(pid: number): Record<string, string> {
  const out: Record<string, string> = {};
  for (const n of fs.readdirSync(`/proc/${pid}/ns`)) {
    try {
      out[n] = fs.readlinkSync(`/proc/${pid}/ns/${n}`);
    } catch {
      /* raced with exit */
    }
  }
  return out;
}

/** Wait (bounded) until `pid` runs a program whose argv[0] is `argv0`, or has exited. */
export async function waitExec(pid: number, argv0: string, timeoutMs = 10000): Promise<void> {
  await waitFor(
    () => {
      if (!pidAlive(pid)) return true;
      const cmd = readIf(`/proc/${pid}/cmdline`);
      return cmd === undefined || cmd.split('\0')[0] === argv0;
    },
    `pid ${pid} to exec ${argv0}`,
    timeoutMs,
  );
}

export function pidAlive(pid: number): boolean {
  try {
    const st = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // A zombie has exited; only its parent's wait() is missing.
    return !/^\d+ \(.*\) [ZX] /s.test(st);
  } catch {
    return false;
  }
}

/** readlink, or undefined when the link cannot be read. */
export function readlinkIf(p: string): string | undefined {
  try {
    return fs.readlinkSync(p);
  } catch {
    return undefined;
  }
}

/** Read a text file, or undefined when it does not exist. */
export function readIf(p: string): string | undefined {
  try {
    return fs.readFileSync(p, 'utf8');
  } catch {
    return undefined;
  }
}

export interface MountInfo {
  id: number;
  parent: number;
  majMin: string;
  root: string;
  mountPoint: string;
  options: string[];
  optional: string[];
  fsType: string;
  source: string;
  superOptions: string[];
}

function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8)));
}

/** Parse the text of a /proc/PID/mountinfo file. */
export function parseMountinfo(text: string): MountInfo[] {
  const out: MountInfo[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const parts = line.split(' ');
    const sep = parts.indexOf('-');
    if (sep < 6) continue;
    out.push({
      id: Number(parts[0]),
      parent: Number(parts[1]),
      majMin: parts[2],
      root: unescapeMount(parts[3]),
      mountPoint: unescapeMount(parts[4]),
      options: parts[5].split(','),
      optional: parts.slice(6, sep),
      fsType: parts[sep + 1],
      source: unescapeMount(parts[sep + 2]),
      superOptions: (parts[sep + 3] || '').split(','),
    });
  }
  return out;
}

/**
 * Build a busybox rootfs at `dir`: bin/busybox plus a symlink per applet,
 * the usual top-level directories and /etc/passwd, /etc/group with root and nobody.
 */
export function buildRootfs(dir: string): void {
  for (const d of ['bin', 'proc', 'sys', 'dev', 'etc', 'tmp', 'root', 'usr', 'var', 'mnt']) {
    fs.mkdirSync(path.join(dir, d), { recursive: true });
  }
  fs.chmodSync(path.join(dir, 'tmp'), 0o1777);
  fs.chmodSync(path.join(dir, 'root'), 0o700);
  fs.copyFileSync(BUSYBOX, path.join(dir, 'bin/busybox'));
  fs.chmodSync(path.join(dir, 'bin/busybox'), 0o755);
  const listed = spawnSync(BUSYBOX, ['--list'], { encoding: 'utf8' });
  const applets = new Set<string>(REQUIRED_APPLETS);
  if (listed.status === 0) for (const a of listed.stdout.split('\n')) if (a.trim()) applets.add(a.trim());
  applets.delete('busybox');
  for (const a of applets) {
    if (a.includes('/')) continue;
    fs.symlinkSync('busybox', path.join(dir, 'bin', a));
  }
  fs.writeFileSync(
    path.join(dir, 'etc/passwd'),
    'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n',
  );
  fs.writeFileSync(path.join(dir, 'etc/group'), 'root:x:0:\nnobody:x:65534:\n');
  fs.writeFileSync(path.join(dir, 'etc/hostname'), 'rootfs\n');
}

const OWNER_FILE = '.owner';
let swept = false;

/** A process' start time (field 22 of /proc/PID/stat), or '' when it does not exist. */
function procStart(pid: number): string {
  const st = readIf(`/proc/${pid}/stat`);
  if (!st) return '';
  return st.slice(st.lastIndexOf(')') + 2).split(' ')[19] || '';
}

/**
 * rmdir every (empty) cgroup directory called `name`, in every hierarchy and at any depth up
 * to 4 (a relative cgroup parent lands under the creating process's own cgroup): for parents
 * a manager made on the way to its containers' cgroups.
 */
export function removeCgroupDirsNamed(name: string): void {
  const walk = (dir: string, depth: number) => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      if (!e.isDirectory()) continue;
      const sub = path.join(dir, e.name);
      if (e.name === name) {
        try {
          fs.rmdirSync(sub);
        } catch {
          /* busy or gone: the leak checks will tell */
        }
      } else if (depth < 4) walk(sub, depth + 1);
    }
  };
  walk('/sys/fs/cgroup', 0);
}

/** The ids runc accepts: ^[\w+-.]+$ but not . or .. */
export function validId(id: string): boolean {
  return /^[\w+.-]+$/.test(id) && id !== '.' && id !== '..' && !id.startsWith('-');
}

function devIno(p: string): string | undefined {
  try {
    const st = fs.statSync(p);
    return `${st.dev}:${st.ino}`;
  } catch {
    return undefined;
  }
}

export class Sandbox {
  /** The temporary directory holding everything of this sandbox. */
  readonly dir: string;
  /** The state root passed as --root. */
  readonly root: string;
  /** Short random token that makes container ids unique on the machine. */
  readonly token: string;
  private sharedRootfs?: string;
  private readonly rootfsDirs: string[] = [];
  private readonly ids = new Set<string>();
  private readonly children = new Set<ChildProcess>();
  private counter = 0;
  private cleaned = false;

  /**
   * A new sandbox; `adopt` re-opens the directory of a dead test run instead
   * (used by sweepStale()).
   */
  constructor(adopt?: { dir: string; token: string }) {
    if (adopt) {
      this.dir = adopt.dir;
      this.token = adopt.token;
      this.root = path.join(this.dir, 'state');
      for (const e of fs.readdirSync(this.dir)) if (/^rootfs/.test(e)) this.rootfsDirs.push(path.join(this.dir, e));
      try {
        for (const e of fs.readdirSync(this.root)) this.ids.add(e);
      } catch {
        /* no state */
      }
      return;
    }
    if (!swept) {
      swept = true;
      Sandbox.sweepStale();
    }
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-test-'));
    // Containers with a user namespace run as unprivileged host uids: let them traverse.
    fs.chmodSync(this.dir, 0o755);
    this.root = path.join(this.dir, 'state');
    fs.mkdirSync(this.root, { mode: 0o711 });
    this.token = crypto.randomBytes(3).toString('hex');
    fs.writeFileSync(
      path.join(this.dir, OWNER_FILE),
      JSON.stringify({ pid: process.pid, start: procStart(process.pid), token: this.token }),
    );
  }

  /**
   * Remove the sandboxes of test runs that died without cleaning up (jest
   * killed, machine-wide timeout...): kill their processes, unmount, remove
   * their cgroups and directories. Sandboxes whose owner still runs (another
   * jest run on the same machine) are left alone.
   */
  static sweepStale(): void {
    let entries: string[] = [];
    try {
      entries = fs.readdirSync(os.tmpdir()).filter((e) => e.startsWith('tsrun-test-'));
    } catch {
      return;
    }
    for (const e of entries) {
      const dir = path.join(os.tmpdir(), e);
      let owner: { pid: number; start: string; token: string };
      try {
        owner = JSON.parse(fs.readFileSync(path.join(dir, OWNER_FILE), 'utf8'));
      } catch {
        continue; // not ours, or being set up right now
      }
      if (procStart(owner.pid) === owner.start) continue; // still running
      const sb = new Sandbox({ dir, token: owner.token });
      sb.forceClean();
    }
  }

  /** Synchronous, best-effort teardown without the runtime (for sweepStale). */
  private forceClean(): void {
    for (let i = 0; i < 100; i++) {
      const procs = this.findProcesses();
      if (!procs.length) break;
      for (const p of procs) {
        try {
          process.kill(p.pid, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20); // bounded: 100 x 20 ms
    }
    for (const mp of this.findMounts().sort((a, b) => b.length - a.length)) {
      spawnSync('umount', ['-l', mp], { stdio: 'ignore' });
    }
    for (const cg of this.findCgroups().sort((a, b) => b.length - a.length)) {
      try {
        fs.rmdirSync(cg);
      } catch {
        /* busy: its processes may still be dying */
      }
    }
    if (this.findMounts().length === 0) fs.rmSync(this.dir, { recursive: true, force: true });
  }

  /** Register another directory used as a container rootfs, for the process leak check. */
  addRootfs(dir: string): void {
    this.rootfsDirs.push(dir);
  }

  /** A path inside the sandbox directory. */
  path(...parts: string[]): string {
    return path.join(this.dir, ...parts);
  }

  /** Create (recursively) and return a directory inside the sandbox. */
  mkdir(...parts: string[]): string {
    const p = this.path(...parts);
    fs.mkdirSync(p, { recursive: true });
    return p;
  }

  /** Write a file inside the sandbox (parents created) and return its path. */
  writeFile(rel: string, content: string, mode = 0o644): string {
    const p = this.path(rel);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.writeFileSync(p, content, { mode });
    fs.chmodSync(p, mode);
    return p;
  }

  /** The shared, read-only-by-convention busybox rootfs of this sandbox (built on first use). */
  get rootfs(): string {
    if (!this.sharedRootfs) {
      const d = this.path('rootfs');
      buildRootfs(d);
      this.sharedRootfs = d;
      this.rootfsDirs.push(d);
    }
    return this.sharedRootfs;
  }

  /** A private, writable copy of the rootfs (for tests that write into it or add mount points). */
  privateRootfs(): string {
    const d = this.path(`rootfs-${++this.counter}`);
    fs.cpSync(this.rootfs, d, { recursive: true, verbatimSymlinks: true, preserveTimestamps: true });
    this.rootfsDirs.push(d);
    return d;
  }

  /** A unique container id (unique on the machine, so leak checks can find its cgroups). */
  id(name = 'c'): string {
    const id = `${name}-${this.token}-${++this.counter}`;
    this.ids.add(id);
    return id;
  }

  /**
   * Write a bundle (directory with config.json) and return its path.
   * `args` sets process.args; `edit` may change anything in the spec.
   * The rootfs is the shared one unless `edit` sets root.path.
   */
  bundle(args?: string[] | ((spec: Spec) => void), edit?: (spec: Spec) => void): string {
    if (typeof args === 'function') {
      edit = args;
      args = undefined;
    }
    const spec = defaultSpec();
    spec.root.path = this.rootfs;
    if (args) spec.process.args = args;
    if (edit) edit(spec);
    const dir = this.mkdir('bundles', `b${++this.counter}`);
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(spec, null, 2));
    return dir;
  }

  private argv(args: string[], opts: RtOptions): string[] {
    const withGlobal = [...(opts.global ?? []), ...args];
    return opts.noRoot ? withGlobal : ['--root', this.root, ...withGlobal];
  }

  private outFiles(): { out: string; err: string } {
    const n = ++this.counter;
    const d = this.mkdir('io');
    return { out: path.join(d, `${n}.out`), err: path.join(d, `${n}.err`) };
  }

  private noteIds(args: string[]): void {
    // Remember ids the test passes directly, so cleanup can find them.
    const cmds = ['create', 'run', 'start', 'kill', 'delete', 'state', 'exec', 'pause', 'resume', 'ps', 'events'];
    const i = args.findIndex((a) => cmds.includes(a));
    if (i < 0) return;
    const last = args[args.length - 1];
    if (last && validId(last)) this.ids.add(last);
  }

  /**
   * Run the runtime synchronously: RUNTIME --root <root> ...args.
   * stdout/stderr go to files (never pipes: a detached container inherits them
   * and would keep a pipe open), so a container's own output is included.
   */
  rt(args: string[], opts: RtOptions = {}): Result {
    this.noteIds(args);
    const argv = this.argv(args, opts);
    const { out, err } = this.outFiles();
    const fo = fs.openSync(out, 'w');
    const fe = fs.openSync(err, 'w');
    const [cmd, ...lead] = opts.via ?? [RUNTIME];
    let r;
    try {
      r = spawnSync(cmd, [...lead, ...argv], {
        stdio: [opts.input !== undefined ? 'pipe' : 'ignore', fo, fe],
        input: opts.input,
        timeout: opts.timeoutMs ?? 30000,
        killSignal: 'SIGKILL',
        env: opts.env ?? process.env,
        cwd: opts.cwd ?? this.dir,
      });
    } finally {
      fs.closeSync(fo);
      fs.closeSync(fe);
    }
    const timedOut = (r.error as NodeJS.ErrnoException | undefined)?.code === 'ETIMEDOUT';
    if (r.error && !timedOut) throw r.error;
    const signo = r.signal ? os.constants.signals[r.signal] : 0;
    return {
      code: r.status ?? (r.signal ? 128 + signo : -1),
      signal: r.signal,
      stdout: fs.readFileSync(out, 'utf8'),
      stderr: fs.readFileSync(err, 'utf8'),
      timedOut,
      argv: [cmd, ...lead, ...argv],
    };
  }

  /** Like rt() but asynchronous, for foreground `run` and other long calls. */
  rtAsync(args: string[], opts: RtOptions = {}): AsyncRun {
    this.noteIds(args);
    const argv = this.argv(args, opts);
    const { out, err } = this.outFiles();
    const fo = fs.openSync(out, 'w');
    const fe = fs.openSync(err, 'w');
    const child = spawn(RUNTIME, argv, {
      stdio: [opts.input !== undefined ? 'pipe' : 'ignore', fo, fe],
      env: opts.env ?? process.env,
      cwd: opts.cwd ?? this.dir,
    });
    fs.closeSync(fo);
    fs.closeSync(fe);
    this.children.add(child);
    if (opts.input !== undefined) child.stdin!.end(opts.input);
    const result = new Promise<Result>((resolve, reject) => {
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        child.kill('SIGKILL');
      }, opts.timeoutMs ?? 30000);
      child.on('error', (e) => {
        clearTimeout(timer);
        this.children.delete(child);
        reject(e);
      });
      child.on('exit', (code, signal) => {
        clearTimeout(timer);
        this.children.delete(child);
        resolve({
          code: code ?? (signal ? 128 + os.constants.signals[signal] : -1),
          signal,
          stdout: fs.readFileSync(out, 'utf8'),
          stderr: fs.readFileSync(err, 'utf8'),
          timedOut,
          argv: [RUNTIME, ...argv],
        });
      });
    });
    return { child, result };
  }

  /** `run --bundle <bundle> <id>` in the foreground; returns when the container exits. */
  run(id: string, bundle: string, opts: RtOptions & { extra?: string[] } = {}): Result {
    return this.rt(['run', ...(opts.extra ?? []), '--bundle', bundle, id], opts);
  }

  /** `create --bundle <bundle> <id>`. */
  create(id: string, bundle: string, opts: RtOptions & { extra?: string[] } = {}): Result {
    return this.rt(['create', ...(opts.extra ?? []), '--bundle', bundle, id], opts);
  }

  /** `state <id>` parsed; throws if the runtime fails. */
  state(id: string): Spec {
    return JSON.parse(ok(this.rt(['state', id])).stdout);
  }

  /** The container's host pid from `state`. */
  hostPid(id: string): number {
    const pid = this.state(id).pid;
    if (typeof pid !== 'number' || pid <= 0) throw new Error(`container ${id} has no pid (${pid})`);
    return pid;
  }

  /** Poll `state` until the container has the given status (bounded). */
  async waitStatus(id: string, status: string, timeoutMs = 10000): Promise<Spec> {
    let last = '';
    return waitFor(
      () => {
        const r = this.rt(['state', id]);
        if (r.code !== 0) {
          last = r.stderr;
          return undefined;
        }
        const s = JSON.parse(r.stdout);
        last = s.status;
        return s.status === status ? s : undefined;
      },
      `container ${id} to be ${status} (last: ${last})`,
      timeoutMs,
    );
  }

  /** Create, start and wait until the container runs; returns its host pid. */
  async startDetached(id: string, bundle: string, opts: RtOptions = {}): Promise<number> {
    ok(this.create(id, bundle, opts));
    const pid = this.hostPid(id);
    // Before start, the init is still the runtime's own program.
    const initExe = readlinkIf(`/proc/${pid}/exe`);
    ok(this.rt(['start', id], opts));
    // `running` may be reported a moment before the init has exec'd the user process:
    // wait until it has (its executable changed) or has already exited, so that /proc/PID
    // shows the user process.
    await waitFor(
      () => !pidAlive(pid) || (initExe !== undefined && readlinkIf(`/proc/${pid}/exe`) !== initExe),
      `container ${id} (pid ${pid}) to exec its process`,
    );
    return pid;
  }

  /** Ids of the containers the runtime lists in this sandbox's root. */
  listIds(): string[] {
    try {
      const r = this.rt(['list', '-q'], { timeoutMs: 15000 });
      if (r.code !== 0) return [];
      return r.stdout.split('\n').map((s) => s.trim()).filter(Boolean);
    } catch {
      return [];
    }
  }

  // ---------------------------------------------------------------- leak checks

  /** Processes that belong to this sandbox: rooted in one of its rootfs, cwd inside it, or in its cgroups. */
  findProcesses(): { pid: number; why: string; cmd: string }[] {
    const roots = new Set(this.rootfsDirs.map(devIno).filter((x): x is string => !!x));
    const found: { pid: number; why: string; cmd: string }[] = [];
    const self = process.pid;
    for (const e of fs.readdirSync('/proc')) {
      if (!/^\d+$/.test(e)) continue;
      const pid = Number(e);
      if (pid === self || pid === 1) continue;
      let why = '';
      const r = devIno(`/proc/${pid}/root`);
      if (r && roots.has(r)) why = 'root is a sandbox rootfs';
      if (!why) {
        try {
          const cwd = fs.readlinkSync(`/proc/${pid}/cwd`);
          if (cwd === this.dir || cwd.startsWith(this.dir + '/')) why = `cwd ${cwd}`;
        } catch {
          /* gone or kernel thread */
        }
      }
      if (!why) {
        const cg = readIf(`/proc/${pid}/cgroup`) || '';
        if (cg.includes(`-${this.token}-`)) why = 'in a cgroup of this sandbox';
        for (const id of why ? [] : this.ids) {
          if (cg.includes(`/${id}\n`) || cg.includes(`/${id}/`)) {
            why = `in cgroup of ${id}`;
            break;
          }
        }
      }
      if (!why) continue;
      if (!pidAlive(pid)) continue;
      const cmd = (readIf(`/proc/${pid}/cmdline`) || '').split('\0').join(' ').trim();
      found.push({ pid, why, cmd });
    }
    return found;
  }

  /** Mount points of the host's mount namespace at or under the sandbox directory. */
  findMounts(): string[] {
    const text = readIf('/proc/self/mountinfo') || '';
    return parseMountinfo(text)
      .map((m) => m.mountPoint)
      .filter((mp) => mp === this.dir || mp.startsWith(this.dir + '/'));
  }

  /** cgroup directories named after this sandbox's container ids. */
  findCgroups(): string[] {
    const mounts = parseMountinfo(readIf('/proc/self/mountinfo') || '').filter(
      (m) => m.fsType === 'cgroup' || m.fsType === 'cgroup2',
    );
    const own = (readIf('/proc/self/cgroup') || '').split('\n').filter(Boolean);
    const found = new Set<string>();
    for (const m of mounts) {
      const bases = new Set<string>([m.mountPoint]);
      for (const line of own) {
        const [, ctrls, p] = line.split(':');
        const match =
          m.fsType === 'cgroup2'
            ? ctrls === ''
            : ctrls !== '' && ctrls.split(',').some((c) => m.superOptions.includes(c));
        if (match && p) bases.add(path.join(m.mountPoint, p));
      }
      for (const b of bases) {
        // Every id made by id() carries the token.
        try {
          for (const e of fs.readdirSync(b)) {
            if (e.includes(`-${this.token}-`)) found.add(path.join(b, e));
          }
        } catch {
          /* not a directory */
        }
        for (const id of this.ids) {
          if (!validId(id)) continue;
          const p = path.join(b, id);
          if (fs.existsSync(p)) found.add(p);
        }
      }
    }
    return [...found];
  }

  /**
   * What this sandbox has left on the machine right now (state directories,
   * listed containers, processes, mounts, cgroups), without fixing anything.
   */
  leftovers(): string[] {
    const out: string[] = [];
    let state: string[] = [];
    try {
      state = fs.readdirSync(this.root);
    } catch {
      /* no root */
    }
    if (state.length) out.push(`state: ${state.join(', ')}`);
    const listed = this.listIds();
    if (listed.length) out.push(`listed: ${listed.join(', ')}`);
    const procs = this.findProcesses();
    if (procs.length) out.push(`processes: ${procs.map((p) => `${p.pid} ${p.cmd} (${p.why})`).join(', ')}`);
    const mounts = this.findMounts();
    if (mounts.length) out.push(`mounts: ${mounts.join(', ')}`);
    const cgs = this.findCgroups();
    if (cgs.length) out.push(`cgroups: ${cgs.join(', ')}`);
    return out;
  }

  /**
   * A refusal as a user must see it: a non-zero exit, one line on stderr matching `message`,
   * and nothing left behind (no container, process, mount, cgroup or state).
   */
  async expectRefused(r: Result, message: RegExp): Promise<void> {
    expect(r.code).not.toBe(0);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(message);
    expect(this.listIds()).toEqual([]);
    expect(await this.settledLeftovers()).toEqual([]);
  }

  /** leftovers(), polled for a bounded time so that processes already exiting can go. */
  async settledLeftovers(timeoutMs = 3000): Promise<string[]> {
    try {
      await waitFor(() => this.leftovers().length === 0, 'leftovers to go', timeoutMs, 50);
    } catch {
      /* reported */
    }
    return this.leftovers();
  }

  /**
   * Delete every container, kill what survives, undo what leaked, and throw
   * an Error listing every leak. Safe to call any number of times.
   */
  async reap(): Promise<void> {
    const problems: string[] = [];
    // Runtime calls this sandbox started and that are still running.
    for (const c of this.children) {
      try {
        c.kill('SIGKILL');
      } catch {
        /* already gone */
      }
    }
    const ids = new Set(this.listIds());
    for (const id of ids) {
      const r = this.rt(['delete', '--force', id], { timeoutMs: 15000 });
      if (r.code !== 0) {
        problems.push(`delete --force ${id} failed (${r.code}): ${r.stderr.trim()}`);
      }
    }
    // Processes.
    let procs = this.findProcesses();
    if (procs.length) {
      // Give exiting processes a moment to go before calling them leaks.
      try {
        await waitFor(() => this.findProcesses().length === 0, 'processes to exit', 2000);
      } catch {
        /* reported below */
      }
      procs = this.findProcesses();
    }
    if (procs.length) {
      problems.push(`leaked processes: ${procs.map((p) => `${p.pid} (${p.cmd}; ${p.why})`).join(', ')}`);
      for (const p of procs) {
        try {
          process.kill(p.pid, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
      try {
        await waitFor(() => this.findProcesses().length === 0, 'leaked processes to die', 5000);
      } catch (e) {
        problems.push(String(e));
      }
    }
    // Mounts.
    const mounts = this.findMounts();
    if (mounts.length) {
      problems.push(`leaked mounts: ${mounts.join(', ')}`);
      for (const mp of mounts.sort((a, b) => b.length - a.length)) {
        spawnSync('umount', ['-l', mp], { stdio: 'ignore' });
      }
    }
    // State directories.
    let left: string[] = [];
    try {
      left = fs.readdirSync(this.root);
    } catch {
      /* root gone */
    }
    if (left.length) {
      problems.push(`leaked state in ${this.root}: ${left.join(', ')}`);
      for (const e of left) fs.rmSync(path.join(this.root, e), { recursive: true, force: true });
    }
    // cgroups.
    const cgs = this.findCgroups();
    if (cgs.length) {
      problems.push(`leaked cgroups: ${cgs.join(', ')}`);
      for (const cg of cgs.sort((a, b) => b.length - a.length)) {
        const base = path.basename(cg);
        if (!this.ids.has(base) && !base.includes(`-${this.token}-`)) continue;
        try {
          fs.rmdirSync(cg);
        } catch {
          /* busy or gone */
        }
      }
    }
    if (problems.length) throw new Error(`sandbox ${this.dir} leaked:\n  ${problems.join('\n  ')}`);
  }

  /** reap() and then remove the sandbox directory. */
  async cleanup(): Promise<void> {
    if (this.cleaned) return;
    this.cleaned = true;
    let err: unknown;
    try {
      await this.reap();
    } catch (e) {
      err = e;
    }
    // Never remove through a mount that is still there.
    if (this.findMounts().length === 0) fs.rmSync(this.dir, { recursive: true, force: true });
    else err = err ?? new Error(`mounts left under ${this.dir}; not removed`);
    if (err) throw err;
  }
}

/**
 * Standard per-file setup: one Sandbox per test file, reaped after every test
 * (failing the test on leaks) and removed after the file.
 */
export function useSandbox(): Sandbox {
  const sb = new Sandbox();
  afterEach(async () => {
    await sb.reap();
  });
  afterAll(async () => {
    await sb.cleanup();
  });
  return sb;
}
