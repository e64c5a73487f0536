/**
 * TypeScript shapes of the OCI runtime-spec v1.3.0 documents: config.json (config.md,
 * config-linux.md), the container state (runtime.md) and the features document (features.md,
 * features-linux.md).
 *
 * Optionality follows the prose (and the upstream Go types, specs-go). A few fields the prose
 * calls REQUIRED are not enforced by the JSON schema, so a config that passes `validateConfig`
 * may still lack them; they are marked "not checked by the schema" below, and runtimes (runc
 * included) read a missing one as the zero value — do the same (`user.uid ?? 0`).
 * Integers are `number`: JSON.parse cannot give more, so uint64 values above 2^53 lose precision.
 */

/** The runtime-spec version this package implements (what `defaultSpec()` writes). */
export const OCI_VERSION = '1.3.0';

/** A string→string map (annotations, sysctl, cgroup v2 "unified"). */
export type StringMap = Record<string, string>;

// ---------------------------------------------------------------------------------------------
// config.json
// ---------------------------------------------------------------------------------------------

/** The whole config.json. */
export interface Spec {
  /** SemVer of the runtime-spec the bundle follows; we accept any 1.x.y (podman writes "1.0.2-dev"). */
  ociVersion: string;
  process?: Process;
  root?: Root;
  hostname?: string;
  domainname?: string;
  mounts?: Mount[];
  hooks?: Hooks;
  annotations?: StringMap;
  linux?: Linux;
  // Other platforms: in the schema (and validated) but tsrun only runs Linux containers, so they
  // are left untyped rather than half-typed.
  solaris?: Record<string, unknown>;
  windows?: Record<string, unknown>;
  vm?: Record<string, unknown>;
  zos?: Record<string, unknown>;
  freebsd?: Record<string, unknown>;
}

export interface Root {
  /** Path to the root filesystem, absolute or relative to the bundle. */
  path: string;
  readonly?: boolean;
}

export interface IDMapping {
  containerID: number;
  hostID: number;
  size: number;
}

export interface Mount {
  /** Path inside the container. */
  destination: string;
  source?: string;
  options?: string[];
  /** Filesystem type, e.g. "proc", "tmpfs", "bind" or "none". */
  type?: string;
  /** Id-mapped mount (Linux 5.12+): maps ids of the source filesystem for this mount. */
  uidMappings?: IDMapping[];
  gidMappings?: IDMapping[];
}

export interface Process {
  terminal?: boolean;
  consoleSize?: { height: number; width: number };
  /** Working directory for the executable; REQUIRED, absolute on Linux. */
  cwd: string;
  env?: string[];
  /** argv; OPTIONAL in the schema but a runtime needs at least args[0] to start a process. */
  args?: string[];
  /** Windows only: the full command line. */
  commandLine?: string;
  rlimits?: Rlimit[];
  apparmorProfile?: string;
  capabilities?: Capabilities;
  noNewPrivileges?: boolean;
  oomScoreAdj?: number;
  scheduler?: Scheduler;
  selinuxLabel?: string;
  ioPriority?: IOPriority;
  execCPUAffinity?: ExecCPUAffinity;
  user?: User;
}

export interface User {
  /** REQUIRED on POSIX; not checked by the schema, missing means 0. */
  uid: number;
  /** REQUIRED on POSIX; not checked by the schema, missing means 0. */
  gid: number;
  /** If unset the umask is inherited from the runtime (runc uses 0022). */
  umask?: number;
  additionalGids?: number[];
  /** Windows only. */
  username?: string;
}

/** Capability names like "CAP_KILL", per set. */
export interface Capabilities {
  bounding?: string[];
  effective?: string[];
  inheritable?: string[];
  permitted?: string[];
  ambient?: string[];
}

export interface Rlimit {
  /** "RLIMIT_NOFILE", ... (schema pattern ^RLIMIT_[A-Z]+$). */
  type: string;
  soft: number;
  hard: number;
}

export type SchedulerPolicy =
  | 'SCHED_OTHER'
  | 'SCHED_FIFO'
  | 'SCHED_RR'
  | 'SCHED_BATCH'
  | 'SCHED_ISO'
  | 'SCHED_IDLE'
  | 'SCHED_DEADLINE';

export type SchedulerFlag =
  | 'SCHED_FLAG_RESET_ON_FORK'
  | 'SCHED_FLAG_RECLAIM'
  | 'SCHED_FLAG_DL_OVERRUN'
  | 'SCHED_FLAG_KEEP_POLICY'
  | 'SCHED_FLAG_KEEP_PARAMS'
  | 'SCHED_FLAG_UTIL_CLAMP_MIN'
  | 'SCHED_FLAG_UTIL_CLAMP_MAX';

/** sched_setattr(2) parameters for the container process. */
export interface Scheduler {
  policy: SchedulerPolicy;
  nice?: number;
  priority?: number;
  flags?: SchedulerFlag[];
  /** SCHED_DEADLINE parameters, in nanoseconds. */
  runtime?: number;
  deadline?: number;
  period?: number;
}

/** ioprio_set(2) for the container's process group. */
export interface IOPriority {
  class: 'IOPRIO_CLASS_RT' | 'IOPRIO_CLASS_BE' | 'IOPRIO_CLASS_IDLE';
  /** 0 (highest) to 7 (lowest). Not checked by the schema, missing means 0. */
  priority: number;
}

/** CPU lists ("0-3,7") the runtime uses while (initial) and after (final) exec'ing the process. */
export interface ExecCPUAffinity {
  initial?: string;
  final?: string;
}

export interface Hook {
  path: string;
  args?: string[];
  env?: string[];
  /** Seconds before the hook is aborted (>= 1). */
  timeout?: number;
}

export interface Hooks {
  /** DEPRECATED in favour of createRuntime/createContainer/startContainer. */
  prestart?: Hook[];
  createRuntime?: Hook[];
  createContainer?: Hook[];
  startContainer?: Hook[];
  poststart?: Hook[];
  poststop?: Hook[];
}

// ---------------------------------------------------------------------------------------------
// config.json: linux
// ---------------------------------------------------------------------------------------------

export type NamespaceType = 'pid' | 'network' | 'mount' | 'ipc' | 'uts' | 'user' | 'cgroup' | 'time';

export interface LinuxNamespace {
  type: NamespaceType;
  /** Join this existing namespace (e.g. /proc/1234/ns/net) instead of creating one. */
  path?: string;
}

export interface LinuxTimeOffset {
  secs?: number;
  nanosecs?: number;
}

export interface LinuxDevice {
  /** c (char), b (block), u (unbuffered char) or p (FIFO). */
  type: 'c' | 'b' | 'u' | 'p';
  path: string;
  /** REQUIRED unless type is "p". */
  major?: number;
  minor?: number;
  /** Decimal, not octal (e.g. 438 for 0666). */
  fileMode?: number;
  uid?: number;
  gid?: number;
}

export interface LinuxNetDevice {
  /** Name inside the container; defaults to the host name. "eth%d" lets the kernel pick. */
  name?: string;
}

/** A device cgroup rule. */
export interface LinuxDeviceCgroup {
  allow: boolean;
  /** a (all), c or b. */
  type?: string;
  major?: number;
  minor?: number;
  /** Any combination of r, w, m. */
  access?: string;
}

export interface LinuxMemory {
  limit?: number;
  reservation?: number;
  swap?: number;
  /** NOT RECOMMENDED (cgroup v1 only, removed from newer kernels). */
  kernel?: number;
  kernelTCP?: number;
  swappiness?: number;
  disableOOMKiller?: boolean;
  useHierarchy?: boolean;
  checkBeforeUpdate?: boolean;
}

export interface LinuxCPU {
  shares?: number;
  quota?: number;
  burst?: number;
  period?: number;
  realtimeRuntime?: number;
  realtimePeriod?: number;
  cpus?: string;
  mems?: string;
  idle?: number;
}

export interface LinuxPids {
  /** -1 means no limit ("max"). */
  limit: number;
}

export interface LinuxBlockIODevice {
  major: number;
  minor: number;
}

export interface LinuxWeightDevice extends LinuxBlockIODevice {
  weight?: number;
  leafWeight?: number;
}

export interface LinuxThrottleDevice extends LinuxBlockIODevice {
  /** Not checked by the schema, missing means 0. */
  rate: number;
}

export interface LinuxBlockIO {
  weight?: number;
  leafWeight?: number;
  weightDevice?: LinuxWeightDevice[];
  throttleReadBpsDevice?: LinuxThrottleDevice[];
  throttleWriteBpsDevice?: LinuxThrottleDevice[];
  throttleReadIOPSDevice?: LinuxThrottleDevice[];
  throttleWriteIOPSDevice?: LinuxThrottleDevice[];
}

export interface LinuxHugepageLimit {
  /** "2MB", "1GB", ... */
  pageSize: string;
  limit: number;
}

export interface LinuxInterfacePriority {
  name: string;
  priority: number;
}

export interface LinuxNetwork {
  classID?: number;
  priorities?: LinuxInterfacePriority[];
}

export interface LinuxRdma {
  hcaHandles?: number;
  hcaObjects?: number;
}

export interface LinuxResources {
  devices?: LinuxDeviceCgroup[];
  memory?: LinuxMemory;
  cpu?: LinuxCPU;
  pids?: LinuxPids;
  blockIO?: LinuxBlockIO;
  hugepageLimits?: LinuxHugepageLimit[];
  network?: LinuxNetwork;
  /** Keyed by RDMA device name. */
  rdma?: Record<string, LinuxRdma>;
  /** cgroup v2 files to write verbatim, e.g. { "memory.high": "1G" }. */
  unified?: StringMap;
}

export type SeccompAction =
  | 'SCMP_ACT_KILL'
  | 'SCMP_ACT_KILL_PROCESS'
  | 'SCMP_ACT_KILL_THREAD'
  | 'SCMP_ACT_TRAP'
  | 'SCMP_ACT_ERRNO'
  | 'SCMP_ACT_TRACE'
  | 'SCMP_ACT_ALLOW'
  | 'SCMP_ACT_LOG'
  | 'SCMP_ACT_NOTIFY';

export type SeccompOperator =
  | 'SCMP_CMP_NE'
  | 'SCMP_CMP_LT'
  | 'SCMP_CMP_LE'
  | 'SCMP_CMP_EQ'
  | 'SCMP_CMP_GE'
  | 'SCMP_CMP_GT'
  | 'SCMP_CMP_MASKED_EQ';

export type SeccompFlag =
  | 'SECCOMP_FILTER_FLAG_TSYNC'
  | 'SECCOMP_FILTER_FLAG_LOG'
  | 'SECCOMP_FILTER_FLAG_SPEC_ALLOW'
  | 'SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV';

/** "SCMP_ARCH_X86_64", ... (the schema has the full list). */
export type SeccompArch = string;

export interface LinuxSeccompArg {
  index: number;
  value: number;
  valueTwo?: number;
  op: SeccompOperator;
}

export interface LinuxSyscall {
  names: string[];
  action: SeccompAction;
  errnoRet?: number;
  args?: LinuxSeccompArg[];
}

export interface LinuxSeccomp {
  defaultAction: SeccompAction;
  defaultErrnoRet?: number;
  architectures?: SeccompArch[];
  flags?: SeccompFlag[];
  /** UNIX socket that receives the seccomp notify fd (SCMP_ACT_NOTIFY). */
  listenerPath?: string;
  listenerMetadata?: string;
  syscalls?: LinuxSyscall[];
}

export interface LinuxIntelRdt {
  closID?: string;
  l3CacheSchema?: string;
  memBwSchema?: string;
  /** Lines for the resctrl "schemata" file. */
  schemata?: string[];
  enableMonitoring?: boolean;
}

export type MemoryPolicyMode =
  | 'MPOL_DEFAULT'
  | 'MPOL_BIND'
  | 'MPOL_INTERLEAVE'
  | 'MPOL_WEIGHTED_INTERLEAVE'
  | 'MPOL_PREFERRED'
  | 'MPOL_PREFERRED_MANY'
  | 'MPOL_LOCAL';

export type MemoryPolicyFlag = 'MPOL_F_NUMA_BALANCING' | 'MPOL_F_RELATIVE_NODES' | 'MPOL_F_STATIC_NODES';

/** set_mempolicy(2) for the container process. */
export interface LinuxMemoryPolicy {
  /** Not checked by the schema. */
  mode: MemoryPolicyMode;
  nodes?: string;
  flags?: MemoryPolicyFlag[];
}

export interface LinuxPersonality {
  /** Not checked by the schema. */
  domain: 'LINUX' | 'LINUX32';
  /** No flags are currently defined. */
  flags?: string[];
}

export type RootfsPropagation = 'private' | 'shared' | 'slave' | 'unbindable';

export interface Linux {
  namespaces?: LinuxNamespace[];
  uidMappings?: IDMapping[];
  gidMappings?: IDMapping[];
  /** Clock offsets for a new time namespace. */
  timeOffsets?: { boottime?: LinuxTimeOffset; monotonic?: LinuxTimeOffset };
  devices?: LinuxDevice[];
  /** Host network devices to move into the container, keyed by host interface name. */
  netDevices?: Record<string, LinuxNetDevice>;
  cgroupsPath?: string;
  resources?: LinuxResources;
  /** Written to /proc/sys, e.g. { "net.ipv4.ip_forward": "1" }. */
  sysctl?: StringMap;
  seccomp?: LinuxSeccomp;
  rootfsPropagation?: RootfsPropagation;
  maskedPaths?: string[];
  readonlyPaths?: string[];
  mountLabel?: string;
  intelRdt?: LinuxIntelRdt;
  memoryPolicy?: LinuxMemoryPolicy;
  personality?: LinuxPersonality;
}

// ---------------------------------------------------------------------------------------------
// State (runtime.md "State": what `tsrun state` prints and hooks receive on stdin)
// ---------------------------------------------------------------------------------------------

/** The spec's four statuses plus "paused", which runc (and so tools expecting runc) emits. */
export type ContainerStatus = 'creating' | 'created' | 'running' | 'stopped' | 'paused';

export interface State {
  ociVersion: string;
  id: string;
  status: ContainerStatus;
  /** REQUIRED on Linux when status is created or running. */
  pid?: number;
  /** Absolute path of the bundle directory. */
  bundle: string;
  annotations?: StringMap;
}

/** What the runtime sends over linux.seccomp.listenerPath (config-linux.md). */
export interface ContainerProcessState {
  ociVersion: string;
  /** Names of the fds passed with SCM_RIGHTS, e.g. ["seccompFd"]. */
  fds?: string[];
  pid: number;
  metadata?: string;
  state: State;
}

// ---------------------------------------------------------------------------------------------
// Features (features.md, features-linux.md: what `tsrun features` prints)
// ---------------------------------------------------------------------------------------------

export interface Features {
  ociVersionMin: string;
  ociVersionMax: string;
  /** Recognised hook names ("prestart", "createRuntime", ...). */
  hooks?: string[];
  /** Recognised mount options, including ones the host may not support. */
  mountOptions?: string[];
  annotations?: StringMap;
  /** config.json annotations that may change runtime behaviour; a trailing "." means a prefix. */
  potentiallyUnsafeConfigAnnotations?: string[];
  linux?: LinuxFeatures;
}

export interface LinuxFeatures {
  namespaces?: NamespaceType[];
  /** "CAP_SYS_ADMIN", ... */
  capabilities?: string[];
  cgroup?: { v1?: boolean; v2?: boolean; systemd?: boolean; systemdUser?: boolean; rdma?: boolean };
  seccomp?: {
    enabled?: boolean;
    actions?: SeccompAction[];
    operators?: SeccompOperator[];
    archs?: SeccompArch[];
    knownFlags?: SeccompFlag[];
    supportedFlags?: SeccompFlag[];
  };
  apparmor?: { enabled?: boolean };
  selinux?: { enabled?: boolean };
  /** In features-linux.md, not (yet) in features-linux.json. */
  memoryPolicy?: { modes?: MemoryPolicyMode[]; flags?: MemoryPolicyFlag[] };
  /** `schemata` and `monitoring` are in features-linux.md, not (yet) in the schema. */
  intelRdt?: { enabled?: boolean; schemata?: boolean; monitoring?: boolean };
  mountExtensions?: { idmap?: { enabled?: boolean } };
  netDevices?: { enabled?: boolean };
}
