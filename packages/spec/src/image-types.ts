/**
 * TypeScript shapes of the OCI image-spec v1.1.1 documents (descriptor.md, manifest.md,
 * image-index.md, config.md, image-layout.md) and the media types an image tool meets,
 * including Docker's "v2 schema 2" ones (registries and `docker save` still produce them, and
 * image-spec's media-types.md lists them as compatible).
 */

/** "<algorithm>:<encoded>", e.g. "sha256:6c3c62...". */
export type Digest = string;

export const MediaType = {
  // OCI (media-types.md)
  Descriptor: 'application/vnd.oci.descriptor.v1+json',
  LayoutHeader: 'application/vnd.oci.layout.header.v1+json',
  ImageIndex: 'application/vnd.oci.image.index.v1+json',
  ImageManifest: 'application/vnd.oci.image.manifest.v1+json',
  ImageConfig: 'application/vnd.oci.image.config.v1+json',
  ImageLayer: 'application/vnd.oci.image.layer.v1.tar',
  ImageLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ImageLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  Empty: 'application/vnd.oci.empty.v1+json',
  /** Non-distributable layers are deprecated, but must still be readable. */
  ImageLayerNonDistributable: 'application/vnd.oci.image.layer.nondistributable.v1.tar',
  ImageLayerNonDistributableGzip: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  ImageLayerNonDistributableZstd: 'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd',

  // Docker image manifest v2 schema 2 (distribution/docs/spec/manifest-v2-2.md)
  DockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  DockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  DockerConfig: 'application/vnd.docker.container.image.v1+json',
  DockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  DockerForeignLayerGzip: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
} as const;
export type MediaType = (typeof MediaType)[keyof typeof MediaType];

/** Pre-defined annotation keys we read or write (annotations.md). */
export const Annotation = {
  /** Tag of a manifest inside an OCI layout's index.json. */
  RefName: 'org.opencontainers.image.ref.name',
  Created: 'org.opencontainers.image.created',
  BaseName: 'org.opencontainers.image.base.name',
  BaseDigest: 'org.opencontainers.image.base.digest',
} as const;

/** The empty JSON descriptor ("{}") for unused configs of artifacts (manifest.md). */
export const EMPTY_DESCRIPTOR: Readonly<Descriptor> = Object.freeze({
  mediaType: MediaType.Empty,
  digest: 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a',
  size: 2,
  data: 'e30=',
});

export interface Platform {
  architecture: string;
  os: string;
  'os.version'?: string;
  'os.features'?: string[];
  /** e.g. "v7" for arm, "v8" for arm64. */
  variant?: string;
  /** Reserved by the spec for future use. */
  features?: string[];
}

export interface Descriptor {
  mediaType: string;
  digest: Digest;
  size: number;
  urls?: string[];
  annotations?: Record<string, string>;
  /** The content itself, base64, for small blobs. */
  data?: string;
  artifactType?: string;
  /** Only meaningful in an index's manifests[]. */
  platform?: Platform;
}

export interface Index {
  schemaVersion: 2;
  mediaType?: string;
  artifactType?: string;
  manifests: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

export interface Manifest {
  schemaVersion: 2;
  mediaType?: string;
  artifactType?: string;
  config: Descriptor;
  layers: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

/** Docker's HEALTHCHECK, kept in config.Healthcheck (OCI reserves the field, Docker fills it). */
export interface HealthConfig {
  /** ["NONE"], ["CMD", ...] or ["CMD-SHELL", cmd]. */
  Test?: string[];
  /** Durations in nanoseconds, as Docker writes them. */
  Interval?: number;
  Timeout?: number;
  StartPeriod?: number;
  StartInterval?: number;
  Retries?: number;
}

/** The execution parameters in an image config (the `config` object of config.md). */
export interface ImageExecConfig {
  /** "user", "uid", "user:group", "uid:gid", ... */
  User?: string;
  /** Keys "80/tcp", "53/udp" or "8080" (tcp); values are empty objects. */
  ExposedPorts?: Record<string, Record<string, never>>;
  /** "VAR=value" entries. */
  Env?: string[];
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  /** Keys are container paths; values are empty objects. */
  Volumes?: Record<string, Record<string, never>> | null;
  WorkingDir?: string;
  Labels?: Record<string, string> | null;
  /** e.g. "SIGTERM" or "9". */
  StopSignal?: string;
  /** Deprecated Windows-only flag; Docker still writes it. */
  ArgsEscaped?: boolean;
  // Reserved by OCI (config.md), used by Docker:
  Memory?: number;
  MemorySwap?: number;
  CpuShares?: number;
  Healthcheck?: HealthConfig;
  // Docker-only extensions that a Dockerfile builder produces (SHELL, ONBUILD):
  Shell?: string[];
  OnBuild?: string[] | null;
}

export interface History {
  created?: string;
  author?: string;
  created_by?: string;
  comment?: string;
  /** True when the step made no layer (ENV, CMD, ...): such entries have no diff_id. */
  empty_layer?: boolean;
}

/** The image configuration JSON (config.md). */
export interface ImageConfig {
  /** RFC 3339 date-time. */
  created?: string;
  author?: string;
  architecture: string;
  os: string;
  'os.version'?: string;
  'os.features'?: string[];
  variant?: string;
  config?: ImageExecConfig;
  rootfs: {
    type: 'layers';
    /** Digests of the *uncompressed* layer tars, bottom layer first. */
    diff_ids: Digest[];
  };
  history?: History[];
}

/** The oci-layout file at the root of an image layout (image-layout.md). */
export interface ImageLayout {
  imageLayoutVersion: '1.0.0';
}
