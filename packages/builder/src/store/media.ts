/** Which media types name which kind of document, OCI and Docker's v2 schema 2 alike. */
import { MediaType } from '@tsrun/spec';
import type { Compression } from './compression';

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

/** The compression a layer's media type implies (OCI's and Docker's, nondistributable too). */
export function layerCompression(mediaType: string | undefined): 'none' | 'gzip' | 'zstd' | undefined {
  const l = layerFamily(mediaType);
  return l?.compression === 'uncompressed' ? 'none' : l?.compression;
}

/**
 * A layer media type taken apart: nondistributable (OCI) and foreign (Docker) layers are one
 * family, regular layers the other; undefined for what is not a layer type.
 */
export function layerFamily(mediaType: string | undefined): { nondistributable: boolean; compression: Compression } | undefined {
  const m = /^application\/vnd\.(?:oci\.image\.layer\.(v1|nondistributable\.v1)\.tar(\+gzip|\+zstd)?|docker\.image\.rootfs\.(diff|foreign\.diff)\.tar(\.gzip|\.zstd)?)$/.exec(mediaType ?? '');
  if (!m) return undefined;
  const suffix = m[2] ?? m[4] ?? '';
  return {
    nondistributable: m[1] === 'nondistributable.v1' || m[3] === 'foreign.diff',
    compression: suffix === '' ? 'uncompressed' : suffix.endsWith('gzip') ? 'gzip' : 'zstd',
  };
}

/**
 * The layer media type for content compressed with `compression`, in the family of
 * `mediaType`, with OCI's names or Docker's. Docker's schema 2 has no zstd type: a manifest
 * with zstd layers is made an OCI manifest first (as buildah and skopeo do).
 */
export function layerMediaType(mediaType: string, compression: Compression, oci: boolean): string {
  const nondist = layerFamily(mediaType)?.nondistributable ?? false;
  if (oci) {
    const base = nondist ? MediaType.ImageLayerNonDistributable : MediaType.ImageLayer;
    return compression === 'uncompressed' ? base : `${base}+${compression}`;
  }
  if (compression === 'zstd') throw new Error('Docker manifests have no zstd layer media type');
  const base = nondist ? 'application/vnd.docker.image.rootfs.foreign.diff.tar' : 'application/vnd.docker.image.rootfs.diff.tar';
  return compression === 'gzip' ? `${base}.gzip` : base;
}
