/**
 * The compression flags of push and save: `--compression gzip|zstd|uncompressed` (also
 * `--compression-format`, buildah's and podman's name), `--compression-level N` and
 * `--force-compression`, as buildah push takes them and BuildKit's exporters their
 * compression, compression-level and force-compression options.
 */
import { parseCompression, type Compression, type CompressionSpec } from '../store/compression';
import { StoreError } from '../store/errors';
import type { FlagSpec, FlagValues } from './parse';

export function compressionFlags(defaultText: string): FlagSpec[] {
  return [
    { name: 'compression', type: 'string', describe: `Layer compression: gzip, zstd or uncompressed (${defaultText})` },
    { name: 'compression-format', type: 'string', describe: 'Same as --compression (buildah and podman name it so)' },
    { name: 'compression-level', type: 'string', describe: 'Compression level: gzip 0-9 (default 6), zstd 1-22 (default 3)' },
    { name: 'force-compression', type: 'boolean', default: false, describe: 'Also recompress layers stored with another compression' },
  ];
}

/** The spec the flags ask for (`fallback` when no --compression); one-line errors, exit 1. */
export function compressionFrom(flags: FlagValues, fallback: Compression | undefined): CompressionSpec | undefined {
  const a = flags.compression as string | undefined;
  const b = flags.compressionFormat as string | undefined;
  if (a !== undefined && b !== undefined && a !== b) throw new StoreError(`--compression ${a} and --compression-format ${b} disagree`);
  return parseCompression({ compression: a ?? b, level: flags.compressionLevel as string | undefined, force: !!flags.forceCompression }, fallback);
}
