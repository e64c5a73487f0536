/** The image store's public face; see store.ts for the on-disk format and its guarantees. */
export { ImageStore, DEFAULT_ROOT, defaultRoot, type Expect, type ImageEntry, type ResolvedImage } from './store';
export { StoreError, NoSuchImageError, DigestMismatchError } from './errors';
export { parseReference, tryParseReference, formatReference, familiarReference, familiarRepository, repository, type Reference } from './reference';
export { hostPlatform, formatPlatform, parsePlatform, platformMatches, chooseManifest } from './platform';
export { isDigest, checkDigest, sha256, encoded, shortId } from './digest';
export { isIndexType, isManifestType, layerCompression, layerFamily, layerMediaType } from './media';
export { parseCompression, effectiveLevel, compressor, decompressor, detectCompression, fileCompression, uncompressedDigest, type Compression, type CompressionSpec } from './compression';
