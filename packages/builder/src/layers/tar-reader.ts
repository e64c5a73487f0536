/**
 * A push parser for layer tarballs: ustar, GNU (long names and link names) and PAX (path,
 * linkpath, size, uid, gid, mtime, SCHILY.xattr.*). It is our own rather than tar-stream's
 * because PAX values must stay bytes (security.capability is binary and tar-stream decodes
 * every value as UTF-8), and because a layer is hostile input: every header is checked
 * (checksum, type, sizes) and anything unknown is an error, not a guess.
 *
 * The parser is synchronous: push() hands headers and data to the sink as they complete, so
 * the caller decides how to write them (layers/unpack.ts does it with its own safe walk).
 */

export type EntryType = 'file' | 'link' | 'symlink' | 'char' | 'block' | 'dir' | 'fifo';

export interface TarHeader {
  name: string;
  type: EntryType;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  /** Seconds since the epoch (fractional with a PAX mtime). */
  mtime: number;
  linkname: string;
  devmajor: number;
  devminor: number;
  /** From PAX SCHILY.xattr.NAME records, values as raw bytes. */
  xattrs: Map<string, Buffer>;
}

export interface TarSink {
  /** A new entry; its data (header.size bytes) follows through data() calls, then end(). */
  entry(h: TarHeader): void;
  data(chunk: Buffer): void;
  end(): void;
}

export class TarError extends Error {}

const BLOCK = 512;
const TYPES: Record<string, EntryType> = {
  '0': 'file', '\0': 'file', '7': 'file', '1': 'link', '2': 'symlink', '3': 'char', '4': 'block', '5': 'dir', '6': 'fifo',
};
/** Bigger metadata entries than this (long names, PAX) are refused: they are never legitimate. */
const MAX_META = 1 << 20;

function readNumber(b: Buffer, off: number, len: number, what: string): number {
  // GNU base-256: high bit of the first byte set.
  if (b[off] & 0x80) {
    if (b[off] & 0x40) throw new TarError(`negative ${what} in tar header`);
    let v = b[off] & 0x3f;
    for (let i = 1; i < len; i++) v = v * 256 + b[off + i];
    if (!Number.isSafeInteger(v)) throw new TarError(`${what} too large in tar header`);
    return v;
  }
  const s = b.toString('latin1', off, off + len).replace(/[\0 ]+$/, '').replace(/^[ \0]+/, '');
  if (s === '') return 0;
  if (!/^[0-7]+$/.test(s)) throw new TarError(`invalid ${what} ${JSON.stringify(s)} in tar header`);
  return parseInt(s, 8);
}

function readString(b: Buffer, off: number, len: number): string {
  const end = b.indexOf(0, off);
  return b.toString('utf8', off, end < 0 || end > off + len ? off + len : end);
}

function checksumOk(b: Buffer): boolean {
  const want = readNumber(b, 148, 8, 'checksum');
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const c = i >= 148 && i < 156 ? 32 : b[i];
    unsigned += c;
    signed += c > 127 ? c - 256 : c;
  }
  return want === unsigned || want === signed;
}

function isZero(b: Buffer): boolean {
  for (let i = 0; i < BLOCK; i++) if (b[i] !== 0) return false;
  return true;
}

/** PAX records: "LEN key=value\n", LEN counting the whole record; values kept as bytes. */
function parsePax(buf: Buffer, into: Map<string, Buffer>): void {
  let off = 0;
  while (off < buf.length) {
    if (buf[off] === 0) break; // NUL padding
    const sp = buf.indexOf(0x20, off);
    if (sp < 0) throw new TarError('malformed PAX record');
    const len = parseInt(buf.toString('latin1', off, sp), 10);
    if (!Number.isInteger(len) || len <= sp - off || off + len > buf.length || buf[off + len - 1] !== 0x0a) {
      throw new TarError('malformed PAX record');
    }
    const rec = buf.subarray(sp + 1, off + len - 1);
    const eq = rec.indexOf(0x3d);
    if (eq < 0) throw new TarError('malformed PAX record');
    into.set(rec.toString('utf8', 0, eq), Buffer.from(rec.subarray(eq + 1)));
    off += len;
  }
}

export class TarReader {
  private pending: Buffer[] = [];
  private pendingLen = 0;
  /** Bytes of entry data still to pass to the sink, then padding to skip. */
  private dataLeft = 0;
  private padLeft = 0;
  /** Collecting the body of a metadata entry (PAX, GNU long name). */
  private meta?: { type: string; size: number; parts: Buffer[]; got: number };
  private pax = new Map<string, Buffer>();
  private globalPax = new Map<string, Buffer>();
  private longName?: string;
  private longLink?: string;
  private done = false;
  private sawHeader = false;

  constructor(private readonly sink: TarSink) {}

  push(chunk: Buffer): void {
    let off = 0;
    while (off < chunk.length) {
      if (this.done) return; // after the end-of-archive marker: padding, ignored
      if (this.dataLeft > 0) {
        const n = Math.min(this.dataLeft, chunk.length - off);
        const part = chunk.subarray(off, off + n);
        if (this.meta) {
          this.meta.parts.push(Buffer.from(part));
          this.meta.got += n;
        } else {
          this.sink.data(part);
        }
        this.dataLeft -= n;
        off += n;
        if (this.dataLeft === 0) this.finishData();
        continue;
      }
      if (this.padLeft > 0) {
        const n = Math.min(this.padLeft, chunk.length - off);
        this.padLeft -= n;
        off += n;
        continue;
      }
      // A header: gather 512 bytes.
      const need = BLOCK - this.pendingLen;
      const n = Math.min(need, chunk.length - off);
      this.pending.push(chunk.subarray(off, off + n));
      this.pendingLen += n;
      off += n;
      if (this.pendingLen === BLOCK) {
        const block = Buffer.concat(this.pending, BLOCK);
        this.pending = [];
        this.pendingLen = 0;
        this.header(block);
      }
    }
  }

  /** The stream ended: it must have ended on an entry boundary. */
  end(): void {
    if (this.dataLeft > 0 || this.pendingLen > 0 || this.meta) throw new TarError('truncated tar stream');
    if (!this.done && !this.sawHeader) throw new TarError('empty tar stream');
  }

  private finishData(): void {
    if (this.meta) {
      const m = this.meta;
      this.meta = undefined;
      const body = Buffer.concat(m.parts, m.got);
      if (m.type === 'x') parsePax(body, this.pax);
      else if (m.type === 'g') parsePax(body, this.globalPax);
      else if (m.type === 'L') this.longName = readString(body, 0, body.length);
      else if (m.type === 'K') this.longLink = readString(body, 0, body.length);
    } else {
      this.sink.end();
    }
  }

  private header(b: Buffer): void {
    if (isZero(b)) {
      // The end-of-archive marker (two zero blocks; one is accepted, as GNU tar does).
      this.done = true;
      return;
    }
    if (!checksumOk(b)) throw new TarError('invalid tar header checksum');
    this.sawHeader = true;
    const flag = String.fromCharCode(b[156]);
    let size = readNumber(b, 124, 12, 'size');
    if (flag === 'x' || flag === 'g' || flag === 'L' || flag === 'K') {
      if (size > MAX_META) throw new TarError(`tar metadata entry of ${size} bytes refused`);
      this.meta = { type: flag, size, parts: [], got: 0 };
      this.startData(size);
      return;
    }
    const type = TYPES[flag];
    if (!type) throw new TarError(`unsupported tar entry type ${JSON.stringify(flag)}`);
    let name = readString(b, 0, 100);
    const magic = b.toString('latin1', 257, 263);
    // POSIX ustar has a name prefix; GNU's "ustar  " uses those bytes for other things.
    if (magic === 'ustar\0' && b[345] !== 0) name = `${readString(b, 345, 155)}/${name}`;
    let linkname = readString(b, 157, 100);
    const pax = new Map([...this.globalPax, ...this.pax]);
    this.pax = new Map();
    if (this.longName !== undefined) name = this.longName;
    if (this.longLink !== undefined) linkname = this.longLink;
    this.longName = this.longLink = undefined;
    const str = (k: string) => pax.get(k)?.toString('utf8');
    const num = (k: string, dflt: number): number => {
      const v = str(k);
      if (v === undefined) return dflt;
      const n = Number(v);
      if (!Number.isFinite(n) || n < 0) throw new TarError(`invalid PAX ${k} ${JSON.stringify(v)}`);
      return n;
    };
    name = str('path') ?? name;
    linkname = str('linkpath') ?? linkname;
    size = num('size', size);
    const xattrs = new Map<string, Buffer>();
    for (const [k, v] of pax) if (k.startsWith('SCHILY.xattr.')) xattrs.set(k.slice(13), v);
    const h: TarHeader = {
      name,
      type: type === 'file' && name.endsWith('/') ? 'dir' : type,
      mode: readNumber(b, 100, 8, 'mode') & 0o7777,
      uid: num('uid', readNumber(b, 108, 8, 'uid')),
      gid: num('gid', readNumber(b, 116, 8, 'gid')),
      size,
      mtime: num('mtime', readNumber(b, 136, 12, 'mtime')),
      linkname,
      devmajor: readNumber(b, 329, 8, 'devmajor'),
      devminor: readNumber(b, 337, 8, 'devminor'),
      xattrs,
    };
    // Only regular files carry data; a size on anything else is skipped, never written.
    const carries = h.type === 'file';
    this.sink.entry(h);
    if (carries) {
      this.startData(size);
      if (size === 0) this.sink.end();
    } else {
      this.sink.end();
      this.skip(size);
    }
  }

  private startData(size: number): void {
    this.dataLeft = size;
    this.padLeft = (BLOCK - (size % BLOCK)) % BLOCK;
    if (size === 0 && this.meta) this.finishData();
  }

  private skip(size: number): void {
    this.padLeft = size + ((BLOCK - (size % BLOCK)) % BLOCK);
  }
}
