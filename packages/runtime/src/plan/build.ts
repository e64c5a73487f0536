/**
 * A validated config.json → the launch plan the addon executes. Pure apart from a few stats
 * of host paths (bind sources, /proc/kcore), so it can be unit-tested without root.
 */
import * as fs from 'fs';
import * as path from 'path';
import type { Hook, Spec } from '@tsrun/spec';
import { RuntimeError } from '../errors';
import { PERSONALITY } from './constants';
import { CgroupView, planMounts } from './mounts';
import { checkNamespaceRules, NamespacePlan, planNamespaces, timeOffsets } from './namespaces';
import type { NativeHook, NativePlan } from './native-plan';
import { capSets, lastCap, pathOf, processEnv, rlimits } from './process';
import { OpKind } from './native-plan';
import { rootPropagation } from './mount-options';
import { refuseUnsupported } from './unsupported';
import { schedulingPlan } from './scheduling';
import { memoryPolicyPlan } from './numa-cpu';

export interface PlanOptions {
  bundle: string;
  rootfs: string;
  fifoPath?: string;
  noPivot?: boolean;
  /**
   * A config without a mount namespace: an empty directory of the runtime's own (in the
   * container's state directory) where init binds the rootfs in the runtime's mount namespace
   * and chroots into it. Everything the container mounts lands under that bind, so that one
   * lazy unmount of it at delete takes all of it away (container/store.ts).
   */
  rootMount?: string;
  /** The container id, for the session keyring's name; no new keyring when absent. */
  keyringName?: string;
  preserveFds?: number;
  consoleSocketFd?: number;
  /** Non-fatal problems (e.g. unknown capabilities), as runc's warnings. */
  warn?: (msg: string) => void;
  cgroups?: CgroupView;
  /** Where compiled seccomp filters are kept between calls (seccomp/cache.ts). */
  seccompCacheDir?: string;
}

export interface BuiltPlan {
  plan: NativePlan;
  namespaces: NamespacePlan;
}

export function buildPlan(spec: Spec, opts: PlanOptions): BuiltPlan {
  const proc = spec.process;
  if (!proc) throw new RuntimeError('process property must not be empty');
  if (!proc.args || proc.args.length === 0) throw new RuntimeError('args must not be empty');
  if (!proc.cwd || !path.isAbsolute(proc.cwd)) {
    throw new RuntimeError(`cwd ${JSON.stringify(proc.cwd ?? '')} is not an absolute path`);
  }
  refuseUnsupported(spec);
  const ns = planNamespaces(spec);
  checkNamespaceRules(spec, ns);
  const inUserNs = ns.types.has('user');
  const linux = spec.linux ?? {};
  // No mount namespace: nothing may touch the propagation of the host's mounts (checkNamespaceRules
  // refuses rootfsPropagation then), and there is no pivot_root, only a chroot.
  const ownMounts = ns.types.has('mount');
  if (!ownMounts && !opts.rootMount) throw new RuntimeError('a container without a mount namespace needs a directory for its root');
  const propagation = ownMounts ? rootPropagation(linux.rootfsPropagation) : { before: 0, privateParent: false, after: 0 };

  const plan: NativePlan = {
    joins: ns.joins,
    unshareFlags: ns.unshareFlags,
    newUser: ns.newUser,
    timensOffsets: timeOffsets(spec),

    rootfs: opts.rootfs,
    rootMount: ownMounts ? undefined : opts.rootMount,
    rootPropagation: propagation.before,
    privateParent: propagation.privateParent ? mountPointOf(opts.rootfs) : undefined,
    finalRootPropagation: propagation.after,
    ops: [
      ...planMounts(spec, {
        bundle: opts.bundle,
        inUserNs,
        newCgroupNs: ns.created.has('cgroup'),
        cgroups: opts.cgroups,
        userMaps: ns.newUser ? { uid: linux.uidMappings ?? [], gid: linux.gidMappings ?? [] } : undefined,
      }),
      // runc creates a missing cwd (as the container's root, before the rootfs turns read-only).
      { kind: OpKind.Mkdir, target: proc.cwd, mode: 0o755 },
    ],
    // Without a mount namespace --no-pivot changes nothing: init chroots either way (runc would
    // move the rootfs over the host's / and unmount the host's /proc and /sys first).
    noPivot: ownMounts && !!opts.noPivot,
    readonlyRoot: !!spec.root?.readonly,
    loopbackUp: ns.created.has('network'),
    sessionKeyring: opts.keyringName,
    hostname: spec.hostname,
    domainname: spec.domainname,
    sysctls: Object.entries(linux.sysctl ?? {}).map(([k, v]) => ({
      path: '/proc/sys/' + k.replace(/\./g, '/'),
      value: v,
    })),
    masked: linux.maskedPaths ?? [],
    readonly: linux.readonlyPaths ?? [],
    fifoPath: opts.fifoPath,
    pauseForRuntimeHooks: !!(spec.hooks?.prestart?.length || spec.hooks?.createRuntime?.length),
    createContainerHooks: nativeHooks(spec.hooks?.createContainer),
    startContainerHooks: nativeHooks(spec.hooks?.startContainer),

    args: proc.args,
    env: processEnv(proc.env, () => homeOf(opts.rootfs, proc.user?.uid ?? 0)),
    pathEnv: pathOf(proc.env),
    cwd: proc.cwd,
    uid: proc.user?.uid ?? 0,
    gid: proc.user?.gid ?? 0,
    groups: proc.user?.additionalGids ?? [],
    setGroups: true,
    umask: proc.user?.umask ?? -1,
    rlimits: rlimits(proc),
    caps: capSets(proc.capabilities, opts.warn ?? (() => undefined)),
    lastCap: lastCap(),
    noNewPrivs: !!proc.noNewPrivileges,
    // The compiler and its syscall tables load only for a config with a profile.
    ...(spec.linux?.seccomp ? (require('../seccomp') as typeof import('../seccomp')).seccompPlan(spec, opts.seccompCacheDir) : {}),
    preserveFds: opts.preserveFds ?? 0,
    consoleSocket: opts.consoleSocketFd ?? -1,
    consoleRows: proc.consoleSize?.height ?? 0,
    consoleCols: proc.consoleSize?.width ?? 0,
    setsid: true,
    personality: personality(spec),
    ...schedulingPlan(proc),
    ...memoryPolicyPlan(spec),
  };
  return { plan, namespaces: ns };
}

/**
 * HOME for a process without one: its uid's home in the image's /etc/passwd, else "/" (runc).
 * The file is read only when it resolves inside the rootfs (the image may be hostile).
 */
export function homeOf(rootfs: string, uid: number): string {
  try {
    const file = fs.realpathSync(path.join(rootfs, 'etc/passwd'));
    const root = fs.realpathSync(rootfs);
    if (!file.startsWith(root + '/')) return '/';
    for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
      const f = line.split(':');
      if (f.length >= 6 && f[2] === String(uid)) return f[5] || '/';
    }
  } catch {
    /* no passwd in the image */
  }
  return '/';
}

/** The mount point of the mount that holds `p` (longest mount point that is a prefix of it). */
function mountPointOf(p: string): string {
  const real = fs.realpathSync(p);
  let best = '/';
  for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const mp = line.split(' ')[4]?.replace(/\\040/g, ' ');
    if (mp && (real === mp || real.startsWith(mp.endsWith('/') ? mp : mp + '/')) && mp.length > best.length) best = mp;
  }
  return best;
}

function nativeHooks(hooks: Hook[] | undefined): NativeHook[] {
  return (hooks ?? []).map((h) => ({
    path: h.path,
    args: h.args && h.args.length ? h.args : [h.path],
    // An absent env means the runtime's own, as Go's exec does for runc.
    env: h.env ?? Object.entries(process.env).map(([k, v]) => `${k}=${v}`),
    timeout: h.timeout,
  }));
}

function personality(spec: Spec): number {
  const p = spec.linux?.personality;
  if (!p) return -1;
  const domain = PERSONALITY[p.domain];
  if (domain === undefined) throw new RuntimeError(`personality domain ${JSON.stringify(p.domain)} is not supported`);
  return domain;
}
