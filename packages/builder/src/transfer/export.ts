/**
 * Exporting images from the store: an OCI layout (directory or oci-archive tarball, which
 * `podman load`, `skopeo copy oci-archive:` and `docker load` (25+) read) or a Docker archive
 * (`docker load`, `podman load`): manifest.json, repositories, <config hex>.json and one
 * uncompressed <diff_id hex>.tar per layer. With a compression (recompress.ts), layers are
 * written gzip or zstd (or all uncompressed) and the OCI manifests rewritten to name them.
 * Blobs are verified as they are copied out; the output appears under its name only when
 * complete.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as crypto from 'crypto';
import { Readable, Writable } from 'stream';
import { pipeline } from 'stream/promises';
import * as tar from 'tar-stream';
import { Annotation, MediaType, type Descriptor, type Index, type Manifest } from '@tsrun/spec';
import { encoded } from '../store/digest';
import { StoreError } from '../store/errors';
import { documentKind, isIndexType, isManifestType, layerCompression } from '../store/media';
import { decompressionError, decompressor, fileCompression, type CompressionSpec } from '../store/compression';
import { tempName } from '../store/fsutil';
import type { ImageStore, ResolvedImage } from '../store/store';
import { planImage, shipLayer } from './recompress';

export type ExportFormat = 'oci-archive' | 'oci-dir' | 'docker-archive';
export const EXPORT_FORMATS: ExportFormat[] = ['docker-archive', 'oci-archive', 'oci-dir'];

/** An image to export and the tags to give it there (none: exported untagged). */
export interface ExportItem {
  image: ResolvedImage;
  names: string[];
}

/** Where exported files go: a directory or a tar stream. */
interface Sink {
  file(name: string, data: Buffer): Promise<void>;
  stream(name: string, size: number, content: Readable): Promise<void>;
}

class DirSink implements Sink {
  private readonly made = new Set<string>();
  constructor(private readonly dir: string) {}
  private prepare(name: string): string {
    const full = path.join(this.dir, name);
    const parent = path.dirname(full);
    if (!this.made.has(parent)) {
      fs.mkdirSync(parent, { recursive: true });
      this.made.add(parent);
    }
    return full;
  }
  async file(name: string, data: Buffer): Promise<void> {
    fs.writeFileSync(this.prepare(name), data, { mode: 0o644 });
  }
  async stream(name: string, _size: number, content: Readable): Promise<void> {
    await pipeline(content, fs.createWriteStream(this.prepare(name), { mode: 0o644 }));
  }
}

class TarSink implements Sink {
  readonly pack = tar.pack();
  private readonly dirs = new Set<string>();
  private readonly mtime = new Date(0);
  private dirsFor(name: string): void {
    const parts = name.split('/').slice(0, -1);
    for (let i = 1; i <= parts.length; i++) {
      const d = parts.slice(0, i).join('/');
      if (this.dirs.has(d)) continue;
      this.dirs.add(d);
      this.pack.entry({ name: `${d}/`, type: 'directory', mode: 0o755, mtime: this.mtime });
    }
  }
  async file(name: string, data: Buffer): Promise<void> {
    this.dirsFor(name);
    await new Promise<void>((resolve, reject) => this.pack.entry({ name, size: data.length, mode: 0o644, mtime: this.mtime }, data, (e) => (e ? reject(e) : resolve())));
  }
  async stream(name: string, size: number, content: Readable): Promise<void> {
    this.dirsFor(name);
    const entry = this.pack.entry({ name, size, mode: 0o644, mtime: this.mtime });
    await pipeline(content, entry as unknown as Writable);
  }
}

function blobName(digest: string): string {
  return `blobs/sha256/${encoded(digest)}`;
}

/** Every blob of an image's closure in the store (children of an index that are absent skipped). */
function closure(store: ImageStore, top: Descriptor): Descriptor[] {
  const out = new Map<string, Descriptor>();
  const visit = (d: Descriptor, depth: number) => {
    if (out.has(d.digest) || depth > 4) return;
    const doc = isIndexType(d.mediaType) || isManifestType(d.mediaType) || !d.mediaType ? store.readJSON<unknown>(d.digest) : undefined;
    const kind = doc === undefined ? undefined : isIndexType(d.mediaType) ? 'index' : isManifestType(d.mediaType) ? 'manifest' : documentKind(doc);
    if (kind === 'index') {
      for (const c of (doc as Index).manifests) if (store.hasBlob(c.digest)) visit(c, depth + 1);
    } else if (kind === 'manifest') {
      const m = doc as Manifest;
      visit(m.config, depth + 1);
      for (const l of m.layers) visit(l, depth + 1);
    } else if (!store.hasBlob(d.digest)) {
      throw new StoreError(`blob ${d.digest} is missing from the image store ${store.root}`);
    }
    out.set(d.digest, d);
  };
  visit(top, 0);
  return [...out.values()];
}

async function writeLayout(store: ImageStore, items: ExportItem[], sink: Sink, spec?: CompressionSpec): Promise<void> {
  await sink.file('oci-layout', Buffer.from(JSON.stringify({ imageLayoutVersion: '1.0.0' })));
  const written = new Set<string>();
  const manifests: Descriptor[] = [];
  const stored = async (digest: string) => {
    if (written.has(digest)) return;
    written.add(digest);
    await sink.stream(blobName(digest), store.blobSize(digest)!, store.openBlob(digest));
  };
  for (const { image, names } of items) {
    const plan = spec ? await planImage(store, image.top, spec) : undefined;
    let top = image.top;
    if (!plan?.changed) {
      for (const d of closure(store, image.top)) await stored(d.digest);
    } else {
      // the rewritten manifests (and index) from memory, the blobs they name from the store
      for (const m of plan.manifests) {
        await stored(m.doc.config.digest);
        for (const l of m.doc.layers) await stored(l.digest);
        if (!written.has(m.desc.digest)) {
          written.add(m.desc.digest);
          await sink.file(blobName(m.desc.digest), m.bytes);
        }
      }
      if (plan.isIndex && !written.has(plan.top.digest)) {
        written.add(plan.top.digest);
        await sink.file(blobName(plan.top.digest), plan.topBytes);
      }
      top = plan.top;
    }
    const base: Descriptor = { mediaType: top.mediaType, digest: top.digest, size: top.size };
    if (image.top.platform) base.platform = image.top.platform;
    if (!names.length) manifests.push(base);
    for (const n of names) manifests.push({ ...base, annotations: { [Annotation.RefName]: n } });
  }
  const index: Index = { schemaVersion: 2, mediaType: MediaType.ImageIndex, manifests };
  await sink.file('index.json', Buffer.from(JSON.stringify(index)));
}

/** A layer as an uncompressed tar file in ingest/ (docker-archive needs its size up front). */
async function uncompressedLayer(store: ImageStore, layer: Descriptor, diffId: string): Promise<{ file: string; size: number; temp: boolean }> {
  if (!layerCompression(layer.mediaType)) throw new StoreError(`layer ${layer.digest}: unsupported media type ${layer.mediaType}`);
  if (!store.hasBlob(layer.digest)) throw new StoreError(`blob ${layer.digest} is missing from the image store ${store.root}`);
  // by content, whatever the media type says
  const kind = fileCompression(store.blobPath(layer.digest));
  if (kind === 'uncompressed') return { file: store.blobPath(layer.digest), size: store.blobSize(layer.digest)!, temp: false };
  const file = store.ingestPath('layer');
  const hash = crypto.createHash('sha256');
  let size = 0;
  try {
    await pipeline(
      store.openBlob(layer.digest),
      decompressor(kind),
      async function* (src: AsyncIterable<Buffer>) {
        for await (const c of src) {
          hash.update(c);
          size += c.length;
          yield c;
        }
      },
      fs.createWriteStream(file, { flags: 'wx', mode: 0o600 }),
    );
  } catch (e) {
    fs.rmSync(file, { force: true });
    throw decompressionError(e, `layer ${layer.digest}`);
  }
  const actual = `sha256:${hash.digest('hex')}`;
  if (actual !== diffId) {
    fs.rmSync(file, { force: true });
    throw new StoreError(`layer ${layer.digest} does not match the image config: its diff_id is ${actual}, the config says ${diffId}`);
  }
  return { file, size, temp: true };
}

/**
 * docker-archive: manifest.json, repositories, the configs and the layers. Uncompressed (the
 * default, as docker save writes them), each layer is `<diff_id hex>.tar`; gzip or zstd, it is
 * `blobs/sha256/<hex>` of the compressed blob, as BuildKit's docker exporter and docker 25
 * write them (docker load and podman load decompress what they find).
 */
async function writeDockerArchive(store: ImageStore, items: ExportItem[], sink: Sink, spec?: CompressionSpec): Promise<void> {
  const compressed = spec !== undefined && spec.compression !== 'uncompressed';
  const entries: { Config: string; RepoTags: string[] | null; Layers: string[] }[] = [];
  const repositories: Record<string, Record<string, string>> = {};
  const written = new Set<string>();
  for (const { image, names } of items) {
    const diffIds = image.config.rootfs?.diff_ids ?? [];
    if (diffIds.length !== image.layers.length) throw new StoreError(`image ${image.id}: the config lists ${diffIds.length} diff_ids for ${image.layers.length} layers`);
    const configName = `${encoded(image.id)}.json`;
    if (!written.has(configName)) {
      await sink.file(configName, store.readBlob(image.id));
      written.add(configName);
    }
    const layerNames: string[] = [];
    for (const [i, layer] of image.layers.entries()) {
      if (compressed) {
        const shipped = await shipLayer(store, layer, diffIds[i], spec);
        const name = shipped.compression === 'uncompressed' ? `${encoded(diffIds[i])}.tar` : blobName(shipped.digest);
        layerNames.push(name);
        if (written.has(name)) continue;
        written.add(name);
        await sink.stream(name, shipped.size, store.openBlob(shipped.digest));
        continue;
      }
      const name = `${encoded(diffIds[i])}.tar`;
      layerNames.push(name);
      if (written.has(name)) continue;
      const u = await uncompressedLayer(store, layer, diffIds[i]);
      try {
        // An uncompressed blob is verified on the way out; a decompressed one was just hashed.
        await sink.stream(name, u.size, u.temp ? fs.createReadStream(u.file) : store.openBlob(layer.digest));
      } finally {
        if (u.temp) fs.rmSync(u.file, { force: true });
      }
      written.add(name);
    }
    entries.push({ Config: configName, RepoTags: names.length ? names : null, Layers: layerNames });
    for (const n of names) {
      const colon = n.lastIndexOf(':');
      const top = diffIds.length ? encoded(diffIds[diffIds.length - 1]) : encoded(image.id);
      (repositories[n.slice(0, colon)] ??= {})[n.slice(colon + 1)] = top;
    }
  }
  await sink.file('manifest.json', Buffer.from(JSON.stringify(entries)));
  await sink.file('repositories', Buffer.from(JSON.stringify(repositories)));
}

/** How layers are written: as stored (OCI formats) or uncompressed (docker-archive) by default. */
export interface ExportOptions {
  compression?: CompressionSpec;
}

function write(store: ImageStore, format: ExportFormat, items: ExportItem[], sink: Sink, opts: ExportOptions): Promise<void> {
  return format === 'docker-archive' ? writeDockerArchive(store, items, sink, opts.compression) : writeLayout(store, items, sink, opts.compression);
}

/** Streams a tar archive into `out`; on error the archive is torn down and the error thrown. */
async function writeTar(store: ImageStore, format: ExportFormat, items: ExportItem[], out: Writable, opts: ExportOptions): Promise<void> {
  const sink = new TarSink();
  const done = pipeline(sink.pack as unknown as Readable, out);
  try {
    await write(store, format, items, sink, opts);
    sink.pack.finalize();
  } catch (e) {
    sink.pack.destroy(e as Error);
    await done.catch(() => undefined);
    throw e;
  }
  await done;
}

/** Writes the archive to a stream (e.g. stdout). */
export async function exportToStream(store: ImageStore, format: Exclude<ExportFormat, 'oci-dir'>, items: ExportItem[], out: Writable, opts: ExportOptions = {}): Promise<void> {
  await store.session(() => writeTar(store, format, items, out, opts));
}

/**
 * Writes an archive file or (oci-dir) a directory at `target`, through a temporary name next
 * to it: on error nothing is left, and an existing target is only replaced when complete
 * (a directory target must not exist or be empty).
 */
export async function exportToPath(store: ImageStore, format: ExportFormat, items: ExportItem[], target: string, opts: ExportOptions = {}): Promise<void> {
  const dest = path.resolve(target);
  const tmp = path.join(path.dirname(dest), tempName(`.${path.basename(dest)}`));
  const st = fs.statSync(dest, { throwIfNoEntry: false });
  if (st?.isDirectory() && (format !== 'oci-dir' || fs.readdirSync(dest).length > 0)) {
    throw new StoreError(`${target} is ${format === 'oci-dir' ? 'a directory that is not empty' : 'a directory'}`);
  }
  if (st && !st.isDirectory() && format === 'oci-dir') throw new StoreError(`${target} exists and is not a directory`);
  await store.session(async () => {
    try {
      if (format === 'oci-dir') {
        fs.mkdirSync(tmp, { mode: 0o755 });
        await write(store, format, items, new DirSink(tmp), opts);
        if (fs.existsSync(dest)) fs.rmdirSync(dest);
        fs.renameSync(tmp, dest);
      } else {
        // opened here, not by the stream: a write that fails at once must not create it later
        const fd = fs.openSync(tmp, 'wx', 0o644);
        await writeTar(store, format, items, fs.createWriteStream(tmp, { fd }), opts);
        const rfd = fs.openSync(tmp, 'r');
        fs.fsyncSync(rfd);
        fs.closeSync(rfd);
        fs.renameSync(tmp, dest);
      }
    } catch (e) {
      fs.rmSync(tmp, { recursive: true, force: true });
      throw e;
    }
  });
}
