/**
 * Image → runtime bundle, in the spirit of `umoci unpack`:
 *
 *   DIR/config.json          from the image config (config.ts)
 *   DIR/rootfs               overlayfs: the cached layers (layers/cache.ts) as lower dirs, topmost
 *                            first, and a private upper dir; or, where overlayfs cannot be
 *                            mounted (or with rootfs 'copy'), the layers applied in order to a
 *                            plain directory
 *   DIR/.tsrun/upper, work   the overlay's upper and work dirs
 *   DIR/.tsrun/bundle.json   what the bundle was made from and how (removeBundle reads it)
 *   <root>/bundles/<hash>.json   which bundle uses which layers, for a future layer GC
 *
 * Once the layers are cached, a bundle costs a few reads of small JSON blobs, three mkdirs, one
 * mount and one config.json: nothing proportional to the image's size.
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { specJSON } from '@tsrun/spec';
import { LayerCache } from '../layers/cache';
import { fsops, MNT_DETACH } from '../layers/native';
import { unpackLayer } from '../layers/unpack';
import { ImageStore } from '../store';
import { runtimeConfig } from './config';

export class BundleError extends Error {}

export type RootfsKind = 'overlay' | 'copy';

export interface BundleOptions {
  /** The image store root. */
  storeRoot: string;
  /** A reference, image ID or digest, as the store resolves it. */
  image: string;
  dir: string;
  /** 'auto' (default): overlay, else a copy when overlayfs cannot be mounted here. */
  rootfs?: 'auto' | RootfsKind;
  /** Told when overlay is not available and the layers are copied instead. */
  warn?(msg: string): void;
}

export interface BundleInfo {
  image: string;
  manifest: string;
  config: string;
  /** diff_ids, bottom first. */
  layers: string[];
  rootfs: RootfsKind;
  storeRoot: string;
  created: string;
}

const META_DIR = '.tsrun';
const INFO_FILE = 'bundle.json';

function bundleRecord(storeRoot: string, dir: string): string {
  const h = crypto.createHash('sha256').update(dir).digest('hex').slice(0, 32);
  return path.join(storeRoot, 'bundles', `${h}.json`);
}

/** Mount points at or below `dir` in this mount namespace, deepest first. */
export function mountsUnder(dir: string): string[] {
  const out: string[] = [];
  for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const mp = line.split(' ')[4];
    if (!mp) continue;
    const p = mp.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
    if (p === dir || p.startsWith(dir + '/')) out.push(p);
  }
  return out.sort((a, b) => b.length - a.length);
}

/**
 * mount -t overlay. lowerdir holds every layer path; the mount data is limited to a page, so
 * for a tall image the paths are given relative to the cache directory after a chdir (as
 * docker does).
 */
function mountOverlay(lowers: string[], upper: string, work: string, target: string, cacheDir: string): void {
  for (const p of [...lowers, upper, work]) {
    if (/[:,\\]/.test(p)) throw new BundleError(`cannot use ${p} in an overlay mount: it contains ':', ',' or '\\'`);
  }
  const data = (l: string[]) => `lowerdir=${l.join(':')},upperdir=${upper},workdir=${work}`;
  if (data(lowers).length < 4000) {
    fsops().mount('overlay', target, 'overlay', 0, data(lowers));
    return;
  }
  const rel = lowers.map((l) => path.relative(cacheDir, l));
  if (data(rel).length >= 4000) throw new BundleError(`the image has too many layers (${lowers.length}) for one overlay mount`);
  const cwd = process.cwd();
  process.chdir(cacheDir);
  try {
    fsops().mount('overlay', target, 'overlay', 0, data(rel));
  } finally {
    process.chdir(cwd);
  }
}

/** Errors of mount(2) that mean "no overlayfs here" rather than a problem with the bundle. */
function overlayUnavailable(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException).code;
  return code === 'ENODEV' || code === 'EINVAL' || code === 'EPERM' || code === 'EOPNOTSUPP' || code === 'ENOTSUP';
}

export async function makeBundle(o: BundleOptions): Promise<BundleInfo> {
  const storeRoot = path.resolve(o.storeRoot);
  let dir = path.resolve(o.dir);
  // Opening a store creates it: a mistyped root must not leave an empty store behind.
  if (!fs.existsSync(path.join(storeRoot, 'index.json'))) throw new BundleError(`no image store at ${storeRoot}`);
  const store = ImageStore.open(storeRoot);
  const img = store.resolve(o.image);
  const diffIds = img.config.rootfs?.diff_ids ?? [];
  if (diffIds.length !== img.layers.length) {
    throw new BundleError(`image ${o.image}: the config lists ${diffIds.length} diff_ids for ${img.layers.length} layers`);
  }

  let createdDir = false;
  try {
    if (fs.readdirSync(dir).length) throw new BundleError(`bundle directory ${dir} is not empty`);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    createdDir = true;
  }
  dir = fs.realpathSync(dir);
  const rootfs = path.join(dir, 'rootfs');
  const meta = path.join(dir, META_DIR);
  let mounted = false;
  let record: string | undefined;
  try {
    fs.mkdirSync(meta, { mode: 0o700 });
    fs.mkdirSync(rootfs, { mode: 0o755 });
    let kind: RootfsKind = o.rootfs === 'copy' ? 'copy' : 'overlay';
    const cache = new LayerCache(storeRoot);
    if (kind === 'overlay') {
      const stack: string[] = []; // topmost first
      for (let i = 0; i < img.layers.length; i++) {
        const l = img.layers[i];
        const cached = await cache.ensure({ diffId: diffIds[i], digest: l.digest, mediaType: l.mediaType, open: () => store.openBlob(l.digest) }, stack);
        stack.unshift(cached.path);
      }
      if (stack.length === 0) {
        // overlayfs needs a lower dir: an image without layers gets an empty one.
        const empty = path.join(cache.dir, 'empty');
        fs.mkdirSync(empty, { recursive: true, mode: 0o755 });
        stack.push(empty);
      }
      const upper = path.join(meta, 'upper');
      const work = path.join(meta, 'work');
      fs.mkdirSync(upper, { mode: 0o755 });
      fs.mkdirSync(work, { mode: 0o700 });
      try {
        mountOverlay(stack, upper, work, rootfs, cache.dir);
        mounted = true;
      } catch (e) {
        if (o.rootfs === 'overlay' || !overlayUnavailable(e)) throw e;
        o.warn?.(`overlayfs cannot be mounted here (${(e as Error).message}); copying the layers into ${rootfs}`);
        fs.rmSync(upper, { recursive: true, force: true });
        fs.rmSync(work, { recursive: true, force: true });
        kind = 'copy';
      }
    }
    if (kind === 'copy') {
      for (let i = 0; i < img.layers.length; i++) {
        const l = img.layers[i];
        await unpackLayer(store.openBlob(l.digest), { mediaType: l.mediaType, target: rootfs, mode: 'apply', diffId: diffIds[i], name: l.digest });
      }
    }
    const info: BundleInfo = {
      image: o.image,
      manifest: img.manifestDescriptor.digest,
      config: img.configDescriptor.digest,
      layers: diffIds,
      rootfs: kind,
      storeRoot,
      created: new Date().toISOString(),
    };
    const spec = runtimeConfig(img.config, rootfs);
    writeFileAtomic(path.join(dir, 'config.json'), specJSON(spec));
    record = bundleRecord(storeRoot, dir);
    fs.mkdirSync(path.dirname(record), { recursive: true, mode: 0o700 });
    writeFileAtomic(record, JSON.stringify({ dir, image: o.image, layers: diffIds, rootfs: kind }) + '\n');
    writeFileAtomic(path.join(meta, INFO_FILE), JSON.stringify(info, null, 2) + '\n');
    return info;
  } catch (e) {
    // Nothing is left: not the mount, not a half-made bundle.
    if (mounted) fsops().umount2(rootfs, MNT_DETACH);
    if (record) fs.rmSync(record, { force: true });
    if (createdDir) {
      fs.rmSync(dir, { recursive: true, force: true });
    } else {
      for (const e2 of fs.readdirSync(dir)) fs.rmSync(path.join(dir, e2), { recursive: true, force: true });
    }
    throw e;
  }
}

function writeFileAtomic(file: string, data: string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, data, { mode: 0o644 });
  fs.renameSync(tmp, file);
}

/** Reads DIR/.tsrun/bundle.json; throws when DIR was not made by makeBundle. */
export function readBundleInfo(dir: string): BundleInfo {
  const file = path.join(path.resolve(dir), META_DIR, INFO_FILE);
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as BundleInfo;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new BundleError(`${path.resolve(dir)} is not a bundle made by tsrun bundle`);
    throw new BundleError(`${file}: ${(e as Error).message}`);
  }
}

/**
 * A process whose root directory is `rootfs` (a container running on the bundle), if any. A
 * container's mount namespace keeps its own copy of the overlay mount, so unmounting ours
 * would not be refused: its processes are looked for instead.
 */
function processRootedIn(rootfs: string): number | undefined {
  let st: fs.Stats;
  try {
    st = fs.statSync(rootfs);
  } catch {
    return undefined;
  }
  for (const e of fs.readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(e)) continue;
    try {
      const r = fs.statSync(`/proc/${e}/root`);
      if (r.dev === st.dev && r.ino === st.ino) return Number(e);
    } catch {
      /* gone, or a kernel thread */
    }
  }
  return undefined;
}

/**
 * Unmounts the bundle's rootfs and removes the bundle. A rootfs still in use (a container
 * running on it) is an error, and the bundle stays as it was.
 */
export function removeBundle(dirArg: string): void {
  let dir: string;
  try {
    dir = fs.realpathSync(path.resolve(dirArg));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new BundleError(`${path.resolve(dirArg)}: no such bundle directory`);
    throw e;
  }
  const info = readBundleInfo(dir);
  const rootfs = path.join(dir, 'rootfs');
  const user = processRootedIn(rootfs);
  if (user) throw new BundleError(`bundle ${dir} is in use: process ${user} runs in its rootfs`);
  if (mountsUnder(rootfs).includes(rootfs)) {
    try {
      fsops().umount2(rootfs, 0);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EBUSY') throw new BundleError(`bundle ${dir} is in use: its rootfs is busy`);
      throw e;
    }
  }
  const left = mountsUnder(dir);
  // Never remove through a mount: rm would delete what it shows.
  if (left.length) throw new BundleError(`bundle ${dir} still has mounts: ${left.join(', ')}`);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.rmSync(bundleRecord(info.storeRoot, dir), { force: true });
}
