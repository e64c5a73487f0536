/**
 * An overlayfs upper dir → a layer tarball, reproducibly: the same tree gives the same bytes.
 *
 * - entries in lexical order, a directory before its contents; names relative, directories
 *   ending in '/'; no user or group names, no access or change times;
 * - overlayfs whiteouts (0:0 character devices) become OCI whiteouts (`.wh.NAME`, an empty
 *   regular file), an opaque directory (trusted.overlay.opaque=y) is followed by its
 *   `.wh..wh..opq` marker; overlayfs's own trusted.overlay.* xattrs are left out, all other
 *   xattrs (user.*, security.capability, trusted.*, on directories, files, symlinks and
 *   devices alike) go in PAX SCHILY.xattr records with their bytes as they are;
 * - files sharing an inode within the layer become hard links to the first one's name (in the
 *   order entries are written). Every name of an inode in an upper dir is in that upper dir
 *   (overlayfs copies a lower file up before linking to it), so a link entry always names an
 *   entry of the same tar, never a lower layer's file: the image-spec's rule, and what
 *   containerd's and BuildKit's differs write;
 * - a file's holes are read as the zeros they are (a tar entry has no hole map: the image-spec
 *   advises against sparse entries); unpacking makes them holes again (layers/fileops.ts);
 * - sizes past ustar's 8 GiB go in a PAX size record;
 * - with SOURCE_DATE_EPOCH set, every mtime later than it is clamped to it (in the tree too,
 *   so the cached layer dir and its tarball agree).
 *
 * The tar is written uncompressed (see README: local layers are kept uncompressed, as
 * containers-storage does; its digest is then the diff_id too) with a small writer of our own:
 * ustar headers, PAX records only where ustar cannot say it (long names, big ids, xattrs).
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { readXattrs } from '../layers/fileops';
import { fsops } from '../layers/native';
import { OPAQUE_MARKER, OVERLAY_OPAQUE_XATTR, WHITEOUT_PREFIX } from '../layers/writer';

const BLOCK = 512;

/** A buffered, hashing file writer. */
class TarOut {
  private buf = Buffer.alloc(1 << 20);
  private used = 0;
  readonly hash = crypto.createHash('sha256');
  size = 0;
  constructor(private readonly fd: number) {}

  write(b: Buffer): void {
    if (b.length > this.buf.length - this.used) this.flush();
    if (b.length >= this.buf.length) {
      this.raw(b);
      return;
    }
    b.copy(this.buf, this.used);
    this.used += b.length;
  }

  pad(n: number): void {
    const r = n % BLOCK;
    if (r) this.write(Buffer.alloc(BLOCK - r));
  }

  flush(): void {
    if (this.used) this.raw(this.buf.subarray(0, this.used));
    this.used = 0;
  }

  private raw(b: Buffer): void {
    this.hash.update(b);
    this.size += b.length;
    let off = 0;
    while (off < b.length) off += fs.writeSync(this.fd, b, off, b.length - off);
  }
}

interface Header {
  name: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  type: '0' | '1' | '2' | '3' | '4' | '5' | '6';
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  xattrs?: [string, Buffer][];
}

const MAX_OCTAL7 = 0o7777777;
const MAX_OCTAL11 = 0o77777777777;

function octal(b: Buffer, off: number, len: number, v: number): void {
  b.write(v.toString(8).padStart(len - 1, '0'), off, len - 1, 'ascii');
}

function paxRecord(key: string, value: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`), value, Buffer.from('\n')]);
  let n = body.length + 1;
  while (String(n).length + body.length !== n) n = String(n).length + body.length;
  return Buffer.concat([Buffer.from(String(n)), body]);
}

function headerBlock(h: Header, name: string, linkname: string, size: number, type: string): Buffer {
  const b = Buffer.alloc(BLOCK);
  b.write(name, 0, 100, 'utf8');
  octal(b, 100, 8, h.mode & 0o7777);
  octal(b, 108, 8, Math.min(h.uid, MAX_OCTAL7));
  octal(b, 116, 8, Math.min(h.gid, MAX_OCTAL7));
  octal(b, 124, 12, size > MAX_OCTAL11 ? 0 : size); // the PAX size record says it
  octal(b, 136, 12, Math.max(0, Math.min(h.mtime, 0o77777777777)));
  b.write('        ', 148, 8, 'ascii');
  b.write(type, 156, 1, 'ascii');
  b.write(linkname, 157, 100, 'utf8');
  b.write('ustar\u000000', 257, 8, 'ascii');
  octal(b, 329, 8, h.devmajor ?? 0);
  octal(b, 337, 8, h.devminor ?? 0);
  let sum = 0;
  for (const x of b) sum += x;
  b.write(sum.toString(8).padStart(6, '0') + '\u0000 ', 148, 8, 'ascii');
  return b;
}

function writeHeader(out: TarOut, h: Header): void {
  const records: Buffer[] = [];
  const long = (s: string) => Buffer.byteLength(s) > 100;
  if (long(h.name)) records.push(paxRecord('path', Buffer.from(h.name)));
  if (h.linkname && long(h.linkname)) records.push(paxRecord('linkpath', Buffer.from(h.linkname)));
  if (h.uid > MAX_OCTAL7) records.push(paxRecord('uid', Buffer.from(String(h.uid))));
  if (h.gid > MAX_OCTAL7) records.push(paxRecord('gid', Buffer.from(String(h.gid))));
  if (h.size > MAX_OCTAL11) records.push(paxRecord('size', Buffer.from(String(h.size))));
  for (const [k, v] of h.xattrs ?? []) records.push(paxRecord(`SCHILY.xattr.${k}`, v));
  if (records.length) {
    const body = Buffer.concat(records);
    const base = path.posix.basename(h.name.replace(/\/$/, '')).slice(0, 80);
    out.write(headerBlock({ ...h, mode: 0o644 }, `PaxHeaders.0/${base}`, '', body.length, 'x'));
    out.write(body);
    out.pad(body.length);
  }
  out.write(headerBlock(h, Buffer.byteLength(h.name) > 100 ? h.name.slice(0, 99) : h.name, h.linkname && Buffer.byteLength(h.linkname) <= 100 ? h.linkname : (h.linkname ?? '').slice(0, 99), h.size, h.type));
}

function devNumbers(rdev: number): { major: number; minor: number } {
  const hi = Math.floor(rdev / 2 ** 32);
  const lo = rdev >>> 0;
  const major = ((lo >>> 8) & 0xfff) | ((hi & 0xfffff000) >>> 0);
  const minor = (lo & 0xff) | ((lo >>> 12) & 0xfff00);
  return { major, minor };
}

function copyFile(out: TarOut, file: string, size: number): void {
  const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  try {
    if (size <= 256 * 1024) {
      const b = Buffer.allocUnsafe(size);
      let got = 0;
      while (got < size) {
        const n = fs.readSync(fd, b, got, size - got, got);
        if (n === 0) throw new Error(`${file} shrank while it was being archived`);
        got += n;
      }
      out.write(b);
    } else {
      out.flush();
      const b = Buffer.allocUnsafe(1 << 20);
      let pos = 0;
      while (pos < size) {
        const n = fs.readSync(fd, b, 0, Math.min(b.length, size - pos), pos);
        if (n === 0) throw new Error(`${file} shrank while it was being archived`);
        out.write(b.subarray(0, n));
        pos += n;
      }
    }
  } finally {
    fs.closeSync(fd);
  }
  out.pad(size);
}

export interface DiffTarResult {
  /** sha256 of the tar: the diff_id (and, uncompressed, the blob digest). */
  digest: string;
  size: number;
  /** Entries written (whiteouts included). */
  entries: number;
}

/** Writes the tarball of `upper` to the new file `outFile`. */
export function writeDiffTar(upper: string, outFile: string, opts: { epoch?: number } = {}): DiffTarResult {
  const fd = fs.openSync(outFile, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o644);
  try {
    const r = writeDiffTarTo(upper, fd, opts);
    fs.fsyncSync(fd);
    return r;
  } finally {
    fs.closeSync(fd);
  }
}

/** Writes the tarball of `upper` to the open `fd` (a file or a pipe), which stays open. */
export function writeDiffTarTo(upper: string, fd: number, opts: { epoch?: number } = {}): DiffTarResult {
  const out = new TarOut(fd);
  const links = new Map<string, string>();
  let entries = 0;
  const clamp = (p: string, st: fs.Stats): number => {
    const m = Math.floor(st.mtimeMs / 1000);
    if (opts.epoch === undefined || m <= opts.epoch) return m;
    fs.lutimesSync(p, st.atime, opts.epoch);
    return opts.epoch;
  };
  const visit = (dirHost: string, dirName: string) => {
    const names = fs.readdirSync(dirHost).sort();
    for (const n of names) {
      const host = path.join(dirHost, n);
      const name = dirName + n;
      const st = fs.lstatSync(host);
      const base: Omit<Header, 'type' | 'name' | 'size'> = { mode: st.mode, uid: st.uid, gid: st.gid, mtime: 0 };
      if (st.isCharacterDevice() && st.rdev === 0) {
        writeHeader(out, { ...base, mode: 0, mtime: clamp(host, st), name: dirName + WHITEOUT_PREFIX + n, size: 0, type: '0' });
        entries++;
        continue;
      }
      base.mtime = clamp(host, st);
      if (st.isDirectory()) {
        base.xattrs = readXattrs(host);
        writeHeader(out, { ...base, name: `${name}/`, size: 0, type: '5' });
        entries++;
        const opaque = fsops().lgetxattr(host, OVERLAY_OPAQUE_XATTR)?.toString() === 'y';
        if (opaque) {
          writeHeader(out, { ...base, mode: 0, xattrs: [], name: `${name}/${OPAQUE_MARKER}`, size: 0, type: '0' });
          entries++;
        }
        visit(host, `${name}/`);
        continue;
      }
      const key = `${st.dev}:${st.ino}`;
      if (st.nlink > 1 && !st.isDirectory()) {
        const first = links.get(key);
        if (first !== undefined) {
          writeHeader(out, { ...base, name, size: 0, type: '1', linkname: first });
          entries++;
          continue;
        }
        links.set(key, name);
      }
      base.xattrs = readXattrs(host);
      if (st.isFile()) {
        writeHeader(out, { ...base, name, size: st.size, type: '0' });
        copyFile(out, host, st.size);
      } else if (st.isSymbolicLink()) {
        writeHeader(out, { ...base, name, size: 0, type: '2', linkname: fs.readlinkSync(host) });
      } else if (st.isCharacterDevice() || st.isBlockDevice()) {
        const { major, minor } = devNumbers(st.rdev);
        writeHeader(out, { ...base, name, size: 0, type: st.isCharacterDevice() ? '3' : '4', devmajor: major, devminor: minor });
      } else if (st.isFIFO()) {
        writeHeader(out, { ...base, name, size: 0, type: '6' });
      } else {
        continue; // sockets do not go into layers
      }
      entries++;
    }
  };
  visit(upper, '');
  out.write(Buffer.alloc(BLOCK * 2));
  out.flush();
  return { digest: `sha256:${out.hash.digest('hex')}`, size: out.size, entries };
}
