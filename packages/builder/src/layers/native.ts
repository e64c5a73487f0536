/**
 * The addon's filesystem calls (addon/fsops.cc) that Node lacks: mknod, l*xattr, mount and
 * umount2. The addon is the runtime's (one .node file for the repository); errors carry
 * `code` like Node's own fs errors.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

interface FsOps {
  mknod(path: string, mode: number, major: number, minor: number): void;
  lsetxattr(path: string, name: string, value: Buffer): void;
  lgetxattr(path: string, name: string): Buffer | undefined;
  /** An attribute that is not there is not an error. */
  lremovexattr(path: string, name: string): void;
  llistxattr(path: string): string[];
  mount(source: string, target: string, fstype: string, flags: number, data: string): void;
  umount2(target: string, flags: number): void;
}

let ops: FsOps | undefined;

function load(): FsOps {
  // <repo>/build/Release/tsrun_native.node, found upwards from this file (dist/ or src/).
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    const p = path.join(dir, 'build', 'Release', 'tsrun_native.node');
    if (fs.existsSync(p)) return require(p) as FsOps;
    if (path.dirname(dir) === dir) throw new Error('the tsrun addon (build/Release/tsrun_native.node) is not built');
  }
}

const NAMES = new Map(Object.entries(os.constants.errno).map(([k, v]) => [v, k]));

function call<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (typeof err.errno === 'number' && !err.code) err.code = NAMES.get(err.errno) ?? 'EUNKNOWN';
    throw err;
  }
}

export function fsops(): FsOps {
  if (!ops) {
    const raw = load();
    ops = {
      mknod: (...a) => call(() => raw.mknod(...a)),
      lsetxattr: (...a) => call(() => raw.lsetxattr(...a)),
      lgetxattr: (...a) => call(() => raw.lgetxattr(...a)),
      lremovexattr: (...a) => call(() => raw.lremovexattr(...a)),
      llistxattr: (...a) => call(() => raw.llistxattr(...a)),
      mount: (...a) => call(() => raw.mount(...a)),
      umount2: (...a) => call(() => raw.umount2(...a)),
    };
  }
  return ops;
}

export const S_IFIFO = 0o010000;
export const S_IFCHR = 0o020000;
export const S_IFBLK = 0o060000;
export const MNT_DETACH = 2;
