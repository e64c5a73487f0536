/**
 * Importing images into the store: OCI image layouts (directories and oci-archive tarballs,
 * as skopeo, podman and buildah write them) and Docker archives (`docker save`, `podman save`'s
 * default docker-archive format). Every blob is verified against its digest, and a Docker
 * archive's layers (plain, gzip or zstd) against the config's diff_ids; index.json changes only once every blob of
 * every image is stored, so an interrupted load leaves no tag behind.
 */
import * as fs from 'fs';
import * as crypto from 'crypto';
import { Readable, Writable } from 'stream';
import { pipeline } from 'stream/promises';
import { Annotation, MediaType, type Descriptor, type ImageConfig, type Index, type Manifest } from '@tsrun/spec';
import { checkDigest, isDigest, sha256 } from '../store/digest';
import { DigestMismatchError, StoreError } from '../store/errors';
import { fileCompression, uncompressedDigest } from '../store/compression';
import { documentKind, isIndexType, isManifestType, layerMediaType } from '../store/media';
import { formatReference, tryParseReference } from '../store/reference';
import type { ImageStore } from '../store/store';
import { DirTree, extractArchive, type SourceTree } from './archive-dir';

export interface LoadedImage {
  /** The full reference it was tagged with, if it had one. */
  name?: string;
  descriptor: Descriptor;
}

export type ArchiveFormat = 'oci' | 'docker';

/** Loads every image of an archive file, a directory, or a stream (stdin). */
export async function loadImages(store: ImageStore, input: string | Readable): Promise<LoadedImage[]> {
  return store.session(async () => {
    let tree: SourceTree;
    if (typeof input === 'string' && fs.statSync(input, { throwIfNoEntry: false })?.isDirectory()) {
      tree = new DirTree(input);
    } else {
      const stream = typeof input === 'string' ? openFile(input) : input;
      tree = await extractArchive(store, stream);
    }
    try {
      const format = detectFormat(tree);
      const images = format === 'oci' ? await importLayout(store, tree) : await importDockerArchive(store, tree);
      await store.addImages(images);
      return images;
    } finally {
      tree.dispose();
    }
  });
}

function openFile(file: string): Readable {
  try {
    fs.accessSync(file, fs.constants.R_OK);
  } catch (e) {
    throw new StoreError(`open ${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (e as Error).message}`);
  }
  return fs.createReadStream(file);
}

/** OCI when the tree has oci-layout and index.json (docker 25+ archives have both forms). */
export function detectFormat(tree: SourceTree): ArchiveFormat {
  if (tree.exists('oci-layout') && tree.exists('index.json')) return 'oci';
  if (tree.exists('manifest.json')) return 'docker';
  throw new StoreError('not an image archive: it has neither oci-layout and index.json (OCI) nor manifest.json (docker save)');
}

function parseJSON<T>(data: Buffer, what: string): T {
  try {
    return JSON.parse(data.toString('utf8')) as T;
  } catch (e) {
    throw new StoreError(`${what}: invalid JSON: ${(e as Error).message}`);
  }
}

/** Moves (extracted) or copies (directory) one blob into the store, verifying it. */
async function copyBlob(store: ImageStore, tree: SourceTree, name: string, expect: { digest: string; size?: number }): Promise<void> {
  if (store.hasBlob(expect.digest)) return;
  const known = tree.known(name);
  if (known) {
    if (known.digest !== expect.digest) throw new DigestMismatchError(expect.digest, known.digest);
    if (expect.size !== undefined && expect.size !== known.size) throw new StoreError(`blob ${expect.digest} has size ${known.size}, its descriptor says ${expect.size}`);
    store.commitFile(known.file, expect.digest);
    return;
  }
  const file = tree.lookup(name);
  if (!file) throw new StoreError(`the image is incomplete: blob ${expect.digest} is missing (${tree.describe(name)})`);
  await store.putBlob(fs.createReadStream(file), expect);
}

function blobName(digest: string): string {
  const [alg, hex] = digest.split(':');
  return `blobs/${alg}/${hex}`;
}

/** Reads and verifies a JSON document blob of the tree. */
function readDocument(tree: SourceTree, d: Descriptor): Buffer {
  const name = blobName(d.digest);
  if (!tree.exists(name)) throw new StoreError(`the image is incomplete: blob ${d.digest} is missing (${tree.describe(name)})`);
  const data = tree.readFile(name);
  const actual = sha256(data);
  if (actual !== d.digest) throw new DigestMismatchError(d.digest, actual);
  return data;
}

/**
 * Copies the closure of `d`: children before parents, so a manifest is only stored once its
 * config and layers are. An index may lack some platforms' manifests (a partial copy): those
 * are skipped, as long as one is there.
 */
async function copyClosure(store: ImageStore, tree: SourceTree, d: Descriptor, depth = 0): Promise<void> {
  checkDigest(d.digest, 'descriptor digest');
  if (depth > 4) throw new StoreError(`${d.digest}: indexes nested too deep`);
  const looksLikeDocument = isIndexType(d.mediaType) || isManifestType(d.mediaType) || !d.mediaType;
  if (!looksLikeDocument) return copyBlob(store, tree, blobName(d.digest), d);
  const data = readDocument(tree, d);
  const doc = parseJSON<unknown>(data, `blob ${d.digest}`);
  const kind = isIndexType(d.mediaType) ? 'index' : isManifestType(d.mediaType) ? 'manifest' : documentKind(doc);
  if (kind === 'index') {
    const children = (doc as Index).manifests ?? [];
    const present = children.filter((c) => isDigest(c.digest) && (store.hasBlob(c.digest) || tree.exists(blobName(c.digest))));
    if (children.length && !present.length) throw new StoreError(`the image is incomplete: none of the manifests of index ${d.digest} is in the archive`);
    for (const c of present) await copyClosure(store, tree, c, depth + 1);
  } else if (kind === 'manifest') {
    const m = doc as Manifest;
    if (!m.config || !Array.isArray(m.layers)) throw new StoreError(`manifest ${d.digest} has no config or layers`);
    await copyBlob(store, tree, blobName(checkDigest(m.config.digest, 'config digest')), m.config);
    for (const l of m.layers) await copyBlob(store, tree, blobName(checkDigest(l.digest, 'layer digest')), l);
  } else {
    return copyBlob(store, tree, blobName(d.digest), d);
  }
  await store.putBlob(data, { digest: d.digest });
}

/** The name an OCI layout gives an image: ref.name if it is a full reference, else containerd's. */
function layoutName(d: Descriptor): string | undefined {
  const ann = d.annotations ?? {};
  for (const key of ['io.containerd.image.name', Annotation.RefName]) {
    const v = ann[key];
    if (!v) continue;
    const r = tryParseReference(v);
    if (r && !r.digest) return formatReference(r);
  }
  return undefined;
}

export async function importLayout(store: ImageStore, tree: SourceTree): Promise<LoadedImage[]> {
  const layout = parseJSON<{ imageLayoutVersion?: string }>(tree.readFile('oci-layout'), 'oci-layout');
  if (typeof layout.imageLayoutVersion !== 'string' || !layout.imageLayoutVersion.startsWith('1.')) {
    throw new StoreError(`oci-layout: unsupported imageLayoutVersion ${JSON.stringify(layout.imageLayoutVersion)}`);
  }
  const index = parseJSON<Index>(tree.readFile('index.json'), 'index.json');
  if (!Array.isArray(index.manifests)) throw new StoreError('index.json: no manifests array');
  const images: LoadedImage[] = [];
  for (const d of index.manifests) {
    await copyClosure(store, tree, d);
    images.push({ name: layoutName(d), descriptor: { mediaType: d.mediaType, digest: d.digest, size: d.size, ...(d.platform ? { platform: d.platform } : {}) } });
  }
  return images;
}

interface DockerManifestItem {
  Config: string;
  RepoTags?: string[] | null;
  Layers: string[];
}

/**
 * docker-archive: manifest.json lists each image's config file, its tags and its layer tars.
 * The config is kept byte for byte (so the image ID stays the same), each layer must hash
 * (uncompressed) to the config's diff_id, and an OCI manifest is generated for them.
 */
export async function importDockerArchive(store: ImageStore, tree: SourceTree): Promise<LoadedImage[]> {
  const items = parseJSON<DockerManifestItem[]>(tree.readFile('manifest.json'), 'manifest.json');
  if (!Array.isArray(items)) throw new StoreError('manifest.json: not an array of images');
  const images: LoadedImage[] = [];
  for (const item of items) {
    if (typeof item.Config !== 'string' || !Array.isArray(item.Layers)) throw new StoreError('manifest.json: an entry lacks Config or Layers');
    const configData = tree.readFile(item.Config);
    const config = parseJSON<ImageConfig>(configData, item.Config);
    const diffIds = config.rootfs?.diff_ids ?? [];
    if (diffIds.length !== item.Layers.length) {
      throw new StoreError(`${item.Config}: the config lists ${diffIds.length} diff_ids but manifest.json ${item.Layers.length} layers`);
    }
    const layers: Descriptor[] = [];
    for (const [i, name] of item.Layers.entries()) {
      const known = tree.known(name) ?? (await hashFile(tree, name));
      // plain, gzip or zstd, by content (docker load takes all three)
      const compression = fileCompression(known.file);
      const diffId = compression === 'uncompressed' ? known.digest : (await uncompressedDigest(known.file, `layer ${name}`)).digest;
      if (diffId !== diffIds[i]) throw new StoreError(`layer ${name} does not match the image config: its diff_id is ${diffId}, the config says ${diffIds[i]}`);
      await copyBlob(store, tree, name, { digest: known.digest, size: known.size });
      layers.push({ mediaType: layerMediaType(MediaType.ImageLayer, compression, true), digest: known.digest, size: known.size });
    }
    const cfg = await store.putBlob(configData);
    const manifest: Manifest = {
      schemaVersion: 2,
      mediaType: MediaType.ImageManifest,
      config: { mediaType: MediaType.ImageConfig, digest: cfg.digest, size: cfg.size },
      layers,
    };
    const descriptor = await store.putJSON(MediaType.ImageManifest, manifest);
    const tags = (item.RepoTags ?? []).map((t) => tryParseReference(t)).filter((r) => r && !r.digest);
    if (!tags.length) images.push({ descriptor });
    for (const r of tags) images.push({ name: formatReference(r!), descriptor });
  }
  return images;
}

/** Digest and size of a file of a directory tree (not extracted, so not hashed yet). */
async function hashFile(tree: SourceTree, name: string): Promise<{ file: string; digest: string; size: number }> {
  const file = tree.lookup(name);
  if (!file) throw new StoreError(`the archive has no ${name}`);
  const hash = crypto.createHash('sha256');
  let size = 0;
  await pipeline(fs.createReadStream(file), new Writable({ write: (c: Buffer, _e, cb) => (hash.update(c), (size += c.length), cb()) }));
  return { file, digest: `sha256:${hash.digest('hex')}`, size };
}
