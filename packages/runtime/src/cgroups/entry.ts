/**
 * How the container's first process enters its cgroups: the runtime opens them here, and the
 * addon's first child goes in by itself (addon/child.cc join_cgroups) — born in the cgroup2
 * directory through clone3(CLONE_INTO_CGROUP), then writing "0" to each v1 hierarchy's
 * `tasks`. Neither takes the kernel's global lock that writing a pid to cgroup.procs takes,
 * whose first use after a quiet spell waits for an RCU grace period (~10 ms per container).
 */
import * as fs from 'fs';
import * as path from 'path';
import { PERMISSION_CODES } from './fsio';
import { EntryTarget, openInDir, openSubCgroupDir } from './sub-cgroups';
import { CgroupError, CgroupManager } from './types';

/** The plan fields of addon/plan.h's cgroup block. */
export interface CgroupEntryPlan {
  cgroupDir: number;
  cgroupProcs: number;
  cgroupPath?: string;
  cgroupTasks: { fd: number; path: string }[];
  cgroupOptional: boolean;
}

export interface CgroupEntry {
  plan: CgroupEntryPlan;
  /** Closes the runtime's copies once the child is cloned (it has its own). */
  close(): void;
}

/**
 * Opens the cgroups of `m` for a new process. rootless: a cgroup we may not enter is left
 * out, as runc does when it cannot join without delegation. `sub` (exec --cgroup, see
 * sub-cgroups.ts): the directories to enter instead of the container's own, which are then
 * never optional.
 */
export function openCgroupEntry(m: CgroupManager, rootless: boolean, sub?: { v2?: EntryTarget; v1: EntryTarget[] }): CgroupEntry {
  const fds: number[] = [];
  const closeAll = () => {
    for (const fd of fds.splice(0)) fs.closeSync(fd);
  };
  const open = (file: string, flags: number): number => {
    try {
      const fd = fs.openSync(file, flags); // close-on-exec (libuv), still inherited by clone
      fds.push(fd);
      return fd;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? '';
      if (rootless && PERMISSION_CODES.has(code)) return -1;
      closeAll();
      throw new CgroupError(`cgroup: join ${path.dirname(file)}: ${(e as Error).message}`, code);
    }
  };
  // A sub-cgroup: its directory opened beneath the container's, then `file` in it; the
  // directory's fd is kept only when the plan needs it (v2's CLONE_INTO_CGROUP).
  const openSub = (t: EntryTarget, file: string, keepDir: boolean): { dirFd: number; fileFd: number; dir: string } => {
    let dirFd = -1;
    try {
      const opened = openSubCgroupDir(t.base, t.rel);
      dirFd = opened.fd;
      const fileFd = openInDir(dirFd, opened.dir, file, fs.constants.O_WRONLY);
      fds.push(fileFd);
      if (keepDir) fds.push(dirFd);
      else fs.closeSync(dirFd);
      return { dirFd: keepDir ? dirFd : -1, fileFd, dir: opened.dir };
    } catch (e) {
      if (dirFd >= 0) fs.closeSync(dirFd);
      closeAll();
      throw e;
    }
  };
  const dirs = m.entryDirs();
  const plan: CgroupEntryPlan = { cgroupDir: -1, cgroupProcs: -1, cgroupTasks: [], cgroupOptional: rootless && !sub };
  if (sub?.v2?.rel) {
    const s = openSub(sub.v2, 'cgroup.procs', true);
    Object.assign(plan, { cgroupPath: s.dir, cgroupDir: s.dirFd, cgroupProcs: s.fileFd });
  } else if (dirs.v2) {
    plan.cgroupPath = dirs.v2;
    plan.cgroupDir = open(dirs.v2, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
    if (plan.cgroupDir >= 0) plan.cgroupProcs = open(path.join(dirs.v2, 'cgroup.procs'), fs.constants.O_WRONLY);
  }
  for (const dir of dirs.v1) {
    const t = sub?.v1.find((x) => x.base === dir);
    if (t?.rel) {
      const s = openSub(t, 'tasks', false);
      plan.cgroupTasks.push({ fd: s.fileFd, path: s.dir });
      continue;
    }
    const fd = open(path.join(dir, 'tasks'), fs.constants.O_WRONLY);
    if (fd >= 0) plan.cgroupTasks.push({ fd, path: dir });
  }
  return { plan, close: closeAll };
}

/** For a process that something else places in its cgroup (systemd's scope units). */
export function noCgroupEntry(): CgroupEntry {
  return { plan: { cgroupDir: -1, cgroupProcs: -1, cgroupTasks: [], cgroupOptional: false }, close: () => {} };
}
