/**
 * Build snapshots: the filesystem a build step works on is an overlay mount of its parent's
 * unpacked layers (the layer cache's dirs, read-only lower dirs) and a fresh upper dir. What
 * the step changes lands in the upper dir, already in overlayfs's own diff format (whiteouts
 * as 0:0 character devices, opaque directories by xattr), which is what the layer cache keeps
 * too: the upper dir becomes the new layer's tarball (difftar.ts) and is then moved into the
 * cache as that layer, never unpacked again.
 *
 *   <root>/buildcache/tmp/<pid>-<random>/{upper,work,merged}
 *
 * The mount is made with redirect_dir, index and metacopy off, so that a renamed directory is
 * copied up whole and a metadata change copies the file: the upper dir alone is the full diff.
 * A build killed midway leaves its mount and directory behind; the next build sweeps both
 * (sweepSnapshots) once the process that made them is gone.
 */
import * as fs from 'fs';
import * as path from 'path';
import { mountsUnder } from '../bundle/make';
import { fsops, MNT_DETACH } from '../layers/native';
import { leftByDeadProcess, processOwnedName } from '../store/fsutil';

export class SnapshotError extends Error {}

const OVERLAY_OPTIONS = 'redirect_dir=off,index=off,metacopy=off';

export interface Snapshot {
  /** The merged view, the step's rootfs. */
  merged: string;
  /** What the step changed: overlayfs's upper dir. */
  upper: string;
  /** The private directory holding all three. */
  dir: string;
  /** Unmounts and removes everything, unless the upper dir was taken (keepUpper). */
  release(opts?: { keepUpper?: boolean }): void;
}

export function tmpRoot(storeRoot: string): string {
  return path.join(storeRoot, 'buildcache', 'tmp');
}

/** A private scratch directory under the build cache (removed by the caller, or swept). */
export function scratchDir(storeRoot: string, what: string): string {
  const root = tmpRoot(storeRoot);
  fs.mkdirSync(root, { recursive: true, mode: 0o700 });
  const dir = path.join(root, processOwnedName(what));
  fs.mkdirSync(dir, { mode: 0o700 });
  return dir;
}

/** Removes what builds that died left: their mounts first, then their directories. */
export function sweepSnapshots(storeRoot: string): void {
  const root = tmpRoot(storeRoot);
  let entries: string[];
  try {
    entries = fs.readdirSync(root);
  } catch {
    return;
  }
  for (const e of entries) {
    if (!leftByDeadProcess(e)) continue;
    const dir = path.join(root, e);
    for (const m of mountsUnder(dir)) {
      try {
        fsops().umount2(m, MNT_DETACH);
      } catch {
        /* already gone */
      }
    }
    if (mountsUnder(dir).length === 0) fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** An empty directory to stand in as the lowest layer: overlayfs needs at least one lower. */
function emptyLower(storeRoot: string): string {
  const empty = path.join(storeRoot, 'layers', 'empty');
  fs.mkdirSync(empty, { recursive: true, mode: 0o755 });
  return empty;
}

function checkPaths(paths: string[]): void {
  for (const p of paths) {
    if (/[:,\\]/.test(p)) throw new SnapshotError(`cannot use ${p} in an overlay mount: it contains ':', ',' or '\\'`);
  }
}

function mount(data: string, target: string, layersDir: string, lowers: string[]): void {
  if (data.length < 4000) {
    fsops().mount('overlay', target, 'overlay', 0, data);
    return;
  }
  // Mount data is limited to a page: name the layers relative to their directory, as docker does.
  const rel = data.replace(`lowerdir=${lowers.join(':')}`, `lowerdir=${lowers.map((l) => path.relative(layersDir, l)).join(':')}`);
  if (rel.length >= 4000) throw new SnapshotError(`too many layers (${lowers.length}) for one overlay mount`);
  const cwd = process.cwd();
  process.chdir(layersDir);
  try {
    fsops().mount('overlay', target, 'overlay', 0, rel);
  } finally {
    process.chdir(cwd);
  }
}

/** A writable snapshot over `lowers` (unpacked layers, topmost first). */
export function writableSnapshot(storeRoot: string, lowers: string[]): Snapshot {
  const dir = scratchDir(storeRoot, 'snap');
  const upper = path.join(dir, 'upper');
  const work = path.join(dir, 'work');
  const merged = path.join(dir, 'merged');
  for (const d of [upper, work, merged]) fs.mkdirSync(d, { mode: 0o755 });
  const lower = lowers.length ? lowers : [emptyLower(storeRoot)];
  try {
    checkPaths([...lower, upper, work]);
    mount(`lowerdir=${lower.join(':')},upperdir=${upper},workdir=${work},${OVERLAY_OPTIONS}`, merged, path.join(storeRoot, 'layers'), lower);
  } catch (e) {
    fs.rmSync(dir, { recursive: true, force: true });
    const code = (e as NodeJS.ErrnoException).code;
    if (code) throw new SnapshotError(`cannot mount the build snapshot (overlayfs): ${(e as Error).message}`);
    throw e;
  }
  return snapshot(dir, merged, upper);
}

/** A read-only view of `lowers` (a stage's or image's filesystem for COPY --from and bind mounts). */
export function readonlySnapshot(storeRoot: string, lowers: string[]): Snapshot {
  const dir = scratchDir(storeRoot, 'view');
  const merged = path.join(dir, 'merged');
  fs.mkdirSync(merged, { mode: 0o755 });
  // Without an upper dir overlayfs wants two lowers.
  const lower = [...lowers, emptyLower(storeRoot)];
  if (lower.length < 2) lower.push(emptyLower(storeRoot));
  try {
    checkPaths(lower);
    mount(`lowerdir=${lower.join(':')}`, merged, path.join(storeRoot, 'layers'), lower);
  } catch (e) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw new SnapshotError(`cannot mount a read-only view of the layers (overlayfs): ${(e as Error).message}`);
  }
  return snapshot(dir, merged, merged);
}

function snapshot(dir: string, merged: string, upper: string): Snapshot {
  let released = false;
  return {
    dir,
    merged,
    upper,
    release(opts = {}) {
      if (released) return;
      released = true;
      // Submounts a step may have left (none expected), then the overlay itself.
      for (const m of mountsUnder(merged)) {
        try {
          fsops().umount2(m, m === merged ? 0 : MNT_DETACH);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code === 'EBUSY') fsops().umount2(m, MNT_DETACH);
          else if ((e as NodeJS.ErrnoException).code !== 'EINVAL') throw e;
        }
      }
      if (mountsUnder(dir).length) throw new SnapshotError(`${dir} still has mounts after unmounting`);
      if (opts.keepUpper) {
        for (const e of fs.readdirSync(dir)) if (path.join(dir, e) !== upper) fs.rmSync(path.join(dir, e), { recursive: true, force: true });
      } else {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}
