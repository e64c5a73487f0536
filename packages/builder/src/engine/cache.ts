/**
 * The build cache: one small JSON file per build step, keyed by a hash of everything the step's
 * result depends on (the key of the step before, the instruction after expansion, the build
 * args it sees, the content and metadata of its COPY/ADD sources):
 *
 *   <root>/buildcache/steps/<key>.json   {"state": {config, layers}, "descriptors": [layers]}
 *   <root>/buildcache/mounts/<id>/       RUN --mount=type=cache directories
 *
 * A hit restores the state after the step (image config with its history, layer list) without
 * running anything, and since the config is restored with its timestamps a rebuild without
 * changes gives the same image ID. The store's gc keeps every blob a step file lists in
 * "descriptors" (store.ts); `tsbuild prune` removes the cache, then gc frees the layers.
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import type { Descriptor, ImageConfig } from '@tsrun/spec';

/** A layer of a build state: its blob (descriptor) and its diff_id. */
export interface LayerRef {
  descriptor: Descriptor;
  diffId: string;
}

/** A stage's image so far. */
export interface BuildState {
  config: ImageConfig;
  layers: LayerRef[];
}

export function cacheKey(...parts: unknown[]): string {
  return crypto.createHash('sha256').update(JSON.stringify(parts)).digest('hex');
}

export class BuildCache {
  readonly dir: string;
  readonly stepsDir: string;
  readonly mountsDir: string;

  constructor(storeRoot: string) {
    this.dir = path.join(storeRoot, 'buildcache');
    this.stepsDir = path.join(this.dir, 'steps');
    this.mountsDir = path.join(this.dir, 'mounts');
  }

  private file(key: string): string {
    return path.join(this.stepsDir, `${key}.json`);
  }

  /** The state a step left, when its blobs are all still in the store. */
  get(key: string, hasBlob: (digest: string) => boolean): BuildState | undefined {
    let text: string;
    try {
      text = fs.readFileSync(this.file(key), 'utf8');
    } catch {
      return undefined;
    }
    try {
      const state = (JSON.parse(text) as { state: BuildState }).state;
      if (!state.layers.every((l) => hasBlob(l.descriptor.digest))) return undefined;
      return state;
    } catch {
      return undefined; // a torn or foreign file is a miss, and is overwritten
    }
  }

  put(key: string, state: BuildState): void {
    fs.mkdirSync(this.stepsDir, { recursive: true, mode: 0o700 });
    const tmp = `${this.file(key)}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify({ state, descriptors: state.layers.map((l) => l.descriptor) }));
    fs.renameSync(tmp, this.file(key));
  }

  /** A RUN --mount=type=cache directory, made on first use. */
  mountDir(id: string, init: { mode: number; uid: number; gid: number }): string {
    const dir = path.join(this.mountsDir, crypto.createHash('sha256').update(id).digest('hex').slice(0, 32));
    if (!fs.existsSync(dir)) {
      fs.mkdirSync(this.mountsDir, { recursive: true, mode: 0o700 });
      const tmp = `${dir}.${process.pid}.tmp`;
      fs.mkdirSync(tmp, { mode: init.mode });
      fs.chmodSync(tmp, init.mode);
      fs.chownSync(tmp, init.uid, init.gid);
      try {
        fs.renameSync(tmp, dir);
      } catch {
        fs.rmSync(tmp, { recursive: true, force: true }); // made meanwhile by another build
      }
    }
    return dir;
  }

  /** Removes every step record and cache mount; returns the bytes of the files removed. */
  prune(): { steps: number; bytes: number } {
    let steps = 0;
    let bytes = 0;
    const du = (p: string): number => {
      const st = fs.lstatSync(p);
      if (!st.isDirectory()) return st.size;
      return fs.readdirSync(p).reduce((n, e) => n + du(path.join(p, e)), 0);
    };
    for (const d of [this.stepsDir, this.mountsDir]) {
      if (!fs.existsSync(d)) continue;
      for (const e of fs.readdirSync(d)) {
        const p = path.join(d, e);
        if (d === this.stepsDir) steps++;
        bytes += du(p);
        fs.rmSync(p, { recursive: true, force: true });
      }
    }
    return { steps, bytes };
  }
}
