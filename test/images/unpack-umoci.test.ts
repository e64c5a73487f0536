/**
 * Whiteouts and hard links, checked file by file against what `umoci unpack` makes of the same
 * image: type, mode, owner, size, content, symlink target, device number, mtime, xattrs and
 * which paths are hard links of each other, for the overlay-mounted rootfs of `tsrun bundle`
 * and for its copy-based fallback (`--copy`).
 */
import { spawnSync } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { fsops } from '../../packages/builder/src/layers/native';
import { useSandbox } from '../helpers/runtime';
import { TarEntry, writeImage } from '../helpers/oci-image';

const TSRUN = path.resolve(__dirname, '../../packages/runtime/bin/tsrun');
const sb = useSandbox();

const L1: TarEntry[] = [
  { name: 'a', type: 'dir', mode: 0o755, mtime: 1600000001 },
  { name: 'a/f1', data: 'one', mode: 0o644, uid: 1, gid: 2 },
  { name: 'a/f2', data: 'two', mode: 0o600 },
  { name: 'a/b', type: 'dir', mode: 0o700, uid: 1000, gid: 1000 },
  { name: 'a/b/f3', data: 'three' },
  { name: 'h', type: 'dir' },
  { name: 'h/orig', data: 'linked', mode: 0o4755, uid: 3, gid: 4, xattrs: { 'user.k': 'v' } },
  { name: 'h/link1', type: 'link', linkname: 'h/orig' },
  { name: 'h/link2', type: 'link', linkname: '/h/orig' },
  { name: 'o', type: 'dir', mode: 0o751 },
  { name: 'o/x', data: 'x' },
  { name: 'o/y', type: 'dir' },
  { name: 'o/y/z', data: 'z' },
  { name: 's', type: 'symlink', linkname: 'a' },
  { name: 'gone-dir', type: 'dir' },
  { name: 'gone-dir/inner', data: 'i' },
  { name: 'becomes-dir', data: 'file' },
  { name: 'becomes-file', type: 'dir' },
  { name: 'becomes-file/x', data: 'x' },
  { name: 'fifo', type: 'fifo', mode: 0o640 },
  { name: 'null', type: 'char', devmajor: 1, devminor: 3, mode: 0o666 },
  { name: 'sticky', type: 'dir', mode: 0o1777 },
];
const L2: TarEntry[] = [
  { name: 'a/.wh.f1', data: '' },
  { name: 'a/.wh.b', data: '' },
  { name: 'a/.wh.f2', data: '' },
  { name: 'a/f2', data: 'two again', mode: 0o640 }, // recreated in the layer that whites it out
  { name: 'o/.wh..wh..opq', data: '' },
  { name: 'o/new', data: 'new' },
  { name: 'o/y', type: 'dir', mode: 0o700 },
  { name: '.wh.gone-dir', data: '' },
  { name: 'h/link3', type: 'link', linkname: 'h/orig' }, // to a file of a lower layer
  { name: 'h/same1', data: 'same layer', uid: 7 },
  { name: 'h/same2', type: 'link', linkname: 'h/same1' },
];
const L3: TarEntry[] = [
  { name: 'becomes-dir', type: 'dir', mode: 0o711 },
  { name: 'becomes-dir/in', data: 'in' },
  { name: 'becomes-file', data: 'now a file' },
  { name: 's', type: 'dir' }, // a directory over the symlink
  { name: 's/f', data: 'in s' },
  { name: 'o/y/.wh..wh..opq', data: '' },
  { name: 'h/.wh.link1', data: '' },
];

interface Node {
  desc: string;
  ino: number;
}

function tree(root: string): Map<string, Node> {
  const out = new Map<string, Node>();
  const walk = (rel: string) => {
    const p = path.join(root, rel);
    const st = fs.lstatSync(p);
    const type = st.isDirectory() ? 'dir' : st.isFile() ? 'file' : st.isSymbolicLink() ? 'symlink' : st.isCharacterDevice() ? 'char' : st.isBlockDevice() ? 'block' : st.isFIFO() ? 'fifo' : 'other';
    const parts = [type, (st.mode & 0o7777).toString(8), `${st.uid}:${st.gid}`];
    if (type === 'file') parts.push(String(st.size), crypto.createHash('sha256').update(fs.readFileSync(p)).digest('hex').slice(0, 16));
    if (type === 'symlink') parts.push(`-> ${fs.readlinkSync(p)}`);
    if (type === 'char' || type === 'block') parts.push(`rdev ${st.rdev}`);
    if (type !== 'dir') parts.push(`mtime ${st.mtimeMs}`);
    const xattrs = fsops().llistxattr(p).filter((x) => !x.startsWith('trusted.overlay.')).sort();
    for (const x of xattrs) parts.push(`${x}=${fsops().lgetxattr(p, x)?.toString('hex')}`);
    if (rel) out.set(rel, { desc: parts.join(' '), ino: st.ino });
    if (type === 'dir') for (const e of fs.readdirSync(p)) walk(rel ? `${rel}/${e}` : e);
  };
  walk('');
  return out;
}

function linkGroups(t: Map<string, Node>, skip: string[]): string[][] {
  const byIno = new Map<number, string[]>();
  for (const [p, n] of t) {
    if (skip.includes(p) || n.desc.startsWith('dir')) continue;
    byIno.set(n.ino, [...(byIno.get(n.ino) ?? []), p]);
  }
  return [...byIno.values()].filter((g) => g.length > 1).map((g) => g.sort()).sort();
}

function run(cmd: string, args: string[]) {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return r;
}

describe.each(['overlay', 'copy'])('tsrun bundle (%s) and umoci unpack', (mode) => {
  it('make the same rootfs file by file', () => {
    const layout = sb.path(`layout-${mode}`);
    writeImage(layout, ['docker.io/library/wh:latest', 'latest'], {
      layers: [{ entries: L1, compression: 'gzip' }, { entries: L2 }, { entries: L3, compression: 'gzip' }],
      config: { Cmd: ['/bin/sh'] },
    });
    const umociDir = sb.path(`umoci-${mode}`);
    run('umoci', ['unpack', '--image', `${layout}:latest`, umociDir]);
    const ours = sb.path(`ours-${mode}`);
    run(TSRUN, ['bundle', '--image-root', layout, ...(mode === 'copy' ? ['--copy'] : []), 'wh', ours]);
    try {
      const theirs = tree(path.join(umociDir, 'rootfs'));
      const mine = tree(path.join(ours, 'rootfs'));
      // Sanity: the image exercises what it should.
      expect(theirs.has('a/f1')).toBe(false);
      expect(theirs.get('a/f2')?.desc).toMatch(/^file 640 /);
      expect([...theirs.keys()].filter((k) => k.startsWith('o/')).sort()).toEqual(['o/new', 'o/y']);
      expect(linkGroups(theirs, [])).toEqual([['h/link2', 'h/link3', 'h/orig'], ['h/same1', 'h/same2']]);

      expect([...mine.keys()].sort()).toEqual([...theirs.keys()].sort());
      for (const [p, n] of theirs) expect(`${p}: ${mine.get(p)?.desc}`).toBe(`${p}: ${n.desc}`);
      // h/link3 links to a file of a lower layer: in the overlay, the file is copied up into
      // that layer under all its names, so the rootfs still has one inode for all of them.
      expect(linkGroups(mine, [])).toEqual(linkGroups(theirs, []));
    } finally {
      spawnSync(TSRUN, ['unbundle', ours]);
    }
    expect(fs.existsSync(ours)).toBe(false);
  });
});
