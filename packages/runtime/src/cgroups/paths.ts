/**
 * cgroupsPath semantics, copied from runc 1.1 and checked against runc 1.1.5 on this host
 * (by running containers and reading /proc/PID/cgroup):
 *
 * - empty cgroupsPath: the relative path `<id>` (runc's Name=id, Parent="").
 * - absolute path: used as is under each hierarchy's mountpoint.
 * - relative path, v1: joined to the caller's own cgroup in that hierarchy (from /proc/self/cgroup;
 *   so memory may land under /process_api/<x>/<id> while cpu is /<id>).
 * - relative path, hybrid's cgroup2 dir: joined to the cgroup2 mountpoint, NOT the caller's cgroup
 *   (runc's GetOwnCgroupPath("") returns the mountpoint itself; observed: caller in
 *   0::/cgcaller/inner, container in 0::/rel/ctr).
 * - relative path, pure v2: joined to the PARENT of the caller's cgroup (the caller's own cgroup
 *   has processes, so controllers could not be enabled below it).
 * - `slice:prefix:name` without --systemd-cgroup: runc takes it as a literal relative path (a
 *   directory named "system.slice:foo:bar"); we do the same.
 * - with --systemd-cgroup: the path must have three parts (checked first, runc's message), then
 *   systemd must be running (no systemd driver exists here; see cgroupManagerFor).
 */
import * as path from 'path';
import { CgroupError } from './types';
import { CgroupLayout, ownCgroupIn, V1Hierarchy } from './mountinfo';

const posix = path.posix;

/** runc's utils.CleanPath: normalise and never let a relative path climb out with "..". */
export function cleanPath(p: string): string {
  if (p === '') return '';
  let c = posix.normalize(p);
  if (!posix.isAbsolute(c)) c = posix.relative('/', posix.normalize('/' + c));
  c = posix.normalize(c === '' ? '.' : c);
  return c.length > 1 && c.endsWith('/') ? c.slice(0, -1) : c;
}

export interface SystemdPath {
  slice: string;
  prefix: string;
  name: string;
}

/** The cgroupfs-relevant result of a cgroupsPath: the inner path, or a systemd unit spec. */
export type ParsedCgroupsPath = { kind: 'fs'; inner: string } | { kind: 'systemd'; unit: SystemdPath };

export function parseCgroupsPath(cgroupsPath: string | undefined, id: string, systemd: boolean): ParsedCgroupsPath {
  const given = cgroupsPath ?? '';
  if (systemd) {
    // runc's default for the systemd driver: slice chosen by the driver, scope "runc-<id>.scope".
    if (given === '') return { kind: 'systemd', unit: { slice: '', prefix: 'runc', name: id } };
    const parts = given.split(':');
    if (parts.length !== 3) {
      throw new CgroupError(`cgroup: expected cgroupsPath to be of format "slice:prefix:name" for systemd cgroups, got "${given}" instead`);
    }
    return { kind: 'systemd', unit: { slice: parts[0], prefix: parts[1], name: parts[2] } };
  }
  const inner = given === '' ? cleanPath(id) : cleanPath(given);
  if (inner === '' || inner === '.') throw new CgroupError(`cgroup: invalid cgroupsPath "${given}" for container "${id}"`);
  // The root cgroup holds the whole host: kill --all and delete would signal every process on it.
  if (inner === '/') throw new CgroupError(`cgroup: cgroupsPath "${given}" is the root cgroup; a container needs a cgroup of its own`);
  return { kind: 'fs', inner };
}

/**
 * systemd's slice expansion ("a-b.slice" -> "/a.slice/a-b.slice"), kept for a future systemd
 * driver and for messages; "-.slice" is the root slice.
 */
export function expandSlice(slice: string): string {
  if (!slice.endsWith('.slice') || slice.includes('/')) throw new CgroupError(`cgroup: invalid systemd slice name "${slice}"`);
  const base = slice.slice(0, -'.slice'.length);
  if (base === '-') return '/';
  if (base === '' || base.startsWith('-') || base.endsWith('-') || base.includes('--')) {
    throw new CgroupError(`cgroup: invalid systemd slice name "${slice}"`);
  }
  let out = '';
  let prefix = '';
  for (const part of base.split('-')) {
    prefix = prefix ? `${prefix}-${part}` : part;
    out += `/${prefix}.slice`;
  }
  return out;
}

/** Where a systemd-managed container's cgroup would be: slice dir + "<prefix>-<name>.scope". */
export function systemdCgroupPath(unit: SystemdPath, rootless = false): string {
  const slice = unit.slice || (rootless ? 'user.slice' : 'system.slice');
  const leaf = unit.name.endsWith('.slice') ? unit.name : `${unit.prefix ? unit.prefix + '-' : ''}${unit.name}.scope`;
  return posix.join(expandSlice(slice), leaf);
}

// A cgroup path from /proc/self/cgroup is relative to the host's root; the mount may show only a
// subtree (root != "/", e.g. inside a container without a cgroup namespace).
function underMount(mountRoot: string, cgroup: string): string {
  if (mountRoot === '/' || mountRoot === '') return cgroup;
  const rel = posix.relative(mountRoot, cgroup);
  return rel.startsWith('..') ? cgroup : '/' + rel;
}

/** Directory of `inner` in one v1 hierarchy. */
export function v1Dir(h: V1Hierarchy, inner: string, own: Map<string, string>): string {
  if (posix.isAbsolute(inner)) return posix.join(h.mountpoint, inner);
  const mine = ownCgroupIn(own, h.controllers) ?? '/';
  return posix.join(h.mountpoint, underMount(h.root, mine), inner);
}

/** Directory of `inner` in hybrid's cgroup2 tree (runc: relative paths hang off the mountpoint). */
export function hybridUnifiedDir(mountpoint: string, inner: string): string {
  return posix.join(mountpoint, posix.isAbsolute(inner) ? inner : '/' + inner);
}

/** Directory of `inner` on a pure v2 host. */
export function v2Dir(mountpoint: string, mountRoot: string, inner: string, own: Map<string, string>): string {
  if (posix.isAbsolute(inner)) return posix.join(mountpoint, inner);
  const mine = ownCgroupIn(own, null) ?? '/';
  return posix.join(mountpoint, posix.dirname(underMount(mountRoot, mine)), inner);
}

/**
 * Every directory of the container, keyed like runc's cgroup_paths ('' = cgroup2). On v1 and
 * hybrid, each mounted v1 hierarchy gets one (named ones like name=systemd too); hybrid adds '';
 * v2 has only ''.
 */
export function resolveDirs(mode: 'v1' | 'v2' | 'hybrid', layout: CgroupLayout, inner: string, own: Map<string, string>): Record<string, string> {
  const dirs: Record<string, string> = {};
  if (mode === 'v2') {
    if (!layout.unified) throw new CgroupError('cgroup: no cgroup2 filesystem is mounted');
    dirs[''] = v2Dir(layout.unified.mountpoint, layout.unified.root, inner, own);
    return dirs;
  }
  for (const h of layout.v1) dirs[h.key] = v1Dir(h, inner, own);
  if (mode === 'hybrid' && layout.unified) dirs[''] = hybridUnifiedDir(layout.unified.mountpoint, inner);
  return dirs;
}
