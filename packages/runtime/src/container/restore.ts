/**
 * `restore`: a container made again from a checkpoint (runc's flags and semantics): the same id
 * from the bundle's config.json and CRIU's images, a new state and cgroup (the config's limits
 * applied before CRIU, which is moved into it, restores anything), the config's bind mounts
 * mounted again from their sources, and the restored init a child of tsrun (CRIU's
 * rst_sibling), so that a foreground restore waits for it and exits with its status as `run`
 * does. Without a terminal the restored process's fds 0-2 are tsrun's own (CRIU's inherit_fd
 * for the pipes, and files outside the container, that init had there); with one, the pty
 * master CRIU restores goes to --console-socket, or is relayed in the foreground.
 */
import * as fs from 'fs';
import * as path from 'path';
import { cgroupManagerFor, CgroupManager } from '../cgroups';
import { RuntimeError } from '../errors';
import { connectConsoleSocket } from '../launch/console-socket';
import { CriuOpts, InheritFd, JoinNamespace, ReqType } from '../launch/criu-rpc';
import type { TtyRelay } from '../launch/tty-relay';
import { MNT_DETACH, native } from '../native';
import { MS_BIND, MS_REC } from '../plan/constants';
import {
  cgroupMode, CriuCommonOptions, criuConfigFile, DESCRIPTORS_FILE, emptyNsMask, EXTERNAL_STDIO_FILE, externalMounts,
  imageDir, makeDir,
} from './checkpoint';
import type { Context } from './context';
import { checkTerminal, loadSpec, newRecord } from './create';
import { destroyContainer } from './delete';
import { waitForeground } from './foreground';
import { runHooks } from './hooks';
import { specState } from './state-json';
import { readProcStat } from './status';
import { validateId, writeFileAtomic } from './store';

export interface RestoreOptions extends CriuCommonOptions {
  id: string;
  bundle?: string;
  detach?: boolean;
  pidFile?: string;
  consoleSocket?: string;
  /** Accepted as runc's flags; tsrun sets no subreaper, and CRIU restores the root itself. */
  noSubreaper?: boolean;
  noPivot?: boolean;
  lsmProfile?: string;
  lsmMountContext?: string;
}

/** Where the rootfs is bound for CRIU, which wants its root a mount point of its own (runc's criu-root). */
export const CRIU_ROOT = 'criu-root';

/** runc's names of the namespaces (configs.NsName). */
const NS_NAMES: Record<string, string> = {
  network: 'net', pid: 'pid', mount: 'mnt', ipc: 'ipc', uts: 'uts', user: 'user', cgroup: 'cgroup', time: 'time',
};

function readJson<T>(file: string): T | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new RuntimeError(`read ${file}: ${(e as Error).message}`);
  }
  try {
    return JSON.parse(text) as T;
  } catch (e) {
    throw new RuntimeError(`${file}: ${(e as Error).message}`);
  }
}

/** A new network namespace starts with lo down and CRIU does not restore it (runc's empty_ns): up, as create brings it. */
function loopbackUp(pid: number, warn: (m: string) => void): void {
  const { spawnSync } = require('child_process') as typeof import('child_process');
  const r = spawnSync('nsenter', [`--net=/proc/${pid}/ns/net`, 'ip', 'link', 'set', 'dev', 'lo', 'up'], { encoding: 'utf8' });
  if (r.status !== 0) warn(`restore: bring lo up: ${(r.stderr || String(r.error ?? `exit status ${r.status}`)).trim().split('\n')[0]}`);
}

export async function restoreContainer(ctx: Context, o: RestoreOptions): Promise<number> {
  const criu = require('../launch/criu') as typeof import('../launch/criu');
  if ((process.getuid?.() ?? 0) !== 0 || ctx.rootless) ctx.log.warn('tsrun restore is untested with rootless containers');
  const id = validateId(o.id);
  const bundle = path.resolve(o.bundle || '.');
  const spec = loadSpec(bundle);
  const rootfs = path.resolve(bundle, spec.root?.path ?? 'rootfs');
  if (!fs.statSync(rootfs, { throwIfNoEntry: false })?.isDirectory()) throw new RuntimeError(`rootfs (${rootfs}) does not exist`);
  if (fs.realpathSync(rootfs) !== rootfs) throw new RuntimeError(`invalid rootfs: ${rootfs} is not an absolute path, or a symlink`);
  const detach = !!o.detach;
  checkTerminal(spec, { detach, consoleSocket: o.consoleSocket });
  const namespaces = spec.linux?.namespaces ?? [];
  if (!namespaces.some((n) => n.type === 'mount')) {
    throw new RuntimeError('restore of a container without a mount namespace of its own is not supported');
  }
  const cgroupNs = namespaces.find((n) => n.type === 'cgroup' && n.path);
  if (cgroupNs) throw new RuntimeError('Do not know how to handle namespace cgroup (a cgroup namespace joined by path)');
  const cgMode = cgroupMode(o.manageCgroupsMode);
  const emptyNs = emptyNsMask(o.emptyNs);
  const images = imageDir(o.imagePath);
  // What CRIU would fail on later, with less to say: a directory that holds no checkpoint.
  try {
    fs.statSync(path.join(images, 'inventory.img'));
  } catch (e) {
    const why = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (e as Error).message;
    throw new RuntimeError(`${images} holds no checkpoint: open ${path.join(images, 'inventory.img')}: ${why}`);
  }
  // Before CRIU is asked anything, as runc's create of the container comes first.
  if (fs.existsSync(ctx.store.dir(id))) throw new RuntimeError(`container with given ID already exists: ${id}`);
  const descriptors = readJson<string[]>(path.join(images, DESCRIPTORS_FILE)) ?? [];
  const externalStdio = readJson<{ fd: number; key: string }[]>(path.join(images, EXTERNAL_STDIO_FILE)) ?? [];
  const binary = criu.findCriu(o.criu);
  const version = await criu.criuVersion(binary);
  if (o.lazyPages) await criu.checkCriuFeatures(binary, { lazyPages: true });
  if (o.lsmProfile && version < 31600) throw new RuntimeError('--lsm-profile requires at least CRIU 3.16');
  if (o.lsmMountContext && version < 31600) throw new RuntimeError('--lsm-mount-context requires at least CRIU 3.16');
  const netDevices = Object.keys(spec.linux?.netDevices ?? {}).length
    ? (require('./net-devices') as typeof import('./net-devices'))
    : undefined;
  const netMoves = netDevices?.planNetDevices(spec) ?? [];

  const lock = ctx.store.claim(id);
  const rec = newRecord(ctx, spec, id, bundle, rootfs);
  let cgroup: CgroupManager | undefined;
  const criuRoot = path.join(ctx.store.dir(id), CRIU_ROOT);
  let rootBound = false;
  const fds: number[] = [];
  let consoleFd = -1;
  let ttyMaster: number | undefined;
  let relay: TtyRelay | undefined;
  let restored = false;
  const unbindRoot = () => {
    if (rootBound) {
      try {
        native().umount2(criuRoot, MNT_DETACH);
        rootBound = false;
      } catch (e) {
        ctx.log.warn(`unmount ${criuRoot}: ${(e as Error).message}`);
      }
    }
    if (rootBound) return;
    try {
      fs.rmdirSync(criuRoot);
    } catch {
      /* not made, or already gone */
    }
  };
  try {
    cgroup = cgroupManagerFor({ cgroupsPath: spec.linux?.cgroupsPath, id, systemd: ctx.systemdCgroup, rootless: ctx.rootless, annotations: spec.annotations });
    cgroup.create();
    const attachFirst = cgroup.attachFirst?.bind(cgroup);
    if (!attachFirst) cgroup.apply(spec.linux?.resources, { initial: true });
    rec.cgroup = cgroup.save();
    ctx.store.save(rec);

    // CRIU's root must be a mount point whose parent is not overmounted: a bind of the rootfs
    // in the state directory, as runc makes. It keeps the rootfs's propagation: CRIU copies it
    // from there to the restored root (the container's root is a slave of the host's mounts).
    fs.mkdirSync(criuRoot, { mode: 0o755 });
    native().mount(rootfs, criuRoot, '', MS_BIND | MS_REC, '');
    rootBound = true;
    if (o.consoleSocket) consoleFd = connectConsoleSocket(path.resolve(o.consoleSocket));

    const logDir = o.workPath ? path.resolve(o.workPath) : images;
    if (o.workPath) makeDir(logDir);
    const open = (p: string, flags: number) => {
      const fd = fs.openSync(p, flags);
      fds.push(fd);
      return fd;
    };
    const dirFlags = fs.constants.O_RDONLY | fs.constants.O_DIRECTORY;
    const opts: CriuOpts = {
      imagesDirFd: open(images, dirFlags),
      workDirFd: o.workPath ? open(logDir, dirFlags) : undefined,
      evasiveDevices: true,
      logLevel: 4,
      logFile: 'restore.log',
      rstSibling: true,
      root: criuRoot,
      manageCgroups: true,
      manageCgroupsMode: cgMode,
      notifyScripts: true,
      shellJob: !!o.shellJob,
      extUnixSk: !!o.extUnixSk,
      tcpEstablished: !!o.tcpEstablished,
      fileLocks: !!o.fileLocks,
      emptyNs,
      orphanPtsMaster: true,
      autoDedup: !!o.autoDedup,
      lazyPages: !!o.lazyPages,
      configFile: criuConfigFile(spec),
      lsmProfile: o.lsmProfile || undefined,
      lsmMountContext: o.lsmMountContext || undefined,
    };
    // Namespaces given by path: the network and pid ones are CRIU's externals (the fd of the
    // namespace, at CRIU's fd 4 on), the others joined.
    const extraFds: number[] = [];
    const inherit: InheritFd[] = [];
    const joinNs: JoinNamespace[] = [];
    for (const ns of namespaces) {
      if (!ns.path) continue;
      if (ns.type === 'network' || ns.type === 'pid') {
        let fd: number;
        try {
          fd = open(ns.path, fs.constants.O_RDONLY);
        } catch {
          throw new RuntimeError(`Requested ${ns.type} namespace ${ns.path} does not exist`);
        }
        inherit.push({ key: ns.type === 'network' ? 'extRootNetNS' : 'extRootPidNS', fd: 4 + extraFds.length });
        extraFds.push(fd);
      } else {
        joinNs.push({ ns: NS_NAMES[ns.type] ?? ns.type, nsFile: ns.path });
      }
    }
    // The config's external mounts, from their sources again; masked files from the host's null device.
    opts.extMnt = externalMounts(spec, rootfs, bundle, cgroup.mountSources(), cgroup.mode === 'v2').map((m) => ({ key: m.dest, val: m.source }));
    if ((spec.linux?.maskedPaths ?? []).length) opts.extMnt.push({ key: '/dev/null', val: '/dev/null' });
    // Our fds 0-2 in place of the pipes (runc) and outside files (tsrun) init had there.
    descriptors.forEach((d, fd) => {
      if (fd < 3 && d.includes('pipe:')) inherit.push({ key: d, fd });
    });
    for (const e of externalStdio) if (e.fd >= 0 && e.fd < 3) inherit.push({ key: e.key, fd: e.fd });
    opts.inheritFd = inherit;
    opts.joinNs = joinNs;
    const newNet = namespaces.some((n) => n.type === 'network' && !n.path);

    const resp = await criu.swrk(binary, { type: ReqType.RESTORE, opts }, {
      stdio: [0, 1, 2],
      extraFds,
      log: path.join(logDir, 'restore.log'),
      // CRIU enters the container's cgroup before it forks anything: the restored tree is born
      // there, under the config's limits; cg_root tells CRIU where that is.
      beforeRequest: (criuPid) => {
        if (attachFirst) {
          attachFirst(criuPid, spec.linux?.resources);
          cgroup!.apply(spec.linux?.resources, { initial: true });
        } else {
          cgroup!.join(criuPid);
        }
        opts.cgRoot = fs.readFileSync(`/proc/${criuPid}/cgroup`, 'utf8').split('\n').filter(Boolean).map((l) => {
          const [, ctrl, p] = /^\d+:([^:]*):(.*)$/.exec(l) ?? [];
          return { ctrl: ctrl ?? '', path: p ?? '/' };
        });
      },
      onNotify: (script, pid, fd) => {
        switch (script) {
          case 'setup-namespaces': {
            if (newNet) loopbackUp(pid, (m) => ctx.log.warn(m));
            if (netDevices && netMoves.length) netDevices.moveNetDevices(netMoves, pid);
            const state = specState({ ...rec, pid }, 'creating');
            runHooks('prestart', spec.hooks?.prestart, state);
            runHooks('createRuntime', spec.hooks?.createRuntime, state);
            return;
          }
          case 'post-restore':
            rec.pid = pid;
            rec.pidStartTime = readProcStat(pid)?.startTime ?? '';
            // CRIU restores the tree into a time namespace of its own (3.14 and later), which
            // `exec` must then join too.
            try {
              if (fs.readlinkSync(`/proc/${pid}/ns/time`) !== fs.readlinkSync('/proc/self/ns/time') && !namespaces.some((n) => n.type === 'time')) {
                rec.config = { ...spec, linux: { ...spec.linux, namespaces: [...namespaces, { type: 'time' }] } };
              }
            } catch {
              /* no time namespaces on this kernel */
            }
            ctx.store.save(rec);
            return;
          case 'orphan-pts-master':
            if (fd === undefined) return;
            if (consoleFd >= 0) {
              native().sendFd(consoleFd, fd, '/dev/ptmx');
              return;
            }
            ttyMaster = fd;
            return true;
          default:
            return;
        }
      },
    });
    if (resp.restore?.pid && !rec.pid) {
      rec.pid = resp.restore.pid;
      rec.pidStartTime = readProcStat(rec.pid)?.startTime ?? '';
      ctx.store.save(rec);
    }
    if (!rec.pid) throw new RuntimeError('criu restored no process');
    restored = true;
    if (o.pidFile) writeFileAtomic(path.resolve(o.pidFile), String(rec.pid));
  } catch (e) {
    // As a failed create: what CRIU restored (it kills its tree itself) and the cgroup go, then
    // the state; the rootfs is unbound first, so that nothing is ever removed through it.
    unbindRoot();
    if (ttyMaster !== undefined) fs.closeSync(ttyMaster);
    try {
      cgroup?.destroy();
    } catch (err) {
      ctx.log.warn(`remove cgroup of ${id}: ${(err as Error).message}`);
    }
    ctx.store.remove(id);
    throw e;
  } finally {
    unbindRoot();
    for (const fd of fds) fs.closeSync(fd);
    if (consoleFd >= 0) fs.closeSync(consoleFd);
    lock.release();
  }
  if (!restored) return 1;
  if (detach) return 0;
  // Foreground: init is our child (rst_sibling); wait for it as `run` does, then delete the container.
  if (ttyMaster !== undefined) relay = (require('../launch/tty-relay') as typeof import('../launch/tty-relay')).TtyRelay.start(ttyMaster);
  try {
    return await waitForeground(rec.pid, relay);
  } finally {
    const l = ctx.store.lock(id);
    try {
      destroyContainer(ctx, ctx.store.load(id), true);
    } finally {
      l.release();
    }
  }
}
