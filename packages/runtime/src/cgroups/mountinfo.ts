/**
 * Pure parsers for /proc/PID/mountinfo and /proc/PID/cgroup, and the cgroup layout derived from
 * them. Nothing here touches the filesystem, so the unit tests feed it sample text for v1, v2
 * and hybrid hosts.
 */
import { CgroupError, CgroupMode } from './types';

export interface MountEntry {
  id: number;
  parent: number;
  /** "major:minor" of the superblock: bind mounts of one hierarchy share it. */
  dev: string;
  /** Path inside the filesystem that is mounted (not "/" inside containers without cgroupns). */
  root: string;
  mountpoint: string;
  fstype: string;
  superOptions: string[];
}

/** A mounted cgroup v1 hierarchy. */
export interface V1Hierarchy {
  /** The controllers as listed in /proc/self/cgroup, e.g. 'cpu,cpuacct' or 'name=systemd'. */
  key: string;
  controllers: string[];
  mountpoint: string;
  root: string;
}

export interface UnifiedMount {
  mountpoint: string;
  root: string;
}

export interface CgroupLayout {
  v1: V1Hierarchy[];
  unified?: UnifiedMount;
}

// mountinfo escapes space, tab, newline and backslash as \ooo.
function unescapeOctal(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
}

export function parseMountinfo(text: string): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    // The optional fields before " - " vary in number, so split on the separator first.
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const left = line.slice(0, sep).split(' ');
    const right = line.slice(sep + 3).split(' ');
    if (left.length < 6 || right.length < 3) continue;
    out.push({
      id: Number(left[0]),
      parent: Number(left[1]),
      dev: left[2],
      root: unescapeOctal(left[3]),
      mountpoint: unescapeOctal(left[4]),
      fstype: right[0],
      superOptions: right[2].split(','),
    });
  }
  return out;
}

// Super options of a cgroup v1 mount that are flags, not controllers.
const NON_CONTROLLER_OPTIONS = new Set([
  'rw', 'ro', 'none', 'noprefix', 'clone_children', 'xattr', 'cpuset_v2_mode', 'favordynmods',
]);

function controllersOf(options: string[]): string[] {
  return options.filter((o) => o.startsWith('name=') || (!o.includes('=') && !NON_CONTROLLER_OPTIONS.has(o)));
}

// A mount is hidden when another mount sits on the same mountpoint on top of it.
function isHidden(m: MountEntry, all: MountEntry[]): boolean {
  return all.some((o) => o.parent === m.id && o.mountpoint === m.mountpoint);
}

// Of several mounts of one superblock, prefer a visible one that shows the whole tree.
function pickMount(group: MountEntry[], all: MountEntry[]): MountEntry | undefined {
  const visible = group.filter((m) => !isHidden(m, all));
  return visible.find((m) => m.root === '/') ?? visible[0];
}

export function cgroupLayout(entries: MountEntry[]): CgroupLayout {
  const byDev = new Map<string, MountEntry[]>();
  const order: string[] = [];
  for (const m of entries) {
    if (m.fstype !== 'cgroup' && m.fstype !== 'cgroup2') continue;
    const k = `${m.fstype}/${m.dev}`;
    if (!byDev.has(k)) {
      byDev.set(k, []);
      order.push(k);
    }
    byDev.get(k)!.push(m);
  }
  const layout: CgroupLayout = { v1: [] };
  for (const k of order) {
    const m = pickMount(byDev.get(k)!, entries);
    if (!m) continue;
    if (m.fstype === 'cgroup2') {
      layout.unified ??= { mountpoint: m.mountpoint, root: m.root };
      continue;
    }
    const controllers = controllersOf(m.superOptions);
    if (controllers.length === 0) continue;
    layout.v1.push({ key: controllers.join(','), controllers, mountpoint: m.mountpoint, root: m.root });
  }
  return layout;
}

/**
 * v1: only v1 hierarchies with real controllers; hybrid: those plus a cgroup2 mount (systemd's
 * /sys/fs/cgroup/unified); v2: cgroup2 and no v1 controller (a leftover named v1 hierarchy such
 * as name=systemd for old containers does not make a v2 host hybrid).
 */
export function modeOf(layout: CgroupLayout): CgroupMode {
  const realV1 = layout.v1.some((h) => h.controllers.some((c) => !c.startsWith('name=')));
  if (realV1) return layout.unified ? 'hybrid' : 'v1';
  if (layout.unified) return 'v2';
  throw new CgroupError('cgroup: no cgroup filesystem is mounted (nothing of type cgroup or cgroup2 in /proc/self/mountinfo)');
}

/** /proc/PID/cgroup: "4:memory:/a/b" -> 'memory' => '/a/b'; the cgroup2 line "0::/x" -> '' => '/x'. */
export function parseProcCgroup(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (!line) continue;
    const first = line.indexOf(':');
    const second = line.indexOf(':', first + 1);
    if (first < 0 || second < 0) continue;
    out.set(line.slice(first + 1, second), line.slice(second + 1));
  }
  return out;
}

/** The process's cgroup in hierarchy h; matched by controller set since the order may differ. */
export function ownCgroupIn(own: Map<string, string>, controllers: string[] | null): string | undefined {
  if (controllers === null) return own.get('');
  const want = [...controllers].sort().join(',');
  for (const [key, path] of own) {
    if (key && key.split(',').sort().join(',') === want) return path;
  }
  return undefined;
}
