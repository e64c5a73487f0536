/**
 * `exec --cgroup`: run the exec'd process in existing sub-cgroups of the container's cgroup,
 * with runc's syntax and rules (runc's exec.go getSubCgroupPaths and libcontainer's use of it,
 * checked against runc 1.1.5 on v1/hybrid and on pure v2):
 *
 * - `--cgroup PATH`: one path for every hierarchy of the container (the only form on cgroup
 *   v2); it cannot be combined with other --cgroup values.
 * - `--cgroup CTRL[,CTRL...]:PATH`, repeatable: per v1 controller; the hierarchies not named
 *   keep the container's own cgroup. Only the first ':' separates (a cgroup name may hold one).
 * - PATH is relative to the container's cgroup ("/x" is "x"; "", "/" and "." are the cgroup
 *   itself); it must stay inside it, component by component (a sibling "<ctr>-2" is outside,
 *   the check runc got wrong before 1.4). The sub-cgroup must exist: exec never creates one.
 *
 * The walk to the sub-cgroup does not trust the names either: each component is opened on its
 * own from its parent's fd, without following a symbolic link, and must be on the container's
 * cgroup filesystem (nothing mounted over it), so the fds the process enters through are the
 * directories that were checked. Whether the kernel lets a process in (a v2 cgroup with
 * controllers enabled for its children, a "domain invalid" one) is the kernel's call; the
 * failure then says why (explainJoinFailure).
 */
import * as fs from 'fs';
import * as path from 'path';
import { describeSystemError, RuntimeError } from '../errors';
import type { CgroupManager } from './types';

const posix = path.posix;

/** What the --cgroup values ask for. */
export type SubCgroupRequest = { kind: 'all'; path: string } | { kind: 'controllers'; paths: Map<string, string> };

/**
 * Parses the --cgroup values (undefined when there are none), with runc's messages. A value
 * with a NUL byte cannot be a path and is refused here rather than by open(2).
 */
export function parseSubCgroupArgs(args: readonly string[] | undefined): SubCgroupRequest | undefined {
  if (!args || args.length === 0) return undefined;
  const paths = new Map<string, string>();
  for (const arg of args) {
    if (arg.includes('\0')) throw new RuntimeError(`invalid --cgroup argument: ${JSON.stringify(arg)} (a NUL byte)`);
    const colon = arg.indexOf(':');
    if (colon < 0) {
      if (args.length !== 1) throw new RuntimeError(`invalid --cgroup argument: ${arg} (missing <controller>: prefix)`);
      return { kind: 'all', path: arg };
    }
    const sub = arg.slice(colon + 1);
    for (const ctrl of arg.slice(0, colon).split(',')) {
      if (ctrl === '') throw new RuntimeError(`invalid --cgroup argument: ${arg} (empty <controller> prefix)`);
      if (paths.has(ctrl)) throw new RuntimeError(`invalid --cgroup argument(s): controller ${ctrl} specified multiple times`);
      paths.set(ctrl, sub);
    }
  }
  return { kind: 'controllers', paths };
}

/**
 * The path of `sub` below the container's cgroup, as relative components joined by '/'
 * ('' for the cgroup itself); a path that leaves the cgroup is refused in runc's words.
 */
export function subCgroupRel(sub: string): string {
  // Lexically, as runc's path.Join: "/x" is "x" and "a/../b" is "b"; anything that climbs
  // above the container's cgroup, even to come back ("../<ctr>/x"), is refused.
  const parts: string[] = [];
  for (const part of sub.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (parts.length === 0) throw new RuntimeError(`bad sub cgroup path: ${sub}`);
      parts.pop();
      continue;
    }
    parts.push(part);
  }
  return parts.join('/');
}

/** One directory the process enters: the container's own (`rel` '') or a sub-cgroup of it. */
export interface EntryTarget {
  /** The container's directory in this hierarchy (from its state). */
  base: string;
  /** Below `base`: '' or normalised components (see subCgroupRel). */
  rel: string;
}

/**
 * For every directory the container's processes enter (the cgroup2 one and the v1
 * hierarchies', as entryDirs), the sub-cgroup the request names there.
 */
export function subCgroupTargets(m: CgroupManager, req: SubCgroupRequest): { v2?: EntryTarget; v1: EntryTarget[] } {
  const entry = m.entryDirs();
  if (!entry.v2 && entry.v1.length === 0) {
    throw new RuntimeError('the container has no cgroup of its own: there is no sub-cgroup to join');
  }
  if (req.kind === 'all') {
    const rel = subCgroupRel(req.path);
    return { v2: entry.v2 === undefined ? undefined : { base: entry.v2, rel }, v1: entry.v1.map((base) => ({ base, rel })) };
  }
  // Per controller: the hierarchy of each (a comount such as cpu,cpuacct is one directory).
  const keyOf = new Map<string, string>(); // v1 dir -> hierarchy key
  for (const [key, dir] of Object.entries(m.dirs)) if (key !== '' && entry.v1.includes(dir)) keyOf.set(dir, key);
  const rels = new Map<string, { rel: string; ctrl: string }>(); // v1 dir -> what was asked
  for (const [ctrl, sub] of req.paths) {
    const dir = entry.v1.find((d) => (keyOf.get(d) ?? '').split(',').includes(ctrl));
    if (dir === undefined) {
      if (m.mode === 'v2') {
        throw new RuntimeError(`unknown controller ${ctrl}: on cgroup v2 every controller is in the one cgroup, give --cgroup PATH without a <controller>: prefix`);
      }
      const known = [...keyOf.values()].flatMap((k) => k.split(',')).sort();
      throw new RuntimeError(`unknown controller ${ctrl} (the container's cgroup controllers: ${known.join(', ') || 'none'})`);
    }
    const rel = subCgroupRel(sub);
    const prev = rels.get(dir);
    if (prev && prev.rel !== rel) {
      throw new RuntimeError(`invalid --cgroup argument(s): controllers ${prev.ctrl} and ${ctrl} share one hierarchy (${keyOf.get(dir)}) but were given different sub-cgroups`);
    }
    rels.set(dir, { rel, ctrl });
  }
  return {
    v2: entry.v2 === undefined ? undefined : { base: entry.v2, rel: '' },
    v1: entry.v1.map((base) => ({ base, rel: rels.get(base)?.rel ?? '' })),
  };
}

function errCode(e: unknown): string {
  return (e as NodeJS.ErrnoException).code ?? '';
}

/** The text after the sub-cgroup's name in a failure to open it. */
function openFailure(target: string, e: unknown): string {
  switch (errCode(e)) {
    case 'ENOENT':
      return `open ${target}: ${describeSystemError(e)} (exec does not create sub-cgroups)`;
    case 'ELOOP':
      return `${target} is a symbolic link, which is not followed`;
    case 'ENOTDIR':
      return `${target} is not a directory`;
    default:
      return `open ${target}: ${describeSystemError(e)}`;
  }
}

/**
 * Opens the sub-cgroup `rel` of the container's directory `base` (O_RDONLY | O_DIRECTORY),
 * one component at a time without following symbolic links and without leaving the
 * filesystem `base` is on; returns the fd and the directory's path (for messages).
 */
export function openSubCgroupDir(base: string, rel: string): { fd: number; dir: string } {
  const flags = fs.constants.O_RDONLY | fs.constants.O_DIRECTORY;
  let fd = fs.openSync(base, flags); // the container's own directory, from its state
  try {
    const dev = fs.fstatSync(fd).dev;
    let dir = base;
    for (const part of rel === '' ? [] : rel.split('/')) {
      dir = posix.join(dir, part);
      let next: number;
      try {
        // Through the parent's fd: a rename or a link swapped in above cannot redirect it.
        next = fs.openSync(`/proc/self/fd/${fd}/${part}`, flags | fs.constants.O_NOFOLLOW);
      } catch (e) {
        throw new RuntimeError(`cgroup: sub-cgroup ${rel}: ${openFailure(dir, e)}`);
      }
      fs.closeSync(fd);
      fd = next;
      if (fs.fstatSync(fd).dev !== dev) {
        throw new RuntimeError(`cgroup: sub-cgroup ${rel}: ${dir} is not a cgroup of the container (another filesystem is mounted there)`);
      }
    }
    return { fd, dir };
  } catch (e) {
    fs.closeSync(fd);
    throw e;
  }
}

/** Opens `file` of a directory given by fd, without following a symbolic link. */
export function openInDir(dirFd: number, dir: string, file: string, flags: number): number {
  try {
    return fs.openSync(`/proc/self/fd/${dirFd}/${file}`, flags | fs.constants.O_NOFOLLOW);
  } catch (e) {
    throw new RuntimeError(`cgroup: join ${dir}: open ${file}: ${describeSystemError(e)}`);
  }
}

function readIf(dir: string, file: string): string | undefined {
  try {
    return fs.readFileSync(path.join(dir, file), 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** libuv's texts of the errnos a join fails with, as strerror(3) words them. */
const LINUX_TEXT: Record<string, string> = {
  'resource busy or locked': 'device or resource busy', // EBUSY
  'operation not supported on socket': 'operation not supported', // EOPNOTSUPP
};

/**
 * A refusal of the kernel to let the process into a sub-cgroup (the addon reports "join cgroup
 * DIR: <errno>"), with the reason the cgroup's files show: on v2, controllers enabled for its
 * children (EBUSY: only leaves hold processes) or a "domain invalid" type (EOPNOTSUPP); on v1,
 * a cpuset without cpus or mems (ENOSPC).
 */
export function explainJoinFailure(e: unknown, dirs: { v2?: string; v1: string[] }): unknown {
  if (!(e instanceof Error)) return e;
  const m = /^join cgroup (.*?): (.*)$/.exec(e.message);
  if (!m) return e;
  const [, dir, text] = m;
  let why: string | undefined;
  if (dir === dirs.v2) {
    const type = readIf(dir, 'cgroup.type');
    const subtree = readIf(dir, 'cgroup.subtree_control');
    if (type === 'domain invalid') {
      why = 'its cgroup.type is "domain invalid" (it is in a threaded subtree, or a sibling is threaded): it cannot hold processes';
    } else if (subtree) {
      why = `it has controllers enabled for its children in cgroup.subtree_control (${subtree}): on cgroup v2 only a leaf cgroup can hold processes`;
    }
  } else if (dirs.v1.includes(dir)) {
    const empty = ['cpuset.cpus', 'cpuset.mems'].filter((f) => readIf(dir, f) === '');
    if (empty.length) why = `its ${empty.join(' and ')} ${empty.length > 1 ? 'are' : 'is'} empty: a v1 cpuset takes tasks once both are set`;
  }
  // The kernel's words (as runc prints them) where libuv has its own, which mislead here.
  const errText = LINUX_TEXT[text] ?? text;
  if (!why && errText === text) return e;
  const exitCode = e instanceof RuntimeError ? e.exitCode : 1;
  return new RuntimeError(`join cgroup ${dir}: ${errText}${why ? ` (${why})` : ''}`, exitCode);
}
