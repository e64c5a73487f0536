/**
 * Layer compression: which one a blob has (by its first bytes), what the user asked for
 * (`--compression gzip|zstd|uncompressed`, `--compression-level N`, `--force-compression`, as
 * BuildKit's exporters and buildah push take them), and streams that compress or decompress.
 *
 * gzip is Node's zlib. zstd is Debian's `zstd` program (the reference implementation) run as a
 * child process, the data streaming through its stdin and stdout: Node 20 has no zstd, and the
 * npm bindings either fetch prebuilt binaries at install time or compress whole buffers only.
 * Decompression falls back to the pure-JS fzstd (which layer unpacking uses already) when the
 * program is missing, so reading zstd images never needs it; writing them does.
 */
import { spawn, type ChildProcess } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import * as zlib from 'zlib';
import { Duplex, Transform, Writable, type TransformCallback } from 'stream';
import { pipeline } from 'stream/promises';
import { StoreError } from './errors';

export type Compression = 'uncompressed' | 'gzip' | 'zstd';
export const COMPRESSIONS: Compression[] = ['gzip', 'zstd', 'uncompressed'];

/** What to do with layers on their way out (push, save, build --output). */
export interface CompressionSpec {
  compression: Compression;
  /** gzip 0-9, zstd 1-22; undefined: the algorithm's default (gzip 6, zstd 3). */
  level?: number;
  /**
   * Also convert layers stored with another compression (BuildKit's force-compression,
   * buildah's --force-compression). Without it, only uncompressed layers are compressed and
   * compressed ones go out as they are stored.
   */
  force?: boolean;
}

/** The levels each algorithm takes, and the one used when none is given. */
const LEVELS: Record<Exclude<Compression, 'uncompressed'>, { min: number; max: number; default: number }> = {
  gzip: { min: 0, max: 9, default: 6 },
  zstd: { min: 1, max: 22, default: 3 },
};

/** The level a spec means (its default when unset); undefined for uncompressed. */
export function effectiveLevel(spec: CompressionSpec): number | undefined {
  if (spec.compression === 'uncompressed') return undefined;
  return spec.level ?? LEVELS[spec.compression].default;
}

/**
 * Reads the user's flags into a spec, or a one-line error (exit 1) naming what is wrong. Call it
 * before anything is written or sent. `fallback` is the compression when none is given.
 */
export function parseCompression(flags: { compression?: string; level?: string; force?: boolean }, fallback: Compression | undefined, how = { compression: '--compression', level: '--compression-level' }): CompressionSpec | undefined {
  const name = flags.compression?.trim().toLowerCase();
  if (name !== undefined && !(COMPRESSIONS as string[]).includes(name)) {
    throw new StoreError(`invalid ${how.compression} ${JSON.stringify(flags.compression)}: want gzip, zstd or uncompressed`);
  }
  const compression = (name as Compression | undefined) ?? fallback;
  let level: number | undefined;
  if (flags.level !== undefined) {
    const text = flags.level.trim();
    if (!/^-?[0-9]+$/.test(text)) throw new StoreError(`invalid ${how.level} ${JSON.stringify(flags.level)}: want a number`);
    if (compression === undefined) throw new StoreError(`${how.level} needs ${how.compression} gzip or zstd`);
    if (compression === 'uncompressed') throw new StoreError(`${how.level} does not apply to uncompressed layers`);
    level = Number(text);
    const r = LEVELS[compression];
    if (level < r.min || level > r.max) throw new StoreError(`invalid ${how.level} ${level} for ${compression}: want ${r.min} to ${r.max}`);
  }
  if (compression === undefined) {
    if (flags.force) throw new StoreError(`--force-compression needs ${how.compression}`);
    return undefined;
  }
  return { compression, level, force: !!flags.force };
}

// ---------------------------------------------------------------------------------------------
// Detection
// ---------------------------------------------------------------------------------------------

/** The compression of content starting with `head` (gzip 1f 8b, zstd 28 b5 2f fd, else none). */
export function detectCompression(head: Buffer): Compression {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.length >= 4 && head.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
  return 'uncompressed';
}

/** The compression a file's content really has (media types in the wild may lie). */
export function fileCompression(file: string): Compression {
  const fd = fs.openSync(file, 'r');
  try {
    const head = Buffer.alloc(4);
    const n = fs.readSync(fd, head, 0, 4, 0);
    return detectCompression(head.subarray(0, n));
  } finally {
    fs.closeSync(fd);
  }
}

// ---------------------------------------------------------------------------------------------
// Streams
// ---------------------------------------------------------------------------------------------

let zstdPath: string | null | undefined;

/** The zstd program on PATH, or null. */
export function zstdProgram(): string | null {
  if (zstdPath !== undefined) return zstdPath;
  zstdPath = null;
  for (const dir of (process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin').split(':')) {
    if (!dir) continue;
    const p = path.join(dir, 'zstd');
    try {
      fs.accessSync(p, fs.constants.X_OK);
      if (fs.statSync(p).isFile()) return (zstdPath = p);
    } catch {
      /* not here */
    }
  }
  return zstdPath;
}

/**
 * A child process as a transform stream: what is written goes to its stdin, its stdout is read.
 * The stream ends only once the process has exited 0; any other exit is an error with the
 * last line it printed on stderr. Destroying the stream kills the process.
 */
class ProcessTransform extends Duplex {
  private readonly child: ChildProcess;
  private stderr = '';

  constructor(program: string, args: string[], private readonly what: string) {
    super();
    this.child = spawn(program, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const { stdin, stdout, stderr } = this.child;
    stdout!.on('data', (c: Buffer) => {
      if (!this.push(c)) stdout!.pause();
    });
    stderr!.on('data', (c: Buffer) => (this.stderr = (this.stderr + c.toString()).slice(-4096)));
    // a write after the process died: its exit status tells why
    stdin!.on('error', () => undefined);
    this.child.on('error', (e) => this.destroy(new StoreError(`${what}: cannot run ${program}: ${e.message}`)));
    this.child.on('close', (code, signal) => {
      if (code === 0) return void this.push(null);
      if (this.destroyed) return;
      const last = this.stderr.trim().split('\n').pop()?.replace(/^zstd: (\/\*stdin\*\\: )?/, '');
      this.destroy(new StoreError(`${what}: ${path.basename(program)} ${signal ? `killed by ${signal}` : `exited ${code}`}${last ? `: ${last}` : ''}`));
    });
  }

  override _read(): void {
    this.child.stdout!.resume();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    if (this.child.stdin!.write(chunk)) cb();
    else this.child.stdin!.once('drain', () => cb());
  }

  override _final(cb: (e?: Error | null) => void): void {
    this.child.stdin!.end(cb);
  }

  override _destroy(err: Error | null, cb: (e?: Error | null) => void): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    cb(err);
  }
}

/** A stream that compresses what goes through it. Uncompressed: a pass-through. */
export function compressor(compression: Compression, level?: number): Duplex {
  if (compression === 'uncompressed') return new Transform({ transform: (c, _e, cb) => cb(null, c) });
  if (compression === 'gzip') return zlib.createGzip({ level: level ?? LEVELS.gzip.default, chunkSize: 256 * 1024 });
  const program = zstdProgram();
  if (!program) throw new StoreError("zstd compression needs the zstd program (Debian's zstd package), which is not on PATH");
  const lv = level ?? LEVELS.zstd.default;
  // -T0: as many threads as cores; zstd's output does not depend on their number
  return new ProcessTransform(program, ['-q', '-c', '-T0', ...(lv > 19 ? ['--ultra'] : []), `-${lv}`], 'zstd compression');
}

/** fzstd as a transform stream (it calls back synchronously with each block, in a buffer it reuses). */
function fzstdStream(): Transform {
  const { Decompress } = require('fzstd') as typeof import('fzstd');
  let out: Transform | undefined;
  const d = new Decompress((b) => out!.push(Buffer.from(b)));
  const wrap = (e: unknown) => new StoreError(`zstd decompression: invalid zstd data (${(e as Error).message})`);
  out = new Transform({
    transform(chunk: Buffer, _e, cb: TransformCallback) {
      try {
        d.push(chunk);
        cb();
      } catch (e) {
        cb(wrap(e));
      }
    },
    flush(cb: TransformCallback) {
      try {
        d.push(new Uint8Array(0), true);
        cb();
      } catch (e) {
        cb(wrap(e));
      }
    },
  });
  return out;
}

/** A stream that decompresses `compression` content. Uncompressed: a pass-through. */
export function decompressor(compression: Compression): Duplex {
  if (compression === 'uncompressed') return new Transform({ transform: (c, _e, cb) => cb(null, c) });
  if (compression === 'gzip') return zlib.createGunzip({ chunkSize: 256 * 1024 });
  const program = zstdProgram();
  return program ? new ProcessTransform(program, ['-d', '-q', '-c'], 'zstd decompression') : fzstdStream();
}

/** A one-line account of a decompression failure (zlib's errors carry Z_ codes). */
export function decompressionError(e: unknown, what: string): Error {
  const code = (e as { code?: unknown }).code;
  if (typeof code === 'string' && code.startsWith('Z_')) return new StoreError(`${what}: invalid gzip data (${(e as Error).message})`);
  if (e instanceof StoreError && /^zstd decompression: /.test(e.message)) return new StoreError(`${what}: ${e.message.replace(/^zstd decompression: /, 'zstd: ')}`);
  return e as Error;
}

/**
 * The digest and size of a file's content once decompressed (its compression read from its
 * first bytes): a layer's diff_id. Decompression errors are one line naming `what`.
 */
export async function uncompressedDigest(file: string, what: string): Promise<{ compression: Compression; digest: string; size: number }> {
  const compression = fileCompression(file);
  const hash = crypto.createHash('sha256');
  let size = 0;
  try {
    await pipeline(fs.createReadStream(file), decompressor(compression), new Writable({ write: (c: Buffer, _e, cb) => (hash.update(c), (size += c.length), cb()) }));
  } catch (e) {
    throw decompressionError(e, what);
  }
  return { compression, digest: `sha256:${hash.digest('hex')}`, size };
}

/**
 * The uncompressed digest of content fed to it chunk by chunk (e.g. as a download arrives):
 * the compression is read from the first bytes, the content decompressed and hashed as it
 * comes, with backpressure. end() gives the digest; a decompression error rejects write() or
 * end() with a one-line error naming `what`.
 */
export class UncompressedHasher {
  private readonly hash = crypto.createHash('sha256');
  private head: Buffer[] = [];
  private headSize = 0;
  private stream?: Duplex;
  private done?: Promise<void>;
  private failure?: Error;
  size = 0;
  compression?: Compression;

  constructor(private readonly what: string) {}

  private start(): void {
    const first = Buffer.concat(this.head);
    this.head = [];
    this.compression = detectCompression(first);
    const d = decompressor(this.compression);
    this.stream = d;
    const sink = new Writable({ write: (c: Buffer, _e, cb) => (this.hash.update(c), (this.size += c.length), cb()) });
    this.done = pipeline(d, sink).catch((e) => {
      this.failure = decompressionError(e, this.what);
      throw this.failure;
    });
    this.done.catch(() => undefined);
    if (first.length) d.write(first);
  }

  async write(chunk: Buffer): Promise<void> {
    if (this.failure) throw this.failure;
    if (!this.stream) {
      this.head.push(chunk);
      this.headSize += chunk.length;
      if (this.headSize < 4) return;
      return this.start();
    }
    if (this.stream.write(chunk)) return;
    await Promise.race([new Promise((r) => this.stream!.once('drain', r)), this.done]);
    if (this.failure) throw this.failure;
  }

  async end(): Promise<string> {
    if (!this.stream) this.start();
    this.stream!.end();
    await this.done;
    return `sha256:${this.hash.digest('hex')}`;
  }

  destroy(): void {
    this.stream?.destroy();
  }
}
