/**
 * `tsbuild import`: an image of one layer from a filesystem tarball, as `docker import` and
 * `podman import` make it, with Dockerfile-style `--change` instructions for the config.
 */
import * as fs from 'fs';
import { Readable, Writable } from 'stream';
import { pipeline } from 'stream/promises';
import * as tar from 'tar-stream';
import { MediaType, type Descriptor, type ImageConfig, type ImageExecConfig, type Manifest, type Platform } from '@tsrun/spec';
import { StoreError } from '../store/errors';
import { hostPlatform } from '../store/platform';
import type { ImageStore } from '../store/store';
import { maybeGunzip } from './archive-dir';

/** Applies one `--change` line (CMD, ENTRYPOINT, ENV, WORKDIR, USER, LABEL, EXPOSE, VOLUME, STOPSIGNAL). */
export function applyChange(cfg: ImageExecConfig, line: string): void {
  const m = /^\s*([A-Za-z]+)\s+(.*)$/s.exec(line);
  if (!m) throw new StoreError(`invalid --change ${JSON.stringify(line)}: want INSTRUCTION ARGS`);
  const op = m[1].toUpperCase();
  const arg = m[2].trim();
  const command = (): string[] => {
    if (arg.startsWith('[')) {
      try {
        const v = JSON.parse(arg) as unknown;
        if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v as string[];
      } catch {
        /* shell form below */
      }
    }
    return ['/bin/sh', '-c', arg];
  };
  const pairs = (): [string, string][] =>
    arg.split(/\s+/).map((kv) => {
      const eq = kv.indexOf('=');
      if (eq <= 0) throw new StoreError(`invalid --change ${JSON.stringify(line)}: want ${op} key=value`);
      return [kv.slice(0, eq), kv.slice(eq + 1)];
    });
  switch (op) {
    case 'CMD':
      cfg.Cmd = command();
      return;
    case 'ENTRYPOINT':
      cfg.Entrypoint = command();
      return;
    case 'ENV':
      for (const [k, v] of pairs()) cfg.Env = [...(cfg.Env ?? []).filter((e) => !e.startsWith(`${k}=`)), `${k}=${v}`];
      return;
    case 'LABEL':
      cfg.Labels = { ...(cfg.Labels ?? {}), ...Object.fromEntries(pairs()) };
      return;
    case 'WORKDIR':
      cfg.WorkingDir = arg;
      return;
    case 'USER':
      cfg.User = arg;
      return;
    case 'STOPSIGNAL':
      cfg.StopSignal = arg;
      return;
    case 'EXPOSE':
      for (const p of arg.split(/\s+/)) cfg.ExposedPorts = { ...(cfg.ExposedPorts ?? {}), [p.includes('/') ? p : `${p}/tcp`]: {} };
      return;
    case 'VOLUME':
      for (const v of arg.startsWith('[') ? (JSON.parse(arg) as string[]) : arg.split(/\s+/)) cfg.Volumes = { ...(cfg.Volumes ?? {}), [v]: {} };
      return;
    default:
      throw new StoreError(`invalid --change ${JSON.stringify(line)}: ${op} is not one of CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR`);
  }
}

/** Reads a stored blob as a tar to the end: a non-tar is refused before it becomes a layer. */
async function checkTar(store: ImageStore, digest: string): Promise<void> {
  const extract = tar.extract();
  const drain = (async () => {
    for await (const entry of extract) entry.resume();
  })();
  try {
    await Promise.all([pipeline(store.openBlob(digest), extract as unknown as Writable), drain]);
  } catch (e) {
    throw new StoreError(`not a valid tar archive: ${(e as Error).message}`);
  }
}

export interface ImportOptions {
  changes?: string[];
  message?: string;
  platform?: Platform;
}

/** Stores the tarball (decompressed if gzip) as the single layer of a new image. */
export async function importRootfs(store: ImageStore, input: string | Readable, opts: ImportOptions = {}): Promise<Descriptor> {
  const exec: ImageExecConfig = {};
  for (const c of opts.changes ?? []) applyChange(exec, c);
  return store.session(async () => {
    let source: Readable;
    if (typeof input === 'string') {
      if (!fs.existsSync(input)) throw new StoreError(`open ${input}: no such file or directory`);
      source = fs.createReadStream(input);
    } else {
      source = input;
    }
    const layer = await store.putBlob(await maybeGunzip(source));
    try {
      await checkTar(store, layer.digest);
    } catch (e) {
      // Only a blob this call created is removed: the same bytes may be another image's blob.
      if (layer.created) fs.rmSync(store.blobPath(layer.digest), { force: true });
      throw e;
    }
    const platform = opts.platform ?? hostPlatform();
    const created = new Date().toISOString();
    const config: ImageConfig = {
      created,
      architecture: platform.architecture,
      os: platform.os,
      ...(platform.variant ? { variant: platform.variant } : {}),
      config: exec,
      rootfs: { type: 'layers', diff_ids: [layer.digest] },
      history: [{ created, created_by: 'tsbuild import', ...(opts.message ? { comment: opts.message } : {}) }],
    };
    const configDesc = await store.putJSON(MediaType.ImageConfig, config);
    const manifest: Manifest = {
      schemaVersion: 2,
      mediaType: MediaType.ImageManifest,
      config: configDesc,
      layers: [{ mediaType: MediaType.ImageLayer, digest: layer.digest, size: layer.size }],
    };
    return store.putJSON(MediaType.ImageManifest, manifest);
  });
}
