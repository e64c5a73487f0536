/**
 * File content and attributes as layers need them kept: sparse files stay sparse, xattrs are
 * copied whole (binary values, every namespace the filesystem offers).
 *
 * Holes: a tar entry carries no hole map (the image-spec advises against sparse tar entries),
 * so a file is written block by block and every 4 KiB block that is all zeros is skipped, the
 * size being set at the end: a hole of the source comes out a hole again, as overlayfs's own
 * copy-up keeps it. (A block of written zeros becomes a hole too; the content is the same.)
 */
import * as fs from 'fs';
import { fsops } from './native';

export const HOLE_BLOCK = 4096;
const ZERO = Buffer.alloc(HOLE_BLOCK);

function zeroRange(b: Buffer, start: number, end: number): boolean {
  return b.compare(ZERO, 0, end - start, start, end) === 0;
}

/**
 * Writes a file's content from position 0 in order, leaving holes where whole aligned blocks
 * are zeros. finish() sets the size, so a file ending in a hole has it.
 */
export class SparseWriter {
  private pos = 0;
  /** A partial block carried to the next write (the part of the file from `pos`). */
  private readonly tail = Buffer.alloc(HOLE_BLOCK);
  private tailLen = 0;

  constructor(private readonly fd: number) {}

  write(chunk: Buffer): void {
    let off = 0;
    if (this.tailLen > 0) {
      const n = Math.min(HOLE_BLOCK - this.tailLen, chunk.length);
      chunk.copy(this.tail, this.tailLen, 0, n);
      this.tailLen += n;
      off = n;
      if (this.tailLen < HOLE_BLOCK) return;
      this.blocks(this.tail, 0, HOLE_BLOCK);
      this.tailLen = 0;
    }
    const whole = off + Math.floor((chunk.length - off) / HOLE_BLOCK) * HOLE_BLOCK;
    if (whole > off) this.blocks(chunk, off, whole);
    if (whole < chunk.length) {
      chunk.copy(this.tail, 0, whole);
      this.tailLen = chunk.length - whole;
    }
  }

  /** Writes what is left and sets the file's size to what was written. */
  finish(): number {
    if (this.tailLen > 0) this.blocks(this.tail, 0, this.tailLen);
    this.tailLen = 0;
    fs.ftruncateSync(this.fd, this.pos);
    return this.pos;
  }

  /** b[start, end) lands at `pos`: runs of non-zero blocks are written, zero blocks skipped. */
  private blocks(b: Buffer, start: number, end: number): void {
    let run = -1;
    for (let i = start; i < end; i += HOLE_BLOCK) {
      const e = Math.min(i + HOLE_BLOCK, end);
      if (zeroRange(b, i, e)) {
        if (run >= 0) this.put(b, run, i, start);
        run = -1;
      } else if (run < 0) {
        run = i;
      }
    }
    if (run >= 0) this.put(b, run, end, start);
    this.pos += end - start;
  }

  private put(b: Buffer, from: number, to: number, start: number): void {
    let off = from;
    while (off < to) off += fs.writeSync(this.fd, b, off, to - off, this.pos + (off - start));
  }
}

/** Copies the content of regular file `src` to the new file `dst` (mode 0600 until the caller sets it), holes kept. */
export function copyFileSparse(src: string, dst: string): void {
  const ifd = fs.openSync(src, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  try {
    const ofd = fs.openSync(dst, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, 0o600);
    try {
      const w = new SparseWriter(ofd);
      const b = Buffer.allocUnsafe(1 << 20);
      for (;;) {
        const n = fs.readSync(ifd, b, 0, b.length, null);
        if (n === 0) break;
        w.write(b.subarray(0, n));
      }
      w.finish();
    } finally {
      fs.closeSync(ofd);
    }
  } finally {
    fs.closeSync(ifd);
  }
}

/** overlayfs's own attributes: never part of a layer's content. */
export function isOverlayXattr(name: string): boolean {
  return name.startsWith('trusted.overlay.');
}

/** The xattrs of `p` (not followed), sorted by name, without overlayfs's own. */
export function readXattrs(p: string): [string, Buffer][] {
  let names: string[];
  try {
    names = fsops().llistxattr(p);
  } catch {
    return [];
  }
  const out: [string, Buffer][] = [];
  for (const n of names.sort()) {
    if (isOverlayXattr(n)) continue;
    const v = fsops().lgetxattr(p, n);
    if (v !== undefined) out.push([n, v]);
  }
  return out;
}

function ignorable(e: unknown, symlink: boolean): boolean {
  const code = (e as NodeJS.ErrnoException).code;
  // A filesystem without a namespace; user.* is refused on symlinks and special files.
  return code === 'EOPNOTSUPP' || code === 'ENOTSUP' || (symlink && code === 'EPERM');
}

/**
 * Makes `p`'s xattrs exactly `want` (overlayfs's own excepted): missing ones set, others
 * removed (kept with `merge`).
 * Returns the names that could not be set (a namespace the filesystem lacks).
 */
export function replaceXattrs(p: string, want: Iterable<[string, Buffer]>, opts: { special?: boolean; merge?: boolean } = {}): string[] {
  const keep = new Map<string, Buffer>();
  for (const [k, v] of want) if (!isOverlayXattr(k)) keep.set(k, v);
  const failed: string[] = [];
  let have: string[] = [];
  try {
    have = fsops().llistxattr(p);
  } catch {
    /* no xattrs here */
  }
  for (const n of opts.merge ? [] : have) {
    if (keep.has(n) || isOverlayXattr(n) || n === 'security.selinux') continue;
    try {
      fsops().lremovexattr(p, n);
    } catch (e) {
      if (!ignorable(e, true)) throw e;
    }
  }
  for (const [k, v] of keep) {
    const cur = have.includes(k) ? fsops().lgetxattr(p, k) : undefined;
    if (cur && cur.equals(v)) continue;
    try {
      fsops().lsetxattr(p, k, v);
    } catch (e) {
      if (!ignorable(e, !!opts.special)) throw e;
      failed.push(k);
    }
  }
  return failed;
}
