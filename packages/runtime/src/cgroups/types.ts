/**
 * Types shared by the cgroup drivers. The resource types are the runtime-spec's own
 * (`linux.resources`, from @tsrun/spec), re-exported for the drivers.
 */

export type CgroupMode = 'v1' | 'v2' | 'hybrid';

export type {
  LinuxBlockIO,
  LinuxCPU,
  LinuxDeviceCgroup,
  LinuxHugepageLimit,
  LinuxMemory,
  LinuxNetwork,
  LinuxPids,
  LinuxRdma,
  LinuxResources,
  LinuxThrottleDevice,
  LinuxWeightDevice,
} from '@tsrun/spec';
import type { LinuxDeviceCgroup, LinuxResources } from '@tsrun/spec';
import type { Json } from './stats';

export interface ApplyOptions {
  /**
   * Set at container creation. Device rules are then always programmed (deny all, the spec's
   * rules, runc's default allow-list), even when `resources.devices` is absent, as runc does.
   * Without it (e.g. `tsrun update`) the device cgroup is left alone unless `devices` is given,
   * so an update never briefly denies every device to a running container.
   */
  initial?: boolean;
  /** Extra allow rules (e.g. for the nodes in linux.devices), applied after the spec's rules. */
  extraDeviceRules?: LinuxDeviceCgroup[];
}

/** What a container's state must keep to find its cgroup again (see loadCgroupManager). */
export interface SavedCgroup {
  mode: CgroupMode;
  /** The cleaned cgroupsPath (or the default, the container id) the manager was built from. */
  path: string;
  /**
   * Absolute directory per hierarchy, keyed like runc's state.json `cgroup_paths`:
   * the hierarchy's controllers ('cpu,cpuacct', 'memory', 'name=systemd'), '' for cgroup2.
   * A relative cgroupsPath resolves against the caller's own cgroup, which may differ between
   * `create` and a later `delete` (podman's cleanup runs from conmon): keep the resolved dirs.
   */
  dirs?: Record<string, string>;
  rootless?: boolean;
  /** The systemd driver's unit (--systemd-cgroup). */
  systemd?: { unit: string; slice: string };
}

/** One bind mount for the container's /sys/fs/cgroup view on v1 (runc's layout). */
export interface CgroupMountSource {
  /** The name under /sys/fs/cgroup: the host mountpoint's base name ('cpu,cpuacct', 'systemd'); '' on v2 (mount the dir at /sys/fs/cgroup itself). */
  controller: string;
  hostPath: string;
  /** Names to create as symlinks to `controller` (e.g. cpu -> cpu,cpuacct), as runc does for comounts. */
  symlinks?: string[];
}

export interface CgroupManager {
  readonly mode: CgroupMode;
  /** The cleaned cgroupsPath (absolute, or relative as given), or the default `<id>`. */
  readonly path: string;
  /** Resolved absolute directory per hierarchy (see SavedCgroup.dirs). */
  readonly dirs: Readonly<Record<string, string>>;
  /** mkdir -p in every hierarchy (v1) / the unified tree (v2, enabling controllers in ancestors). */
  create(): void;
  /**
   * Set for drivers whose cgroup exists only with a process in it (systemd's scope units):
   * called with the new container's first process before it enters anything, instead of the
   * runtime's entering the directories itself; the initial limits go with it.
   */
  attachFirst?(pid: number, resources: LinuxResources | undefined): void;
  /** Write limits; throws a one-line CgroupError naming the file and value on failure. */
  apply(resources: LinuxResources | undefined, opts?: ApplyOptions): void;
  /** Write pid to cgroup.procs in every hierarchy. */
  join(pid: number): void;
  /**
   * The directories a new process enters: the cgroup2 one (v2, or hybrid's unified) and the
   * v1 hierarchies'. The addon's first child enters them itself (see cgroups/entry.ts).
   */
  entryDirs(): { v2?: string; v1: string[] };
  /** Every pid in the container's cgroup, sub-cgroups included. */
  pids(): number[];
  /** kill(2) every pid; used by `kill --all` and `delete`. */
  signalAll(signal: number): void;
  freeze(): void;
  thaw(): void;
  isFrozen(): boolean;
  /** SIGKILL what is left, wait (bounded) until empty, rmdir the container's dirs. Quiet if already gone. */
  destroy(): void;
  exists(): boolean;
  mountSources(): CgroupMountSource[];
  /** Usage in runc's `events --stats` shape (see stats.ts); encode with encodeGoJSON. */
  stats(): Record<string, Json>;
  /** The directory holding `controller`'s files, if this container has one (v2: the one dir). */
  controllerDir(controller: string): string | undefined;
  /** What to keep in the container's state to rebuild this manager. */
  save(): SavedCgroup;
}

/** Every cgroup failure: a one-line message; `code` is the errno name when a syscall failed. */
export class CgroupError extends Error {
  readonly code?: string;
  constructor(message: string, code?: string) {
    super(message);
    this.name = 'CgroupError';
    if (code !== undefined) this.code = code;
  }
}
