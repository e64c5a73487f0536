/**
 * The launch plan handed to the addon (addon/plan.h, read by addon/plan_builder.cc).
 * TypeScript decides every detail; the C++ side only executes it in order.
 */
export const enum OpKind {
  Mount = 1,
  Bind = 2,
  Symlink = 3,
  Mknod = 4,
  Mkdir = 5,
}

/** One rootfs step before pivot_root. `target` is a path inside the rootfs. */
export interface MountOp {
  kind: OpKind;
  /** Mount source; the link text for symlinks; the host device for device binds. */
  source?: string;
  target: string;
  fstype?: string;
  data?: string;
  flags?: number;
  /** Flags for a second MS_REMOUNT|MS_BIND pass (bind mounts with ro, nosuid, ...). */
  remount?: number;
  propagation?: number[];
  fileTarget?: boolean;
  mode?: number;
  major?: number;
  minor?: number;
  uid?: number;
  gid?: number;
  bindDevice?: boolean;
  /** Give the new mount's root the mode of the directory it covers (runc does for tmpfs). */
  copyMode?: boolean;
  /** Copy what the new mount covers into it (tmpcopyup). */
  copyUp?: boolean;
  /** Bind: show the files' owners through these maps (an idmapped mount). */
  idmap?: IdmapPlan;
  /** The fd of the idmapped copy of `source`, made at launch (launch/idmap-trees.ts). */
  idmapTree?: number;
}

/** The idmapping of one mount: uid_map/gid_map texts ("inside outside count" lines). */
export interface IdmapPlan {
  uidMap: string;
  gidMap: string;
  /** ridmap: every mount of an rbind, not only its top. */
  recursive: boolean;
}

export interface NativeHook {
  path: string;
  args: string[];
  env: string[];
  timeout?: number;
}

export interface NativePlan {
  joins: { type: number; path: string }[];
  unshareFlags: number;
  newUser: boolean;
  timensOffsets?: string;
  /** The container's cgroups, entered by the first child itself: see cgroups/entry.ts. */
  cgroupDir?: number;
  cgroupProcs?: number;
  cgroupPath?: string;
  cgroupTasks?: { fd: number; path: string }[];
  cgroupOptional?: boolean;

  /** false for `exec`: the process joins a running container, nothing of the rootfs is set up. */
  setupRootfs?: boolean;
  /** Host path of the rootfs ('' for exec). */
  rootfs: string;
  /** No mount namespace: where the rootfs is bound (rslave) in the runtime's mount namespace; init
   *  chroots into it instead of pivot_root. Absent with a mount namespace of the container's own. */
  rootMount?: string;
  rootPropagation: number;
  privateParent?: string;
  /** Applied to "/" after pivot_root (linux.rootfsPropagation shared or unbindable); 0: nothing. */
  finalRootPropagation?: number;
  /** exec into a container without a mount namespace: chroot into this directory (its init's
   *  /proc/PID/root), opened by the first child before it joins anything. */
  chrootPath?: string;
  ops: MountOp[];
  noPivot: boolean;
  readonlyRoot: boolean;
  loopbackUp: boolean;
  /** Name of a new session keyring to join (runc: "_ses.<id>"); absent with --no-new-keyring. */
  sessionKeyring?: string;
  hostname?: string;
  domainname?: string;
  sysctls: { path: string; value: string }[];
  masked: string[];
  readonly: string[];
  fifoPath?: string;
  /** Init stops after its mounts for the runtime's prestart and createRuntime hooks: only when there are some. */
  pauseForRuntimeHooks: boolean;
  createContainerHooks: NativeHook[];
  startContainerHooks: NativeHook[];

  args: string[];
  env: string[];
  pathEnv?: string;
  cwd: string;
  uid: number;
  gid: number;
  groups: number[];
  setGroups: boolean;
  umask: number;
  rlimits: { type: number; soft: bigint; hard: bigint }[];
  caps?: { bounding: bigint; effective: bigint; permitted: bigint; inheritable: bigint; ambient: bigint };
  lastCap: number;
  noNewPrivs: boolean;
  /** LSM attribute writes just before execve (plan/lsm.ts): AppArmor profile, SELinux label. */
  execAttrs?: { path: string; value: string; what: string }[];
  seccomp?: Buffer;
  seccompFlags?: number;
  preserveFds: number;
  consoleSocket: number;
  /** process.consoleSize, applied to the pty (0 = leave). */
  consoleRows?: number;
  consoleCols?: number;
  setsid: boolean;
  /** linux.memoryPolicy: set_mempolicy(mode | flags, nodes) before the exec; absent: leave. */
  memoryPolicy?: { mode: number; nodes: number[] };
  /** exec: CPUs stage 1 starts on (before it enters the cgroup), and the process's right before its exec. */
  cpusInitial?: number[];
  cpusFinal?: number[];
  personality: number;
  /** ioprio_set(2) value; absent: leave. */
  ioprio?: number;
  /** sched_setattr(2) attributes; absent: leave. */
  sched?: { policy: number; flags: bigint; nice: number; priority: number; runtime: bigint; deadline: bigint; period: bigint };
}
