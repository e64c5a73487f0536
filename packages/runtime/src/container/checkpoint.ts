/**
 * `checkpoint`: the container's process tree dumped by CRIU into an image directory (runc's
 * flags and semantics): the tree is frozen through its cgroup, dumped with its mount namespace
 * (the config's bind mounts, cgroup binds, masked files and device nodes declared external,
 * so that `restore` mounts them again from the config), and then killed and the container
 * removed (state, cgroup, poststop hooks), unless --leave-running or --pre-dump (memory only,
 * the container goes on). Beside CRIU's images, descriptors.json (runc's file: what init's
 * fds 0-2 were) lets `restore` hand the restored process its caller's stdio instead.
 */
import * as fs from 'fs';
import * as path from 'path';
import type { Spec } from '@tsrun/spec';
import { loadCgroupManager } from '../cgroups';
import { RuntimeError } from '../errors';
import { CG_MODES, CriuOpts, ExtMount, ReqType } from '../launch/criu-rpc';
import type { Context } from './context';
import { destroyContainer } from './delete';
import { currentStatus } from './query';

/** The flags checkpoint and restore share (runc's names). */
export interface CriuCommonOptions {
  /** The criu binary: --criu, default "criu" on PATH. */
  criu: string;
  imagePath?: string;
  workPath?: string;
  tcpEstablished?: boolean;
  extUnixSk?: boolean;
  shellJob?: boolean;
  fileLocks?: boolean;
  autoDedup?: boolean;
  lazyPages?: boolean;
  manageCgroupsMode?: string;
  emptyNs?: string[];
}

export interface CheckpointOptions extends CriuCommonOptions {
  id: string;
  parentPath?: string;
  leaveRunning?: boolean;
  preDump?: boolean;
  /** --status-fd (with --lazy-pages): written "\0" once the page server is ready; -1 for none. */
  statusFd?: number;
  /** --page-server ADDRESS:PORT */
  pageServer?: string;
}

export const DESCRIPTORS_FILE = 'descriptors.json';
/** tsrun's addition: fds 0-2 that were files outside the container, declared external by key. */
export const EXTERNAL_STDIO_FILE = 'tsrun-stdio.json';
/** CRIU's config file for containers, unless the org.criu.config annotation names another (runc's). */
const DEFAULT_CRIU_CONFIG = '/etc/criu/runc.conf';
const CLONE_NEWNET = 0x40000000;
const O_APPEND = 0o2000;

/** runc's --manage-cgroups-mode values. */
export function cgroupMode(mode: string | undefined): number {
  const m = CG_MODES[mode ?? ''];
  if (m === undefined) throw new RuntimeError('Invalid manage-cgroups-mode value');
  return m;
}

/** runc's empty_ns mask: the network namespace always (runc does not manage network devices), plus --empty-ns. */
export function emptyNsMask(names: string[] | undefined): number {
  let mask = CLONE_NEWNET;
  for (const n of names ?? []) {
    if (n !== 'network') throw new RuntimeError(`namespace ${JSON.stringify(n)} is not supported`);
    mask |= CLONE_NEWNET;
  }
  return mask >>> 0;
}

/** The image directory: --image-path, default ./checkpoint (as runc, relative to the caller's cwd). */
export function imageDir(p: string | undefined): string {
  return path.resolve(p || 'checkpoint');
}

/** The config file CRIU reads for this container (the org.criu.config annotation, as runc). */
export function criuConfigFile(spec: Spec): string | undefined {
  const a = spec.annotations ?? {};
  if (Object.prototype.hasOwnProperty.call(a, 'org.criu.config')) return a['org.criu.config'] || undefined;
  return DEFAULT_CRIU_CONFIG;
}

/** mkdir (mode 0700) that is fine when the directory is there, as runc makes CRIU's dirs. */
export function makeDir(dir: string): void {
  try {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (e) {
    throw new RuntimeError(`mkdir ${dir}: ${(e as Error).message}`);
  }
}

/**
 * A path inside `root` with its symlinks resolved inside it, as filepath-securejoin does (runc
 * finds a mount's real destination so): `..` stops at the root and absolute links restart there.
 * Only reads links; used to name mount points for CRIU, never to write.
 */
export function secureJoin(root: string, unsafe: string): string {
  const todo = unsafe.split('/').filter((c) => c && c !== '.');
  const done: string[] = [];
  let links = 0;
  while (todo.length) {
    const c = todo.shift()!;
    if (c === '..') {
      done.pop();
      continue;
    }
    const full = path.join(root, ...done, c);
    let st: fs.Stats | undefined;
    try {
      st = fs.lstatSync(full);
    } catch {
      st = undefined;
    }
    if (st?.isSymbolicLink()) {
      if (++links > 255) throw new RuntimeError(`${unsafe}: too many levels of symbolic links`);
      const target = fs.readlinkSync(full);
      if (target.startsWith('/')) done.length = 0;
      todo.unshift(...target.split('/').filter((x) => x && x !== '.'));
      continue;
    }
    done.push(c);
  }
  return '/' + done.join('/');
}

function isBind(m: { type?: string; options?: string[] }): boolean {
  return m.type === 'bind' || (m.options ?? []).some((o) => o === 'bind' || o === 'rbind');
}

/** runc's default device nodes (plan/mounts.ts), bound from the host in a user namespace. */
const DEFAULT_DEVICES = ['/dev/null', '/dev/zero', '/dev/full', '/dev/random', '/dev/urandom', '/dev/tty'];

/**
 * The mounts CRIU must treat as external, as runc lists them: each bind mount of the config, the
 * cgroup binds (no cgroup namespace), masked files (bound from a null device) and the device
 * nodes, by their mount point inside the container. `source(dest)` names what restore mounts
 * there; a dump names each by its own mount point.
 */
export interface ExternalMount {
  /** The mount point inside the container (symlinks resolved in the rootfs). */
  dest: string;
  /** What is mounted there from the host at restore time. */
  source: string;
}

export function externalMounts(spec: Spec, rootfs: string, bundle: string, cgroupSources: { controller: string; hostPath: string }[], unified: boolean): ExternalMount[] {
  const out: ExternalMount[] = [];
  const newCgroupNs = (spec.linux?.namespaces ?? []).some((n) => n.type === 'cgroup' && !n.path);
  let devBound = false;
  for (const m of spec.mounts ?? []) {
    const dest = secureJoin(rootfs, m.destination);
    if (m.type === 'cgroup') {
      // With a cgroup namespace (v2) the kernel's own cgroup2 mount, which CRIU restores itself.
      if (unified && newCgroupNs) continue;
      if (unified) {
        if (cgroupSources[0]) out.push({ dest, source: cgroupSources[0].hostPath });
      } else {
        for (const s of cgroupSources) out.push({ dest: path.posix.join(dest, s.controller), source: s.hostPath });
      }
      continue;
    }
    if (!isBind(m) || !m.source) continue;
    if (dest === '/dev') devBound = true;
    out.push({ dest, source: path.resolve(bundle, m.source) });
  }
  const devices = new Set<string>(devBound ? [] : DEFAULT_DEVICES);
  for (const d of spec.linux?.devices ?? []) devices.add(path.posix.resolve('/', d.path));
  for (const d of devices) out.push({ dest: d, source: d });
  return out;
}

/** Init's fds 0-2 as runc records them (readlink of /proc/PID/fd/N), and those that are files outside the container. */
function stdioOf(pid: number): { links: string[]; external: { fd: number; key: string }[] } {
  const links: string[] = [];
  const external: { fd: number; key: string }[] = [];
  let inside: Set<string> | undefined;
  for (let fd = 0; fd < 3; fd++) {
    let link = '';
    try {
      link = fs.readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch {
      /* closed */
    }
    links.push(link);
    if (!link.startsWith('/')) continue;
    // A file on a mount the container does not have (the caller's /dev/null, a log file): CRIU
    // can dump it only as an external file, which restore then gets from its own caller. CRIU
    // checks a regular file's size on restore, unless it is written in append mode: only such a
    // file (`>>`, as logs are) can be another one then; any other stays CRIU's to refuse.
    const info = readOr(`/proc/${pid}/fdinfo/${fd}`);
    const mnt = /^mnt_id:\s*(\d+)/m.exec(info)?.[1];
    if (!mnt) continue;
    inside ??= new Set(readOr(`/proc/${pid}/mountinfo`).split('\n').map((l) => l.split(' ')[0]));
    if (inside.has(mnt)) continue;
    let st: fs.BigIntStats;
    try {
      st = fs.statSync(`/proc/${pid}/fd/${fd}`, { bigint: true });
    } catch {
      continue;
    }
    const flags = parseInt(/^flags:\s*([0-7]+)/m.exec(info)?.[1] ?? '0', 8);
    if (st.isFile() && !(flags & O_APPEND)) continue;
    const ino = st.ino;
    const key = `file[${Number(mnt).toString(16)}:${ino.toString(16)}]`;
    if (!external.some((e) => e.key === key)) external.push({ fd, key });
  }
  return { links, external };
}

function readOr(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

function nsInode(p: string): number {
  try {
    return fs.statSync(p).ino;
  } catch (e) {
    throw new RuntimeError(`stat ${p}: ${(e as Error).message}`);
  }
}

function parsePageServer(s: string): { address: string; port: number } {
  const m = /^(.*):([^:]*)$/.exec(s);
  const address = m?.[1].replace(/^\[(.*)\]$/, '$1') ?? '';
  if (!m || !address || !m[2]) throw new RuntimeError('Use --page-server ADDRESS:PORT to specify page server');
  if (!/^\d+$/.test(m[2])) throw new RuntimeError('Invalid port number');
  return { address, port: Number(m[2]) };
}

function checkStatusFd(fd: number): void {
  let flags: string;
  try {
    flags = fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8');
  } catch {
    throw new RuntimeError(`invalid --status-fd argument ${fd}: bad file descriptor`);
  }
  const f = parseInt(/^flags:\s*(\d+)/m.exec(flags)?.[1] ?? '0', 8);
  if ((f & 3) === 0) throw new RuntimeError(`invalid --status-fd argument ${fd}: not writable`);
}

export async function checkpointContainer(ctx: Context, o: CheckpointOptions): Promise<void> {
  const criu = require('../launch/criu') as typeof import('../launch/criu');
  if ((process.getuid?.() ?? 0) !== 0 || ctx.rootless) ctx.log.warn('tsrun checkpoint is untested with rootless containers');
  const lock = ctx.store.lock(o.id);
  try {
    const rec = ctx.store.load(o.id);
    const status = currentStatus(ctx, rec);
    if (status === 'created' || status === 'stopped' || status === 'creating') {
      throw new RuntimeError(`Container cannot be checkpointed in ${status} state`);
    }
    const spec = rec.config;
    if (!(spec.linux?.namespaces ?? []).some((n) => n.type === 'mount')) {
      throw new RuntimeError('checkpoint of a container without a mount namespace of its own is not supported');
    }
    const cgMode = cgroupMode(o.manageCgroupsMode);
    const emptyNs = emptyNsMask(o.emptyNs);
    const ps = o.pageServer ? parsePageServer(o.pageServer) : undefined;
    const images = imageDir(o.imagePath);
    if (o.parentPath) {
      if (path.isAbsolute(o.parentPath)) throw new RuntimeError('--parent-path must be relative');
      const real = path.join(images, o.parentPath);
      let st: fs.Stats;
      try {
        st = fs.statSync(real);
      } catch (e) {
        throw new RuntimeError(`invalid --parent-path: stat ${real}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (e as Error).message}`);
      }
      if (!st.isDirectory()) throw new RuntimeError(`invalid --parent-path: stat ${real}: not a directory`);
    }
    // CRIU first: without it nothing is made, not even the image directory.
    const binary = criu.findCriu(o.criu);
    const version = await criu.criuVersion(binary);
    if (o.preDump) await criu.checkCriuFeatures(binary, { memTrack: true });
    if (o.lazyPages) await criu.checkCriuFeatures(binary, { lazyPages: true });
    const statusFd = o.statusFd ?? -1;
    if (o.lazyPages && statusFd !== -1) checkStatusFd(statusFd);

    makeDir(images);
    const logDir = o.workPath ? path.resolve(o.workPath) : images;
    if (o.workPath) makeDir(logDir);
    const fds: number[] = [];
    const open = (d: string) => {
      const fd = fs.openSync(d, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
      fds.push(fd);
      return fd;
    };
    try {
      const opts: CriuOpts = {
        imagesDirFd: open(images),
        workDirFd: o.workPath ? open(logDir) : undefined,
        logLevel: 4,
        logFile: 'dump.log',
        root: rec.rootfs,
        manageCgroups: true,
        manageCgroupsMode: cgMode,
        notifyScripts: true,
        pid: rec.pid,
        shellJob: !!o.shellJob,
        leaveRunning: !!o.leaveRunning,
        tcpEstablished: !!o.tcpEstablished,
        extUnixSk: !!o.extUnixSk,
        fileLocks: !!o.fileLocks,
        emptyNs,
        orphanPtsMaster: true,
        autoDedup: !!o.autoDedup,
        lazyPages: !!o.lazyPages,
        configFile: criuConfigFile(spec),
        external: [],
        extMnt: [],
      };
      // A namespace joined by path stays the host's: CRIU records it as external by inode.
      for (const [type, key] of [['network', 'extRootNetNS'], ['pid', 'extRootPidNS']] as const) {
        const ns = (spec.linux?.namespaces ?? []).find((n) => n.type === type);
        if (ns?.path) opts.external!.push(`${type === 'network' ? 'net' : 'pid'}[${nsInode(ns.path)}]:${key}`);
      }
      // Frozen through the cgroup rather than ptrace alone (v2's freezer needs CRIU 3.14).
      if (rec.cgroup) {
        const cg = loadCgroupManager(rec.cgroup);
        const freezer = cg.controllerDir('freezer');
        if (freezer && (cg.mode !== 'v2' || version >= 31400)) opts.freezeCgroup = freezer;
      }
      if (ps) opts.ps = ps;
      if (o.parentPath) {
        opts.parentImg = o.parentPath;
        opts.trackMem = true;
      }
      if (o.lazyPages && statusFd !== -1 && version < 31500) opts.statusFd = statusFd;
      if (!o.preDump) {
        const cg = rec.cgroup ? loadCgroupManager(rec.cgroup) : undefined;
        const sources = cg?.mountSources() ?? [];
        const ext: ExtMount[] = externalMounts(spec, rec.rootfs, rec.bundle, sources, cg?.mode === 'v2').map((m) => ({ key: m.dest, val: m.dest }));
        for (const p of spec.linux?.maskedPaths ?? []) {
          let st: fs.Stats | undefined;
          try {
            st = fs.statSync(`/proc/${rec.pid}/root${path.posix.resolve('/', p)}`);
          } catch {
            continue;
          }
          if (!st.isDirectory()) ext.push({ key: p, val: '/dev/null' });
        }
        opts.extMnt = ext;
        const stdio = stdioOf(rec.pid);
        for (const e of stdio.external) opts.external!.push(e.key);
        fs.writeFileSync(path.join(images, DESCRIPTORS_FILE), JSON.stringify(stdio.links), { mode: 0o600 });
        if (stdio.external.length) fs.writeFileSync(path.join(images, EXTERNAL_STDIO_FILE), JSON.stringify(stdio.external), { mode: 0o600 });
        else fs.rmSync(path.join(images, EXTERNAL_STDIO_FILE), { force: true });
      }
      await criu.swrk(binary, { type: o.preDump ? ReqType.PRE_DUMP : ReqType.DUMP, opts }, {
        log: path.join(logDir, 'dump.log'),
        onNotify: (script) => {
          if (script === 'status-ready' && statusFd !== -1) {
            try {
              fs.writeSync(statusFd, Buffer.from([0]));
              fs.closeSync(statusFd);
            } catch (e) {
              ctx.log.warn(`can't write \\0 to status fd: ${(e as Error).message}`);
            }
          }
        },
      });
    } finally {
      for (const fd of fds) fs.closeSync(fd);
    }
    // CRIU killed the tree after the dump; the container goes as `delete` removes it.
    if (!o.leaveRunning && !o.preDump) destroyContainer(ctx, rec, true);
  } finally {
    lock.release();
  }
}
