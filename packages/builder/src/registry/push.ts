/**
 * `pushImage`: a stored image to a registry. Layers are compressed as asked (gzip by default,
 * as docker push and BuildKit: recompress.ts), then the blobs go (each skipped when the
 * repository has it, mounted from another repository of the same registry when one of our
 * images there has it, else uploaded: monolithic up to `chunkSize`, chunked above), then the
 * manifests, an index last, under the destination tag. Layers go in parallel.
 */
import type { Descriptor } from '@tsrun/spec';
import type { CompressionSpec } from '../store/compression';
import { StoreError } from '../store/errors';
import { formatReference, parseReference, type Reference } from '../store/reference';
import type { ImageStore } from '../store/store';
import { planImage } from '../transfer/recompress';
import { pullScope, pushScope } from './auth';
import { RegistryClient, type RegistryOptions } from './client';
import { RegistryError, TransientError } from './errors';
import type { ProgressSink } from './events';
import { runLimited } from './limit';

export interface PushOptions extends RegistryOptions {
  progress?: ProgressSink;
  /** Parallel blob uploads (default 3). */
  concurrency?: number;
  /** Blobs larger than this are uploaded in PATCH chunks of this size (default 32 MiB). */
  chunkSize?: number;
  /** How layers go out (default: gzip at its default level, compressed layers as stored). */
  compression?: CompressionSpec;
}

export interface PushResult {
  /** The destination, normalised ("localhost:5000/app:1"). */
  reference: string;
  /** Digest and size of the manifest (or index) pushed under the tag. */
  digest: string;
  size: number;
}

export const DEFAULT_CHUNK_SIZE = 32 << 20;
export const DEFAULT_PUSH_COMPRESSION: CompressionSpec = { compression: 'gzip' };

interface Blob {
  /** What is uploaded (a stored blob: the layer itself or a compressed variant). */
  desc: Descriptor;
  /** The layer (or config) as stored: progress lines are named by it, as docker names them. */
  source: string;
  kind: 'config' | 'layer';
}

/** The destination: DEST if given (a "docker://" prefix is accepted), else SOURCE itself. */
export function pushDestination(source: string, dest?: string): Reference {
  const name = (dest ?? source).replace(/^docker:\/\//, '');
  const ref = parseReference(name);
  if (ref.digest) throw new StoreError(`cannot push to a digest reference: ${name}`);
  return ref;
}

export async function pushImage(store: ImageStore, source: string, dest?: string, opts: PushOptions = {}): Promise<PushResult> {
  const target = pushDestination(source, dest);
  const [entry] = store.find(source);
  // the session keeps gc away from variants made for this push until it is done
  return store.session(async () => {
    const spec = opts.compression ?? DEFAULT_PUSH_COMPRESSION;
    const plan = await planImage(store, entry.descriptor, spec, {
      requireAll: true,
      name: `cannot push ${source}`,
      onCompress: (l) => opts.progress?.({ digest: l.digest, kind: 'layer', action: 'compressing', total: l.size, detail: spec.compression }),
    });

    const blobs: Blob[] = [];
    for (const m of plan.manifests) {
      const add = (desc: Descriptor, src: string, kind: Blob['kind']) => {
        if (blobs.some((b) => b.desc.digest === desc.digest)) return;
        if (!store.hasBlob(desc.digest)) throw new RegistryError(`cannot push ${source}: blob ${desc.digest} is not in the store`);
        blobs.push({ desc, source: src, kind });
      };
      add(m.doc.config, m.doc.config.digest, 'config');
      m.doc.layers.forEach((l, i) => add(l, m.layers[i].source.digest, 'layer'));
    }

    // a repository that has the stored layer may have the same variant of it
    const mountable = mountSources(store, target, new Set(blobs.map((b) => b.source)));
    const mountFrom = (b: Blob) => mountable.get(b.source) ?? [];
    const sources = [...new Set([...mountable.values()].flat())];
    const client = new RegistryClient(target.domain, [pushScope(target.path), ...sources.map(pullScope)], opts);
    const chunkSize = opts.chunkSize ?? envChunkSize() ?? DEFAULT_CHUNK_SIZE;

    for (const b of blobs) opts.progress?.({ digest: b.source, kind: b.kind, action: 'waiting', total: b.desc.size });
    await runLimited(blobs, opts.concurrency ?? 3, async (b) => {
      const { desc, kind } = b;
      const report = (action: 'exists' | 'uploading' | 'uploaded' | 'mounted', done?: number, detail?: string) =>
        opts.progress?.({ digest: b.source, kind, action, done, total: desc.size, detail });
      if (await client.hasBlob(target.path, desc.digest)) return report('exists');
      // a session that fails midway is abandoned and the blob sent again in a new one
      await client.withRetry(`upload blob ${desc.digest}`, async () => {
        try {
          await upload();
        } catch (e) {
          // the registry lost the session (e.g. a retried PUT after a dropped connection)
          if (e instanceof RegistryError && /^BLOB_UPLOAD_(UNKNOWN|INVALID)$/.test(e.code ?? '')) throw new TransientError(e.message, e.status);
          throw e;
        }
      });
      async function upload(): Promise<void> {
        const start = await client.startUpload(target.path, desc.digest, mountFrom(b));
        if ('mounted' in start) return report('mounted', desc.size, start.mounted);
        report('uploading', 0);
        const onBytes = (n: number) => report('uploading', n);
        if (desc.size > chunkSize) await client.uploadChunked(start.location, desc, store.blobPath(desc.digest), chunkSize, onBytes);
        else await client.uploadMonolithic(start.location, desc, () => store.openBlob(desc.digest), onBytes);
        report('uploaded', desc.size);
      }
    });

    const tag = target.tag ?? 'latest';
    if (plan.isIndex) for (const m of plan.manifests) await client.putManifest(target.path, m.desc.digest, m.desc.mediaType ?? (m.doc as { mediaType?: string }).mediaType ?? '', m.bytes);
    const mediaType = plan.top.mediaType ?? (JSON.parse(plan.topBytes.toString('utf8')) as { mediaType?: string }).mediaType;
    if (!mediaType) throw new RegistryError(`cannot push ${source}: its manifest has no media type`);
    const digest = await client.putManifest(target.path, tag, mediaType, plan.topBytes);
    return { reference: formatReference(target), digest, size: plan.topBytes.length };
  });
}

/**
 * For each blob, the other repositories of the destination registry that images in the store
 * (tagged there) contain it in: the registry can then link it without an upload.
 */
function mountSources(store: ImageStore, target: Reference, wanted: Set<string>): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const e of store.list()) {
    const r = e.reference;
    if (!r || r.domain !== target.domain || r.path === target.path) continue;
    let digests: string[];
    try {
      const img = store.describeAny(e.descriptor);
      digests = [img.configDescriptor.digest, ...img.layers.map((l) => l.digest)];
    } catch {
      continue;
    }
    for (const d of digests) {
      if (!wanted.has(d)) continue;
      const list = out.get(d) ?? [];
      if (!list.includes(r.path)) list.push(r.path);
      out.set(d, list);
    }
  }
  return out;
}

function envChunkSize(): number | undefined {
  const v = Number(process.env.TSBUILD_PUSH_CHUNK_SIZE);
  return Number.isSafeInteger(v) && v > 0 ? v : undefined;
}

