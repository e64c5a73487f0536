/**
 * The plan for `exec`: a process that joins a running container. The first child joins every
 * namespace the container has, through its init's /proc/PID/ns links (the user namespace
 * first, the mount namespace last), then forks the process, which gets the same security
 * setup as init: user and groups, capabilities, no_new_privs, rlimits, seccomp.
 * Nothing of the rootfs is touched. A container without a mount namespace has no mount
 * namespace to join for its root: the process chroots into its init's root instead.
 */
import * as fs from 'fs';
import type { Process, Spec } from '@tsrun/spec';
import { RuntimeError } from '../errors';
import { homeOf } from './build';
import { CLONE_NEWNS, CLONE_NEWUSER, NAMESPACE_FLAGS } from './constants';
import type { NativePlan } from './native-plan';
import { capSets, lastCap, pathOf, processEnv, rlimits } from './process';
import { seccompPlan } from '../seccomp';
import { schedulingPlan } from './scheduling';
import { cpuAffinityPlan, memoryPolicyPlan } from './numa-cpu';
import { planLsm, probeLsmHost } from './lsm';

/** The file under /proc/PID/ns/ of each config namespace type. */
const NS_FILE: Record<string, string> = {
  pid: 'pid',
  network: 'net',
  mount: 'mnt',
  ipc: 'ipc',
  uts: 'uts',
  user: 'user',
  cgroup: 'cgroup',
  time: 'time',
};

export interface ExecPlanOptions {
  /** Host pid of the container's init. */
  initPid: number;
  /** Host path of the container's rootfs (HOME lookup in its /etc/passwd). */
  rootfs: string;
  preserveFds?: number;
  consoleSocketFd?: number;
  warn?: (msg: string) => void;
  /** Where compiled seccomp filters are kept between calls (seccomp/cache.ts). */
  seccompCacheDir?: string;
}

/** /proc/<init>/ns/<x> for every namespace of the container, in the order setns needs. */
export function execJoins(config: Spec, initPid: number): { type: number; path: string }[] {
  const joins: { type: number; path: string }[] = [];
  for (const ns of config.linux?.namespaces ?? []) {
    const flag = NAMESPACE_FLAGS[ns.type];
    const file = NS_FILE[ns.type];
    if (flag === undefined || file === undefined) throw new RuntimeError(`namespace type ${JSON.stringify(ns.type)} is not supported`);
    joins.push({ type: flag, path: `/proc/${initPid}/ns/${file}` });
  }
  // The user namespace grants the rights to join the others; after the mount namespace the
  // host's /proc may no longer be reachable.
  const rank = (t: number) => (t === CLONE_NEWUSER ? 0 : t === CLONE_NEWNS ? 2 : 1);
  return joins.sort((a, b) => rank(a.type) - rank(b.type));
}

/** False when the container's user namespace denies setgroups(2) (then groups stay as they are). */
function setgroupsAllowed(initPid: number): boolean {
  try {
    return fs.readFileSync(`/proc/${initPid}/setgroups`, 'utf8').trim() !== 'deny';
  } catch {
    return true;
  }
}

export function buildExecPlan(config: Spec, proc: Process, opts: ExecPlanOptions): NativePlan {
  const uid = proc.user?.uid ?? 0;
  return {
    joins: execJoins(config, opts.initPid),
    unshareFlags: 0,
    newUser: false,

    setupRootfs: false,
    rootfs: '',
    // runc 1.1.5 leaves such a process at the host's own root, where the container's view of
    // the files and its cwd checks mean nothing.
    chrootPath: (config.linux?.namespaces ?? []).some((n) => n.type === 'mount') ? undefined : `/proc/${opts.initPid}/root`,
    rootPropagation: 0,
    ops: [],
    noPivot: false,
    readonlyRoot: false,
    loopbackUp: false,
    sysctls: [],
    masked: [],
    readonly: [],
    pauseForRuntimeHooks: false,
    createContainerHooks: [],
    startContainerHooks: [],

    args: proc.args ?? [],
    env: processEnv(proc.env, () => homeOf(opts.rootfs, uid)),
    pathEnv: pathOf(proc.env),
    cwd: proc.cwd,
    uid,
    gid: proc.user?.gid ?? 0,
    groups: proc.user?.additionalGids ?? [],
    setGroups: setgroupsAllowed(opts.initPid),
    umask: proc.user?.umask ?? -1,
    rlimits: rlimits(proc),
    caps: capSets(proc.capabilities, opts.warn ?? (() => undefined)),
    lastCap: lastCap(),
    noNewPrivs: !!proc.noNewPrivileges,
    // The process's own AppArmor profile / SELinux label, as runc gives an exec'd process.
    execAttrs: planLsm(proc, undefined, probeLsmHost).execAttrs,
    // The container's filter, as runc applies it to exec'd processes.
    ...seccompPlan(config, opts.seccompCacheDir),
    preserveFds: opts.preserveFds ?? 0,
    consoleSocket: opts.consoleSocketFd ?? -1,
    consoleRows: proc.consoleSize?.height ?? 0,
    consoleCols: proc.consoleSize?.width ?? 0,
    setsid: true,
    personality: -1,
    ...schedulingPlan(proc),
    ...memoryPolicyPlan(config),
    ...cpuAffinityPlan(proc),
  };
}
