/**
 * The build cache: one small JSON file per build step, keyed by a hash of everything the step's
 * result depends on (see the README's cache section):
 *
 * - every step: the key of the step before (so, through the chain, its base image or stage,
 *   the config so far and every earlier input) and the instruction after expansion;
 * - RUN: the build args in its environment, its --network and --security, its mounts as
 *   written, and what each mount brings in: the content of a bind mount's source (a context
 *   path, or the files of a `from=` stage or image at that path), the files a cache mount is
 *   seeded from (`from=`), whether an optional secret or SSH socket is there (never a secret's
 *   value nor a digest of it);
 * - COPY/ADD: the sources' content and metadata (the context's, or the `from=` stage's files
 *   with their owners), and for URLs the content's digest and Last-Modified (urls.ts), or the
 *   --checksum that pins it.
 *
 * Content is hashed as BuildKit does: types, modes, sizes, link targets and bytes, not mtimes.
 *
 *   <root>/buildcache/steps/<key>.json   {"state": {config, layers}, "descriptors": [layers]}
 *   <root>/buildcache/mounts/<id>/       RUN --mount=type=cache directories
 *   <root>/buildcache/urls/<url>.json    what ADD <url> downloaded last (urls.ts)
 *   <root>/buildcache/memo/<key>.json    digests of what layers hold at a path (they never change)
 *
 * A hit restores the state after the step (image config with its history, layer list) without
 * running anything, and since the config is restored with its timestamps a rebuild without
 * changes gives the same image ID. The store's gc keeps every blob a step or URL record lists in
 * "descriptors" (store.ts); `tsbuild prune` removes the cache, then gc frees the blobs.
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
  readonly urlsDir: string;
  readonly memoDir: string;

  constructor(storeRoot: string) {
    this.dir = path.join(storeRoot, 'buildcache');
    this.stepsDir = path.join(this.dir, 'steps');
    this.mountsDir = path.join(this.dir, 'mounts');
    this.urlsDir = path.join(this.dir, 'urls');
    this.memoDir = path.join(this.dir, 'memo');
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

  private mountPath(id: string): string {
    return path.join(this.mountsDir, crypto.createHash('sha256').update(id).digest('hex').slice(0, 32));
  }

  hasMountDir(id: string): boolean {
    return fs.existsSync(this.mountPath(id));
  }

  /**
   * A RUN --mount=type=cache directory, made on first use: empty, or filled by `seed` (a cache
   * mount `from=` a stage starts with its files; its id then names that content too).
   */
  mountDir(id: string, init: { mode: number; uid: number; gid: number }, seed?: (dir: string) => void): string {
    const dir = this.mountPath(id);
    if (!fs.existsSync(dir)) {
      fs.mkdirSync(this.mountsDir, { recursive: true, mode: 0o700 });
      const tmp = `${dir}.${process.pid}.tmp`;
      fs.rmSync(tmp, { recursive: true, force: true });
      fs.mkdirSync(tmp, { mode: init.mode });
      try {
        seed?.(tmp);
      } catch (e) {
        fs.rmSync(tmp, { recursive: true, force: true });
        throw e;
      }
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

  /**
   * A value that depends only on what never changes (layers by diff_id): computed once, then
   * read back in later builds. A failed computation records nothing.
   */
  async remember<T>(parts: unknown[], compute: () => Promise<T>): Promise<T> {
    const file = path.join(this.memoDir, `${cacheKey('memo', ...parts)}.json`);
    try {
      return (JSON.parse(fs.readFileSync(file, 'utf8')) as { value: T }).value;
    } catch {
      /* not yet, or torn: compute it again */
    }
    const value = await compute();
    fs.mkdirSync(this.memoDir, { recursive: true, mode: 0o700 });
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify({ value }));
    fs.renameSync(tmp, file);
    return value;
  }

  /** Removes every step record, cache mount, URL record and memo; returns the bytes of the files removed. */
  prune(): { steps: number; bytes: number } {
    let steps = 0;
    let bytes = 0;
    const du = (p: string): number => {
      const st = fs.lstatSync(p);
      if (!st.isDirectory()) return st.size;
      return fs.readdirSync(p).reduce((n, e) => n + du(path.join(p, e)), 0);
    };
    for (const d of [this.stepsDir, this.mountsDir, this.urlsDir, this.memoDir]) {
      if (!fs.existsSync(d)) continue;
      for (const e of fs.readdirSync(d)) {
        const p = path.join(d, e);
        if (d === this.stepsDir || d === this.urlsDir) steps++;
        bytes += du(p);
        fs.rmSync(p, { recursive: true, force: true });
      }
    }
    return { steps, bytes };
  }
}
