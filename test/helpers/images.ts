/**
 * Helpers for the image-store tests: a private store root per test, the tsbuild CLI run as a
 * user runs it, a busybox rootfs tarball made locally (no network), OCI layouts written by
 * hand (independent of the code under test), and podman/skopeo confined to private storage
 * under the test's temporary directory.
 */
import { spawnSync, SpawnSyncReturns } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as zlib from 'zlib';
import { cgroupPaths, removeCgroups } from './cgroups';
import { buildRootfs } from './runtime';

export const TSBUILD = path.resolve(__dirname, '../../packages/builder/bin/tsbuild');

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
  argv: string[];
}

function result(r: SpawnSyncReturns<string>, argv: string[]): Run {
  if (r.error) throw r.error;
  return { code: r.status ?? 128, stdout: r.stdout, stderr: r.stderr, argv };
}

/** Throws with the command's output unless it exited 0. */
export function ok(r: Run): Run {
  if (r.code !== 0) throw new Error(`exit ${r.code}: ${r.argv.join(' ')}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r;
}

export function sh(cmd: string, args: string[], opts: { input?: string | Buffer; cwd?: string; env?: NodeJS.ProcessEnv } = {}): Run {
  const r = spawnSync(cmd, args, { encoding: 'utf8', input: opts.input, cwd: opts.cwd, env: opts.env ?? process.env, maxBuffer: 64 << 20, timeout: 120000 });
  return result(r, [cmd, ...args]);
}

export function sha256(data: Buffer | string): string {
  return `sha256:${crypto.createHash('sha256').update(data).digest('hex')}`;
}

export function fileDigest(file: string): string {
  return sha256(fs.readFileSync(file));
}

/** A temporary directory with a store root in it; cleanup() removes everything. */
export class ImageSandbox {
  readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsbuild-test-'));
  readonly root = path.join(this.dir, 'store');

  /** tsbuild with TSBUILD_ROOT set to this sandbox's store (or `root`). */
  tsbuild(args: string[], opts: { input?: string | Buffer; root?: string } = {}): Run {
    return sh(process.execPath, [TSBUILD, ...args], { input: opts.input, env: { ...process.env, TSBUILD_ROOT: opts.root ?? this.root } });
  }

  path(...p: string[]): string {
    return path.join(this.dir, ...p);
  }

  /** blobs/sha256/ of the store, as digests. */
  blobs(root = this.root): string[] {
    const dir = path.join(root, 'blobs', 'sha256');
    return fs.existsSync(dir) ? fs.readdirSync(dir).map((n) => `sha256:${n}`).sort() : [];
  }

  blobFile(digest: string, root = this.root): string {
    return path.join(root, 'blobs', 'sha256', digest.slice(7));
  }

  cleanup(): void {
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

let rootfsTar: string | undefined;
let rootfsDir: string | undefined;

/** A tarball of a busybox rootfs (built once per test file, removed at exit). */
export function busyboxTar(): string {
  if (rootfsTar) return rootfsTar;
  rootfsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsbuild-rootfs-'));
  const tree = path.join(rootfsDir, 'rootfs');
  fs.mkdirSync(tree);
  buildRootfs(tree);
  rootfsTar = path.join(rootfsDir, 'rootfs.tar');
  ok(sh('tar', ['--numeric-owner', '--sort=name', '--mtime=@0', '-C', tree, '-cf', rootfsTar, '.']));
  return rootfsTar;
}

export function removeBusyboxTar(): void {
  if (rootfsDir) fs.rmSync(rootfsDir, { recursive: true, force: true });
  rootfsDir = rootfsTar = undefined;
}

/** A tar (uncompressed) of the given files, made with GNU tar. */
export function makeTar(dir: string, files: Record<string, string | Buffer>, out: string): string {
  const tree = fs.mkdtempSync(path.join(dir, 'tree-'));
  for (const [name, data] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(tree, name)), { recursive: true });
    fs.writeFileSync(path.join(tree, name), data);
  }
  ok(sh('tar', ['--numeric-owner', '--sort=name', '--mtime=@0', '-C', tree, '-cf', out, '.']));
  fs.rmSync(tree, { recursive: true, force: true });
  return out;
}

export interface Desc {
  mediaType: string;
  digest: string;
  size: number;
  platform?: { os: string; architecture: string; variant?: string };
  annotations?: Record<string, string>;
}

/** Writes OCI layouts by hand: blobs by digest, index.json last. */
export class LayoutWriter {
  private readonly entries: Desc[] = [];
  constructor(readonly dir: string) {
    fs.mkdirSync(path.join(dir, 'blobs', 'sha256'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  }
  blob(mediaType: string, data: Buffer | string): Desc {
    const buf = Buffer.isBuffer(data) ? data : Buffer.from(data);
    const digest = sha256(buf);
    fs.writeFileSync(path.join(this.dir, 'blobs', 'sha256', digest.slice(7)), buf);
    return { mediaType, digest, size: buf.length };
  }
  json(mediaType: string, doc: unknown): Desc {
    return this.blob(mediaType, JSON.stringify(doc));
  }
  /**
   * An image of the given layer tarballs; returns the manifest descriptor. `docker` writes
   * Docker's v2 schema 2 media types with gzipped layers, as registries and docker do.
   */
  image(layers: string[], platform: { os: string; architecture: string; variant?: string }, exec: Record<string, unknown> = {}, docker = false): Desc {
    const layerDescs = layers.map((f) => {
      const tar = fs.readFileSync(f);
      return docker ? this.blob('application/vnd.docker.image.rootfs.diff.tar.gzip', zlib.gzipSync(tar)) : this.blob('application/vnd.oci.image.layer.v1.tar', tar);
    });
    const config = this.json(docker ? 'application/vnd.docker.container.image.v1+json' : 'application/vnd.oci.image.config.v1+json', {
      created: '2024-01-02T03:04:05Z',
      ...platform,
      config: exec,
      rootfs: { type: 'layers', diff_ids: layers.map((f) => fileDigest(f)) },
    });
    const mediaType = docker ? 'application/vnd.docker.distribution.manifest.v2+json' : 'application/vnd.oci.image.manifest.v1+json';
    return this.json(mediaType, { schemaVersion: 2, mediaType, config, layers: layerDescs });
  }
  index(manifests: Desc[], docker = false): Desc {
    const mediaType = docker ? 'application/vnd.docker.distribution.manifest.list.v2+json' : 'application/vnd.oci.image.index.v1+json';
    return this.json(mediaType, { schemaVersion: 2, mediaType, manifests });
  }
  tag(d: Desc, name?: string): void {
    this.entries.push(name ? { ...d, annotations: { 'org.opencontainers.image.ref.name': name } } : d);
  }
  finish(): string {
    fs.writeFileSync(path.join(this.dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: this.entries }));
    return this.dir;
  }
}

/** What `docker inspect`-like output of tsbuild looks like (the fields the tests read). */
export interface Inspected {
  Id: string;
  RepoTags: string[];
  Digest: string;
  ManifestDigest: string;
  Architecture: string;
  Os: string;
  Config: { Cmd?: string[]; Env?: string[]; Entrypoint?: string[] };
  RootFS: { Type: string; Layers: string[] };
  Manifest: { config: Desc; layers: Desc[] };
  ImageConfig: { rootfs: { diff_ids: string[] }; architecture: string };
}

export function inspect(sb: ImageSandbox, image: string, extra: string[] = [], root?: string): Inspected {
  const r = ok(sb.tsbuild(['inspect', ...extra, image], { root }));
  const arr = JSON.parse(r.stdout) as Inspected[];
  expect(arr).toHaveLength(1);
  return arr[0];
}

/**
 * podman with storage, run state and cgroups of its own under the sandbox: vfs storage (no
 * mounts), cgroupfs under a per-test parent, no network, runc, and rlimits below this host's
 * hard limits (podman's defaults exceed them here and raising needs CAP_SYS_RESOURCE).
 */
export class Podman {
  readonly cgroupParent = `/tsbuild-test-${process.pid}-${crypto.randomBytes(3).toString('hex')}`;
  constructor(readonly sb: ImageSandbox) {}

  private base(): string[] {
    return [
      '--root', this.sb.path('podman-root'),
      '--runroot', this.sb.path('podman-run'),
      '--storage-driver', 'vfs',
      '--cgroup-manager', 'cgroupfs',
      '--events-backend', 'file',
      '--runtime', 'runc',
      '--tmpdir', this.sb.path('podman-tmp'),
    ];
  }

  run(args: string[]): Run {
    return sh('podman', [...this.base(), ...args]);
  }

  /** `podman run --rm` of an image with this host's constraints. */
  runImage(image: string, cmd: string[] = []): Run {
    return this.run(['run', '--rm', '--network', 'none', '--cgroup-parent', this.cgroupParent, '--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1024:1024', image, ...cmd]);
  }

  /** The containers-storage: reference skopeo needs to reach this podman's storage. */
  storageRef(image: string): string {
    return `containers-storage:[vfs@${this.sb.path('podman-root')}+${this.sb.path('podman-run')}]${image}`;
  }

  cleanup(): void {
    this.run(['rm', '-af']);
    this.run(['rmi', '-af']);
    // The per-test cgroup parent in every hierarchy, with conmon's cgroup (conmon may still be
    // exiting) and anything else podman or the runtime made in it: all this test's.
    const { left, inUse } = removeCgroups(cgroupPaths(this.cgroupParent), { subtree: true });
    // vfs makes no mounts, but make sure nothing under the sandbox stays mounted
    const mounts = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4]).filter((m) => m && m.startsWith(this.sb.dir));
    for (const m of mounts.reverse()) sh('umount', ['-l', m]);
    const stuck = [...left, ...inUse];
    if (stuck.length) throw new Error(`cgroups of ${this.cgroupParent} not removed:\n${stuck.join('\n')}`);
  }
}
