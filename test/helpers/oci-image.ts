/**
 * Test images made locally, without a network: a tar writer (ustar + PAX, with binary xattr
 * values and GNU long names on request, and hostile names that a normal tar tool would clean
 * up) and an OCI image-layout writer (blobs, config with diff_ids, manifest, index.json with
 * the tag as the org.opencontainers.image.ref.name annotation).
 */
import { spawnSync } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import * as zlib from 'zlib';

export interface TarEntry {
  name: string;
  type?: 'file' | 'dir' | 'symlink' | 'link' | 'char' | 'block' | 'fifo';
  data?: string | Buffer;
  mode?: number;
  uid?: number;
  gid?: number;
  /** Seconds since the epoch. */
  mtime?: number;
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  xattrs?: Record<string, Buffer | string>;
  /** Write a long name as a GNU 'L' entry instead of PAX. */
  gnuLongName?: boolean;
}

const TYPEFLAG = { file: '0', link: '1', symlink: '2', char: '3', block: '4', dir: '5', fifo: '6' } as const;

function octal(n: number, len: number): string {
  return n.toString(8).padStart(len - 1, '0') + '\0';
}

function header(name: string, flag: string, size: number, e: Partial<TarEntry>): Buffer {
  const b = Buffer.alloc(512);
  b.write(name.slice(0, 100), 0, 'utf8');
  b.write(octal((e.mode ?? 0o644) & 0o7777, 8), 100);
  b.write(octal(e.uid ?? 0, 8), 108);
  b.write(octal(e.gid ?? 0, 8), 116);
  b.write(octal(size, 12), 124);
  b.write(octal(Math.floor(e.mtime ?? 1700000000), 12), 136);
  b.write('        ', 148);
  b.write(flag, 156);
  b.write((e.linkname ?? '').slice(0, 100), 157, 'utf8');
  b.write('ustar\0', 257, 'latin1');
  b.write('00', 263, 'latin1');
  b.write(octal(e.devmajor ?? 0, 8), 329);
  b.write(octal(e.devminor ?? 0, 8), 337);
  let sum = 0;
  for (const c of b) sum += c;
  b.write(octal(sum, 7) + ' ', 148);
  return b;
}

function pad(data: Buffer): Buffer[] {
  const rest = (512 - (data.length % 512)) % 512;
  return rest ? [data, Buffer.alloc(rest)] : [data];
}

function paxRecord(key: string, value: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`), value, Buffer.from('\n')]);
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len = String(len).length + body.length;
  return Buffer.concat([Buffer.from(String(len)), body]);
}

/** An uncompressed tarball of `entries`, in order, with the end-of-archive marker. */
export function tarball(entries: TarEntry[]): Buffer {
  const out: Buffer[] = [];
  for (const e of entries) {
    const type = e.type ?? 'file';
    const data = type === 'file' ? Buffer.from(e.data ?? '') : Buffer.alloc(0);
    let name = e.name;
    if (type === 'dir' && !name.endsWith('/')) name += '/';
    const pax: Buffer[] = [];
    if (Buffer.byteLength(name) > 100) {
      if (e.gnuLongName) {
        const body = Buffer.from(name + '\0');
        out.push(header('././@LongLink', 'L', body.length, {}), ...pad(body));
      } else {
        pax.push(paxRecord('path', Buffer.from(name)));
      }
    }
    if (e.linkname && Buffer.byteLength(e.linkname) > 100) pax.push(paxRecord('linkpath', Buffer.from(e.linkname)));
    for (const [k, v] of Object.entries(e.xattrs ?? {})) pax.push(paxRecord(`SCHILY.xattr.${k}`, Buffer.from(v)));
    if (pax.length) {
      const body = Buffer.concat(pax);
      out.push(header('PaxHeaders/x', 'x', body.length, {}), ...pad(body));
    }
    out.push(header(name, TYPEFLAG[type], data.length, e));
    if (data.length) out.push(...pad(data));
  }
  out.push(Buffer.alloc(1024));
  return Buffer.concat(out);
}

export type Compression = 'none' | 'gzip' | 'zstd';

const LAYER_TYPES: Record<Compression, string> = {
  none: 'application/vnd.oci.image.layer.v1.tar',
  gzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  zstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
};

export function compress(tar: Buffer, c: Compression): Buffer {
  if (c === 'gzip') return zlib.gzipSync(tar, { level: 1 });
  if (c === 'zstd') {
    const r = spawnSync('zstd', ['-q', '-c', '-1'], { input: tar, maxBuffer: 1 << 30 });
    if (r.status !== 0) throw new Error(`zstd failed: ${r.stderr}`);
    return r.stdout;
  }
  return tar;
}

export function sha256(b: Buffer): string {
  return `sha256:${crypto.createHash('sha256').update(b).digest('hex')}`;
}

export interface LayerSpec {
  /** Entries, or a ready tarball (uncompressed). */
  entries?: TarEntry[];
  tar?: Buffer;
  compression?: Compression;
  /** Lie in the config about this layer's diff_id. */
  diffId?: string;
}

export interface ImageSpecInput {
  layers: LayerSpec[];
  /** The config's `config` object (Entrypoint, Cmd, Env, User...). */
  config?: Record<string, unknown>;
  /** Extra top-level config fields (author, created...). */
  extra?: Record<string, unknown>;
}

function putBlob(root: string, data: Buffer): string {
  const digest = sha256(data);
  const dir = path.join(root, 'blobs', 'sha256');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, digest.slice(7)), data);
  return digest;
}

/**
 * Writes an image into the OCI layout at `root` (made if needed) and tags it with each of
 * `names` (ref.name annotations: a full reference for the image store, a bare tag for umoci).
 * Returns the manifest digest.
 */
export function writeImage(root: string, names: string[], img: ImageSpecInput): { manifest: string; config: string; layerBytes: number } {
  fs.mkdirSync(root, { recursive: true });
  fs.writeFileSync(path.join(root, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  const layers = [];
  const diffIds = [];
  let layerBytes = 0;
  for (const l of img.layers) {
    const tar = l.tar ?? tarball(l.entries ?? []);
    layerBytes += tar.length;
    const c = l.compression ?? 'none';
    const blob = compress(tar, c);
    layers.push({ mediaType: LAYER_TYPES[c], digest: putBlob(root, blob), size: blob.length });
    diffIds.push(l.diffId ?? sha256(tar));
  }
  const config = Buffer.from(
    JSON.stringify({
      architecture: process.arch === 'x64' ? 'amd64' : process.arch === 'arm64' ? 'arm64' : process.arch,
      os: 'linux',
      ...img.extra,
      config: img.config ?? {},
      rootfs: { type: 'layers', diff_ids: diffIds },
    }),
  );
  const configDigest = putBlob(root, config);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
      layers,
    }),
  );
  const digest = putBlob(root, manifest);
  const indexFile = path.join(root, 'index.json');
  const index = fs.existsSync(indexFile) ? JSON.parse(fs.readFileSync(indexFile, 'utf8')) : { schemaVersion: 2, manifests: [] };
  index.manifests = index.manifests.filter((m: { annotations?: Record<string, string> }) => !names.includes(m.annotations?.['org.opencontainers.image.ref.name'] ?? ''));
  for (const name of names) {
    index.manifests.push({
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      digest,
      size: manifest.length,
      annotations: { 'org.opencontainers.image.ref.name': name },
    });
  }
  fs.writeFileSync(indexFile, JSON.stringify(index));
  return { manifest: digest, config: configDigest, layerBytes };
}

/** Entries for a busybox rootfs: /bin/busybox, applet links, /etc/passwd and /etc/group. */
export function busyboxEntries(busybox: string, passwd: string, group: string): TarEntry[] {
  const entries: TarEntry[] = [
    { name: 'bin', type: 'dir', mode: 0o755 },
    { name: 'bin/busybox', data: fs.readFileSync(busybox), mode: 0o755 },
  ];
  for (const a of ['sh', 'id', 'pwd', 'env', 'echo', 'cat', 'ls', 'sleep', 'true']) entries.push({ name: `bin/${a}`, type: 'symlink', linkname: 'busybox' });
  for (const d of ['etc', 'proc', 'sys', 'dev', 'tmp', 'root']) entries.push({ name: d, type: 'dir', mode: d === 'tmp' ? 0o1777 : 0o755 });
  entries.push({ name: 'etc/passwd', data: passwd }, { name: 'etc/group', data: group });
  return entries;
}
