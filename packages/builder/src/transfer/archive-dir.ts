/**
 * Reading image archives (oci-archive and docker-archive tarballs, optionally gzip or zstd): the
 * tar is extracted once into a private directory under the store's ingest/, each regular file
 * hashed while written, so that blobs can then be verified and moved into blobs/ without a
 * second copy. Links between members (docker-archive's `<id>/layer.tar -> ../<x>.tar`) are
 * resolved by name inside the archive; nothing is ever created outside that directory, and
 * no link is created on disk at all.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as crypto from 'crypto';
import { Readable, Transform, type TransformCallback } from 'stream';
import { pipeline } from 'stream/promises';
import * as tar from 'tar-stream';
import { decompressionError, decompressor, detectCompression } from '../store/compression';
import { StoreError } from '../store/errors';
import type { ImageStore } from '../store/store';

export interface ArchiveFile {
  /** Where its content is on disk. */
  file: string;
  digest: string;
  size: number;
}

/** A tree of files, read by archive path: an extracted archive or a layout directory. */
export interface SourceTree {
  /** A regular file's path on disk, following archive-internal links; undefined if absent. */
  lookup(name: string): string | undefined;
  /** The digest and size when already known (hashed at extraction). */
  known(name: string): ArchiveFile | undefined;
  exists(name: string): boolean;
  readFile(name: string): Buffer;
  /** Removes what was extracted (nothing for a directory on disk). */
  dispose(): void;
  describe(name: string): string;
}

/** Archive member names as paths: "./a//b" → "a/b"; absolute or ".." names are refused. */
export function cleanName(name: string): string {
  const parts = name.split('/').filter((p) => p !== '' && p !== '.');
  if (name.startsWith('/') || parts.includes('..')) throw new StoreError(`archive member ${JSON.stringify(name)} has an absolute or ".." path`);
  return parts.join('/');
}

class HashCount extends Transform {
  readonly hash = crypto.createHash('sha256');
  size = 0;
  override _transform(chunk: Buffer, _e: BufferEncoding, cb: TransformCallback): void {
    this.hash.update(chunk);
    this.size += chunk.length;
    cb(null, chunk);
  }
}

/** Wraps `input` so that gzip or zstd content is decompressed (docker load takes both). */
export async function maybeGunzip(input: Readable): Promise<Readable> {
  const first = await new Promise<Buffer | null>((resolve, reject) => {
    const onReadable = () => {
      cleanup();
      resolve(input.read() as Buffer | null);
    };
    const onEnd = () => {
      cleanup();
      resolve(null);
    };
    const onError = (e: Error) => {
      cleanup();
      reject(e);
    };
    const cleanup = () => {
      input.off('readable', onReadable);
      input.off('end', onEnd);
      input.off('error', onError);
    };
    input.on('readable', onReadable);
    input.on('end', onEnd);
    input.on('error', onError);
  });
  if (!first) throw new StoreError('the archive is empty');
  input.unshift(first);
  const compression = detectCompression(first);
  if (compression === 'uncompressed') return input;
  const d = decompressor(compression);
  input.on('error', (e) => d.destroy(e));
  d.on('error', () => input.destroy());
  return input.pipe(d) as unknown as Readable;
}

class ExtractedTree implements SourceTree {
  readonly files = new Map<string, ArchiveFile>();
  readonly links = new Map<string, string>();
  constructor(readonly dir: string) {}

  private resolveName(name: string, depth = 0): string | undefined {
    const n = cleanName(name);
    if (this.files.has(n)) return n;
    const target = this.links.get(n);
    if (target === undefined || depth > 16) return undefined;
    return this.resolveName(target, depth + 1);
  }
  lookup(name: string): string | undefined {
    const n = this.resolveName(name);
    return n === undefined ? undefined : this.files.get(n)!.file;
  }
  known(name: string): ArchiveFile | undefined {
    const n = this.resolveName(name);
    return n === undefined ? undefined : this.files.get(n);
  }
  exists(name: string): boolean {
    return this.resolveName(name) !== undefined;
  }
  readFile(name: string): Buffer {
    const f = this.lookup(name);
    if (!f) throw new StoreError(`the archive has no ${name}`);
    return fs.readFileSync(f);
  }
  dispose(): void {
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
  describe(name: string): string {
    return `archive member ${name}`;
  }
}

/** Extracts a tar stream (plain, gzip or zstd) into ingest/; dispose() the result when done. */
export async function extractArchive(store: ImageStore, input: Readable): Promise<SourceTree> {
  const tree = new ExtractedTree(store.ingestPath('archive'));
  fs.mkdirSync(tree.dir, { mode: 0o700 });
  try {
    const stream = await maybeGunzip(input);
    const extract = tar.extract();
    let count = 0;
    const consume = (async () => {
      for await (const entry of extract) {
        const h = entry.header;
        const name = cleanName(h.name);
        if (h.type === 'file' || h.type === 'contiguous-file') {
          const file = path.join(tree.dir, `f${count++}`);
          const hc = new HashCount();
          await pipeline(entry, hc, fs.createWriteStream(file, { flags: 'wx', mode: 0o600 }));
          const fd = fs.openSync(file, 'r+');
          fs.fsyncSync(fd);
          fs.closeSync(fd);
          tree.files.set(name, { file, digest: `sha256:${hc.hash.digest('hex')}`, size: hc.size });
          continue;
        }
        if (h.type === 'symlink') {
          const target = h.linkname.startsWith('/') ? h.linkname : path.posix.join(path.posix.dirname(name), h.linkname);
          tree.links.set(name, path.posix.normalize(target).replace(/^\/+/, ''));
        } else if (h.type === 'link') {
          tree.links.set(name, cleanName(h.linkname));
        }
        entry.resume();
      }
    })();
    await Promise.all([pipeline(stream, extract).catch((e) => Promise.reject(tarError(e))), consume]);
    return tree;
  } catch (e) {
    tree.dispose();
    throw tarError(e);
  }
}

function tarError(e: unknown): Error {
  e = decompressionError(e, 'the archive');
  if (e instanceof StoreError) return e;
  const msg = (e as Error).message ?? String(e);
  if (/header|tar|Unexpected end/i.test(msg)) return new StoreError(`not a valid tar archive: ${msg}`);
  return e as Error;
}

/** A directory on disk (an OCI layout) seen as a SourceTree. */
export class DirTree implements SourceTree {
  constructor(readonly dir: string) {}
  private full(name: string): string {
    return path.join(this.dir, cleanName(name));
  }
  lookup(name: string): string | undefined {
    const f = this.full(name);
    try {
      return fs.statSync(f).isFile() ? f : undefined;
    } catch {
      return undefined;
    }
  }
  known(): ArchiveFile | undefined {
    return undefined;
  }
  exists(name: string): boolean {
    return this.lookup(name) !== undefined;
  }
  readFile(name: string): Buffer {
    const f = this.lookup(name);
    if (!f) throw new StoreError(`${this.dir} has no ${name}`);
    return fs.readFileSync(f);
  }
  dispose(): void {}
  describe(name: string): string {
    return path.join(this.dir, name);
  }
}
