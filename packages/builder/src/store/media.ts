/** Which media types name which kind of document, OCI and Docker's v2 schema 2 alike. */
import { MediaType } from '@tsrun/spec';

export const INDEX_TYPES: ReadonlySet<string> = new Set([MediaType.ImageIndex, MediaType.DockerManifestList]);
export const MANIFEST_TYPES: ReadonlySet<string> = new Set([MediaType.ImageManifest, MediaType.DockerManifest]);
export const CONFIG_TYPES: ReadonlySet<string> = new Set([MediaType.ImageConfig, MediaType.DockerConfig]);

export function isIndexType(t: string | undefined): boolean {
  return t !== undefined && INDEX_TYPES.has(t);
}

export function isManifestType(t: string | undefined): boolean {
  return t !== undefined && MANIFEST_TYPES.has(t);
}

/**
 * The kind of a JSON document whose descriptor has no (or an unknown) media type: by its own
 * mediaType field, else by shape (a manifest has config and layers, an index has manifests).
 */
export function documentKind(doc: unknown): 'index' | 'manifest' | undefined {
  if (!doc || typeof doc !== 'object') return undefined;
  const d = doc as Record<string, unknown>;
  if (isIndexType(d.mediaType as string)) return 'index';
  if (isManifestType(d.mediaType as string)) return 'manifest';
  if (Array.isArray(d.manifests)) return 'index';
  if (d.config && Array.isArray(d.layers)) return 'manifest';
  return undefined;
}

/** The compression a layer's media type implies. */
export function layerCompression(mediaType: string): 'none' | 'gzip' | 'zstd' | undefined {
  if (mediaType === MediaType.ImageLayer || mediaType === MediaType.ImageLayerNonDistributable || mediaType === 'application/vnd.docker.image.rootfs.diff.tar') return 'none';
  if (mediaType.endsWith('+gzip') || mediaType.endsWith('.tar.gzip')) return 'gzip';
  if (mediaType.endsWith('+zstd')) return 'zstd';
  return undefined;
}
