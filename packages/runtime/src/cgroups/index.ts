/**
 * cgroups: one CgroupManager interface, a v1 driver (also for hybrid hosts) and a v2 driver.
 *
 *   const cg = cgroupManagerFor({ cgroupsPath: spec.linux?.cgroupsPath, id, systemd, rootless });
 *   cg.create(); cg.apply(spec.linux?.resources, { initial: true });
 *   openCgroupEntry(cg, rootless)  // the fds a new process enters through (entry.ts); or cg.join(pid)
 *   state.cgroup = cg.save();            // later: loadCgroupManager(state.cgroup).destroy()
 *
 * The mode and mounts come from /proc/self/mountinfo; nothing is assumed about /sys/fs/cgroup.
 */
import { posix } from 'path';
import { hostCgroups, HostCgroups, systemdRunning } from './host';
import { parseCgroupsPath, resolveDirs, systemdCgroupPath } from './paths';
import { CgroupError, CgroupManager, SavedCgroup } from './types';
import { V1Manager } from './v1';
import { V2Manager } from './v2';
import type { SystemdUnit } from './systemd/manager';

/** The systemd driver (D-Bus, a worker thread) loads only for a container that uses it. */
function systemdDriver(): typeof import('./systemd/manager') {
  return require('./systemd/manager') as typeof import('./systemd/manager');
}

export * from './types';
export { detectMode, systemdRunning } from './host';
export { DEFAULT_ALLOWED_DEVICES, deviceRulesForNodes, effectiveDeviceRules, v2DeviceRulesUnsupported } from './devices';
export { cleanPath, parseCgroupsPath, expandSlice, systemdCgroupPath } from './paths';
export { sharesToWeight, blkioWeightToIoWeight, swapToV2 } from './convert';
export type { Json } from './stats';

export interface CgroupManagerOptions {
  cgroupsPath?: string;
  id: string;
  /** --systemd-cgroup */
  systemd?: boolean;
  rootless?: boolean;
  /** For tests: the host layout instead of this process's /proc/self view. */
  host?: HostCgroups;
  /** The config's annotations: the systemd driver reads org.systemd.property.* from them. */
  annotations?: Record<string, string>;
}

/** The unit and slice of a systemd cgroupsPath (runc's naming; a user's manager defaults to user.slice). */
function systemdUnit(p: { slice: string; prefix: string; name: string }, rootless: boolean): SystemdUnit {
  const unit = p.name.endsWith('.slice') ? p.name : `${p.prefix ? p.prefix + '-' : ''}${p.name}.scope`;
  systemdDriver().checkUnitName(unit);
  return { unit, slice: p.slice || (rootless ? 'user.slice' : 'system.slice') };
}

function build(host: HostCgroups, mode: SavedCgroup['mode'], inner: string, dirs: Record<string, string>, rootless: boolean, v2Skipped = false): CgroupManager {
  if (mode === 'v2') {
    if (!host.layout.unified) throw new CgroupError('cgroup: no cgroup2 filesystem is mounted');
    return new V2Manager(inner, dirs[''], host.layout.unified.mountpoint, rootless, v2Skipped);
  }
  return new V1Manager(mode, inner, dirs, host.layout, rootless);
}

/** The manager for a new container, from its config and the global --systemd-cgroup/rootless flags. */
export function cgroupManagerFor(opts: CgroupManagerOptions): CgroupManager {
  const parsed = parseCgroupsPath(opts.cgroupsPath, opts.id, opts.systemd ?? false);
  if (parsed.kind === 'systemd') {
    if (!systemdRunning()) {
      throw new CgroupError('cgroup: systemd cgroup driver requested but systemd is not running (/run/systemd/system does not exist)');
    }
    const rootless = opts.rootless ?? false;
    const u = systemdUnit(parsed.unit, rootless);
    const host = opts.host ?? hostCgroups();
    if (!rootless) {
      const inner = systemdCgroupPath(parsed.unit, false);
      const fsm = build(host, host.mode, inner, resolveDirs(host.mode, host.layout, inner, host.own), false);
      return new (systemdDriver().SystemdManager)(u, fsm, { id: opts.id, annotations: opts.annotations, rootless: false, owned: false });
    }
    // Rootless, as runc: the user's own manager (systemd --user, over the user bus) starts the
    // scope in its delegated tree; only cgroup v2 lets an unprivileged user own that tree.
    if (host.mode !== 'v2') throw new CgroupError('cgroup: the systemd cgroup driver for rootless containers needs cgroup v2 (this host has cgroup v1 hierarchies)');
    const driver = systemdDriver();
    const bus = new driver.SystemdBus(true);
    try {
      const inner = posix.join(bus.managerCgroup(), systemdCgroupPath(parsed.unit, true));
      const fsm = build(host, 'v2', inner, resolveDirs('v2', host.layout, inner, host.own), true);
      return new driver.SystemdManager(u, fsm, { id: opts.id, annotations: opts.annotations, rootless: true, owned: false, bus });
    } catch (e) {
      bus.close();
      throw e;
    }
  }
  const host = opts.host ?? hostCgroups();
  const dirs = resolveDirs(host.mode, host.layout, parsed.inner, host.own);
  return build(host, host.mode, parsed.inner, dirs, opts.rootless ?? false);
}

/**
 * The manager of an existing container, from what save() returned at create time. Uses the saved
 * dirs when present (a relative path depends on the caller's cgroup, which may have changed).
 */
export function loadCgroupManager(saved: SavedCgroup, host: HostCgroups = hostCgroups()): CgroupManager {
  if (saved.systemd) {
    const { systemd, ...files } = saved;
    return new (systemdDriver().SystemdManager)(systemd, loadCgroupManager(files, host), { id: '', rootless: saved.rootless ?? false, owned: true });
  }
  const rootless = saved.rootless ?? false;
  if (saved.dirs) {
    if (saved.mode === 'v2') {
      const present = saved.dirs[''] !== undefined;
      const dir = present ? saved.dirs[''] : resolveDirs('v2', host.layout, saved.path, host.own)[''];
      return build(host, 'v2', saved.path, { '': dir }, rootless, !present);
    }
    return build(host, saved.mode, saved.path, saved.dirs, rootless);
  }
  return build(host, saved.mode, saved.path, resolveDirs(saved.mode, host.layout, saved.path, host.own), rootless);
}
