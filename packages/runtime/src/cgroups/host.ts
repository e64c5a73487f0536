/**
 * What this host (as seen by this process) looks like: read once per process from
 * /proc/self/mountinfo and /proc/self/cgroup, never hard-coded, because pure v2, hybrid and v1
 * hosts mount things in different places and containers may see a sub-tree.
 */
import * as fs from 'fs';
import { CgroupMode } from './types';
import { CgroupLayout, cgroupLayout, modeOf, parseMountinfo, parseProcCgroup } from './mountinfo';

export interface HostCgroups {
  mode: CgroupMode;
  layout: CgroupLayout;
  /** This process's cgroups, from /proc/self/cgroup. */
  own: Map<string, string>;
}

let cached: HostCgroups | undefined;

export function hostCgroups(): HostCgroups {
  if (!cached) {
    const layout = cgroupLayout(parseMountinfo(fs.readFileSync('/proc/self/mountinfo', 'utf8')));
    cached = { mode: modeOf(layout), layout, own: parseProcCgroup(fs.readFileSync('/proc/self/cgroup', 'utf8')) };
  }
  return cached;
}

export function detectMode(): CgroupMode {
  return hostCgroups().mode;
}

/** sd_booted(3): systemd is the init system iff /run/systemd/system is a directory. */
export function systemdRunning(): boolean {
  try {
    return fs.lstatSync('/run/systemd/system').isDirectory();
  } catch {
    return false;
  }
}
