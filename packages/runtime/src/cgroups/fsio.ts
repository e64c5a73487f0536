/**
 * File access for cgroup control files. Resource code goes through the CgroupIO interface so the
 * unit tests can record writes without root; the real implementation is fsIO.
 */
import * as fs from 'fs';
import * as path from 'path';
import { CgroupError } from './types';

/** Errors a rootless caller expects when it may not write to the cgroup tree (runc isIgnorableError). */
export const PERMISSION_CODES = new Set(['EACCES', 'EPERM', 'EROFS']);

export interface CgroupIO {
  /** One write(2) of `value` (cgroup files take one value/rule per write). Throws CgroupError. */
  write(dir: string, file: string, value: string): void;
  read(dir: string, file: string): string;
  exists(dir: string, file: string): boolean;
}

/** "EINVAL: invalid argument, open '...'" -> "invalid argument": the strerror text Node embeds. */
export function errnoText(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  const m = /^[A-Z0-9_]+: ([^,]+)/.exec(e?.message ?? '');
  return m ? m[1] : String(e?.message ?? err);
}

function shown(value: string): string {
  const v = value.replace(/\n/g, '\\n');
  return v.length > 120 ? v.slice(0, 117) + '...' : v;
}

export function writeError(dir: string, file: string, value: string, err: unknown): CgroupError {
  const code = (err as NodeJS.ErrnoException)?.code;
  return new CgroupError(`cgroup: write ${file}=${shown(value)} in ${dir}: ${errnoText(err)}`, code);
}

export const fsIO: CgroupIO = {
  write(dir, file, value) {
    const p = path.join(dir, file);
    let fd: number;
    try {
      // O_WRONLY without O_CREAT: cgroupfs cannot create files, and write-only files (cgroup.kill)
      // refuse a read-write open. (libuv adds O_CLOEXEC itself.)
      fd = fs.openSync(p, fs.constants.O_WRONLY);
    } catch (e) {
      throw writeError(dir, file, value, e);
    }
    try {
      fs.writeSync(fd, value);
    } catch (e) {
      throw writeError(dir, file, value, e);
    } finally {
      fs.closeSync(fd);
    }
  },
  read(dir, file) {
    try {
      return fs.readFileSync(path.join(dir, file), 'utf8');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new CgroupError(`cgroup: read ${file} in ${dir}: ${errnoText(e)}`, code);
    }
  },
  exists(dir, file) {
    return fs.existsSync(path.join(dir, file));
  },
};

/** Read a control file, or undefined if it cannot be read (missing controller, removed cgroup). */
export function tryRead(dir: string, file: string): string | undefined {
  try {
    return fs.readFileSync(path.join(dir, file), 'utf8');
  } catch {
    return undefined;
  }
}

/** Synchronous sleep: the manager API is synchronous (the CLI calls it from short-lived commands). */
export function sleepMs(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * mkdir -p that reports which directories it created (so create() can initialise new cpuset
 * dirs). Errors carry the errno code so rootless callers can recognise permission problems.
 */
export function mkdirAll(dir: string): string[] {
  // Usually only the container's own directory is missing: one mkdir does it.
  try {
    fs.mkdirSync(dir, 0o755);
    return [dir];
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return [];
    if (code !== 'ENOENT') throw new CgroupError(`cgroup: mkdir ${dir}: ${errnoText(e)}`, code);
  }
  const missing: string[] = [];
  let cur = dir;
  while (!fs.existsSync(cur)) {
    missing.unshift(cur);
    const up = path.dirname(cur);
    if (up === cur) break;
    cur = up;
  }
  for (const d of missing) {
    try {
      fs.mkdirSync(d, 0o755);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') continue;
      throw new CgroupError(`cgroup: mkdir ${d}: ${errnoText(e)}`, code);
    }
  }
  return missing;
}

/** Pids in dir and every sub-cgroup (a container may create nested cgroups). */
export function pidsUnder(dir: string): number[] {
  const seen = new Set<number>();
  const walk = (d: string): void => {
    const procs = tryRead(d, 'cgroup.procs');
    if (procs === undefined) return;
    for (const l of procs.split('\n')) if (l) seen.add(Number(l));
    let entries: fs.Dirent[] = [];
    try {
      entries = fs.readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) if (e.isDirectory()) walk(path.join(d, e.name));
  };
  walk(dir);
  return [...seen].sort((a, b) => a - b);
}

/** kill(2), ignoring processes that are already gone. */
export function killPid(pid: number, signal: number): void {
  try {
    process.kill(pid, signal);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ESRCH') throw e;
  }
}

/**
 * rmdir a cgroup and its sub-cgroups, deepest first (cgroupfs rmdir ignores the control files but
 * refuses a dir with child cgroups). Returns the error of the first failure, if any, with ENOENT
 * counted as success: someone else may be removing the same tree.
 */
export function removeTree(dir: string): NodeJS.ErrnoException | undefined {
  try {
    fs.rmdirSync(dir);
    return undefined;
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ENOENT') return undefined;
    if (err.code !== 'EBUSY' && err.code !== 'ENOTEMPTY') return err;
  }
  let entries: fs.Dirent[] = [];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    return err.code === 'ENOENT' ? undefined : err;
  }
  for (const e of entries) {
    if (!e.isDirectory()) continue;
    const sub = removeTree(path.join(dir, e.name));
    if (sub) return sub;
  }
  try {
    fs.rmdirSync(dir);
    return undefined;
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    return err.code === 'ENOENT' ? undefined : err;
  }
}
