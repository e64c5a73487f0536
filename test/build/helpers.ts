/**
 * Helpers for the Dockerfile builder tests: build contexts written from a table of files, the
 * busybox base rootfs tarball (scripts/make-rootfs.sh, as the example uses), a file-by-file
 * description of a root filesystem for comparisons (with link groups, xattrs and holes when
 * asked), and buildah confined to private storage
 * (vfs, its own --root/--runroot) under the test's temporary directory.
 */
import { execFileSync } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { fsops } from '../../packages/builder/src/layers/native';
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

/** What describeTree says beyond type, mode, owner, link target and content. */
export interface TreeDetail {
  /** Which paths are hard links of each other: `links=<first path of the group>` (groups of the tree itself, not st_nlink). */
  links?: boolean;
  /** Every xattr (trusted.overlay.* excepted), name=hex value, sorted. */
  xattrs?: boolean;
  /** A regular file's data segments (SEEK_DATA/SEEK_HOLE), so holes show. */
  holes?: boolean;
  /** mtimes, in whole seconds (directories' too). */
  mtimes?: boolean;
  /** Device numbers as major:minor, sizes of files. */
  sizes?: boolean;
}

/**
 * The data segments of every regular file under `root` (SEEK_DATA/SEEK_HOLE, in one python3
 * process): "0-4096,1048576-1052672" style, '' for a file that is all hole.
 */
export function holeMaps(root: string): Map<string, string> {
  const script = `
import json, os, stat, sys
root = sys.argv[1]
out = {}
for d, dirs, files in os.walk(root):
    for n in files:
        p = os.path.join(d, n)
        st = os.lstat(p)
        if not stat.S_ISREG(st.st_mode):
            continue
        fd = os.open(p, os.O_RDONLY | os.O_NOFOLLOW)
        segs, pos = [], 0
        try:
            while pos < st.st_size:
                try:
                    start = os.lseek(fd, pos, os.SEEK_DATA)
                except OSError:
                    break
                end = os.lseek(fd, start, os.SEEK_HOLE)
                segs.append('%d-%d' % (start, end))
                pos = end
        finally:
            os.close(fd)
        out[os.path.relpath(p, root)] = ','.join(segs)
json.dump(out, sys.stdout)
`;
  const r = execFileSync('python3', ['-c', script, root], { encoding: 'utf8', maxBuffer: 64 << 20 });
  return new Map(Object.entries(JSON.parse(r) as Record<string, string>));
}

/**
 * Every path of a tree with what a user sees of it: type, permission bits, owner, link target,
 * content digest, and with `detail` link groups, xattrs, holes, mtimes and sizes. mtimes are
 * left out by default (builders legitimately differ on them).
 */
export function describeTree(root: string, skip: (rel: string) => boolean = () => false, detail: TreeDetail = {}): Map<string, string> {
  const out = new Map<string, string>();
  const groups = new Map<string, string>();
  const holes = detail.holes ? holeMaps(root) : undefined;
  const xattrs = (p: string): string => {
    if (!detail.xattrs) return '';
    const names = fsops().llistxattr(p).filter((x) => !x.startsWith('trusted.overlay.')).sort();
    return names.map((x) => ` ${x}=${fsops().lgetxattr(p, x)?.toString('hex')}`).join('');
  };
  const walk = (rel: string) => {
    for (const n of fs.readdirSync(rel ? path.join(root, rel) : root).sort()) {
      const r = rel ? `${rel}/${n}` : n;
      if (skip(r)) continue;
      const p = path.join(root, r);
      const st = fs.lstatSync(p);
      const mode = (st.mode & 0o7777).toString(8);
      const own = `${st.uid}:${st.gid}`;
      let extra = xattrs(p);
      if (detail.mtimes) extra += ` mtime=${Math.floor(st.mtimeMs / 1000)}`;
      if (detail.links && !st.isDirectory() && st.nlink > 1) {
        const key = `${st.dev}:${st.ino}`;
        if (!groups.has(key)) groups.set(key, r);
        extra += ` links=${groups.get(key)}`;
      }
      if (st.isDirectory()) {
        out.set(r, `dir ${mode} ${own}${extra}`);
        walk(r);
      } else if (st.isSymbolicLink()) {
        out.set(r, `link ${own} -> ${fs.readlinkSync(p)}${extra}`);
      } else if (st.isFile()) {
        const size = detail.sizes ? ` size=${st.size}` : '';
        const data = holes ? ` data=${holes.get(r)}` : '';
        out.set(r, `file ${mode} ${own} ${crypto.createHash('sha256').update(fs.readFileSync(p)).digest('hex').slice(0, 16)}${size}${data}${extra}`);
      } else {
        const dev = detail.sizes ? ` ${Math.floor(st.rdev / 256) & 0xfff}:${(st.rdev & 0xff) | ((st.rdev >> 12) & 0xfff00)}` : ` ${st.rdev}`;
        const kind = st.isFIFO() ? 'fifo' : st.isCharacterDevice() ? 'char' : st.isBlockDevice() ? 'block' : 'special';
        out.set(r, `${detail.sizes ? kind : 'special'} ${mode} ${own}${dev}${extra}`);
      }
    }
  };
  walk('');
  // A group of one (its other names hidden, or outside the tree) is no link at all.
  const count = new Map<string, number>();
  for (const v of out.values()) {
    const m = / links=(\S+)/.exec(v);
    if (m) count.set(m[1], (count.get(m[1]) ?? 0) + 1);
  }
  for (const [k, v] of out) {
    const m = / links=(\S+)/.exec(v);
    if (m && count.get(m[1]) === 1) out.set(k, v.replace(m[0], ''));
  }
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
