/**
 * `create`: build the container from its bundle and leave init waiting for `start`.
 * On any failure everything made so far (processes, cgroup, state dir) is removed again.
 */
import * as fs from 'fs';
import * as path from 'path';
import { readConfigFile, SpecError, type Spec } from '@tsrun/spec';
import { CgroupManager, cgroupManagerFor } from '../cgroups';
import { CgroupEntry, noCgroupEntry, openCgroupEntry } from '../cgroups/entry';
import { RuntimeError } from '../errors';
import { Launch } from '../launch/launcher';
import { connectConsoleSocket } from '../launch/console-socket';
import { IdmappedTrees, withIdmappedTrees } from '../launch/idmap-trees';
import { PidfdSocket } from '../launch/pidfd-socket';
import { processState, sendToAgent } from '../launch/seccomp-agent';
import { cacheDir } from './cache-dir';
import { native } from '../native';
import { buildPlan } from '../plan/build';
import { applyLsm, planContainerLsm } from '../plan/lsm';
import { rfc3339Nano } from '../time';
import type { Context } from './context';
import { runHooks } from './hooks';
import type { ContainerRecord } from './record';
import { specState } from './state-json';
import { checkUserNamespace, setgroupsAllowed, writeIdMaps } from './rootless';
import { readProcStat } from './status';
import { validateId, writeFileAtomic } from './store';

export interface CreateOptions {
  id: string;
  bundle?: string;
  pidFile?: string;
  consoleSocket?: string;
  noPivot?: boolean;
  noNewKeyring?: boolean;
  preserveFds?: number;
  /** false for a foreground `run`: tsrun then relays a terminal itself (no console socket). */
  detach?: boolean;
  /** fds passed by systemd socket activation (part of preserveFds): the process is told with LISTEN_FDS. */
  listenFds?: number;
  /** --pidfd-socket: where a pidfd of init goes. */
  pidfdSocket?: string;
}

/** What createContainer hands back besides the record. */
export interface CreateExtras {
  /** Foreground terminal: the pty master, for tsrun to relay. */
  ttyMaster?: number;
}

export function loadSpec(bundle: string): Spec {
  try {
    return readConfigFile(path.join(bundle, 'config.json'));
  } catch (e) {
    if (e instanceof SpecError) throw new RuntimeError(e.message);
    throw e;
  }
}

/** runc's checkTerminal: a console socket exactly when a detached process has a terminal. */
export function checkTerminal(spec: Spec, o: Pick<CreateOptions, 'detach' | 'consoleSocket'>): void {
  const terminal = !!spec.process?.terminal;
  const detach = o.detach !== false;
  if (detach && terminal && !o.consoleSocket) {
    throw new RuntimeError('cannot allocate tty if tsrun will detach without setting console socket');
  }
  if ((!detach || !terminal) && o.consoleSocket) {
    throw new RuntimeError('cannot use console socket if tsrun will not detach or allocate tty');
  }
}

export function createContainer(ctx: Context, o: CreateOptions, extras: CreateExtras = {}): ContainerRecord {
  const id = validateId(o.id);
  const bundle = path.resolve(o.bundle || '.');
  const spec = loadSpec(bundle);
  const rootfs = path.resolve(bundle, spec.root?.path ?? 'rootfs');
  if (!fs.statSync(rootfs, { throwIfNoEntry: false })?.isDirectory()) {
    throw new RuntimeError(`rootfs (${rootfs}) does not exist`);
  }
  // As runc: the rootfs path must be the real one, not reached through a symlink.
  if (fs.realpathSync(rootfs) !== rootfs) throw new RuntimeError(`invalid rootfs: ${rootfs} is not an absolute path, or a symlink`);
  checkTerminal(spec, o);
  checkUserNamespace(spec, (spec.linux?.namespaces ?? []).some((n) => n.type === 'user' && !n.path));
  // An AppArmor profile or SELinux label the host cannot apply is refused before anything is made.
  const lsm = planContainerLsm(spec);

  // Checked and read before anything is made; moved once init's network namespace exists.
  // (Loaded only for such a config: it runs `ip`, and child_process stays off the create path.)
  const nd = Object.keys(spec.linux?.netDevices ?? {}).length
    ? (require('./net-devices') as typeof import('./net-devices'))
    : undefined;
  const netDevices = nd?.planNetDevices(spec) ?? [];
  // Connected first: a socket nobody listens on fails before anything is made.
  const pidfdSocket = o.pidfdSocket ? PidfdSocket.connect(path.resolve(o.pidfdSocket)) : undefined;
  let lock: ReturnType<typeof ctx.store.claim>;
  try {
    lock = ctx.store.claim(id);
  } catch (e) {
    pidfdSocket?.close();
    throw e;
  }
  const rec = newRecord(ctx, spec, id, bundle, rootfs);
  let cgroup: CgroupManager | undefined;
  let launch: Launch | undefined;
  let entry: CgroupEntry | undefined;
  let idmaps: IdmappedTrees | undefined;
  let consoleFd = -1;
  let relayFd = -1; // foreground terminal: our end of the socket the pty master comes through
  try {
    cgroup = cgroupManagerFor({
      cgroupsPath: spec.linux?.cgroupsPath,
      id,
      systemd: ctx.systemdCgroup,
      rootless: ctx.rootless,
      annotations: spec.annotations,
    });
    cgroup.create();
    // initial: start from runc's default device allow-list. Like runc, the nodes of
    // linux.devices are made but not allowed: only linux.resources.devices allows more.
    // A systemd scope exists only once stage 1 is in it: its limits go in then (beforeGo).
    const attachFirst = cgroup.attachFirst?.bind(cgroup);
    if (!attachFirst) cgroup.apply(spec.linux?.resources, { initial: true });
    rec.cgroup = cgroup.save();
    const fifoPath = ctx.store.fifoPath(id);
    native().mkfifo(fifoPath, 0o622);
    // init opens it as the container's root: in a user namespace that is another host uid.
    const root = hostRoot(spec);
    if (root) fs.chownSync(fifoPath, root.uid, root.gid);
    if (o.consoleSocket) consoleFd = connectConsoleSocket(path.resolve(o.consoleSocket));
    else if (spec.process?.terminal) [relayFd, consoleFd] = native().socketPair();
    // Socket activation: only this process is told about the fds (runc), not later `exec`s.
    const listen = o.listenFds && spec.process
      ? { ...spec, process: { ...spec.process, env: [...(spec.process.env ?? []), `LISTEN_FDS=${o.listenFds}`, 'LISTEN_PID=1'] } }
      : spec;

    // No mount namespace: init binds the rootfs here, in our mount namespace (store.remove
    // unmounts it with everything the container mounted, on delete or a failed create).
    let rootMount: string | undefined;
    if (!(spec.linux?.namespaces ?? []).some((n) => n.type === 'mount')) {
      rootMount = ctx.store.rootMountPath(id);
      fs.mkdirSync(rootMount, { mode: 0o755 });
    }

    const { plan } = buildPlan(listen, {
      bundle,
      rootfs,
      rootMount,
      fifoPath,
      noPivot: o.noPivot,
      keyringName: o.noNewKeyring ? undefined : `_ses.${id}`,
      preserveFds: o.preserveFds,
      consoleSocketFd: consoleFd,
      cgroups: cgroupView(cgroup),
      seccompCacheDir: cacheDir('seccomp', ctx.rootless),
      warn: (m) => ctx.log.warn(m),
    });
    // Stage 1 enters the cgroups by itself (cgroups/entry.ts), unless systemd puts it there.
    entry = attachFirst ? noCgroupEntry() : openCgroupEntry(cgroup, ctx.rootless);
    const placed = cgroup;
    // A rootless caller leaves the groups alone, as runc does (setgroups may be denied).
    idmaps = withIdmappedTrees(plan);
    launch = Launch.run({ ...applyLsm(idmaps.plan, lsm), ...entry.plan, setGroups: plan.setGroups && setgroupsAllowed() }, {
      beforeGo: attachFirst
        ? (pid) => {
            attachFirst(pid, spec.linux?.resources);
            placed.apply(spec.linux?.resources, { initial: true });
          }
        : undefined,
      // The "creating" state, cgroup included, is written while the child sets itself up, and
      // the state with init's pid while init mounts the rootfs.
      whileChildWorks: () => ctx.store.save(rec),
      whileInitWorks: (pid) => {
        rec.pidStartTime = readProcStat(pid)?.startTime ?? '';
        ctx.store.save(rec);
      },
      mapUser: (pid) => writeIdMaps(pid, spec.linux?.uidMappings ?? [], spec.linux?.gidMappings ?? []),
      initBorn: (pid) => {
        rec.pid = pid;
        if (nd && netDevices.length) nd.moveNetDevices(netDevices, pid);
        const adj = spec.process?.oomScoreAdj;
        if (adj !== undefined) writeOomScoreAdj(pid, adj);
      },
      creatingState: (pid) => JSON.stringify(specState({ ...rec, pid }, 'creating')),
      runtimeHooks: (pid) => {
        const state = specState({ ...rec, pid }, 'creating');
        runHooks('prestart', spec.hooks?.prestart, state);
        runHooks('createRuntime', spec.hooks?.createRuntime, state);
      },
      // Init loaded a filter with SCMP_ACT_NOTIFY rules before reporting ready: its agent gets
      // the listener now, with the "creating" state, as runc sends it.
      seccompListener: (fd, pid) => {
        const seccomp = spec.linux!.seccomp!;
        sendToAgent(seccomp.listenerPath, fd, processState(seccomp, pid, specState({ ...rec, pid }, 'creating')));
      },
    });
    // Init sent the master before it reported ready: it waits in the socket.
    if (relayFd >= 0) extras.ttyMaster = native().recvFd(relayFd).fd;
    if (o.pidFile) writeFileAtomic(path.resolve(o.pidFile), String(rec.pid));
    launch.commit(JSON.stringify(specState(rec, 'created')));
    // Last: whoever gets it may signal init at once.
    pidfdSocket?.send(rec.pid);
    return rec;
  } catch (e) {
    launch?.abort();
    if (extras.ttyMaster !== undefined) {
      fs.closeSync(extras.ttyMaster);
      extras.ttyMaster = undefined;
    }
    try {
      cgroup?.destroy();
    } catch (err) {
      ctx.log.warn(`remove cgroup of ${id}: ${(err as Error).message}`);
    }
    ctx.store.remove(id);
    throw e;
  } finally {
    entry?.close();
    idmaps?.close();
    pidfdSocket?.close();
    if (consoleFd >= 0) fs.closeSync(consoleFd);
    if (relayFd >= 0) fs.closeSync(relayFd);
    lock.release();
  }
}

function cgroupView(cg: CgroupManager) {
  const sources = cg.mountSources();
  return { sources, unified: cg.save().mode === 'v2' };
}

function writeOomScoreAdj(pid: number, adj: number): void {
  try {
    fs.writeFileSync(`/proc/${pid}/oom_score_adj`, String(adj));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new RuntimeError(`write oom_score_adj ${adj}: ${code === 'EACCES' ? 'permission denied' : (e as Error).message}`);
  }
}

/** The host ids of the container's root when it has a new user namespace. */
function hostRoot(spec: Spec): { uid: number; gid: number } | undefined {
  const find = (maps: { containerID: number; hostID: number; size: number }[] | undefined) =>
    maps?.find((m) => m.containerID <= 0 && 0 < m.containerID + m.size);
  const u = find(spec.linux?.uidMappings);
  const g = find(spec.linux?.gidMappings);
  if (!u && !g) return undefined;
  return { uid: u ? u.hostID - u.containerID : 0, gid: g ? g.hostID - g.containerID : 0 };
}

/** The record of a container being made (by create or restore): no process, no cgroup yet. */
export function newRecord(ctx: Context, spec: Spec, id: string, bundle: string, rootfs: string): ContainerRecord {
  return {
    ociVersion: spec.ociVersion,
    id,
    pid: 0,
    pidStartTime: '',
    bundle,
    rootfs,
    created: rfc3339Nano(),
    owner: ownerName(),
    annotations: spec.annotations ?? {},
    creatorPid: process.pid,
    cgroup: null,
    config: spec,
    rootless: ctx.rootless,
  };
}

export function ownerName(): string {
  const uid = process.getuid?.() ?? 0;
  if (uid === 0) return 'root';
  try {
    const line = fs.readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.split(':')[2] === String(uid));
    if (line) return line.split(':')[0];
  } catch {
    /* no passwd */
  }
  return `#${uid}`;
}
