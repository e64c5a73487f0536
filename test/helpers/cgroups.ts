/**
 * Removing the cgroup directories a test made, and only those, on any layout: every hierarchy
 * in /proc/self/mountinfo (v1 controllers, named ones, the unified one, pure v2), and what a
 * manager made under /sys/fs/cgroup beside them where no cgroup filesystem is: podman's cgroupfs
 * manager creates conmon's cgroup in each controller that /proc/cgroups lists and that has a
 * directory under /sys/fs/cgroup, so a controller without a hierarchy of its own (hugetlb, say)
 * whose name is a plain directory there gets plain directories with a plain cgroup.procs file.
 *
 * Cgroups do not empty at once: conmon exits on its own time after its container, and new child
 * cgroups may still appear. So removal walks again and retries, killing the processes still in
 * the directories being removed (thawing frozen ones first), for a bounded time.
 */
import * as fs from 'fs';
import * as path from 'path';
import { parseMountinfo } from './runtime';

const CGROUP_BASE = '/sys/fs/cgroup';
/** CGROUP_SUPER_MAGIC, CGROUP2_SUPER_MAGIC */
const CGROUP_FS_TYPES = new Set([0x27e0eb, 0x63677270]);

function onCgroupFs(p: string): boolean {
  try {
    return CGROUP_FS_TYPES.has(Number(fs.statfsSync(p).type));
  } catch {
    return false;
  }
}

function errCode(e: unknown): string {
  return (e as NodeJS.ErrnoException).code ?? String(e);
}

function readIf(p: string): string | undefined {
  try {
    return fs.readFileSync(p, 'utf8');
  } catch {
    return undefined;
  }
}

/**
 * The roots under which a manager makes cgroups: each cgroup mount point, and each directory
 * directly under /sys/fs/cgroup when that is not itself a cgroup filesystem (on pure v2 its
 * subdirectories are cgroups, not roots). One entry per directory (symlinks such as
 * cpu -> cpu,cpuacct are followed and counted once).
 */
export function cgroupRoots(): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  const add = (dir: string) => {
    let st: fs.Stats;
    try {
      st = fs.statSync(dir);
    } catch {
      return;
    }
    if (!st.isDirectory() || seen.has(`${st.dev}:${st.ino}`)) return;
    seen.add(`${st.dev}:${st.ino}`);
    out.push(dir);
  };
  for (const m of parseMountinfo(readIf('/proc/self/mountinfo') ?? '')) {
    if (m.fsType === 'cgroup' || m.fsType === 'cgroup2') add(m.mountPoint);
  }
  if (!onCgroupFs(CGROUP_BASE)) {
    let entries: string[] = [];
    try {
      entries = fs.readdirSync(CGROUP_BASE);
    } catch {
      /* no /sys/fs/cgroup */
    }
    for (const e of entries) add(path.join(CGROUP_BASE, e));
  }
  return out;
}

/** `rel` (a cgroup path such as a --cgroup-parent) under every root. */
export function cgroupPaths(rel: string): string[] {
  return cgroupRoots().map((r) => path.join(r, rel));
}

export interface RemoveOptions {
  /** Remove everything below each directory too (for a parent only the test uses). Default: the directories alone. */
  subtree?: boolean;
  /**
   * Whether a process in one of the directories is the test's, to be killed. Default: all are
   * (the directories are the test's alone). Others' processes are never signalled; a directory
   * they keep busy is reported in `inUse`, not in `left`.
   */
  owns?: (pid: number) => boolean;
  /** How long to keep trying, polling every 50 ms. Default 5 s. */
  timeoutMs?: number;
}

export interface RemoveResult {
  /** Directories that could not be removed, with why and what is inside ("" when none). */
  left: string[];
  /** Directories kept busy by processes that are not the test's (left alone). */
  inUse: string[];
}

/** This process and its ancestors: never killed, whatever cgroup they are in. */
function protectedPids(): Set<number> {
  const out = new Set<number>([1]);
  for (let pid = process.pid; pid > 1 && !out.has(pid); ) {
    out.add(pid);
    const st = readIf(`/proc/${pid}/stat`);
    if (!st) break;
    pid = Number(st.slice(st.lastIndexOf(')') + 2).split(' ')[1]);
  }
  return out;
}

function procsIn(dir: string): number[] {
  return (readIf(path.join(dir, 'cgroup.procs')) ?? '')
    .split('\n')
    .map(Number)
    .filter((p) => p > 0);
}

function describePid(pid: number): string {
  return `${pid} ${(readIf(`/proc/${pid}/comm`) ?? '?\n').trim()}`;
}

/** A directory's subdirectories, deepest first, then the directory (not following symlinks). */
function postorder(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    let entries: fs.Dirent[] = [];
    try {
      entries = fs.readdirSync(d, { withFileTypes: true });
    } catch {
      /* gone meanwhile */
    }
    for (const e of entries) if (e.isDirectory()) walk(path.join(d, e.name));
    out.push(d);
  };
  walk(dir);
  return out;
}

function mountedAtOrUnder(dir: string): boolean {
  return parseMountinfo(readIf('/proc/self/mountinfo') ?? '').some((m) => m.mountPoint === dir || m.mountPoint.startsWith(`${dir}/`));
}

/**
 * Removes `dirs` (cgroup directories the test made; children listed before their parents, or
 * with `subtree`, any order), waiting for them to empty: see the file's comment.
 */
export function removeCgroups(dirs: string[], opts: RemoveOptions = {}): RemoveResult {
  const owns = opts.owns ?? (() => true);
  const keep = protectedPids();
  const deadline = Date.now() + (opts.timeoutMs ?? 5000);
  // deepest first, so a child goes before its parent whatever order they came in
  const tops = [...new Set(dirs)].sort((a, b) => b.split('/').length - a.split('/').length);
  for (;;) {
    const failed = new Map<string, string>();
    for (const top of tops) {
      if (!fs.existsSync(top)) continue;
      if (!onCgroupFs(top)) {
        // A plain directory a manager made where no cgroup filesystem is: its files are plain
        // files (cgroup.procs among them, listing pids of no meaning here), removed as such.
        if (mountedAtOrUnder(top)) {
          failed.set(top, 'something is mounted there');
          continue;
        }
        try {
          if (opts.subtree) fs.rmSync(top, { recursive: true, force: true });
          else {
            for (const e of fs.readdirSync(top, { withFileTypes: true })) if (!e.isDirectory()) fs.rmSync(path.join(top, e.name), { force: true });
            fs.rmdirSync(top);
          }
        } catch (e) {
          if (errCode(e) !== 'ENOENT') failed.set(top, errCode(e));
        }
        continue;
      }
      for (const d of opts.subtree ? postorder(top) : [top]) {
        // Frozen tasks do not die until thawed.
        if (readIf(path.join(d, 'freezer.state'))?.trim() === 'FROZEN') tryWrite(path.join(d, 'freezer.state'), 'THAWED');
        if (readIf(path.join(d, 'cgroup.freeze'))?.trim() === '1') tryWrite(path.join(d, 'cgroup.freeze'), '0');
        for (const pid of procsIn(d)) {
          if (keep.has(pid) || !owns(pid)) continue;
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            /* gone */
          }
        }
        try {
          fs.rmdirSync(d);
        } catch (e) {
          if (errCode(e) !== 'ENOENT') failed.set(d, errCode(e));
        }
      }
    }
    if (!failed.size) return { left: [], inUse: [] };
    const result: RemoveResult = { left: [], inUse: [] };
    const mine = new Set(tops);
    for (const [d, why] of failed) {
      const procs = onCgroupFs(d) ? postorder(d).flatMap(procsIn) : [];
      const foreign = procs.filter((p) => keep.has(p) || !owns(p));
      // Without `subtree`, child cgroups not listed are someone else's: left alone.
      const others = opts.subtree ? [] : postorder(d).filter((c) => c !== d && !mine.has(c));
      const line = `${d}: ${why}${procs.length ? ` (processes: ${procs.map(describePid).join(', ')})` : ''}${others.length ? ` (cgroups: ${others.join(', ')})` : ''}`;
      (foreign.length || others.length ? result.inUse : result.left).push(line);
    }
    if (!result.left.length || Date.now() >= deadline) return result;
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
  }
}

function tryWrite(file: string, data: string): void {
  try {
    fs.writeFileSync(file, data);
  } catch {
    /* not ours to change, or gone */
  }
}
