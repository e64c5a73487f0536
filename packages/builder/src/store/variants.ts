/**
 * Compressed variants of layers: when a push or an export compresses a layer, the result is
 * kept as a blob of the store and remembered here, so the next push of that layer with the same
 * compression and level sends the same bytes (the registry already has them) without compressing
 * again.
 *
 *   <root>/variants/<uncompressed hex>-<gzip|zstd>-<level>.json
 *     {"uncompressed": "sha256:...", "compression": "zstd", "level": 3,
 *      "digest": "sha256:...", "size": N, "source": "sha256:..."}
 *
 * `uncompressed` is the layer's diff_id, `digest`/`size` the compressed blob, `source` the
 * stored blob it was made from. gc keeps a variant while its source is kept, and drops records
 * whose source or blob is gone. Records are written atomically after their blob, so a torn
 * write leaves at worst a blob that gc removes.
 */
import * as fs from 'fs';
import * as path from 'path';
import { encoded, isDigest } from './digest';
import { writeFileAtomic } from './fsutil';
import type { Compression } from './compression';

export interface Variant {
  uncompressed: string;
  compression: Exclude<Compression, 'uncompressed'>;
  level: number;
  digest: string;
  size: number;
  source: string;
}

export function variantsDir(root: string): string {
  return path.join(root, 'variants');
}

function file(root: string, uncompressed: string, compression: string, level: number): string {
  return path.join(variantsDir(root), `${encoded(uncompressed)}-${compression}-${level}.json`);
}

function parse(text: string): Variant | undefined {
  try {
    const v = JSON.parse(text) as Variant;
    if (!isDigest(v.uncompressed) || !isDigest(v.digest) || !isDigest(v.source) || !Number.isSafeInteger(v.size) || !Number.isInteger(v.level)) return undefined;
    if (v.compression !== 'gzip' && v.compression !== 'zstd') return undefined;
    return v;
  } catch {
    return undefined;
  }
}

/** The recorded variant, if any (the caller checks that its blob is still there). */
export function findVariant(root: string, uncompressed: string, compression: Variant['compression'], level: number): Variant | undefined {
  try {
    return parse(fs.readFileSync(file(root, uncompressed, compression, level), 'utf8'));
  } catch {
    return undefined;
  }
}

/** Records a variant whose blob is already in blobs/. */
export function recordVariant(root: string, v: Variant): void {
  fs.mkdirSync(variantsDir(root), { recursive: true, mode: 0o755 });
  writeFileAtomic(file(root, v.uncompressed, v.compression, v.level), JSON.stringify(v));
}

/** Every record, with its file (torn or foreign files come back without a variant). */
export function listVariants(root: string): { file: string; variant?: Variant }[] {
  const dir = variantsDir(root);
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  return names.map((n) => {
    const f = path.join(dir, n);
    if (!n.endsWith('.json')) return { file: f };
    try {
      return { file: f, variant: parse(fs.readFileSync(f, 'utf8')) };
    } catch {
      return { file: f };
    }
  });
}
