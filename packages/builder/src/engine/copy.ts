/**
 * COPY and ADD into a step's snapshot (its merged rootfs), with docker's rules:
 *
 * - a directory source copies its contents, not itself; a file goes to DEST/<name> when DEST
 *   ends in '/', is an existing directory or there are several sources, else to DEST itself;
 * - missing parents of DEST are made (0755, root, or the --chown owner);
 * - sources from the context get owner 0:0, sources from a stage or image (--from) keep their
 *   owner; --chown and --chmod override; modes and mtimes are kept; a top-level source symlink
 *   is followed, symlinks below it are copied as links;
 * - ADD extracts a local tar (plain, gzip, bzip2, xz, zstd) into DEST instead of copying it.
 *
 * DEST is resolved inside the rootfs with every symlink on the way followed inside it (never
 * out), and the last component is replaced, never written through.
 */
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { Readable } from 'stream';
import { pipeline } from 'stream/promises';
import * as zlib from 'zlib';
import type { IgnoreMatcher } from '../dockerfile';
import { copyFileSparse, readXattrs, replaceXattrs } from '../layers/fileops';
import { fsops, S_IFBLK, S_IFCHR, S_IFIFO } from '../layers/native';
import { unpackLayer } from '../layers/unpack';
import { lstatIf, resolveDirIn } from '../layers/walk';

export class CopyError extends Error {}

export interface Owner {
  uid: number;
  gid: number;
}

export interface CopyOptions {
  /** Owner for everything copied (--chown); else 0:0 (context) or kept (--from). */
  chown?: Owner;
  keepOwner: boolean;
  /** --chmod: the mode of files and directories copied. */
  chmod?: number;
  exclude?: IgnoreMatcher;
}

/** Resolves the parent of `abs` inside `root`, creating missing directories; returns the host path of `abs`. */
export function destHost(root: string, abs: string, mkOwner: Owner): string {
  const comps = abs.split('/').filter((c) => c && c !== '.');
  if (comps.length === 0) return root;
  const parent = resolveDirIn(root, comps.slice(0, -1), {
    missing: (rel) => {
      const p = path.join(root, ...rel);
      fs.mkdirSync(p, { mode: 0o755 });
      fs.chmodSync(p, 0o755);
      fs.lchownSync(p, mkOwner.uid, mkOwner.gid);
      return 'dir';
    },
  });
  if (!parent) throw new CopyError(`cannot create ${abs}`);
  const last = comps[comps.length - 1];
  if (last === '..') return path.join(root, ...parent.slice(0, -1));
  return path.join(root, ...parent, last);
}

/** True when `abs` is (through symlinks inside root) an existing directory. */
export function isDirIn(root: string, abs: string): boolean {
  const comps = abs.split('/').filter((c) => c && c !== '.');
  try {
    return resolveDirIn(root, comps) !== undefined;
  } catch {
    return false;
  }
}

/** Makes `host` a directory (replacing a non-directory). */
export function ensureDir(host: string, owner: Owner, mode = 0o755): void {
  const st = lstatIf(host);
  if (st?.isDirectory()) return;
  if (st) fs.rmSync(host, { force: true });
  fs.mkdirSync(host, { mode });
  fs.chmodSync(host, mode);
  fs.lchownSync(host, owner.uid, owner.gid);
}

function ownerOf(st: fs.Stats, o: CopyOptions): Owner {
  if (o.chown) return o.chown;
  return o.keepOwner ? { uid: st.uid, gid: st.gid } : { uid: 0, gid: 0 };
}

function replaceNonDir(host: string, what: string): void {
  const st = lstatIf(host);
  if (!st) return;
  if (st.isDirectory()) {
    if (fs.readdirSync(host).length) throw new CopyError(`cannot replace directory ${what} with a non-directory`);
    fs.rmdirSync(host);
  } else fs.unlinkSync(host);
}

/** Copies one entry (and, for a directory, what is below it) from `src` to `dst` (host paths). */
export function copyTree(src: string, dst: string, o: CopyOptions, opts: { follow: boolean; rel?: string; contentsOnly?: boolean }): number {
  const st = opts.follow ? fs.statSync(src) : fs.lstatSync(src);
  const owner = ownerOf(st, o);
  let n = 0;
  if (st.isDirectory()) {
    const existing = lstatIf(dst);
    if (existing && !existing.isDirectory()) fs.unlinkSync(dst);
    if (!existing || !existing.isDirectory()) fs.mkdirSync(dst);
    for (const name of fs.readdirSync(src)) {
      const rel = opts.rel ? `${opts.rel}/${name}` : name;
      if (o.exclude?.ignores(rel)) continue;
      n += copyTree(path.join(src, name), path.join(dst, name), o, { follow: false, rel });
    }
    fs.lchownSync(dst, owner.uid, owner.gid);
    fs.chmodSync(dst, o.chmod ?? st.mode & 0o7777);
    fs.utimesSync(dst, st.atime, st.mtime);
    return n + 1;
  }
  replaceNonDir(dst, dst);
  if (st.isSymbolicLink()) {
    fs.symlinkSync(fs.readlinkSync(src), dst);
    fs.lchownSync(dst, owner.uid, owner.gid);
    fs.lutimesSync(dst, st.atime, st.mtime);
    return 1;
  }
  if (st.isFile()) {
    fs.copyFileSync(src, dst);
  } else if (st.isFIFO() || st.isCharacterDevice() || st.isBlockDevice()) {
    const type = st.isFIFO() ? S_IFIFO : st.isCharacterDevice() ? S_IFCHR : S_IFBLK;
    fsops().mknod(dst, type | (st.mode & 0o7777), Math.floor(st.rdev / 256) & 0xfff, (st.rdev & 0xff) | ((st.rdev >> 12) & 0xfff00));
  } else {
    throw new CopyError(`${opts.rel ?? path.basename(src)}: cannot copy a socket`);
  }
  fs.lchownSync(dst, owner.uid, owner.gid);
  fs.chmodSync(dst, o.chmod ?? st.mode & 0o7777);
  fs.utimesSync(dst, st.atime, st.mtime);
  return 1;
}

/**
 * A whole tree copied as it is (`--output type=local`): every entry with its owner, mode,
 * mtime and xattrs, files sharing an inode linked again, holes kept. `dst` is made or merged
 * into; what is in the way of an entry is replaced.
 */
export function exportTree(src: string, dst: string): void {
  const links = new Map<string, string>();
  const meta = (from: fs.Stats, fromHost: string, to: string) => {
    const link = from.isSymbolicLink();
    fs.lchownSync(to, from.uid, from.gid);
    if (!link) fs.chmodSync(to, from.mode & 0o7777); // after chown, which clears setuid
    replaceXattrs(to, readXattrs(fromHost), { special: !from.isFile() && !from.isDirectory() }); // after chown: file caps
    fs.lutimesSync(to, from.atime, from.mtime);
  };
  const walk = (s: string, d: string) => {
    for (const name of fs.readdirSync(s).sort()) {
      const sp = path.join(s, name);
      const dp = path.join(d, name);
      const st = fs.lstatSync(sp);
      const old = lstatIf(dp);
      if (st.isDirectory()) {
        if (old && !old.isDirectory()) fs.rmSync(dp, { force: true });
        if (!old?.isDirectory()) fs.mkdirSync(dp);
        walk(sp, dp);
        meta(st, sp, dp);
        continue;
      }
      if (st.isSocket()) continue;
      if (old) fs.rmSync(dp, { recursive: true, force: true });
      const key = `${st.dev}:${st.ino}`;
      const first = st.nlink > 1 ? links.get(key) : undefined;
      if (first) {
        fs.linkSync(first, dp);
        continue;
      }
      if (st.nlink > 1) links.set(key, dp);
      if (st.isFile()) copyFileSparse(sp, dp);
      else if (st.isSymbolicLink()) fs.symlinkSync(fs.readlinkSync(sp), dp);
      else {
        const type = st.isFIFO() ? S_IFIFO : st.isCharacterDevice() ? S_IFCHR : S_IFBLK;
        const lo = st.rdev >>> 0;
        const hi = Math.floor(st.rdev / 2 ** 32);
        fsops().mknod(dp, type | 0o600, ((lo >>> 8) & 0xfff) | ((hi & 0xfffff000) >>> 0), (lo & 0xff) | ((lo >>> 12) & 0xfff00));
      }
      meta(st, sp, dp);
    }
  };
  fs.mkdirSync(dst, { recursive: true });
  walk(src, dst);
}

export type ArchiveKind = 'tar' | 'gzip' | 'bzip2' | 'xz' | 'zstd';

function isTarHeader(b: Buffer): boolean {
  if (b.length < 512) return false;
  if (b.toString('latin1', 257, 262) === 'ustar') return true;
  // v7 tar: the header checksum must add up
  const stored = parseInt(b.toString('latin1', 148, 156).replace(/\0.*$/, '').trim(), 8);
  if (!Number.isFinite(stored)) return false;
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : b[i];
  return sum === stored;
}

/** What ADD should extract: a tar, possibly compressed; undefined for any other file. */
export function archiveKind(file: string): ArchiveKind | undefined {
  const fd = fs.openSync(file, 'r');
  const head = Buffer.alloc(65536);
  let n: number;
  try {
    n = fs.readSync(fd, head, 0, head.length, 0);
  } finally {
    fs.closeSync(fd);
  }
  const b = head.subarray(0, n);
  if (b[0] === 0x1f && b[1] === 0x8b) {
    try {
      return isTarHeader(zlib.gunzipSync(b, { finishFlush: zlib.constants.Z_SYNC_FLUSH })) ? 'gzip' : undefined;
    } catch {
      return undefined;
    }
  }
  if (b.toString('latin1', 0, 3) === 'BZh') return 'bzip2';
  if (b.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return 'xz';
  if (b.subarray(0, 4).equals(Buffer.from([0x28, 0xb5, 0x2f, 0xfd]))) return 'zstd';
  return isTarHeader(b) ? 'tar' : undefined;
}

/** ADD of a local archive: its entries written into the directory `dstDir` (host path). */
export async function extractArchive(file: string, kind: ArchiveKind, dstDir: string): Promise<void> {
  let source: Readable;
  let mediaType = 'application/vnd.oci.image.layer.v1.tar';
  if (kind === 'gzip') mediaType += '+gzip';
  if (kind === 'zstd') mediaType += '+zstd';
  if (kind === 'bzip2' || kind === 'xz') {
    const child = spawn(kind === 'xz' ? 'xz' : 'bzip2', ['-dc', file], { stdio: ['ignore', 'pipe', 'pipe'] });
    source = child.stdout!;
    let err = '';
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', (e) => source.destroy(new CopyError(`cannot decompress ${path.basename(file)}: ${e.message}`)));
    child.on('close', (c) => {
      if (c !== 0) source.destroy(new CopyError(`cannot decompress ${path.basename(file)}: ${err.trim() || `exit ${c}`}`));
    });
  } else {
    source = fs.createReadStream(file);
  }
  await unpackLayer(source, { mediaType, target: dstDir, mode: 'apply', name: path.basename(file), mergeDirXattrs: true });
}

/** Writes a heredoc file (COPY <<EOF /dest). */
export function writeFileEntry(dst: string, content: string | Buffer, owner: Owner, mode: number): void {
  replaceNonDir(dst, dst);
  fs.writeFileSync(dst, content, { mode });
  fs.lchownSync(dst, owner.uid, owner.gid);
  fs.chmodSync(dst, mode);
}

/** Writes a file from a stream (ADD of a URL: the downloaded content, read from the store). */
export async function writeFileFrom(dst: string, content: Readable, owner: Owner, mode: number): Promise<void> {
  replaceNonDir(dst, dst);
  await pipeline(content, fs.createWriteStream(dst, { flags: 'wx', mode }));
  fs.lchownSync(dst, owner.uid, owner.gid);
  fs.chmodSync(dst, mode);
}
