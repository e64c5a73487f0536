/**
 * Helpers for the Dockerfile builder tests: build contexts written from a table of files, the
 * busybox base rootfs tarball (scripts/make-rootfs.sh, as the example uses), a file-by-file
 * description of a root filesystem for comparisons, and buildah confined to private storage
 * (vfs, its own --root/--runroot) under the test's temporary directory.
 */
import { execFileSync } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { ImageSandbox, ok, sh, type Run } from '../helpers/images';

export const REPO = path.resolve(__dirname, '../..');
export const TSRUN = path.join(REPO, 'packages/runtime/bin/tsrun');

/** Writes `files` under `dir` (parents made); a value ending in '/' ... is a file's content. */
export function writeFiles(dir: string, files: Record<string, string | Buffer>): void {
  for (const [name, content] of Object.entries(files)) {
    const p = path.join(dir, name);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.writeFileSync(p, content);
  }
}

/** The busybox rootfs tarball, made once per sandbox into `dir/rootfs.tar`. */
export function rootfsTar(dir: string): string {
  const out = path.join(dir, 'rootfs.tar');
  if (!fs.existsSync(out)) execFileSync('bash', [path.join(REPO, 'scripts/make-rootfs.sh'), out]);
  return out;
}

/** A build context in the sandbox with the base rootfs tarball and `files`. */
export function context(sb: ImageSandbox, name: string, files: Record<string, string | Buffer>): string {
  const dir = sb.path(name);
  fs.mkdirSync(dir, { recursive: true });
  fs.copyFileSync(rootfsTar(sb.dir), path.join(dir, 'rootfs.tar'));
  writeFiles(dir, files);
  return dir;
}

/**
 * Every path of a tree with what a user sees of it: type, permission bits, owner, link target,
 * content digest. mtimes are left out (builders legitimately differ on them).
 */
export function describeTree(root: string, skip: (rel: string) => boolean = () => false): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (rel: string) => {
    for (const n of fs.readdirSync(rel ? path.join(root, rel) : root).sort()) {
      const r = rel ? `${rel}/${n}` : n;
      if (skip(r)) continue;
      const p = path.join(root, r);
      const st = fs.lstatSync(p);
      const mode = (st.mode & 0o7777).toString(8);
      const own = `${st.uid}:${st.gid}`;
      if (st.isDirectory()) {
        out.set(r, `dir ${mode} ${own}`);
        walk(r);
      } else if (st.isSymbolicLink()) {
        out.set(r, `link ${own} -> ${fs.readlinkSync(p)}`);
      } else if (st.isFile()) {
        out.set(r, `file ${mode} ${own} ${crypto.createHash('sha256').update(fs.readFileSync(p)).digest('hex').slice(0, 16)}`);
      } else {
        out.set(r, `special ${mode} ${own} ${st.rdev}`);
      }
    }
  };
  walk('');
  return out;
}

/** The differences between two tree descriptions, one line each ('' when equal). */
export function treeDiff(a: Map<string, string>, b: Map<string, string>, names = ['tsbuild', 'buildah']): string {
  const lines: string[] = [];
  for (const k of [...new Set([...a.keys(), ...b.keys()])].sort()) {
    const x = a.get(k);
    const y = b.get(k);
    if (x !== y) lines.push(`${k}: ${names[0]}=${x ?? '(missing)'} ${names[1]}=${y ?? '(missing)'}`);
  }
  return lines.join('\n');
}

/** buildah with storage of its own under the sandbox (vfs: no mounts), chroot isolation. */
export class Buildah {
  constructor(readonly sb: ImageSandbox) {}

  private base(): string[] {
    return ['--root', this.sb.path('buildah-root'), '--runroot', this.sb.path('buildah-run'), '--storage-driver', 'vfs'];
  }

  run(args: string[], opts: { input?: string } = {}): Run {
    return sh('buildah', [...this.base(), ...args], { input: opts.input, env: { ...process.env, BUILDAH_ISOLATION: 'chroot', TMPDIR: this.sb.dir } });
  }

  build(ctx: string, args: string[]): Run {
    return this.run(['build', '--isolation', 'chroot', '--format', 'docker', '--layers', '-q', ...args, ctx]);
  }

  /** The Docker-format config of a built image (Healthcheck and StopSignal included). */
  config(image: string): Record<string, unknown> {
    const r = ok(this.run(['inspect', '--type', 'image', image]));
    return (JSON.parse(r.stdout) as { Docker: { config: Record<string, unknown> } }).Docker.config;
  }

  /**
   * The image's root filesystem as a directory: a working container's (vfs: a plain copy).
   * (`buildah build --output type=local` of buildah 1.28 ignores the whiteouts of later layers.)
   */
  rootfs(image: string): string {
    const ctr = ok(this.run(['from', '--pull-never', image])).stdout.trim();
    return ok(this.run(['mount', ctr])).stdout.trim();
  }

  cleanup(): void {
    this.run(['rm', '-a']);
    this.run(['rmi', '-af']);
    const mounts = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4]).filter((m) => m && m.startsWith(this.sb.dir));
    for (const m of mounts.reverse()) sh('umount', ['-l', m]);
  }
}

/** The image config fields the comparison covers, normalised where both mean the same. */
export function comparable(cfg: Record<string, unknown> | undefined): Record<string, unknown> {
  const c = cfg ?? {};
  const empty = (v: unknown) => v === undefined || v === null || (typeof v === 'object' && Object.keys(v as object).length === 0) || v === '';
  const out: Record<string, unknown> = {};
  for (const k of ['Env', 'Entrypoint', 'Cmd', 'WorkingDir', 'User', 'ExposedPorts', 'Volumes', 'Labels', 'StopSignal', 'Healthcheck', 'OnBuild', 'Shell']) {
    let v = c[k];
    if (k === 'WorkingDir' && v === '/') v = undefined; // scratch: BuildKit writes "/", buildah nothing
    if (k === 'Labels' && v && typeof v === 'object') {
      // buildah labels its images with its own version
      const l = { ...(v as Record<string, string>) };
      delete l['io.buildah.version'];
      v = l;
    }
    if (!empty(v)) out[k] = v;
  }
  return out;
}

/** Mount points under a directory (a test must leave none). */
export function mountsUnder(dir: string): string[] {
  return fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4]).filter((m) => m && (m === dir || m.startsWith(dir + '/')));
}

/** After a build test: unmount whatever stayed mounted under its sandbox, clean it, then fail if anything had. */
export function cleanBuildSandbox(sb: ImageSandbox): void {
  const left = mountsUnder(sb.dir);
  for (const m of left.reverse()) sh('umount', ['-l', m]);
  sb.cleanup();
  expect(left).toEqual([]);
}
