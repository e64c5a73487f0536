/**
 * Path resolution inside a root directory with openat2(RESOLVE_IN_ROOT) semantics, for
 * writing layer entries and reading files of an image's rootfs.
 *
 * Node has no openat2, so the walk is done component by component with lstat: a symlink met on
 * the way is read and its target resolved again from the root (absolute targets) or from the
 * directory holding it, and `..` never climbs above the root. The result is a path whose every
 * component is a real directory inside the root, so the kernel follows no symlink when it is
 * used. This is race-free because of where it is used: a layer is unpacked into a directory
 * that this process has just created and that no container runs on, and a bundle's rootfs is
 * read before any container starts on it; nobody else can swap a directory for a symlink
 * between the check and the use. (Resolving inside a live container's rootfs would need
 * openat2 in the addon instead.)
 */
import * as fs from 'fs';
import * as path from 'path';

/** As Linux's MAXSYMLINKS. */
const MAX_LINKS = 40;

export class PathError extends Error {}

/**
 * The components of a tar entry name, cleaned: leading `/` and `./` dropped (an absolute name
 * is taken relative to the root, as docker and umoci do), `.` removed and `..` applied. A
 * name that climbs above the root with `..` is refused: no legitimate layer has one.
 */
export function cleanName(name: string): string[] {
  const out: string[] = [];
  for (const c of name.split('/')) {
    if (c === '' || c === '.') continue;
    if (c === '..') {
      if (out.length === 0) throw new PathError(`${JSON.stringify(name)} points outside the root`);
      out.pop();
      continue;
    }
    if (c.includes('\0')) throw new PathError(`${JSON.stringify(name)} contains a NUL byte`);
    out.push(c);
  }
  return out;
}

export function lstatIf(p: string): fs.Stats | undefined {
  try {
    return fs.lstatSync(p);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw e;
  }
}

/**
 * What the walk does with a component that does not exist as it is met: the layer writer
 * creates parent directories (or finds them in lower layers), a reader gives up.
 */
export interface WalkHooks {
  /**
   * `rel` (components from the root) does not exist on disk. Return a symlink target to follow,
   * 'dir' when the walk may go on as if it were a directory, or undefined to stop.
   */
  missing?(rel: string[]): string | 'dir' | undefined;
  /** `rel` exists but is neither a directory nor a symlink; 'dir' if it was made one. */
  notDir?(rel: string[], st: fs.Stats): 'dir' | undefined;
}

/**
 * Resolves `comps` inside `root` following symlinks as if `root` were `/`. Returns the
 * resolved components (each a directory, or treated as one by the hooks), or undefined when a
 * component is missing and the hooks did not supply it.
 */
export function resolveDirIn(root: string, comps: string[], hooks: WalkHooks = {}): string[] | undefined {
  const out: string[] = [];
  const queue = comps.slice();
  let links = 0;
  const follow = (target: string, where: string[]) => {
    if (++links > MAX_LINKS) throw new PathError(`too many levels of symbolic links at /${where.join('/')}`);
    if (target.startsWith('/')) out.length = 0;
    queue.unshift(...target.split('/'));
  };
  while (queue.length) {
    const c = queue.shift()!;
    if (c === '' || c === '.') continue;
    if (c === '..') {
      out.pop(); // never above the root, as RESOLVE_IN_ROOT
      continue;
    }
    const rel = [...out, c];
    const st = lstatIf(path.join(root, ...rel));
    if (!st) {
      const r = hooks.missing?.(rel);
      if (r === undefined) return undefined;
      if (r === 'dir') out.push(c);
      else follow(r, rel);
      continue;
    }
    if (st.isDirectory()) {
      out.push(c);
    } else if (st.isSymbolicLink()) {
      follow(fs.readlinkSync(path.join(root, ...rel)), rel);
    } else if (hooks.notDir?.(rel, st) === 'dir') {
      out.push(c);
    } else {
      throw new PathError(`/${rel.join('/')} is not a directory`);
    }
  }
  return out;
}

/**
 * The host path of file `p` (absolute, as seen inside the rootfs) with every symlink resolved
 * inside `root`, or undefined when it does not exist. The last component is followed too.
 */
export function resolveFileIn(root: string, p: string): string | undefined {
  const comps = p.split('/').filter((c) => c !== '' && c !== '.');
  const resolved = resolveDirIn(root, comps.slice(0, -1));
  if (!resolved) return undefined;
  let rel = [...resolved, ...comps.slice(-1)];
  for (let i = 0; i < MAX_LINKS; i++) {
    if (rel.length === 0) return root;
    const host = path.join(root, ...rel);
    const st = lstatIf(host);
    if (!st) return undefined;
    if (!st.isSymbolicLink()) return host;
    const target = fs.readlinkSync(host);
    const base = target.startsWith('/') ? [] : rel.slice(0, -1);
    const tcomps = target.split('/');
    const dir = resolveDirIn(root, [...base, ...tcomps.slice(0, -1)]);
    if (!dir) return undefined;
    const last = tcomps[tcomps.length - 1];
    rel = last === '..' ? dir.slice(0, -1) : last === '.' || last === '' ? dir : [...dir, last];
  }
  throw new PathError(`too many levels of symbolic links at ${p}`);
}
