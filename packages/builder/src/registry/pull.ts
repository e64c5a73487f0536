/**
 * `pullImage`: a registry image into the store, verified and all-or-nothing.
 *
 * The manifest (for a multi-platform index, the one for the wanted platform) is fetched by
 * tag or digest; the blobs the store lacks are downloaded in parallel into its ingest/
 * directory, each verified against its digest (resumed after a broken connection), and each
 * layer (gzip, zstd or plain, by its content) against the config's diff_id, decompressed and
 * hashed as it arrives.
 * Only when all are there are they moved into blobs/, then the manifest is stored and the tag set
 * (blobs first, index.json last, under the store's session lock). A pull that fails leaves
 * the store as it was: nothing in blobs/, no tag.
 *
 * The stored image is the platform's manifest (as docker and podman store it); `digest` in
 * the result is what the registry serves for the reference (the index's digest for a
 * multi-platform image), as docker prints after "Digest:".
 */
import * as fs from 'fs';
import type { Descriptor, ImageConfig, Index, Manifest, Platform } from '@tsrun/spec';
import { UncompressedHasher } from '../store/compression';
import { checkDigest } from '../store/digest';
import { NoSuchImageError } from '../store/errors';
import { isIndexType, layerFamily } from '../store/media';
import { chooseManifest, formatPlatform, hostPlatform } from '../store/platform';
import { formatReference, parseReference, type Reference } from '../store/reference';
import type { ImageStore } from '../store/store';
import { pullScope } from './auth';
import { RegistryClient, type DownloadTap, type RegistryOptions } from './client';
import { RegistryError } from './errors';
import type { ProgressSink } from './events';
import { runLimited } from './limit';

export type PullPolicy = 'always' | 'missing' | 'never';

export interface PullOptions extends RegistryOptions {
  /** The platform to pull from a multi-platform image (default: this host's). */
  platform?: Platform;
  /**
   * 'missing' (default): use the stored image if the reference names one, else pull;
   * 'always': ask the registry and download whatever changed (the builder's --pull);
   * 'never': the store only (NoSuchImageError when absent).
   */
  policy?: PullPolicy;
  progress?: ProgressSink;
  /** Parallel blob downloads (default 3, as docker). */
  concurrency?: number;
}

export interface PullResult {
  /** The full normalised reference ("docker.io/library/busybox:latest"). */
  reference: string;
  /** The index.json entry of the image (its platform manifest). */
  descriptor: Descriptor;
  /** What the registry serves for the reference (an index digest for multi-platform images). */
  digest?: string;
  /** The image ID (config digest). */
  id: string;
  /** False when the store already had this image under the reference (nothing new). */
  pulled: boolean;
}

/** The stored image a reference names, if it resolves for `platform`. */
function stored(store: ImageStore, ref: Reference, platform: Platform): PullResult | undefined {
  try {
    const [entry] = store.find(formatReference(ref), platform);
    const img = store.describe(entry.descriptor, platform);
    return { reference: formatReference(ref), descriptor: entry.descriptor, id: img.id, pulled: false };
  } catch {
    return undefined;
  }
}

export async function pullImage(store: ImageStore, reference: string, opts: PullOptions = {}): Promise<PullResult> {
  const ref = parseReference(reference);
  const platform = opts.platform ?? hostPlatform();
  const policy = opts.policy ?? 'missing';
  if (policy !== 'always') {
    const have = stored(store, ref, platform);
    if (have) return have;
    if (policy === 'never') throw new NoSuchImageError(reference);
  }
  const name = `${ref.domain}/${ref.path}`;
  const client = new RegistryClient(ref.domain, [pullScope(ref.path)], opts);

  const top = await client.getManifest(ref.path, ref.digest ?? ref.tag!);
  let manifestDoc = top;
  let manifestDesc: Descriptor = { mediaType: top.mediaType, digest: top.digest, size: top.bytes.length };
  if (isIndexType(top.mediaType)) {
    const index = parseJSON<Index>(top.bytes, `${name}: index ${top.digest}`);
    const chosen = chooseManifest(index.manifests ?? [], platform);
    if (!chosen) {
      const offered = (index.manifests ?? []).filter((m) => m.platform).map((m) => formatPlatform(m.platform!));
      throw new RegistryError(`${formatReference(ref)}: no image for platform ${formatPlatform(platform)} (it has ${offered.join(', ') || 'none'})`);
    }
    manifestDoc = await client.getManifest(ref.path, checkDigest(chosen.digest, `manifest digest in index ${top.digest}`));
    if (isIndexType(manifestDoc.mediaType)) throw new RegistryError(`${name}: nested index ${manifestDoc.digest} is not supported`);
    manifestDesc = { mediaType: manifestDoc.mediaType, digest: manifestDoc.digest, size: manifestDoc.bytes.length, ...(chosen.platform ? { platform: chosen.platform } : {}) };
  }
  const manifest = parseJSON<Manifest>(manifestDoc.bytes, `${name}: manifest ${manifestDoc.digest}`);
  if (!manifest.config || !Array.isArray(manifest.layers)) throw new RegistryError(`${name}: manifest ${manifestDoc.digest} has no config or layers`);
  const blobs: { desc: Descriptor; kind: 'config' | 'layer' }[] = [];
  for (const [desc, kind] of [[manifest.config, 'config'], ...manifest.layers.map((l) => [l, 'layer'])] as [Descriptor, 'config' | 'layer'][]) {
    checkDigest(desc?.digest, `${kind} digest in manifest ${manifestDoc.digest}`);
    if (!Number.isSafeInteger(desc.size) || desc.size < 0) throw new RegistryError(`${name}: manifest ${manifestDoc.digest}: ${kind} ${desc.digest} has no valid size`);
    if (!blobs.some((b) => b.desc.digest === desc.digest)) blobs.push({ desc, kind });
  }

  const previous = ref.tag ? stored(store, ref, platform)?.descriptor.digest : undefined;
  return store.session(async () => {
    const downloads = new Map<string, string>();
    try {
      const missing = blobs.filter((b) => !store.hasBlob(b.desc.digest));
      for (const b of blobs) opts.progress?.({ digest: b.desc.digest, kind: b.kind, action: missing.includes(b) ? 'waiting' : 'exists', total: b.desc.size });
      const download = async ({ desc, kind }: (typeof blobs)[number], tap?: DownloadTap) => {
        const tmp = store.ingestPath('pull');
        downloads.set(desc.digest, tmp);
        opts.progress?.({ digest: desc.digest, kind, action: 'downloading', done: 0, total: desc.size });
        await client.downloadBlob(ref.path, desc, tmp, (done, total) => opts.progress?.({ digest: desc.digest, kind, action: 'downloading', done, total }), tap);
      };
      // the config first: its diff_ids are what the layers must decompress to
      const configBlob = missing.find((b) => b.kind === 'config' && b.desc.digest === manifest.config.digest);
      if (configBlob) await download(configBlob);
      const configFile = downloads.get(manifest.config.digest);
      const config = parseJSON<ImageConfig>(configFile ? fs.readFileSync(configFile) : store.readBlob(manifest.config.digest), `${name}: image config ${manifest.config.digest}`);
      const diffIds = expectedDiffIds(name, manifestDoc.digest, manifest, config);
      await runLimited(missing.filter((b) => b !== configBlob), opts.concurrency ?? 3, async (b) => {
        // both digests: the blob's, and its uncompressed content's, hashed as it arrives
        const want = b.kind === 'layer' ? diffIds.get(b.desc.digest) : undefined;
        const what = `${name}: layer ${b.desc.digest}`;
        let check = want !== undefined ? new UncompressedHasher(what) : undefined;
        const tap: DownloadTap | undefined = check && {
          data: (c) => check!.write(c),
          restart: () => (check!.destroy(), (check = new UncompressedHasher(what))),
        };
        try {
          await download(b, tap);
        } catch (e) {
          check?.destroy();
          throw e;
        }
        if (!check) return;
        const got = await check.end();
        if (got !== want) {
          throw new RegistryError(`${name}: layer ${b.desc.digest} failed verification: its uncompressed content has digest ${got}, the image config's diff_id is ${want}`, undefined, 'DIGEST_MISMATCH');
        }
      });
      // every blob is here and verified: now they may enter the store
      for (const [digest, tmp] of downloads) {
        store.commitFile(tmp, digest);
        const b = blobs.find((x) => x.desc.digest === digest)!;
        opts.progress?.({ digest, kind: b.kind, action: 'downloaded', done: b.desc.size, total: b.desc.size });
      }
      await store.putBlob(manifestDoc.bytes, { digest: manifestDoc.digest });
      if (ref.tag) await store.tag(formatReference({ ...ref, digest: undefined }), manifestDesc);
      else await store.addImages([{ descriptor: manifestDesc }]);
      return { reference: formatReference(ref), descriptor: manifestDesc, digest: top.digest, id: manifest.config.digest, pulled: downloads.size > 0 || previous !== manifestDesc.digest };
    } finally {
      for (const tmp of downloads.values()) fs.rmSync(tmp, { force: true });
    }
  });
}

/**
 * The diff_id each layer blob must decompress to, from the image config (layers of media types
 * that are no layer, e.g. an artifact's, are not checked).
 */
function expectedDiffIds(name: string, manifestDigest: string, manifest: Manifest, config: ImageConfig): Map<string, string> {
  const out = new Map<string, string>();
  const layers = manifest.layers.map((l, i) => ({ l, i })).filter(({ l }) => layerFamily(l.mediaType));
  if (!layers.length) return out;
  const diffIds = config?.rootfs?.diff_ids;
  if (!Array.isArray(diffIds) || diffIds.length !== manifest.layers.length) {
    throw new RegistryError(`${name}: manifest ${manifestDigest} has ${manifest.layers.length} layers, its image config ${manifest.config.digest} ${Array.isArray(diffIds) ? diffIds.length : 'no'} diff_ids`);
  }
  for (const { l, i } of layers) {
    const d = checkDigest(diffIds[i], `diff_id ${i} in image config ${manifest.config.digest}`);
    const seen = out.get(l.digest);
    if (seen !== undefined && seen !== d) throw new RegistryError(`${name}: layer ${l.digest} appears twice in manifest ${manifestDigest} with different diff_ids`);
    out.set(l.digest, d);
  }
  return out;
}

function parseJSON<T>(bytes: Buffer, what: string): T {
  try {
    return JSON.parse(bytes.toString('utf8')) as T;
  } catch (e) {
    throw new RegistryError(`${what} is not valid JSON: ${(e as Error).message}`);
  }
}
