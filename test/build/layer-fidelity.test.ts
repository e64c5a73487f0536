/**
 * Layer fidelity: what a layer holds comes out the same through every way tsbuild writes,
 * caches, reuses and exports it.
 *
 * The corpus is a tree made on the host with what layers must keep: hard links (within a
 * directory and across directories), xattrs on directories, files and symlinks (user.*,
 * security.capability, trusted.*), sparse files (holes in the middle and at the end), a large
 * file, owners, setuid/setgid/sticky modes, a device and a fifo. It goes into an image three
 * ways: as a layer GNU tar made (--xattrs), under a hand-made layer that links to its files from
 * above (a hard link to a lower layer's file with several names), whites some out and makes a
 * directory opaque; and by ADD of the same tar in a build. The build's RUN steps (busybox) link
 * within the step and to files of earlier layers, remove files and directories (whiteouts),
 * empty and refill a directory (opaque), make sparse files (dd seek=, truncate) and copy up a
 * directory with xattrs.
 *
 * Then: the image built with a cold cache, a warm one, --no-cache and in a fresh store has the
 * same layers, byte for byte (SOURCE_DATE_EPOCH); its unpack is the same file by file (type,
 * mode, owner, content, size, mtime, xattrs, which paths are one inode, holes) through the
 * layer cache's overlay (`tsrun bundle`), the copy fallback (`--copy`), `--output type=local`
 * and type=tar, and in another store that unpacked tsbuild's tarballs (`save` + `load`), and
 * as umoci unpacks the saved OCI layout; the layer dirs in the cache are their tarballs exactly
 * (diffing them again gives the same bytes); and the corpus is there as it was made on the host.
 * A file past ustar's 8 GiB goes through a layer tar and back (streamed: nothing that big is
 * written), and a layer kept per lower stack in the cache lives exactly as long as its image.
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { writeDiffTar } from '../../packages/builder/src/engine/difftar';
import { LayerCache } from '../../packages/builder/src/layers/cache';
import { fsops, S_IFCHR, S_IFIFO } from '../../packages/builder/src/layers/native';
import { TarHeader, TarReader } from '../../packages/builder/src/layers/tar-reader';
import { ImageSandbox, ok, sh } from '../helpers/images';
import { tarball, writeImage } from '../helpers/oci-image';
import { cleanBuildSandbox, describeTree, holeMaps, rootfsTar, treeDiff, TSRUN, type TreeDetail } from './helpers';

const EPOCH = '1700000000';
const CAP_SETUID_EP = Buffer.from('0100000280000000000000000000000000000000', 'hex');
const MIB = 1 << 20;

let sb: ImageSandbox;
const bundles: string[] = [];
beforeEach(() => {
  sb = new ImageSandbox();
});
afterEach(() => {
  for (const b of bundles.splice(0)) sh(TSRUN, ['unbundle', b]);
  cleanBuildSandbox(sb);
});

function setx(p: string, attrs: Record<string, string | Buffer>): void {
  for (const [k, v] of Object.entries(attrs)) fsops().lsetxattr(p, k, Buffer.from(v));
}

/** Writes `parts` ([offset, data]) into a new file of `size` bytes: what is not written is a hole. */
function sparse(p: string, size: number, parts: [number, Buffer][]): void {
  const fd = fs.openSync(p, 'wx');
  try {
    for (const [off, data] of parts) fs.writeSync(fd, data, 0, data.length, off);
    fs.ftruncateSync(fd, size);
  } finally {
    fs.closeSync(fd);
  }
}

/** Deterministic bytes that have no zero block. */
function noise(n: number, seed: string): Buffer {
  const out = Buffer.alloc(n);
  let h = crypto.createHash('sha256').update(seed).digest();
  for (let off = 0; off < n; off += h.length) {
    h.copy(out, off);
    h = crypto.createHash('sha256').update(h).digest();
  }
  return out;
}

/** The corpus, made under `root`/corpus. */
function makeCorpus(root: string): void {
  const c = (...p: string[]) => path.join(root, 'corpus', ...p);
  const file = (p: string, data: string | Buffer, mode = 0o644, uid = 0, gid = 0) => {
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.writeFileSync(p, data);
    fs.chownSync(p, uid, gid);
    fs.chmodSync(p, mode);
  };
  fs.mkdirSync(c(), { recursive: true });
  setx(c(), { 'user.top': 'corpus', 'trusted.fidelity': 'top' });
  fs.mkdirSync(c('xdir'));
  file(c('xdir/inner'), 'inner\n', 0o640, 1000, 1000);
  setx(c('xdir/inner'), { 'user.k': 'v' });
  fs.chownSync(c('xdir'), 12, 34);
  fs.chmodSync(c('xdir'), 0o750);
  setx(c('xdir'), { 'user.note': Buffer.from([0x64, 0x69, 0x72, 0x00, 0x80, 0xff]) });
  file(c('caps/ping'), '#!/bin/sh\n', 0o755);
  setx(c('caps/ping'), { 'security.capability': CAP_SETUID_EP, 'trusted.t': Buffer.from([0x62, 0, 0xff]) });
  file(c('h/orig'), 'linked\n', 0o644, 3, 4);
  setx(c('h/orig'), { 'user.l': '1' });
  fs.linkSync(c('h/orig'), c('h/link1'));
  fs.linkSync(c('h/orig'), c('h/link2'));
  fs.mkdirSync(c('h/sub'));
  fs.linkSync(c('h/orig'), c('h/sub/link3'));
  file(c('h/single'), 'single\n');
  fs.mkdirSync(c('sparse'));
  sparse(c('sparse/holey'), 5 * MIB + 100, [[MIB, Buffer.alloc(100, 'X')], [5 * MIB, Buffer.alloc(100, 'Y')]]);
  sparse(c('sparse/tail'), 3 * MIB, [[0, noise(4096, 'tail')]]);
  sparse(c('sparse/all-hole'), 2 * MIB, []);
  file(c('big/random'), noise(3 * MIB + 17, 'big'));
  file(c('gone'), 'gone\n');
  file(c('gone-dir/sub/f'), 'f\n');
  file(c('opq/a'), 'a\n');
  file(c('opq/b/c'), 'c\n');
  file(c('runopq/x'), 'x\n');
  file(c('runopq/y/z'), 'z\n');
  file(c('own/secret'), 'secret\n', 0o600, 1000, 1000);
  file(c('own/suid'), '#!/bin/sh\n', 0o4755, 0, 0);
  fs.mkdirSync(c('own/setgid'));
  fs.chownSync(c('own/setgid'), 0, 50);
  fs.chmodSync(c('own/setgid'), 0o2775);
  fs.mkdirSync(c('own/sticky'));
  fs.chmodSync(c('own/sticky'), 0o1777);
  fs.mkdirSync(c('dev'));
  fsops().mknod(c('dev/null'), S_IFCHR | 0o666, 1, 3);
  fs.chmodSync(c('dev/null'), 0o666);
  fsops().mknod(c('dev/fifo'), S_IFIFO | 0o640, 0, 0);
  fs.chmodSync(c('dev/fifo'), 0o640);
  fs.symlinkSync('xdir', c('sym'));
  setx(c('sym'), { 'trusted.sym': 'on a symlink' });
}

/** The second layer, by GNU tar: xattrs of every namespace, hard links, the holes as zeros. */
function corpusTar(out: string): void {
  const host = sb.path('host');
  makeCorpus(host);
  ok(sh('tar', ['--format=posix', '--xattrs', '--xattrs-include=*', '--numeric-owner', '--sort=name', '-C', host, '-cf', out, 'corpus']));
}

/** The third layer, by hand: what layers made elsewhere do to the one below. */
const L3 = tarball([
  // A hard link to a file of the layer below, which has it under four names (one hidden here).
  { name: 'corpus/h/link4', type: 'link', linkname: 'corpus/h/orig' },
  { name: 'corpus/h/.wh.link1', data: '' },
  // No entries for corpus/ and corpus/xdir/: they come from below, xattrs and all.
  { name: 'corpus/xdir/added', data: 'added in layer 3\n', mode: 0o600, uid: 5, gid: 6 },
  { name: 'corpus/.wh.gone', data: '' },
  { name: 'corpus/opq/', type: 'dir', mode: 0o755, xattrs: { 'user.opq': 'dir' } },
  { name: 'corpus/opq/.wh..wh..opq', data: '' },
  { name: 'corpus/opq/new', data: 'new\n' },
]);

const DOCKERFILE = `FROM fidelity-base:1
RUN ln /corpus/h/single /corpus/h/single-link \\
 && ln /corpus/big/random /corpus/random-link \\
 && echo within > /corpus/w1 && ln /corpus/w1 /corpus/w2 && mkdir /corpus/wdir && ln /corpus/w1 /corpus/wdir/w3 \\
 && ln /corpus/h/orig /corpus/h/run-link
RUN rm /corpus/own/secret /corpus/h/link2 && rm -rf /corpus/gone-dir \\
 && rm -rf /corpus/runopq && mkdir /corpus/runopq && echo again > /corpus/runopq/again
RUN dd if=/bin/busybox of=/corpus/sparse/run-holey bs=4096 count=1 seek=2048 2>/dev/null \\
 && truncate -s 20M /corpus/sparse/run-tail && touch /corpus/xdir/touched && chmod 0700 /corpus/xdir
ADD corpus.tar /added/
`;

/** The base image in a fresh store `root`: busybox, the corpus tar, the third layer. */
function loadBase(root: string): void {
  const layout = sb.path(`base-layout-${path.basename(root)}`);
  if (!fs.existsSync(sb.path('corpus.tar'))) corpusTar(sb.path('corpus.tar'));
  writeImage(layout, ['docker.io/library/fidelity-base:1'], {
    layers: [{ tar: fs.readFileSync(rootfsTar(sb.dir)) }, { tar: fs.readFileSync(sb.path('corpus.tar')), compression: 'gzip' }, { tar: L3 }],
    config: { Cmd: ['/bin/sh'] },
  });
  ok(sb.tsbuild(['load', '-q', '-i', layout], { root }));
}

function context(): string {
  const ctx = sb.path('ctx');
  if (!fs.existsSync(ctx)) {
    fs.mkdirSync(ctx);
    fs.writeFileSync(path.join(ctx, 'Dockerfile'), DOCKERFILE);
    fs.copyFileSync(sb.path('corpus.tar'), path.join(ctx, 'corpus.tar'));
  }
  return ctx;
}

interface Inspect {
  Id: string;
  ImageConfig: { rootfs: { diff_ids: string[] } };
}

function build(root: string, args: string[]): { stderr: string; image: Inspect } {
  const r = ok(
    sh(process.execPath, [path.join(__dirname, '../../packages/builder/bin/tsbuild'), 'build', '--progress', 'plain', '-t', 'fidelity:1', ...args, context()], {
      env: { ...process.env, TSBUILD_ROOT: root, SOURCE_DATE_EPOCH: EPOCH },
    }),
  );
  return { stderr: r.stderr, image: JSON.parse(ok(sb.tsbuild(['inspect', 'fidelity:1'], { root })).stdout)[0] as Inspect };
}

function bundle(root: string, name: string, args: string[] = []): string {
  const dir = sb.path(name);
  ok(sh(TSRUN, ['bundle', '--image-root', root, ...args, 'fidelity:1', dir]));
  bundles.push(dir);
  return path.join(dir, 'rootfs');
}

const FULL: TreeDetail = { links: true, xattrs: true, holes: true, mtimes: true, sizes: true };
/** umoci writes a file's holes as zeros (the tar does not say where they were). */
const NO_HOLES: TreeDetail = { ...FULL, holes: false };
/**
 * Without directory mtimes (`'dirs'`: an unpacker that lets entries landing in a directory
 * change it, as umoci does) or without any (`'all'`: the build clamps what it writes to
 * SOURCE_DATE_EPOCH).
 */
function comparable(tree: Map<string, string>, drop: 'none' | 'dirs' | 'all' = 'none'): Map<string, string> {
  if (drop === 'none') return tree;
  return new Map([...tree].map(([k, v]) => [k, drop === 'all' || v.startsWith('dir ') ? v.replace(/ mtime=\d+/, '') : v]));
}

function entriesOf(file: string): TarHeader[] {
  const out: TarHeader[] = [];
  const r = new TarReader({ entry: (h) => out.push(h), data: () => undefined, end: () => undefined });
  r.push(fs.readFileSync(file));
  r.end();
  return out;
}

function blob(root: string, digest: string): string {
  return path.join(root, 'blobs/sha256', digest.slice(7));
}

function rediff(dir: string): string {
  const out = sb.path(`rediff-${crypto.randomBytes(4).toString('hex')}.tar`);
  try {
    return writeDiffTar(dir, out).digest;
  } finally {
    fs.rmSync(out, { force: true });
  }
}

test('hard links, xattrs, whiteouts, opaque dirs, sparse and large files survive the layer cache, rebuilds and every export bit for bit', () => {
  const s1 = sb.path('store1');
  loadBase(s1);

  // Cold, warm, --no-cache, and a fresh store: the same layers.
  const cold = build(s1, ['--output', `type=local,dest=${sb.path('local')}`, '--output', `type=tar,dest=${sb.path('image.tar')}`]);
  expect(cold.stderr).not.toMatch(/CACHED/);
  const warm = build(s1, []);
  expect(warm.stderr.match(/CACHED/g)).toHaveLength(4);
  const nocache = build(s1, ['--no-cache']);
  expect(nocache.stderr).not.toMatch(/CACHED/);
  const s2 = sb.path('store2');
  loadBase(s2);
  const fresh = build(s2, []);
  const ids = cold.image.ImageConfig.rootfs.diff_ids;
  expect(ids).toHaveLength(7);
  for (const other of [warm, nocache, fresh]) {
    expect(other.image.ImageConfig.rootfs.diff_ids).toEqual(ids);
    expect(other.image.Id).toBe(cold.image.Id);
  }

  // Built layers: every hard link names an entry before it in the same tar, never a lower file.
  for (const id of ids.slice(3)) {
    const seen = new Set<string>();
    for (const h of entriesOf(blob(s1, id))) {
      if (h.type === 'link') expect(`${h.name} -> ${seen.has(h.linkname) ? 'in this tar' : h.linkname}`).toBe(`${h.name} -> in this tar`);
      seen.add(h.name);
    }
  }

  // Export as an OCI layout, for umoci and for a third store that unpacks tsbuild's tarballs.
  const layout = sb.path('layout');
  ok(sb.tsbuild(['save', '--format', 'oci-dir', '-o', layout, 'fidelity:1'], { root: s1 }));
  for (const id of ids.slice(3)) expect(crypto.createHash('sha256').update(fs.readFileSync(blob(layout, id))).digest('hex')).toBe(id.slice(7));
  const index = JSON.parse(fs.readFileSync(path.join(layout, 'index.json'), 'utf8'));
  index.manifests.push({ ...index.manifests[0], annotations: { 'org.opencontainers.image.ref.name': 'fidelity' } });
  fs.writeFileSync(path.join(layout, 'index.json'), JSON.stringify(index));
  ok(sh('umoci', ['unpack', '--image', `${layout}:fidelity`, sb.path('umoci')]));
  const s3 = sb.path('store3');
  ok(sb.tsbuild(['load', '-q', '-i', layout], { root: s3 }));

  const trees: Record<string, string> = {
    overlay: bundle(s1, 'b-overlay'),
    copy: bundle(s1, 'b-copy', ['--copy']),
    local: sb.path('local'),
    reloaded: bundle(s3, 'b-reloaded'),
  };
  const fromTar = sb.path('from-tar');
  fs.mkdirSync(fromTar);
  ok(sh('tar', ['--xattrs', '--xattrs-include=*', '--numeric-owner', '-xpf', sb.path('image.tar'), '-C', fromTar]));
  trees.tar = fromTar;

  const ref = describeTree(trees.overlay, () => false, FULL);
  for (const [name, dir] of Object.entries(trees)) {
    // GNU tar writes a file's zeros where there were holes, as umoci does.
    const detail = name === 'tar' ? NO_HOLES : FULL;
    expect(treeDiff(describeTree(dir, () => false, detail), name === 'tar' ? describeTree(trees.overlay, () => false, detail) : ref, [name, 'overlay'])).toBe('');
  }
  const umoci = describeTree(path.join(sb.path('umoci'), 'rootfs'), () => false, NO_HOLES);
  expect(treeDiff(comparable(umoci, 'dirs'), comparable(describeTree(trees.overlay, () => false, NO_HOLES), 'dirs'), ['umoci', 'tsbuild'])).toBe('');

  // The layer cache's dirs are their tarballs: diffing them again gives the same bytes, for
  // the upper dirs a build committed and for the ones unpacked from those tarballs.
  for (const root of [s1, s3]) {
    const cache = new LayerCache(root);
    for (const id of ids.slice(3)) expect(`${path.basename(root)} ${rediff(cache.pathOf(id))}`).toBe(`${path.basename(root)} ${id}`);
  }

  // And what it all shows is the corpus as made on the host, with the layers' changes.
  const host = describeTree(sb.path('host'), () => false, FULL);
  const added = new Map([...describeTree(trees.overlay, (r) => !r.startsWith('added'), FULL)].filter(([k]) => k.startsWith('added/')).map(([k, v]) => [k.slice('added/'.length), v.replace(/ links=added\//, ' links=')]));
  expect(treeDiff(comparable(added, 'all'), comparable(host, 'all'), ['ADD', 'host'])).toBe('');

  const got = describeTree(path.join(trees.overlay, 'corpus'), () => false, FULL);
  const hostCorpus = describeTree(path.join(sb.path('host'), 'corpus'), () => false, FULL);
  const attrs = (v: string | undefined) => (v ?? '').split(' ').filter((w) => /^(user|trusted|security)\./.test(w)).join(' ');
  // Every directory and file keeps its xattrs, copied up by a RUN (xdir) or by layer 3 (corpus/, h/) or not
  // (layer 3 gives opq/ its own).
  for (const [p, v] of hostCorpus) if (got.has(p) && p !== 'opq') expect(`${p} ${attrs(got.get(p))}`).toBe(`${p} ${attrs(v)}`);
  expect(attrs(got.get('xdir'))).toMatch(/^user\.note=6469720080ff$/);
  expect(got.get('xdir')).toMatch(/^dir 700 12:34 /);
  expect(attrs(got.get('caps/ping'))).toBe(`security.capability=${CAP_SETUID_EP.toString('hex')} trusted.t=6200ff`);
  expect(attrs(got.get('opq'))).toBe('user.opq=646972');
  // Link groups: within a step, to earlier layers' files, and the four-name file of layer 2
  // that layer 3 linked to (one name whited out there, one removed by a RUN).
  const groups = new Map<string, string[]>();
  for (const [p, v] of got) {
    const m = / links=(\S+)/.exec(v);
    if (m) groups.set(m[1], [...(groups.get(m[1]) ?? []), p]);
  }
  expect([...groups.values()].map((g) => g.join(' ')).sort()).toEqual(
    ['big/random random-link', 'h/link4 h/sub/link3', 'h/orig h/run-link', 'h/single h/single-link', 'w1 w2 wdir/w3'].sort(),
  );
  // Whiteouts and opaque directories.
  for (const p of ['gone', 'gone-dir', 'own/secret', 'h/link1', 'h/link2', 'opq/a', 'opq/b', 'runopq/x', 'runopq/y']) expect(`${p} ${got.has(p)}`).toBe(`${p} false`);
  expect([...got.keys()].filter((k) => k.startsWith('opq/') || k.startsWith('runopq/'))).toEqual(['opq/new', 'runopq/again']);
  // Holes, where the host had them and where the RUN steps made them.
  const holes = holeMaps(path.join(trees.overlay, 'corpus'));
  const hostHoles = holeMaps(path.join(sb.path('host'), 'corpus'));
  for (const f of ['sparse/holey', 'sparse/tail', 'sparse/all-hole', 'big/random']) expect(`${f} ${holes.get(f)}`).toBe(`${f} ${hostHoles.get(f)}`);
  expect(holes.get('sparse/all-hole')).toBe('');
  expect(holes.get('sparse/run-holey')).toBe(`${8 * MIB}-${8 * MIB + 4096}`);
  expect(holes.get('sparse/run-tail')).toBe('');
  expect(got.get('sparse/run-tail')).toMatch(/ size=20971520 /);
  expect(got.get('xdir/added')).toMatch(/^file 600 5:6 /);
}, 300000);

test('a file past ustar\'s 8 GiB goes into a layer tar with a PAX size record, GNU tar reads it, and it unpacks with its holes', () => {
  const GIB = 1 << 30;
  const upper = sb.path('big-upper');
  fs.mkdirSync(upper);
  const size = 8 * GIB + 4096 + 5;
  sparse(path.join(upper, 'big'), size, [[0, noise(4096, 'head')], [8 * GIB + 4096, Buffer.from('tail!')]]);
  const target = sb.path('big-unpacked');
  fs.mkdirSync(target);
  const dist = path.join(__dirname, '../../packages/builder/dist');
  // Streamed through a pipe, never written out: the writer to the unpacker.
  const writer = `const r = require(${JSON.stringify(`${dist}/engine/difftar.js`)}).writeDiffTarTo(${JSON.stringify(upper)}, 1);
    require('fs').writeFileSync(${JSON.stringify(sb.path('big-written.json'))}, JSON.stringify(r));`;
  const reader = `require(${JSON.stringify(`${dist}/layers/unpack.js`)}).unpackLayer(process.stdin, { mediaType: 'application/vnd.oci.image.layer.v1.tar', target: ${JSON.stringify(target)}, mode: 'apply', name: 'big' })
    .then((r) => require('fs').writeFileSync(${JSON.stringify(sb.path('big-read.json'))}, JSON.stringify(r)), (e) => { console.error(e.message); process.exit(1); });`;
  ok(sh('bash', ['-c', 'set -euo pipefail; node -e "$W" | node -e "$R"'], { env: { ...process.env, W: writer, R: reader } }));
  // GNU tar reads the headers as we mean them: the start of the same tar is enough to list it.
  const list = sh('bash', ['-c', 'node -e "$W" 2>/dev/null | head -c 65536 > "$P"; tar -tvf "$P"'], { env: { ...process.env, W: writer, P: sb.path('big.head') } });
  expect(list.stdout).toMatch(new RegExp(` ${size} \\S+ \\S+ big\\n$`));
  const written = JSON.parse(fs.readFileSync(sb.path('big-written.json'), 'utf8')) as { digest: string; size: number };
  const read = JSON.parse(fs.readFileSync(sb.path('big-read.json'), 'utf8')) as { diffId: string; size: number };
  expect(read).toEqual({ diffId: written.digest, size: written.size, usedLowers: false });
  const out = path.join(target, 'big');
  expect(fs.statSync(out).size).toBe(size);
  expect(holeMaps(target).get('big')).toBe(`0-4096,${8 * GIB + 4096}-${size}`);
  const fd = fs.openSync(out, 'r');
  try {
    const head = Buffer.alloc(4096);
    fs.readSync(fd, head, 0, 4096, 0);
    expect(head.equals(noise(4096, 'head'))).toBe(true);
    const tail = Buffer.alloc(5);
    fs.readSync(fd, tail, 0, 5, 8 * GIB + 4096);
    expect(tail.toString()).toBe('tail!');
  } finally {
    fs.closeSync(fd);
  }
}, 300000);

test('a layer unpacked over its lowers (layers/chains/) is kept by prune while an image uses it, and removed with the image', () => {
  const root = sb.path('store');
  loadBase(root);
  const cache = new LayerCache(root);
  ok(sh(TSRUN, ['bundle', '--image-root', root, 'fidelity-base:1', sb.path('b')]));
  ok(sh(TSRUN, ['unbundle', sb.path('b')]));
  // Layer 3 has no entries for its parents and links to a file below: it is kept per lower stack.
  const chains = path.join(cache.dir, 'chains');
  expect(fs.readdirSync(chains)).toHaveLength(1);
  expect(fs.existsSync(path.join(chains, fs.readdirSync(chains)[0], 'fs/corpus/h/link4'))).toBe(true);
  expect(fs.readdirSync(path.join(cache.dir, 'sha256'))).toHaveLength(2);
  ok(sb.tsbuild(['prune'], { root }));
  expect(fs.readdirSync(chains)).toHaveLength(1);
  ok(sb.tsbuild(['rmi', 'fidelity-base:1'], { root }));
  ok(sb.tsbuild(['prune'], { root }));
  expect(fs.readdirSync(chains)).toEqual([]);
  expect(fs.readdirSync(path.join(cache.dir, 'sha256'))).toEqual([]);
});
