/**
 * Layer unpacking (root): every kind of tar entry lands with its type, owner, mode, times and
 * xattrs; tar, gzip and zstd layers give the same tree; whiteouts become overlayfs whiteouts in
 * a layer's own directory and removals when applied to a rootfs; the cache verifies diff_id
 * and leaves nothing behind when it does not match.
 */
import { spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Readable } from 'stream';
import { LayerCache } from '../../packages/builder/src/layers/cache';
import { fsops } from '../../packages/builder/src/layers/native';
import { unpackLayer, UnpackMode } from '../../packages/builder/src/layers/unpack';
import { compress, Compression, sha256, tarball, TarEntry } from '../helpers/oci-image';

const MEDIA: Record<Compression, string> = {
  none: 'application/vnd.oci.image.layer.v1.tar',
  gzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  zstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
};

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-unpack-'));
});
afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

let n = 0;
function fresh(): string {
  const d = path.join(tmp, `t${++n}`);
  fs.mkdirSync(d);
  return d;
}

function unpack(entries: TarEntry[] | Buffer, target: string, mode: UnpackMode = 'apply', c: Compression = 'none', lowers: string[] = []) {
  const tar = Buffer.isBuffer(entries) ? entries : tarball(entries);
  return unpackLayer(Readable.from([compress(tar, c)]), { mediaType: MEDIA[c], target, mode, lowers, diffId: sha256(tar), name: 'test-layer' });
}

const CAP_SETUID_EP = Buffer.from('0100000280000000000000000000000000000000', 'hex'); // cap_setuid+ep: a 0x80 byte

const ALL_KINDS: TarEntry[] = [
  { name: 'dir', type: 'dir', mode: 0o750, uid: 12, gid: 34, mtime: 1600000000 },
  { name: 'dir/file', data: 'hello\n', mode: 0o640, uid: 1000, gid: 1001, mtime: 1500000000 },
  { name: 'dir/setuid', data: '#!/bin/sh\n', mode: 0o4755, uid: 0, gid: 0 },
  { name: 'sticky', type: 'dir', mode: 0o1777 },
  { name: 'dir/hard', type: 'link', linkname: 'dir/file' },
  { name: 'dir/sym', type: 'symlink', linkname: '../sticky', uid: 5, gid: 6, mtime: 1400000000 },
  { name: 'dev-null', type: 'char', devmajor: 1, devminor: 3, mode: 0o666 },
  { name: 'dev-loop', type: 'block', devmajor: 7, devminor: 0, mode: 0o660, gid: 6 },
  { name: 'fifo', type: 'fifo', mode: 0o600 },
  { name: 'capped', data: 'x', mode: 0o755, xattrs: { 'security.capability': CAP_SETUID_EP, 'user.note': 'caf\u00e9' } },
  { name: `long/${'n'.repeat(150)}/${'f'.repeat(120)}`, data: 'pax long name' },
  { name: `gnu/${'g'.repeat(140)}`, data: 'gnu long name', gnuLongName: true },
  { name: `longlink-${'l'.repeat(10)}`, type: 'symlink', linkname: `/${'t'.repeat(200)}` },
];

function checkAllKinds(root: string) {
  const st = (p: string) => fs.lstatSync(path.join(root, p));
  expect(st('dir').isDirectory()).toBe(true);
  expect(st('dir').mode & 0o7777).toBe(0o750);
  expect([st('dir').uid, st('dir').gid]).toEqual([12, 34]);
  expect(st('dir').mtimeMs).toBe(1600000000 * 1000); // set after its contents were written
  expect(fs.readFileSync(path.join(root, 'dir/file'), 'utf8')).toBe('hello\n');
  expect(st('dir/file').mode & 0o7777).toBe(0o640);
  expect([st('dir/file').uid, st('dir/file').gid]).toEqual([1000, 1001]);
  expect(st('dir/file').mtimeMs).toBe(1500000000 * 1000);
  expect(st('dir/setuid').mode & 0o7777).toBe(0o4755);
  expect(st('sticky').mode & 0o7777).toBe(0o1777);
  expect(st('dir/hard').ino).toBe(st('dir/file').ino);
  expect(st('dir/file').nlink).toBe(2);
  expect(fs.readlinkSync(path.join(root, 'dir/sym'))).toBe('../sticky');
  expect([st('dir/sym').uid, st('dir/sym').gid]).toEqual([5, 6]);
  expect(st('dir/sym').mtimeMs).toBe(1400000000 * 1000);
  expect(st('dev-null').isCharacterDevice()).toBe(true);
  expect(st('dev-null').rdev).toBe((1 << 8) | 3);
  expect(st('dev-null').mode & 0o7777).toBe(0o666);
  expect(st('dev-loop').isBlockDevice()).toBe(true);
  expect(st('dev-loop').rdev).toBe(7 << 8);
  expect(st('dev-loop').gid).toBe(6);
  expect(st('fifo').isFIFO()).toBe(true);
  expect(fsops().lgetxattr(path.join(root, 'capped'), 'security.capability')).toEqual(CAP_SETUID_EP);
  expect(fsops().lgetxattr(path.join(root, 'capped'), 'user.note')?.toString()).toBe('caf\u00e9');
  expect(fs.readFileSync(path.join(root, `long/${'n'.repeat(150)}/${'f'.repeat(120)}`), 'utf8')).toBe('pax long name');
  expect(fs.readFileSync(path.join(root, `gnu/${'g'.repeat(140)}`), 'utf8')).toBe('gnu long name');
  expect(fs.readlinkSync(path.join(root, `longlink-${'l'.repeat(10)}`))).toBe(`/${'t'.repeat(200)}`);
}

describe('entry kinds', () => {
  it.each(['none', 'gzip', 'zstd'] as Compression[])('a %s layer lands with types, owners, modes, times, xattrs and long names', async (c) => {
    const root = fresh();
    const r = await unpack(ALL_KINDS, root, 'overlay', c);
    expect(r.diffId).toBe(sha256(tarball(ALL_KINDS)));
    checkAllKinds(root);
  });

  it('getfattr (from outside) sees the binary security.capability byte for byte', async () => {
    const root = fresh();
    await unpack(ALL_KINDS, root);
    const r = spawnSync('getfattr', ['--absolute-names', '-e', 'hex', '-n', 'security.capability', path.join(root, 'capped')], { encoding: 'utf8' });
    expect(r.stdout).toContain(`security.capability=0x${CAP_SETUID_EP.toString('hex')}`);
  });

  it.each(['gzip', 'zstd'] as Compression[])('a corrupt or truncated %s layer is a one-line error naming the layer', async (c) => {
    const tar = tarball([{ name: 'f', data: 'x'.repeat(10000) }]);
    const blob = compress(tar, c);
    const flipped = Buffer.from(blob);
    flipped[Math.floor(blob.length / 2)] ^= 0xff;
    const run = (b: Buffer) => unpackLayer(Readable.from([b]), { mediaType: MEDIA[c], target: fresh(), mode: 'apply', diffId: sha256(tar), name: 'sha256:bad' });
    // zstd frames here carry no checksum: a flipped byte may decode to garbage, which the tar
    // reader or the diff_id check refuses instead.
    await expect(run(flipped)).rejects.toThrow(/^layer sha256:bad: [^\n]+$/);
    await expect(run(blob.subarray(0, 30))).rejects.toThrow(new RegExp(`^layer sha256:bad: invalid ${c} data \\(unexpected (end of file|EOF)\\)$`));
  });

  it.each([
    ['a plain tar labelled tar+gzip (as skopeo 1.9 pushes docker-archive layers)', 'none', 'gzip'],
    ['a gzip layer labelled as a plain tar', 'gzip', 'none'],
    ['a zstd layer labelled tar+gzip', 'zstd', 'gzip'],
  ] as [string, Compression, Compression][])('the content decides, not the media type: %s', async (_what, real, label) => {
    const tar = tarball([{ name: 'etc/marker', data: 'by content\n' }]);
    const root = fresh();
    const r = await unpackLayer(Readable.from([compress(tar, real)]), { mediaType: MEDIA[label], target: root, mode: 'apply', diffId: sha256(tar), name: 'sha256:mislabelled' });
    expect(r.diffId).toBe(sha256(tar));
    expect(fs.readFileSync(path.join(root, 'etc/marker'), 'utf8')).toBe('by content\n');
  });

  it('an unknown layer media type is a clear error', async () => {
    await expect(
      unpackLayer(Readable.from([Buffer.alloc(1024)]), { mediaType: 'application/vnd.example.layer.v1.tar+lz4', target: fresh(), mode: 'apply', name: 'sha256:x' }),
    ).rejects.toThrow('layer sha256:x: unsupported layer media type application/vnd.example.layer.v1.tar+lz4');
  });
});

describe('whiteouts', () => {
  const lower: TarEntry[] = [
    { name: 'a', type: 'dir' },
    { name: 'a/gone', data: 'lower' },
    { name: 'a/kept', data: 'lower' },
    { name: 'o', type: 'dir' },
    { name: 'o/old1', data: 'lower' },
    { name: 'o/sub', type: 'dir' },
    { name: 'o/sub/old2', data: 'lower' },
  ];
  const upper: TarEntry[] = [
    { name: 'a/.wh.gone', data: '' },
    { name: 'o/new', data: 'upper' }, // before the opaque marker: it stays
    { name: 'o/.wh..wh..opq', data: '' },
    { name: 'o/sub', type: 'dir' },
    { name: 'o/sub/new2', data: 'upper' },
  ];

  it('in a layer directory: a 0:0 character device and trusted.overlay.opaque=y', async () => {
    const low = fresh();
    const up = fresh();
    await unpack(lower, low, 'overlay');
    await unpack(upper, up, 'overlay', 'none', [low]);
    const wh = fs.lstatSync(path.join(up, 'a/gone'));
    expect(wh.isCharacterDevice() && wh.rdev === 0).toBe(true);
    expect(fs.existsSync(path.join(up, 'a/kept'))).toBe(false);
    expect(fsops().lgetxattr(path.join(up, 'o'), 'trusted.overlay.opaque')?.toString()).toBe('y');
    expect(fs.readdirSync(path.join(up, 'o')).sort()).toEqual(['new', 'sub']);
    // The lower layer is never written.
    expect(fs.readFileSync(path.join(low, 'a/gone'), 'utf8')).toBe('lower');
  });

  it('applied to a rootfs: removed, and the opaque directory keeps only this layer\'s entries', async () => {
    const root = fresh();
    await unpack(lower, root);
    await unpack(upper, root);
    expect(fs.readdirSync(path.join(root, 'a'))).toEqual(['kept']);
    expect(fs.readdirSync(path.join(root, 'o')).sort()).toEqual(['new', 'sub']);
    expect(fs.readdirSync(path.join(root, 'o/sub'))).toEqual(['new2']);
  });

  it('a parent that only a lower layer has is made with the lower one\'s owner and mode', async () => {
    const low = fresh();
    const up = fresh();
    await unpack([{ name: 'srv', type: 'dir', mode: 0o710, uid: 7, gid: 8 }], low, 'overlay');
    await unpack([{ name: 'srv/f', data: 'x' }], up, 'overlay', 'none', [low]);
    const st = fs.statSync(path.join(up, 'srv'));
    expect([st.mode & 0o7777, st.uid, st.gid]).toEqual([0o710, 7, 8]);
  });

  it('a hard link to a lower layer\'s file is copied up with its metadata', async () => {
    const low = fresh();
    const up = fresh();
    await unpack([{ name: 'f', data: 'content', mode: 0o600, uid: 3, gid: 4 }], low, 'overlay');
    await unpack([{ name: 'g', type: 'link', linkname: 'f' }], up, 'overlay', 'none', [low]);
    const st = fs.statSync(path.join(up, 'g'));
    expect(fs.readFileSync(path.join(up, 'g'), 'utf8')).toBe('content');
    expect([st.mode & 0o7777, st.uid, st.gid]).toEqual([0o600, 3, 4]);
  });
});

describe('fidelity', () => {
  /** Data segments of a file (SEEK_DATA/SEEK_HOLE), e.g. "8192-12288". */
  function segments(file: string): string {
    const r = spawnSync('python3', ['-c', `
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY); size = os.fstat(fd).st_size; pos = 0; out = []
while pos < size:
    try: start = os.lseek(fd, pos, os.SEEK_DATA)
    except OSError: break
    end = os.lseek(fd, start, os.SEEK_HOLE); out.append('%d-%d' % (start, end)); pos = end
print(','.join(out))`, file], { encoding: 'utf8' });
    return r.stdout.trim();
  }

  it.each(['overlay', 'apply'] as UnpackMode[])('%s: zero blocks of a file become holes, in the middle and at the end; the content is the same', async (mode) => {
    const root = fresh();
    const data = Buffer.concat([Buffer.alloc(8192), Buffer.from('x'), Buffer.alloc(4095), Buffer.alloc(1 << 20)]);
    await unpack([{ name: 'sparse', data }, { name: 'dense', data: Buffer.alloc(5000, 1) }], root, mode);
    expect(fs.readFileSync(path.join(root, 'sparse')).equals(data)).toBe(true);
    expect(segments(path.join(root, 'sparse'))).toBe('8192-12288');
    expect(fs.statSync(path.join(root, 'sparse')).size).toBe(data.length);
    expect(segments(path.join(root, 'dense'))).toBe('0-5000');
  });

  it('overlay: a hard link to a lower file is copied up under every name the lowers show it by', async () => {
    const l1 = fresh();
    const l2 = fresh();
    const up = fresh();
    await unpack(
      [
        { name: 'h', type: 'dir' },
        { name: 'h/orig', data: 'linked', mode: 0o4750, uid: 3, gid: 4, xattrs: { 'user.k': 'v', 'security.capability': CAP_SETUID_EP } },
        { name: 'h/a', type: 'link', linkname: 'h/orig' },
        { name: 'h/b', type: 'link', linkname: 'h/orig' },
        { name: 'd', type: 'dir' },
        { name: 'd/c', type: 'link', linkname: 'h/orig' },
      ],
      l1,
      'overlay',
    );
    await unpack([{ name: 'h/.wh.a', data: '' }], l2, 'overlay', 'none', [l1]); // one name hidden above
    const r = await unpack([{ name: 'h/new', type: 'link', linkname: 'h/orig' }, { name: 'h/.wh.b', data: '' }], up, 'overlay', 'none', [l2, l1]);
    expect(r.usedLowers).toBe(true);
    const st = (p: string) => fs.lstatSync(path.join(up, p));
    expect(st('h/new').ino).toBe(st('h/orig').ino);
    expect(st('d/c').ino).toBe(st('h/orig').ino);
    expect(st('h/orig').nlink).toBe(3); // orig, d/c, new: not a (hidden below), not b (whited out here)
    expect(st('h/b').isCharacterDevice()).toBe(true);
    expect(fs.existsSync(path.join(up, 'h/a'))).toBe(false);
    expect([st('h/orig').mode & 0o7777, st('h/orig').uid, st('h/orig').gid]).toEqual([0o4750, 3, 4]);
    expect(fsops().lgetxattr(path.join(up, 'h/orig'), 'security.capability')).toEqual(CAP_SETUID_EP);
    expect(fsops().lgetxattr(path.join(up, 'h/orig'), 'user.k')?.toString()).toBe('v');
    expect(fs.lstatSync(path.join(l1, 'h/orig')).nlink).toBe(4); // the lower layer is never written
  });

  it('overlay: a link entry at a name the lower file has already, or naming the file itself', async () => {
    const low = fresh();
    const up = fresh();
    await unpack([{ name: 'f', data: 'x' }, { name: 'g', type: 'link', linkname: 'f' }, { name: 'k', data: 'k' }], low, 'overlay');
    await unpack([{ name: 'g', type: 'link', linkname: 'f' }, { name: 'k', type: 'link', linkname: 'k' }], up, 'overlay', 'none', [low]);
    expect(fs.lstatSync(path.join(up, 'g')).ino).toBe(fs.lstatSync(path.join(up, 'f')).ino);
    expect(fs.lstatSync(path.join(up, 'f')).nlink).toBe(2);
    expect(fs.readFileSync(path.join(up, 'k'), 'utf8')).toBe('k');
  });

  it('overlay: an opaque directory of the layer drops what was copied up below it', async () => {
    const low = fresh();
    const up = fresh();
    await unpack([{ name: 'f', data: 'x' }, { name: 'o', type: 'dir' }, { name: 'o/g', type: 'link', linkname: 'f' }], low, 'overlay');
    await unpack([{ name: 'n', type: 'link', linkname: 'f' }, { name: 'o/', type: 'dir' }, { name: 'o/.wh..wh..opq', data: '' }], up, 'overlay', 'none', [low]);
    expect(fs.readdirSync(path.join(up, 'o'))).toEqual([]);
    expect(fs.lstatSync(path.join(up, 'n')).ino).toBe(fs.lstatSync(path.join(up, 'f')).ino);
  });

  it('overlay: a parent only a lower layer has is copied with its xattrs and mtime', async () => {
    const low = fresh();
    const up = fresh();
    await unpack([{ name: 'srv', type: 'dir', mode: 0o710, mtime: 1500000000, xattrs: { 'user.dir': Buffer.from([0, 0x80]), 'trusted.t': 'x' } }], low, 'overlay');
    const r = await unpack([{ name: 'srv/f', data: 'x' }], up, 'overlay', 'none', [low]);
    expect(r.usedLowers).toBe(true);
    expect(fsops().lgetxattr(path.join(up, 'srv'), 'user.dir')).toEqual(Buffer.from([0, 0x80]));
    expect(fsops().lgetxattr(path.join(up, 'srv'), 'trusted.t')?.toString()).toBe('x');
    expect(fs.statSync(path.join(up, 'srv')).mtimeMs).toBe(1500000000 * 1000);
  });

  it('a layer with every parent and its links within needs nothing from below', async () => {
    const low = fresh();
    await unpack([{ name: 'srv', type: 'dir' }], low, 'overlay');
    const r = await unpack([{ name: 'srv', type: 'dir' }, { name: 'srv/f', data: 'x' }, { name: 'srv/g', type: 'link', linkname: 'srv/f' }], fresh(), 'overlay', 'none', [low]);
    expect(r.usedLowers).toBe(false);
  });

  it('apply: a directory entry over an existing directory replaces its xattrs', async () => {
    const root = fresh();
    await unpack([{ name: 'd', type: 'dir', xattrs: { 'user.old': '1', 'user.both': 'a' } }], root);
    await unpack([{ name: 'd', type: 'dir', xattrs: { 'user.both': 'b', 'user.new': '2' } }], root);
    expect(fsops().llistxattr(path.join(root, 'd')).sort()).toEqual(['user.both', 'user.new']);
    expect(fsops().lgetxattr(path.join(root, 'd'), 'user.both')?.toString()).toBe('b');
  });

  it('overlay: a whiteout has its entry\'s mtime, so the layer dir diffs back to the same tar', async () => {
    const up = fresh();
    await unpack([{ name: 'd', type: 'dir' }, { name: 'd/.wh.x', data: '', mtime: 1234567890 }], up, 'overlay');
    expect(fs.lstatSync(path.join(up, 'd/x')).mtimeMs).toBe(1234567890 * 1000);
  });
});

describe('layer cache', () => {
  it('unpacks a layer once, keyed by diff_id', async () => {
    const store = fresh();
    const cache = new LayerCache(store);
    const tar = tarball([{ name: 'f', data: 'once' }]);
    let opened = 0;
    const src = { diffId: sha256(tar), digest: sha256(tar), mediaType: MEDIA.none, open: () => (opened++, Readable.from([tar])) };
    const [a, b] = await Promise.all([cache.ensure(src, []), cache.ensure(src, [])]);
    expect(a.path).toBe(path.join(store, 'layers/sha256', sha256(tar).slice(7), 'fs'));
    expect(b.path).toBe(a.path);
    expect(fs.readFileSync(path.join(a.path, 'f'), 'utf8')).toBe('once');
    const again = await cache.ensure(src, []);
    expect(again.unpacked).toBe(false);
    expect(opened).toBe(2); // the two concurrent calls raced; the third found it
    expect(fs.readdirSync(path.join(store, 'layers/tmp'))).toEqual([]);
  });

  it('an unpack killed midway (kill -9) leaves nothing in the cache; the next one cleans up and succeeds', async () => {
    const store = fresh();
    const entries: TarEntry[] = [];
    for (let i = 0; i < 400; i++) entries.push({ name: `d/f${i}`, data: Buffer.alloc(256 * 1024, i) });
    const tar = tarball(entries);
    const file = path.join(store, 'layer.tar');
    fs.writeFileSync(file, tar);
    const src = { diffId: sha256(tar), digest: sha256(tar), mediaType: MEDIA.none };
    // A separate process (the built package) unpacks from a slow stream so it can be caught midway.
    const script = `
      const fs = require('fs'); const { Readable } = require('stream');
      const { LayerCache } = require(${JSON.stringify(path.resolve(__dirname, '../../packages/builder/dist/layers/cache.js'))});
      const data = fs.readFileSync(${JSON.stringify(file)});
      async function* slow() { for (let o = 0; o < data.length; o += 65536) { yield data.subarray(o, o + 65536); await new Promise((r) => setTimeout(r, 5)); } }
      new LayerCache(${JSON.stringify(store)}).ensure({ ...${JSON.stringify(src)}, open: () => Readable.from(slow()) }, []);`;
    const child = spawn(process.execPath, ['-e', script], { stdio: 'ignore' });
    const tmpDir = path.join(store, 'layers/tmp');
    const deadline = Date.now() + 20000;
    const count = () => {
      try {
        const [t] = fs.readdirSync(tmpDir);
        return t ? fs.readdirSync(path.join(tmpDir, t, 'fs/d')).length : 0;
      } catch {
        return 0;
      }
    };
    while (count() < 20 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    child.kill('SIGKILL');
    await new Promise((r) => child.on('exit', r));
    expect(count()).toBeGreaterThan(0); // it was killed midway
    const cache = new LayerCache(store);
    expect(cache.has(src.diffId)).toBe(false);
    expect(fs.readdirSync(path.join(store, 'layers/sha256'))).toEqual([]);
    const r = await cache.ensure({ ...src, open: () => fs.createReadStream(file) }, []);
    expect(r.unpacked).toBe(true);
    expect(fs.readdirSync(path.join(r.path, 'd'))).toHaveLength(400);
    expect(fs.readdirSync(tmpDir)).toEqual([]);
  });

  it('a layer that needs its lowers is cached per lower stack; one that does not, by diff_id alone', async () => {
    const store = fresh();
    const cache = new LayerCache(store);
    const src = (entries: TarEntry[]) => {
      const tar = tarball(entries);
      return { diffId: sha256(tar), digest: sha256(tar), mediaType: MEDIA.none, open: () => Readable.from([tar]) };
    };
    const baseA = await cache.ensure(src([{ name: 'srv', type: 'dir', mode: 0o700 }, { name: 'f', data: 'A' }]), []);
    const baseB = await cache.ensure(src([{ name: 'srv', type: 'dir', mode: 0o755 }, { name: 'f', data: 'B' }]), []);
    const needy = src([{ name: 'srv/x', data: 'x' }, { name: 'g', type: 'link', linkname: 'f' }]);
    const overA = await cache.ensure(needy, [baseA.path]);
    const overB = await cache.ensure(needy, [baseB.path]);
    expect(overA.path).not.toBe(overB.path);
    expect(overA.path).toBe(cache.chainPathOf(needy.diffId, [baseA.path]));
    expect(cache.has(needy.diffId)).toBe(false);
    expect(fs.statSync(path.join(overA.path, 'srv')).mode & 0o7777).toBe(0o700);
    expect(fs.statSync(path.join(overB.path, 'srv')).mode & 0o7777).toBe(0o755);
    expect(fs.readFileSync(path.join(overB.path, 'g'), 'utf8')).toBe('B');
    expect((await cache.ensure(needy, [baseA.path])).unpacked).toBe(false);
    const plain = src([{ name: 'srv', type: 'dir' }, { name: 'srv/y', data: 'y' }]);
    const p1 = await cache.ensure(plain, [baseA.path]);
    const p2 = await cache.ensure(plain, [baseB.path]);
    expect(p1.path).toBe(cache.pathOf(plain.diffId));
    expect(p2).toEqual({ path: p1.path, diffId: plain.diffId, unpacked: false });
  });

  it('a diff_id mismatch is an error and leaves nothing', async () => {
    const store = fresh();
    const cache = new LayerCache(store);
    const tar = tarball([{ name: 'f', data: 'real' }]);
    const claimed = sha256(Buffer.from('something else'));
    await expect(cache.ensure({ diffId: claimed, digest: 'sha256:blob', mediaType: MEDIA.none, open: () => Readable.from([tar]) }, [])).rejects.toThrow(
      `layer sha256:blob: uncompressed content is ${sha256(tar)}, not the image's diff_id ${claimed}`,
    );
    expect(cache.has(claimed)).toBe(false);
    expect(fs.readdirSync(path.join(store, 'layers/sha256'))).toEqual([]);
    expect(fs.readdirSync(path.join(store, 'layers/tmp'))).toEqual([]);
  });
});
