/**
 * tsbuild as a library. For now: the image store (an OCI image layout on disk) and moving
 * images in and out of it. The Dockerfile builder comes on top of these.
 *
 *   const store = ImageStore.open();                 // $TSBUILD_ROOT or /var/lib/tsbuild
 *   const img = store.resolve('busybox');            // docker.io/library/busybox:latest, host platform
 *   img.config.config?.Cmd; img.layers;              // descriptors, bottom layer first
 *   store.openBlob(img.layers[0].digest);            // a stream that fails if the blob is corrupt
 *   await store.session(async () => {                // writes: blobs first, index.json last
 *     const layer = await store.putBlob(stream, { digest });  // verified, fsynced, renamed
 *     const m = await store.putJSON(MediaType.ImageManifest, manifest);
 *     await store.tag('app:1', m);
 *   });
 *   await store.remove('app:1'); await store.gc();    // gc only touches blobs/ and ingest/
 *
 * Blob layout, locking and crash guarantees: store/store.ts. Import/export: transfer/.
 *
 * Registries (registry/): `await pullImage(store, 'debian:bookworm', { policy: 'missing' })`
 * returns the stored image (pulling it first if absent; 'always' asks the registry each
 * time), `await pushImage(store, 'app:1', 'localhost:5000/app:1')`.
 */
export * from './store';
export { loadImages, importLayout, importDockerArchive, type LoadedImage } from './transfer/import';
export { exportToPath, exportToStream, EXPORT_FORMATS, type ExportFormat, type ExportItem } from './transfer/export';
export { importRootfs, applyChange, type ImportOptions } from './transfer/rootfs';
export { unpackLayer, compressionOf, LayerError, type UnpackOptions, type UnpackResult } from './layers/unpack';
export { LayerCache, type CachedLayer, type LayerSource } from './layers/cache';
export { makeBundle, removeBundle, readBundleInfo, BundleError, type BundleInfo, type BundleOptions } from './bundle/make';
export { runtimeConfig } from './bundle/config';
export * from './dockerfile';
export { pullImage, pushImage, login, logout, RegistryClient, RegistryError, AuthError, type PullOptions, type PullResult, type PullPolicy, type PushOptions, type PushResult, type RegistryOptions, type TransferEvent, type ProgressSink } from './registry';
