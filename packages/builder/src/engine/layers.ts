/**
 * Layers of a build: the parent's layers as overlay lower dirs (unpacked once into the layer
 * cache, as for `tsrun bundle`), and a step's upper dir committed as a new layer: its tarball
 * into the store, the dir itself moved into the layer cache under its diff_id.
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { MediaType } from '@tsrun/spec';
import { LayerCache } from '../layers/cache';
import type { ImageStore } from '../store/store';
import type { LayerRef } from './cache';
import { writeDiffTar } from './difftar';

/** The unpacked dirs of `layers` (bottom first in), topmost first out. */
export async function lowerDirs(store: ImageStore, layers: LayerRef[]): Promise<string[]> {
  const cache = new LayerCache(store.root);
  const stack: string[] = [];
  for (const l of layers) {
    const c = await cache.ensure(
      { diffId: l.diffId, digest: l.descriptor.digest, mediaType: l.descriptor.mediaType, open: () => store.openBlob(l.descriptor.digest) },
      stack,
    );
    stack.unshift(c.path);
  }
  return stack;
}

/** True when a step changed nothing: BuildKit then records no layer (empty_layer). */
export function isEmptyDir(dir: string): boolean {
  return fs.readdirSync(dir).length === 0;
}

/**
 * Turns `upper` into a layer: the tarball is stored as a blob (uncompressed: its digest is
 * the diff_id), and `upper` is renamed into the layer cache so later steps mount it as a lower
 * dir without unpacking. `upper` is gone afterwards either way.
 */
export async function commitLayer(store: ImageStore, upper: string, epoch?: number): Promise<LayerRef> {
  const tmp = store.ingestPath('layer');
  let result: ReturnType<typeof writeDiffTar>;
  try {
    result = writeDiffTar(upper, tmp, { epoch });
    await store.session(() => store.commitFile(tmp, result.digest));
  } finally {
    fs.rmSync(tmp, { force: true });
  }
  const cache = new LayerCache(store.root);
  const final = path.dirname(cache.pathOf(result.digest));
  if (fs.existsSync(final)) {
    fs.rmSync(upper, { recursive: true, force: true });
  } else {
    const staging = path.join(cache.dir, 'tmp', `${process.pid}-${crypto.randomBytes(6).toString('hex')}`);
    fs.mkdirSync(staging, { recursive: true, mode: 0o700 });
    fs.chmodSync(upper, 0o755);
    fs.renameSync(upper, path.join(staging, 'fs'));
    fs.writeFileSync(path.join(staging, 'layer.json'), JSON.stringify({ diffId: result.digest, digest: result.digest, mediaType: MediaType.ImageLayer, size: result.size }) + '\n');
    fs.mkdirSync(path.dirname(final), { recursive: true, mode: 0o700 });
    try {
      fs.renameSync(staging, final);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw e;
      fs.rmSync(staging, { recursive: true, force: true });
    }
  }
  return { descriptor: { mediaType: MediaType.ImageLayer, digest: result.digest, size: result.size }, diffId: result.digest };
}
