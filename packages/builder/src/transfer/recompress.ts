/**
 * Layers as they leave the store (push, save, build --output): each layer in the compression
 * asked for, and the manifests (and index) that name them.
 *
 * As BuildKit's exporters do: an uncompressed layer is compressed; a layer stored compressed
 * goes out as it is, unless `force` asks for every layer in the one compression (then it is
 * decompressed, checked against its diff_id and compressed again). The config is never
 * changed, so the image ID and the diff_ids stay what they are; only the layer descriptors, and
 * so the manifest digest, change. Compressed layers are stored blobs (variants.ts): a second
 * push or export of the same layer reuses them.
 *
 * Docker's schema 2 has no zstd media type: a Docker manifest that gets zstd layers becomes an
 * OCI manifest (and a Docker manifest list holding one an OCI index), as buildah and skopeo
 * convert it; the config bytes stay the same.
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import { Transform, type TransformCallback } from 'stream';
import { pipeline } from 'stream/promises';
import { MediaType, type Descriptor, type ImageConfig, type Index, type Manifest } from '@tsrun/spec';
import { compressor, decompressionError, decompressor, effectiveLevel, fileCompression, type Compression, type CompressionSpec } from '../store/compression';
import { sha256 } from '../store/digest';
import { StoreError } from '../store/errors';
import { documentKind, isIndexType, layerFamily, layerMediaType } from '../store/media';
import type { ImageStore } from '../store/store';
import { findVariant, recordVariant } from '../store/variants';
import { runLimited } from '../registry/limit';

/** A layer blob that goes out: the stored layer itself or a variant of it. */
export interface ShippedLayer {
  /** The layer descriptor as stored. */
  source: Descriptor;
  digest: string;
  size: number;
  /** The compression of the blob that goes out. */
  compression: Compression;
  /** True when it is not the stored blob (compressed now or earlier). */
  converted: boolean;
}

class HashCount extends Transform {
  private readonly hash = crypto.createHash('sha256');
  size = 0;
  override _transform(chunk: Buffer, _e: BufferEncoding, cb: TransformCallback): void {
    this.hash.update(chunk);
    this.size += chunk.length;
    cb(null, chunk);
  }
  digest(): string {
    return `sha256:${this.hash.digest('hex')}`;
  }
}

/**
 * The blob to send for `layer` under `spec`. `onCompress` is told when a layer is really
 * compressed now (not when a variant is reused).
 */
export async function shipLayer(store: ImageStore, layer: Descriptor, diffId: string | undefined, spec: CompressionSpec, onCompress?: () => void): Promise<ShippedLayer> {
  const keep = (compression: Compression): ShippedLayer => ({ source: layer, digest: layer.digest, size: layer.size, compression, converted: false });
  // what is not a layer (an artifact's blob) goes as it is
  if (!layerFamily(layer.mediaType)) return keep('uncompressed');
  if (!store.hasBlob(layer.digest)) throw new StoreError(`blob ${layer.digest} is missing from the image store ${store.root}`);
  // by content: media types in the wild may lie (skopeo 1.9 pushes plain layers as tar.gzip)
  const actual = fileCompression(store.blobPath(layer.digest));
  const want = spec.compression;
  if (actual === want || (actual !== 'uncompressed' && !spec.force)) return keep(actual);
  if (!diffId) throw new StoreError(`layer ${layer.digest}: the image config has no diff_id for it`);
  const level = effectiveLevel(spec);
  const made = (digest: string, size: number): ShippedLayer => ({ source: layer, digest, size, compression: want, converted: true });
  if (want === 'uncompressed') {
    const size = store.blobSize(diffId);
    if (size !== undefined) return made(diffId, size);
  } else {
    const v = findVariant(store.root, diffId, want, level!);
    if (v && store.blobSize(v.digest) === v.size) return made(v.digest, v.size);
  }
  // the streams first: a missing zstd program fails here, before anything is opened
  const unpack = decompressor(actual);
  let pack;
  try {
    pack = compressor(want, level);
  } catch (e) {
    unpack.destroy();
    throw e;
  }
  onCompress?.();
  return store.session(async () => {
    const tmp = store.ingestPath('compress');
    const plain = new HashCount();
    const out = new HashCount();
    try {
      try {
        // opened here, not by the stream, so that a failure never creates it after the cleanup
        const fd = fs.openSync(tmp, 'wx', 0o644);
        await pipeline(store.openBlob(layer.digest), unpack, plain, pack, out, fs.createWriteStream(tmp, { fd }));
      } catch (e) {
        throw decompressionError(e, `layer ${layer.digest}`);
      }
      const u = plain.digest();
      if (u !== diffId) throw new StoreError(`layer ${layer.digest} does not match the image config: its uncompressed content is ${u}, the config says ${diffId}`);
      const digest = out.digest();
      const fd = fs.openSync(tmp, 'r');
      fs.fsyncSync(fd);
      fs.closeSync(fd);
      store.commitFile(tmp, digest);
      if (want !== 'uncompressed') recordVariant(store.root, { uncompressed: diffId, compression: want, level: level!, digest, size: out.size, source: layer.digest });
      return made(digest, out.size);
    } finally {
      fs.rmSync(tmp, { force: true });
    }
  });
}

/** One image manifest as it goes out. */
export interface PlannedManifest {
  /** Its descriptor as stored (in index.json or the index). */
  stored: Descriptor;
  /** What goes out: the same, or the rewritten manifest. */
  desc: Descriptor;
  bytes: Buffer;
  doc: Manifest;
  layers: ShippedLayer[];
}

export interface ImagePlan {
  /** The top descriptor (manifest or index) as it goes out, without annotations. */
  top: Descriptor;
  topBytes: Buffer;
  isIndex: boolean;
  /** The manifests of the image (an index's that are stored), children before the index. */
  manifests: PlannedManifest[];
  /** Whether anything differs from the store (else every byte goes out as stored). */
  changed: boolean;
}

export interface PlanOptions {
  /** Layers compressed at a time (default 2). */
  concurrency?: number;
  /** Told when a layer is compressed now (its stored digest). */
  onCompress?: (layer: Descriptor) => void;
  /** Refuse an index whose manifests are not all stored (a push needs them all). */
  requireAll?: boolean;
  /** Name of the image for errors. */
  name?: string;
}

const DOCKER_TO_OCI: Record<string, string> = {
  [MediaType.DockerConfig]: MediaType.ImageConfig,
};

/** Rewrites a manifest for its shipped layers; the same bytes when nothing changed. */
function rewriteManifest(stored: Descriptor, bytes: Buffer, doc: Manifest, layers: ShippedLayer[]): PlannedManifest {
  if (!layers.some((l) => l.converted)) return { stored, desc: stored, bytes, doc, layers };
  const own = (doc as { mediaType?: string }).mediaType;
  const docker = stored.mediaType === MediaType.DockerManifest || own === MediaType.DockerManifest;
  const compressionOf = (l: ShippedLayer) => (l.converted ? l.compression : layerFamily(l.source.mediaType)?.compression);
  const oci = !docker || layers.some((l) => compressionOf(l) === 'zstd');
  const out: Manifest = {
    ...doc,
    ...(docker && oci ? { mediaType: MediaType.ImageManifest, config: { ...doc.config, mediaType: DOCKER_TO_OCI[doc.config.mediaType] ?? doc.config.mediaType } } : {}),
    layers: doc.layers.map((l, i) => {
      const s = layers[i];
      const c = compressionOf(s);
      if (!s.converted && !(docker && oci)) return l;
      if (c === undefined) return l; // not a layer type: as it is
      return { ...l, mediaType: layerMediaType(l.mediaType, c, oci), digest: s.digest, size: s.size };
    }),
  } as Manifest;
  const outBytes = Buffer.from(JSON.stringify(out));
  const mediaType = docker && oci ? MediaType.ImageManifest : stored.mediaType ?? own;
  const desc: Descriptor = { ...stored, mediaType: mediaType!, digest: sha256(outBytes), size: outBytes.length };
  return { stored, desc, bytes: outBytes, doc: out, layers };
}

function parse<T>(bytes: Buffer, what: string): T {
  try {
    return JSON.parse(bytes.toString('utf8')) as T;
  } catch (e) {
    throw new StoreError(`${what} is not valid JSON: ${(e as Error).message}`);
  }
}

/**
 * The image under `top` as it goes out with `spec` (undefined: exactly as stored). Layers are
 * compressed here, into the store, so what the plan names can be read with store.openBlob.
 */
export async function planImage(store: ImageStore, top: Descriptor, spec: CompressionSpec | undefined, opts: PlanOptions = {}): Promise<ImagePlan> {
  const name = opts.name ?? top.digest;
  const topBytes = store.readBlob(top.digest);
  const topDoc = parse<Index | Manifest>(topBytes, `${name}: ${top.digest}`);
  const isIndex = isIndexType(top.mediaType) || documentKind(topDoc) === 'index';
  const children = isIndex ? (topDoc as Index).manifests ?? [] : [top];
  const stored: { desc: Descriptor; bytes: Buffer; doc: Manifest }[] = [];
  for (const d of children) {
    if (!store.hasBlob(d.digest)) {
      if (opts.requireAll) throw new StoreError(`${name}: manifest ${d.digest} of its index is not in the store`);
      continue;
    }
    const bytes = d === top ? topBytes : store.readBlob(d.digest);
    const doc = parse<Manifest>(bytes, `${name}: manifest ${d.digest}`);
    if (documentKind(doc) !== 'manifest') {
      if (opts.requireAll) throw new StoreError(`${name}: ${d.digest} is not an image manifest`);
      continue;
    }
    stored.push({ desc: d, bytes, doc });
  }

  // every layer of every manifest, each distinct blob shipped once
  const jobs: { layer: Descriptor; diffId?: string }[] = [];
  for (const m of stored) {
    let diffIds: string[] = [];
    if (spec) {
      const cfg = store.readJSON<ImageConfig>(m.doc.config.digest);
      diffIds = cfg.rootfs?.diff_ids ?? [];
      if (diffIds.length !== m.doc.layers.length) diffIds = []; // nothing to check conversions against: refused when one is needed
    }
    m.doc.layers.forEach((l, i) => {
      if (!jobs.some((j) => j.layer.digest === l.digest)) jobs.push({ layer: l, diffId: diffIds[i] });
    });
  }
  const results = new Map<string, ShippedLayer>();
  if (spec) {
    await runLimited(jobs, opts.concurrency ?? 2, async (j) => {
      results.set(j.layer.digest, await shipLayer(store, j.layer, j.diffId, spec, () => opts.onCompress?.(j.layer)));
    });
  }
  const keep = (l: Descriptor): ShippedLayer => ({ source: l, digest: l.digest, size: l.size, compression: layerFamily(l.mediaType)?.compression ?? 'uncompressed', converted: false });
  const manifests = stored.map((m) => rewriteManifest(m.desc, m.bytes, m.doc, m.doc.layers.map((l) => results.get(l.digest) ?? keep(l))));
  const changed = manifests.some((m) => m.desc.digest !== m.stored.digest);
  const base = (d: Descriptor): Descriptor => ({ mediaType: d.mediaType, digest: d.digest, size: d.size, ...(d.platform ? { platform: d.platform } : {}) });
  if (!changed) return { top: base(top), topBytes, isIndex, manifests, changed };
  if (!isIndex) {
    const m = manifests[0];
    return { top: base({ ...top, mediaType: m.desc.mediaType, digest: m.desc.digest, size: m.desc.size }), topBytes: m.bytes, isIndex, manifests, changed };
  }
  const index = topDoc as Index;
  const dockerList = top.mediaType === MediaType.DockerManifestList || (index as { mediaType?: string }).mediaType === MediaType.DockerManifestList;
  const toOci = dockerList && manifests.some((m) => m.desc.mediaType === MediaType.ImageManifest);
  const out: Index = {
    ...index,
    ...(toOci ? { mediaType: MediaType.ImageIndex } : {}),
    manifests: (index.manifests ?? []).map((c) => {
      const m = manifests.find((x) => x.stored.digest === c.digest);
      return m ? { ...c, mediaType: m.desc.mediaType, digest: m.desc.digest, size: m.desc.size } : c;
    }),
  } as Index;
  const bytes = Buffer.from(JSON.stringify(out));
  return { top: base({ ...top, mediaType: toOci ? MediaType.ImageIndex : top.mediaType, digest: sha256(bytes), size: bytes.length }), topBytes: bytes, isIndex, manifests, changed };
}
