/**
 * The image store: an OCI image layout (image-layout.md) at a root directory.
 *
 *   <root>/oci-layout            {"imageLayoutVersion":"1.0.0"}
 *   <root>/index.json            one descriptor per image (manifest or multi-platform index);
 *                                a tag is the org.opencontainers.image.ref.name annotation,
 *                                holding the full normalised reference
 *                                ("docker.io/library/busybox:latest"); untagged images have none
 *   <root>/blobs/sha256/<hex>    content, named by its digest
 *   <root>/ingest/               temporary files of writes in progress (same filesystem as blobs)
 *   <root>/variants/             compressed variants of layers made for pushes and exports
 *                                (variants.ts), kept in blobs/ while the layer they come from is
 *   <root>/gc.lock, index.lock   flock files (lock.ts)
 *
 * Other directories under the root (layer caches, bundles) belong to other parts of the
 * system; nothing here touches them.
 *
 * Guarantees:
 * - A blob is written to ingest/, hashed while written, fsynced, checked against the expected
 *   digest and size, and only then renamed into blobs/: blobs/ never holds a partial or wrong
 *   blob. Whole-blob reads (readBlob, readJSON) and streams (openBlob) verify the digest too.
 * - index.json changes only through a locked read-modify-write that writes a temporary file,
 *   fsyncs and renames it. Writers put every blob first and update index.json last, so a crash
 *   (kill -9, power cut) never leaves a tag pointing at a missing blob; it may leave blobs
 *   nothing references and files in ingest/, which gc() removes.
 * - gc() marks from index.json through indexes, manifests, configs and layers (and the
 *   compressed variants of the layers it keeps) and deletes the blobs nothing reaches, under
 *   an exclusive lock that writers hold shared meanwhile (so call multi-step writes inside
 *   session()).
 */
import * as fs from 'fs';
import * as path from 'path';
import * as crypto from 'crypto';
import { pipeline as pipelineCb, Readable, Transform, Writable, type TransformCallback } from 'stream';
import { pipeline } from 'stream/promises';
import { Annotation, MediaType, type Descriptor, type ImageConfig, type Index, type Manifest, type Platform } from '@tsrun/spec';
import { checkDigest, encoded, isDigest, sha256 } from './digest';
import { DigestMismatchError, NoSuchImageError, StoreError } from './errors';
import { fsyncDir, tempName, writeFileAtomic } from './fsutil';
import { FileLock } from './lock';
import { documentKind, isIndexType, isManifestType } from './media';
import { chooseManifest, formatPlatform, hostPlatform } from './platform';
import { listVariants } from './variants';
import { formatReference, parseReference, tryParseReference, type Reference } from './reference';

export const DEFAULT_ROOT = '/var/lib/tsbuild';

/** The store root: $TSBUILD_ROOT, else /var/lib/tsbuild. */
export function defaultRoot(): string {
  return process.env.TSBUILD_ROOT || DEFAULT_ROOT;
}

/** What putBlob expects of the content; a mismatch is an error and nothing is stored. */
export interface Expect {
  digest?: string;
  size?: number;
}

/** One entry of index.json. */
export interface ImageEntry {
  descriptor: Descriptor;
  /** The tag, normalised; undefined for an untagged (dangling) image. */
  reference?: Reference;
  /** The ref.name annotation as written. */
  name?: string;
}

/** An image resolved for one platform: everything needed to run or export it. */
export interface ResolvedImage {
  /** The index.json descriptor (a manifest, or an index for several platforms). */
  top: Descriptor;
  /** Full references of every index.json entry with the same top digest. */
  names: string[];
  manifestDescriptor: Descriptor;
  manifest: Manifest;
  configDescriptor: Descriptor;
  config: ImageConfig;
  /** Layer descriptors, bottom first. */
  layers: Descriptor[];
  /** Docker's image ID: the config digest. */
  id: string;
}

/** A hashing pass-through that counts bytes too. */
class Hasher extends Transform {
  private readonly hash = crypto.createHash('sha256');
  size = 0;
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.hash.update(chunk);
    this.size += chunk.length;
    cb(null, chunk);
  }
  digest(): string {
    return `sha256:${this.hash.digest('hex')}`;
  }
}

/** Verifies at the end of a stream that the content hashed to `expected`. */
class Verifier extends Transform {
  private readonly hash = crypto.createHash('sha256');
  constructor(private readonly expected: string) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.hash.update(chunk);
    cb(null, chunk);
  }
  override _flush(cb: TransformCallback): void {
    const actual = `sha256:${this.hash.digest('hex')}`;
    cb(actual === this.expected ? null : new DigestMismatchError(this.expected, actual));
  }
}

export class ImageStore {
  readonly blobsDir: string;
  readonly ingestDir: string;
  readonly indexFile: string;
  private readonly gcLock: FileLock;
  private readonly indexLock: FileLock;

  /** Opens the store at `root` (default: defaultRoot()), creating an empty layout if needed. */
  static open(root: string = defaultRoot()): ImageStore {
    return new ImageStore(path.resolve(root));
  }

  private constructor(readonly root: string) {
    this.blobsDir = path.join(root, 'blobs', 'sha256');
    this.ingestDir = path.join(root, 'ingest');
    this.indexFile = path.join(root, 'index.json');
    this.gcLock = new FileLock(path.join(root, 'gc.lock'));
    this.indexLock = new FileLock(path.join(root, 'index.lock'));
    this.init();
  }

  private init(): void {
    try {
      fs.mkdirSync(this.blobsDir, { recursive: true, mode: 0o755 });
      fs.mkdirSync(this.ingestDir, { recursive: true, mode: 0o700 });
    } catch (e) {
      throw new StoreError(`cannot open image store ${this.root}: ${(e as Error).message}`);
    }
    const layout = path.join(this.root, 'oci-layout');
    if (!fs.existsSync(layout)) writeFileAtomic(layout, JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    if (!fs.existsSync(this.indexFile)) {
      this.indexLock.acquire('exclusive');
      try {
        if (!fs.existsSync(this.indexFile)) writeFileAtomic(this.indexFile, JSON.stringify(emptyIndex()));
      } finally {
        this.indexLock.release();
      }
    }
  }

  // -------------------------------------------------------------------------------------------
  // Blobs
  // -------------------------------------------------------------------------------------------

  blobPath(digest: string): string {
    return path.join(this.blobsDir, encoded(checkDigest(digest)));
  }

  hasBlob(digest: string): boolean {
    return isDigest(digest) && fs.existsSync(this.blobPath(digest));
  }

  /** Size of a stored blob, or undefined when absent. */
  blobSize(digest: string): number | undefined {
    try {
      return fs.statSync(this.blobPath(digest)).size;
    } catch {
      return undefined;
    }
  }

  /**
   * Holds the gc lock shared while `fn` runs: blobs written inside are safe from a concurrent
   * gc until fn has referenced them from index.json (blobs first, index last).
   */
  async session<T>(fn: () => T | Promise<T>): Promise<T> {
    return this.gcLock.with('shared', fn);
  }

  /** A fresh path in ingest/ for a caller that writes a file and then commits it. */
  ingestPath(prefix = 'blob'): string {
    return path.join(this.ingestDir, tempName(prefix));
  }

  /**
   * Stores content from a buffer or stream: hashed while written into ingest/, fsynced,
   * checked against `expect`, renamed into blobs/. Content already present is not rewritten.
   */
  async putBlob(source: Buffer | string | Readable, expect: Expect = {}): Promise<{ digest: string; size: number; created: boolean }> {
    if (expect.digest !== undefined) checkDigest(expect.digest);
    if (typeof source === 'string' || Buffer.isBuffer(source)) {
      const data = typeof source === 'string' ? Buffer.from(source) : source;
      const digest = sha256(data);
      this.check(expect, digest, data.length);
      let created = false;
      if (!this.hasBlob(digest)) {
        created = await this.session(() => {
          const tmp = this.ingestPath();
          writeFileAtomicIn(tmp, data);
          return this.commitFile(tmp, digest);
        });
      }
      return { digest, size: data.length, created };
    }
    return this.session(async () => {
      const tmp = this.ingestPath();
      const hasher = new Hasher();
      const out = fs.createWriteStream(tmp, { flags: 'wx', mode: 0o644 });
      try {
        await pipeline(source, hasher, out);
        const digest = hasher.digest();
        this.check(expect, digest, hasher.size);
        fsyncFile(tmp);
        const created = this.commitFile(tmp, digest);
        return { digest, size: hasher.size, created };
      } finally {
        fs.rmSync(tmp, { force: true });
      }
    });
  }

  /**
   * Moves a fully written, fsynced file from ingest/ into blobs/ as `digest`. The caller
   * has hashed it (e.g. while extracting an archive); this does not hash it again. Returns
   * false when the blob was already there (the file is then just removed).
   */
  commitFile(file: string, digest: string): boolean {
    const dest = this.blobPath(digest);
    if (fs.existsSync(dest)) {
      fs.rmSync(file, { force: true });
      return false;
    }
    fs.chmodSync(file, 0o644);
    fs.renameSync(file, dest);
    fsyncDir(this.blobsDir);
    return true;
  }

  private check(expect: Expect, digest: string, size: number): void {
    if (expect.digest !== undefined && expect.digest !== digest) throw new DigestMismatchError(expect.digest, digest);
    if (expect.size !== undefined && expect.size !== size) {
      throw new StoreError(`blob ${expect.digest ?? digest} has size ${size}, its descriptor says ${expect.size}`);
    }
  }

  /** Stores a JSON document (canonical bytes as given) and returns its descriptor. */
  async putJSON(mediaType: string, doc: unknown): Promise<Descriptor> {
    const data = Buffer.from(JSON.stringify(doc));
    const { digest, size } = await this.putBlob(data);
    return { mediaType, digest, size };
  }

  private missing(digest: string): StoreError {
    return new StoreError(`blob ${digest} is missing from the image store ${this.root}`);
  }

  /** The whole blob, verified against its digest. */
  readBlob(digest: string): Buffer {
    let data: Buffer;
    try {
      data = fs.readFileSync(this.blobPath(digest));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw this.missing(digest);
      throw e;
    }
    const actual = sha256(data);
    if (actual !== digest) throw new DigestMismatchError(digest, actual);
    return data;
  }

  readJSON<T>(digest: string): T {
    const data = this.readBlob(digest);
    try {
      return JSON.parse(data.toString('utf8')) as T;
    } catch (e) {
      throw new StoreError(`blob ${digest} is not valid JSON: ${(e as Error).message}`);
    }
  }

  /** A stream of the blob that fails with DigestMismatchError at its end if it is corrupt. */
  openBlob(digest: string): Readable {
    const file = this.blobPath(digest);
    if (!fs.existsSync(file)) throw this.missing(digest);
    // stream.pipeline (not .pipe) so that a read error reaches the consumer too
    return pipelineCb(fs.createReadStream(file), new Verifier(digest), () => undefined);
  }

  /** Re-hashes a stored blob; throws DigestMismatchError or the missing-blob error. */
  async verifyBlob(digest: string): Promise<void> {
    const file = this.blobPath(digest);
    if (!fs.existsSync(file)) throw this.missing(digest);
    const hasher = new Hasher();
    await pipeline(fs.createReadStream(file), hasher, new Writable({ write: (_c, _e, cb) => cb() }));
    const actual = hasher.digest();
    if (actual !== digest) throw new DigestMismatchError(digest, actual);
  }

  // -------------------------------------------------------------------------------------------
  // index.json
  // -------------------------------------------------------------------------------------------

  readIndex(): Index {
    let text: string;
    try {
      text = fs.readFileSync(this.indexFile, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return emptyIndex();
      throw e;
    }
    let doc: Index;
    try {
      doc = JSON.parse(text) as Index;
    } catch (e) {
      throw new StoreError(`${this.indexFile}: invalid JSON: ${(e as Error).message}`);
    }
    if (!doc || !Array.isArray(doc.manifests)) throw new StoreError(`${this.indexFile}: not an image index (no manifests array)`);
    return doc;
  }

  /**
   * Changes index.json under its lock: `change` edits the index it is given (or returns a new
   * one), which is then written atomically. Every blob it references must already be stored.
   */
  async updateIndex(change: (index: Index) => Index | void): Promise<Index> {
    return this.indexLock.with('exclusive', () => {
      const index = this.readIndex();
      const next = change(index) ?? index;
      for (const d of next.manifests) if (!this.hasBlob(d.digest)) throw this.missing(d.digest);
      writeFileAtomic(this.indexFile, JSON.stringify(next));
      return next;
    });
  }

  /** The images in index.json, in its order. */
  list(): ImageEntry[] {
    return this.readIndex().manifests.map((descriptor) => {
      const name = descriptor.annotations?.[Annotation.RefName];
      return { descriptor, name, reference: name !== undefined ? tryParseReference(name) : undefined };
    });
  }

  /**
   * Points the tag `ref` at `target` (a stored manifest or index). The tag moves off any image
   * it named before; an untagged entry of the same image is replaced by the tagged one.
   */
  async tag(ref: string, target: Descriptor): Promise<string> {
    const full = formatReference(withoutDigest(parseReference(ref)));
    await this.addImages([{ descriptor: target, name: full }]);
    return full;
  }

  /**
   * Adds images to index.json in one atomic update: each tagged `name` (moving the tag off any
   * other image) or, without a name, listed untagged unless already present.
   */
  async addImages(images: { descriptor: Descriptor; name?: string }[]): Promise<void> {
    await this.updateIndex((index) => {
      for (const { descriptor, name } of images) {
        if (name === undefined) {
          if (!index.manifests.some((d) => d.digest === descriptor.digest)) index.manifests.push(entryFor(descriptor));
          continue;
        }
        const full = formatReference(withoutDigest(parseReference(name)));
        index.manifests = index.manifests.filter((d) => {
          const n = d.annotations?.[Annotation.RefName];
          return n === undefined ? d.digest !== descriptor.digest : normalise(n) !== full;
        });
        index.manifests.push(entryFor(descriptor, full));
      }
    });
  }

  /** Removes the tag `ref`; returns false when no image had it. */
  async untag(ref: string): Promise<boolean> {
    const full = formatReference(withoutDigest(parseReference(ref)));
    let found = false;
    await this.updateIndex((index) => {
      index.manifests = index.manifests.filter((d) => {
        const name = d.annotations?.[Annotation.RefName];
        const match = name !== undefined && normalise(name) === full;
        found ||= match;
        return !match;
      });
    });
    return found;
  }

  // -------------------------------------------------------------------------------------------
  // Resolution
  // -------------------------------------------------------------------------------------------

  /** The manifest of a stored manifest-or-index descriptor for `platform`. */
  manifestFor(top: Descriptor, platform: Platform = hostPlatform()): { descriptor: Descriptor; manifest: Manifest } {
    let desc = top;
    for (let depth = 0; depth < 4; depth++) {
      const doc = this.readJSON<Index | Manifest>(desc.digest);
      const kind = isIndexType(desc.mediaType) ? 'index' : isManifestType(desc.mediaType) ? 'manifest' : documentKind(doc);
      if (kind === 'manifest') return { descriptor: desc, manifest: doc as Manifest };
      if (kind !== 'index') throw new StoreError(`${desc.digest}: media type ${desc.mediaType} is neither an image manifest nor an index`);
      const chosen = chooseManifest((doc as Index).manifests ?? [], platform);
      if (!chosen) throw new StoreError(`image ${desc.digest} has no manifest for platform ${formatPlatform(platform)}`);
      desc = chosen;
    }
    throw new StoreError(`image ${top.digest}: indexes nested too deep`);
  }

  /** Resolves an index.json descriptor to its manifest, config and layers for `platform`. */
  describe(top: Descriptor, platform: Platform = hostPlatform()): ResolvedImage {
    const { descriptor, manifest } = this.manifestFor(top, platform);
    if (!manifest.config || !isDigest(manifest.config.digest) || !Array.isArray(manifest.layers)) {
      throw new StoreError(`manifest ${descriptor.digest} has no config or layers`);
    }
    const config = this.readJSON<ImageConfig>(manifest.config.digest);
    const names = this.list()
      .filter((e) => e.descriptor.digest === top.digest && e.reference)
      .map((e) => formatReference(e.reference!));
    return { top, names, manifestDescriptor: descriptor, manifest, configDescriptor: manifest.config, config, layers: manifest.layers, id: manifest.config.digest };
  }

  /**
   * describe() for this host's platform, else for the first platform an index offers (an
   * image of another architecture is still listed and exported, just not run here).
   */
  describeAny(top: Descriptor): ResolvedImage {
    try {
      return this.describe(top);
    } catch (e) {
      const doc = this.readJSON<Index>(top.digest);
      const first = documentKind(doc) === 'index' ? doc.manifests?.find((m) => m.platform)?.platform : undefined;
      if (!first) throw e;
      return this.describe(top, first);
    }
  }

  /** The image ID (config digest) of an entry, or undefined when it cannot be read. */
  private idOf(top: Descriptor, platform: Platform): string | undefined {
    try {
      return this.manifestFor(top, platform).manifest.config.digest;
    } catch {
      return undefined;
    }
  }

  /**
   * The index.json entries `image` names: a reference (`busybox`, `me/app:1`,
   * `name@sha256:...`), an image ID (config digest, full or a unique hex prefix as docker
   * shows it) or a manifest/index digest. Throws NoSuchImageError when nothing matches.
   */
  find(image: string, platform: Platform = hostPlatform()): ImageEntry[] {
    const entries = this.list();
    const hex = /^(?:sha256:)?([a-f0-9]{4,64})$/.exec(image)?.[1];
    if (hex) {
      const full = hex.length === 64 ? `sha256:${hex}` : undefined;
      const byDigest = entries.filter((e) => (full ? e.descriptor.digest === full : false));
      if (byDigest.length) return byDigest;
      const byId = entries.filter((e) => {
        const id = this.idOf(e.descriptor, platform);
        return id !== undefined && (full ? id === full : encoded(id).startsWith(hex));
      });
      const ids = new Set(byId.map((e) => this.idOf(e.descriptor, platform)));
      if (ids.size > 1) throw new StoreError(`ambiguous image ID prefix ${image}: it matches ${ids.size} images`);
      if (byId.length) return byId;
      if (image.startsWith('sha256:') || hex.length === 64) throw new NoSuchImageError(image);
    }
    const ref = tryParseReference(image);
    if (!ref) throw new NoSuchImageError(image);
    if (ref.digest) {
      const matches = entries.filter((e) => e.descriptor.digest === ref.digest);
      if (matches.length) return matches;
      // name@digest of a platform manifest inside a stored index
      const inner = entries.filter((e) => {
        try {
          return this.manifestFor(e.descriptor, platform).descriptor.digest === ref.digest;
        } catch {
          return false;
        }
      });
      if (inner.length) return inner;
      throw new NoSuchImageError(image);
    }
    const full = formatReference(ref);
    const tagged = entries.filter((e) => e.reference && formatReference(e.reference) === full);
    if (!tagged.length) throw new NoSuchImageError(image);
    return tagged;
  }

  /** Resolves `image` (see find()) to its manifest, config and layers for `platform`. */
  resolve(image: string, platform: Platform = hostPlatform()): ResolvedImage {
    const [entry] = this.find(image, platform);
    return this.describe(entry.descriptor, platform);
  }

  /**
   * docker rmi: a tag is removed; an image named by ID loses all its tags (refused when it
   * has several, unless `force`). Returns the removed tags and, when no tag of the image is
   * left, its ID as deleted; the blobs are freed by gc().
   */
  async remove(image: string, opts: { force?: boolean } = {}): Promise<{ untagged: string[]; deleted?: string }> {
    const platform = hostPlatform();
    const entries = this.find(image, platform);
    const ref = tryParseReference(image);
    const byTag = ref !== undefined && !ref.digest && entries.every((e) => e.reference && formatReference(e.reference) === formatReference(ref));
    const targets = new Set(entries.map((e) => e.descriptor.digest));
    const id = this.idOf(entries[0].descriptor, platform) ?? entries[0].descriptor.digest;
    if (!byTag) {
      const names = new Set(entries.filter((e) => e.reference).map((e) => `${e.reference!.domain}/${e.reference!.path}`));
      if (names.size > 1 && !opts.force) {
        throw new StoreError(`conflict: unable to delete ${encoded(id).slice(0, 12)} (must be forced) - image is referenced in multiple repositories`, 1);
      }
    }
    const untagged: string[] = [];
    let remaining = 0;
    await this.updateIndex((index) => {
      index.manifests = index.manifests.filter((d) => {
        if (!targets.has(d.digest)) return true;
        const name = d.annotations?.[Annotation.RefName];
        const named = name !== undefined ? tryParseReference(name) : undefined;
        const drop = byTag ? named !== undefined && formatReference(named) === formatReference(ref!) : true;
        if (drop && named) untagged.push(formatReference(named));
        return !drop;
      });
      remaining = index.manifests.filter((d) => targets.has(d.digest)).length;
    });
    return { untagged, deleted: remaining === 0 ? id : undefined };
  }

  // -------------------------------------------------------------------------------------------
  // Garbage collection and checking
  // -------------------------------------------------------------------------------------------

  /** Every digest reachable from `roots` whose blob exists (missing children are skipped). */
  private mark(roots: Descriptor[]): Set<string> {
    const seen = new Set<string>();
    const visit = (d: Descriptor, depth: number): void => {
      if (!isDigest(d.digest) || seen.has(d.digest) || depth > 8) return;
      if (!this.hasBlob(d.digest)) return;
      seen.add(d.digest);
      const maybeDocument = isIndexType(d.mediaType) || isManifestType(d.mediaType) || !d.mediaType;
      if (!maybeDocument || (this.blobSize(d.digest) ?? 0) > 4 << 20) return;
      let doc: unknown;
      try {
        doc = JSON.parse(fs.readFileSync(this.blobPath(d.digest), 'utf8'));
      } catch {
        return;
      }
      const kind = documentKind(doc);
      if (kind === 'index') for (const m of (doc as Index).manifests ?? []) visit(m, depth + 1);
      if (kind === 'manifest') {
        const m = doc as Manifest;
        if (m.config) visit(m.config, depth + 1);
        for (const l of m.layers ?? []) visit(l, depth + 1);
      }
    };
    for (const r of roots) visit(r, 0);
    return seen;
  }

  /**
   * Blobs the build cache still uses: each <root>/buildcache/steps/*.json lists its layers in
   * "descriptors" (engine/cache.ts), each buildcache/urls/*.json the content ADD downloaded
   * (engine/urls.ts). gc keeps them until `tsbuild prune` drops the records.
   */
  private buildCacheRoots(): Descriptor[] {
    const out: Descriptor[] = [];
    for (const sub of ['steps', 'urls']) {
      const dir = path.join(this.root, 'buildcache', sub);
      let names: string[];
      try {
        names = fs.readdirSync(dir).filter((n) => n.endsWith('.json'));
      } catch {
        continue;
      }
      for (const n of names) {
        try {
          const doc = JSON.parse(fs.readFileSync(path.join(dir, n), 'utf8')) as { descriptors?: Descriptor[] };
          for (const d of doc.descriptors ?? []) if (d && isDigest(d.digest)) out.push(d);
        } catch {
          /* a torn record protects nothing */
        }
      }
    }
    return out;
  }

  /**
   * Deletes every blob not reachable from index.json or the build cache (or a variant of a
   * layer that is), and leftovers of interrupted writes in ingest/. Only blobs/, ingest/ and
   * the records of variants whose blob goes are touched.
   */
  async gc(): Promise<{ removed: string[]; freed: number }> {
    return this.gcLock.with('exclusive', () =>
      this.indexLock.with('exclusive', () => {
        const live = this.mark([...this.readIndex().manifests, ...this.buildCacheRoots()]);
        // a compressed variant lives as long as the layer it was made from
        for (const { file, variant } of listVariants(this.root)) {
          if (variant && live.has(variant.source) && this.hasBlob(variant.digest)) live.add(variant.digest);
          else fs.rmSync(file, { force: true });
        }
        const removed: string[] = [];
        let freed = 0;
        for (const name of fs.readdirSync(this.blobsDir)) {
          const digest = `sha256:${name}`;
          if (live.has(digest)) continue;
          const file = path.join(this.blobsDir, name);
          try {
            freed += fs.lstatSync(file).size;
            fs.rmSync(file, { force: true, recursive: true });
            removed.push(digest);
          } catch (e) {
            if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
          }
        }
        // No writer holds the gc lock now: whatever is in ingest/ was left by a crash.
        for (const name of fs.readdirSync(this.ingestDir)) fs.rmSync(path.join(this.ingestDir, name), { force: true, recursive: true });
        if (removed.length) fsyncDir(this.blobsDir);
        return { removed, freed };
      }),
    );
  }

  /**
   * Checks the store like fsck: index.json parses, every image it lists resolves for the host
   * platform, and every blob reachable from it (and every compressed variant of a layer)
   * exists and matches its digest. Returns one line per problem; [] for a consistent store.
   */
  async fsck(platform: Platform = hostPlatform()): Promise<string[]> {
    const problems: string[] = [];
    let entries: ImageEntry[];
    try {
      entries = this.list();
    } catch (e) {
      return [(e as Error).message];
    }
    const checked = new Set<string>();
    for (const e of entries) {
      const label = e.name ?? e.descriptor.digest;
      try {
        const img = this.describe(e.descriptor, platform);
        for (const d of [img.configDescriptor, ...img.layers]) {
          if (checked.has(d.digest)) continue;
          checked.add(d.digest);
          await this.verifyBlob(d.digest);
          const size = this.blobSize(d.digest);
          if (size !== d.size) problems.push(`${label}: blob ${d.digest} has size ${size}, its descriptor says ${d.size}`);
        }
      } catch (err) {
        problems.push(`${label}: ${(err as Error).message}`);
      }
    }
    // compressed variants a push would send instead of their layer
    for (const { variant: v } of listVariants(this.root)) {
      if (!v || checked.has(v.digest) || !this.hasBlob(v.digest)) continue;
      checked.add(v.digest);
      try {
        await this.verifyBlob(v.digest);
        const size = this.blobSize(v.digest);
        if (size !== v.size) problems.push(`${v.compression} variant of layer ${v.uncompressed}: blob ${v.digest} has size ${size}, its record says ${v.size}`);
      } catch (err) {
        problems.push(`${v.compression} variant of layer ${v.uncompressed}: ${(err as Error).message}`);
      }
    }
    return problems;
  }
}

function emptyIndex(): Index {
  return { schemaVersion: 2, mediaType: MediaType.ImageIndex, manifests: [] };
}

function withoutDigest(r: Reference): Reference {
  if (!r.digest) return r;
  throw new StoreError(`cannot tag with a digest reference: ${formatReference(r)}`);
}

function normalise(name: string): string | undefined {
  const r = tryParseReference(name);
  return r ? formatReference(r) : undefined;
}

/** The index.json descriptor for `target`, tagged `name` when given. */
function entryFor(target: Descriptor, name?: string): Descriptor {
  const annotations = { ...(target.annotations ?? {}) };
  delete annotations[Annotation.RefName];
  if (name !== undefined) annotations[Annotation.RefName] = name;
  const d: Descriptor = { mediaType: target.mediaType, digest: target.digest, size: target.size };
  if (target.platform) d.platform = target.platform;
  if (Object.keys(annotations).length) d.annotations = annotations;
  return d;
}

function fsyncFile(file: string): void {
  const fd = fs.openSync(file, 'r+');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** Writes and fsyncs a new file (O_EXCL): used for blobs in ingest/. */
function writeFileAtomicIn(file: string, data: Buffer): void {
  const fd = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o644);
  try {
    fs.writeFileSync(fd, data);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}
