/**
 * One layer blob → a directory: decompress (by media type), hash the tar stream for its diff_id,
 * parse it (tar-reader.ts) and write it (writer.ts). The caller owns the directory and removes
 * it when this fails: a layer whose diff_id does not match what the image config says is an
 * error after the fact, so it must be unpacked somewhere nothing uses yet.
 */
import * as crypto from 'crypto';
import { Readable } from 'stream';
import { pipeline } from 'stream/promises';
import * as zlib from 'zlib';
import { TarError, TarReader } from './tar-reader';
import { LayerError, LayerWriter, UnpackMode } from './writer';

export { LayerError, type UnpackMode } from './writer';

export type Compression = 'none' | 'gzip' | 'zstd';

/** The compression a layer media type implies, or undefined for a type that is not a layer. */
export function compressionOf(mediaType: string): Compression | undefined {
  switch (mediaType) {
    case 'application/vnd.oci.image.layer.v1.tar':
    case 'application/vnd.oci.image.layer.nondistributable.v1.tar':
    case 'application/vnd.docker.image.rootfs.diff.tar':
      return 'none';
    case 'application/vnd.oci.image.layer.v1.tar+gzip':
    case 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip':
    case 'application/vnd.docker.image.rootfs.diff.tar.gzip':
    case 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip':
      return 'gzip';
    case 'application/vnd.oci.image.layer.v1.tar+zstd':
    case 'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd':
    case 'application/vnd.docker.image.rootfs.diff.tar.zstd':
      return 'zstd';
    default:
      return undefined;
  }
}

export interface UnpackOptions {
  mediaType: string;
  /** Directory to write into; see writer.ts for the modes. */
  target: string;
  mode: UnpackMode;
  /** Overlay mode: unpacked lower layers, topmost first. */
  lowers?: string[];
  /** Apply mode: an existing directory keeps the xattrs its entry does not name (ADD of an archive). */
  mergeDirXattrs?: boolean;
  /** The expected digest of the uncompressed tar (the image config's rootfs.diff_ids entry). */
  diffId?: string;
  /** How to name the layer in errors (its blob digest). */
  name: string;
}

export interface UnpackResult {
  diffId: string;
  /** Bytes of uncompressed tar. */
  size: number;
  /** Overlay mode: the result depends on the lower layers (parents or hard-link targets came from them). */
  usedLowers: boolean;
}

/** Feeds the uncompressed bytes of `blob` to `consume`, synchronously as they come. */
async function decompress(blob: Readable, compression: Compression, consume: (b: Buffer) => void): Promise<void> {
  const sink = async (source: AsyncIterable<Buffer>) => {
    for await (const chunk of source) consume(chunk);
  };
  if (compression === 'none') return pipeline(blob, sink);
  if (compression === 'gzip') return pipeline(blob, zlib.createGunzip({ chunkSize: 256 * 1024 }), sink);
  // fzstd calls back synchronously with each decoded block; it is consumed before the next.
  // Loaded here: zstd layers are rare, and a bundle from cached layers needs no decoder.
  const { Decompress } = require('fzstd') as typeof import('fzstd');
  return pipeline(blob, async (source: AsyncIterable<Buffer>) => {
    const d = new Decompress((b) => consume(Buffer.from(b.buffer, b.byteOffset, b.length)));
    for await (const chunk of source) d.push(chunk);
    d.push(new Uint8Array(0), true);
  });
}

/**
 * The compression a layer really has, from its first bytes (gzip 1f 8b, zstd 28 b5 2f fd, else a
 * plain tar), and a stream that still yields those bytes. Docker decides by content too
 * (moby's DecompressStream): images in the wild carry media types that lie, e.g. skopeo 1.9
 * pushes a docker-archive's plain layers as tar.gzip.
 */
async function sniff(blob: Readable): Promise<{ compression: Compression; stream: Readable }> {
  const it = blob[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const head: Buffer[] = [];
  let size = 0;
  let done = false;
  while (size < 4) {
    const next = await it.next();
    if (next.done) {
      done = true;
      break;
    }
    head.push(next.value);
    size += next.value.length;
  }
  const start = Buffer.concat(head);
  const compression: Compression =
    start[0] === 0x1f && start[1] === 0x8b ? 'gzip' : start.length >= 4 && start.readUInt32LE(0) === 0xfd2fb528 ? 'zstd' : 'none';
  const rest = async function* () {
    if (start.length) yield start;
    if (done) return;
    for (;;) {
      const next = await it.next();
      if (next.done) return;
      yield next.value;
    }
  };
  return { compression, stream: Readable.from(rest(), { objectMode: false }) };
}

export async function unpackLayer(blob: Readable, opts: UnpackOptions): Promise<UnpackResult> {
  if (!compressionOf(opts.mediaType)) {
    blob.destroy();
    throw new LayerError(`layer ${opts.name}: unsupported layer media type ${opts.mediaType}`);
  }
  const sniffed = await sniff(blob);
  const compression = sniffed.compression;
  blob = sniffed.stream;
  const hash = crypto.createHash('sha256');
  let size = 0;
  const writer = new LayerWriter(opts.target, opts.mode, opts.lowers, opts.mergeDirXattrs);
  const reader = new TarReader(writer);
  try {
    await decompress(blob, compression, (b) => {
      hash.update(b);
      size += b.length;
      reader.push(b);
    });
    reader.end();
    writer.finish();
  } catch (e) {
    writer.abort();
    const msg = (e as Error).message;
    if (e instanceof LayerError) throw new LayerError(`layer ${opts.name}: ${msg}`);
    if (e instanceof TarError) throw new LayerError(`layer ${opts.name}: ${msg}`);
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && code.startsWith('Z_')) throw new LayerError(`layer ${opts.name}: invalid gzip data (${msg})`);
    // fzstd's errors carry a numeric code.
    if (compression === 'zstd' && typeof code === 'number') throw new LayerError(`layer ${opts.name}: invalid zstd data (${msg})`);
    throw e;
  }
  const diffId = `sha256:${hash.digest('hex')}`;
  if (opts.diffId && opts.diffId !== diffId) {
    throw new LayerError(`layer ${opts.name}: uncompressed content is ${diffId}, not the image's diff_id ${opts.diffId}`);
  }
  return { diffId, size, usedLowers: writer.usedLowers };
}
