/**
 * The unpacked-layer cache, beside the image store's blobs (which it never touches):
 *
 *   <root>/layers/sha256/<hex>/fs          the layer unpacked for overlayfs (writer.ts 'overlay')
 *   <root>/layers/sha256/<hex>/layer.json  its blob digest, media type and size
 *   <root>/layers/chains/<key>/fs, layer.json   a layer whose unpack depended on its lowers (below)
 *   <root>/layers/tmp/<pid>-<random>/      unpacks in progress
 *
 * keyed by diff_id, the digest of the uncompressed tar, which is verified while unpacking.
 * Each layer is unpacked once: into a private temporary directory first, then renamed into
 * place, so a reader never sees a half-unpacked layer, a failed unpack (bad digest, hostile
 * entry, crash) leaves nothing in sha256/, and of two processes unpacking the same layer at
 * once the second rename fails and its copy is dropped.
 *
 * A layer that needs something from its lower layers takes it from them: a parent directory
 * its tar lacks (copied from the lower one), a hard link to a lower file (the file copied up
 * under all its names). Its unpacked tree then depends on what it was unpacked over, so it is
 * kept under chains/, keyed by its diff_id and the lower dirs it was unpacked over (each of
 * which names its own content the same way), and reused only over those. Layers that image
 * builders write (every parent directory included, hard links within the layer) need nothing
 * from below and are shared by diff_id, whatever they are stacked on.
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { Readable } from 'stream';
import { leftByDeadProcess, processOwnedName } from '../store/fsutil';
import { unpackLayer } from './unpack';

export interface CachedLayer {
  /** The unpacked tree: an overlayfs lower dir. */
  path: string;
  diffId: string;
  /** True when this call unpacked it (false: it was there already). */
  unpacked: boolean;
  /** Uncompressed bytes, when this call unpacked it. */
  size?: number;
}

export interface LayerSource {
  diffId: string;
  digest: string;
  mediaType: string;
  open(): Readable;
}

function hexOf(diffId: string): string {
  const m = /^sha256:([a-f0-9]{64})$/.exec(diffId);
  if (!m) throw new Error(`invalid diff_id ${JSON.stringify(diffId)}`);
  return m[1];
}


export class LayerCache {
  readonly dir: string;

  constructor(storeRoot: string) {
    this.dir = path.join(storeRoot, 'layers');
  }

  /** The unpacked tree of a layer (whether or not it is there). */
  pathOf(diffId: string): string {
    return path.join(this.dir, 'sha256', hexOf(diffId), 'fs');
  }

  has(diffId: string): boolean {
    return fs.existsSync(this.pathOf(diffId));
  }

  /** Where a layer whose unpack depends on `lowers` (cached dirs, topmost first) is kept. */
  chainPathOf(diffId: string, lowers: string[]): string {
    const key = crypto.createHash('sha256').update([hexOf(diffId), ...lowers.map((l) => path.relative(this.dir, l))].join('\n')).digest('hex');
    return path.join(this.dir, 'chains', key, 'fs');
  }

  /** The layer unpacked, unpacking it now if needed over `lowers` (unpacked, topmost first). */
  async ensure(src: LayerSource, lowers: string[]): Promise<CachedLayer> {
    const shared = path.dirname(this.pathOf(src.diffId));
    if (fs.existsSync(path.join(shared, 'fs'))) return { path: path.join(shared, 'fs'), diffId: src.diffId, unpacked: false };
    const chained = path.dirname(this.chainPathOf(src.diffId, lowers));
    if (fs.existsSync(path.join(chained, 'fs'))) return { path: path.join(chained, 'fs'), diffId: src.diffId, unpacked: false };
    const tmpRoot = path.join(this.dir, 'tmp');
    fs.mkdirSync(tmpRoot, { recursive: true, mode: 0o700 });
    fs.mkdirSync(path.dirname(shared), { recursive: true, mode: 0o700 });
    this.sweep(tmpRoot);
    const tmp = path.join(tmpRoot, processOwnedName());
    fs.mkdirSync(path.join(tmp, 'fs'), { recursive: true, mode: 0o755 });
    try {
      const r = await unpackLayer(src.open(), {
        mediaType: src.mediaType,
        target: path.join(tmp, 'fs'),
        mode: 'overlay',
        lowers,
        diffId: src.diffId,
        name: src.digest,
      });
      const final = r.usedLowers ? chained : shared;
      const info = { diffId: src.diffId, digest: src.digest, mediaType: src.mediaType, size: r.size, ...(r.usedLowers ? { lowers: lowers.map((l) => path.relative(this.dir, l)) } : {}) };
      fs.writeFileSync(path.join(tmp, 'layer.json'), JSON.stringify(info) + '\n');
      fs.mkdirSync(path.dirname(final), { recursive: true, mode: 0o700 });
      try {
        fs.renameSync(tmp, final);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw e;
        fs.rmSync(tmp, { recursive: true, force: true }); // another process was first
        return { path: path.join(final, 'fs'), diffId: src.diffId, unpacked: false };
      }
      return { path: path.join(final, 'fs'), diffId: src.diffId, unpacked: true, size: r.size };
    } catch (e) {
      fs.rmSync(tmp, { recursive: true, force: true });
      throw e;
    }
  }

  /** Removes unpacks left by processes that died. */
  private sweep(tmpRoot: string): void {
    for (const e of fs.readdirSync(tmpRoot)) {
      if (leftByDeadProcess(e)) fs.rmSync(path.join(tmpRoot, e), { recursive: true, force: true });
    }
  }
}
