/**
 * Hostile layers (root): every escape attempt is refused or stays inside the target, and a
 * canary directory beside the target is byte for byte what it was. Each attempt runs both ways
 * a layer is unpacked: into the cache for overlayfs (a refused layer leaves nothing in the
 * cache) and applied to a rootfs (the copy-based fallback).
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Readable } from 'stream';
import { LayerCache } from '../../packages/builder/src/layers/cache';
import { unpackLayer, UnpackMode } from '../../packages/builder/src/layers/unpack';
import { sha256, tarball, TarEntry } from '../helpers/oci-image';

const TAR = 'application/vnd.oci.image.layer.v1.tar';

let tmp: string;
let canary: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-hostile-'));
  canary = path.join(tmp, 'canary');
  fs.mkdirSync(path.join(canary, 'sub'), { recursive: true });
  fs.writeFileSync(path.join(canary, 'file'), 'canary');
  fs.writeFileSync(path.join(canary, 'sub', 'deep'), 'canary');
});
afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** Everything under `dir`: type, mode, owner, size, link count, content, link target, mtime. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (rel: string) => {
    const p = path.join(dir, rel);
    const st = fs.lstatSync(p);
    let what = `${st.mode.toString(8)} ${st.uid}:${st.gid} ${st.size} n${st.nlink} ${st.mtimeMs}`;
    if (st.isFile()) what += ` ${fs.readFileSync(p, 'utf8')}`;
    if (st.isSymbolicLink()) what += ` -> ${fs.readlinkSync(p)}`;
    out[rel || '.'] = what;
    if (st.isDirectory()) for (const e of fs.readdirSync(p).sort()) walk(path.join(rel, e));
  };
  walk('');
  return out;
}

let n = 0;

/**
 * Unpacks `layers` in order in `mode`; returns the directory holding the top layer (overlay)
 * or the rootfs (apply), or throws the unpack error.
 */
async function attempt(layers: TarEntry[][], mode: UnpackMode): Promise<{ top: string; store: string }> {
  const store = path.join(tmp, `store${++n}`);
  if (mode === 'apply') {
    const root = path.join(store, 'rootfs');
    fs.mkdirSync(root, { recursive: true });
    for (const l of layers) {
      const tar = tarball(l);
      await unpackLayer(Readable.from([tar]), { mediaType: TAR, target: root, mode, diffId: sha256(tar), name: 'hostile' });
    }
    return { top: root, store };
  }
  const cache = new LayerCache(store);
  const stack: string[] = [];
  for (const l of layers) {
    const tar = tarball(l);
    const c = await cache.ensure({ diffId: sha256(tar), digest: 'sha256:hostile', mediaType: TAR, open: () => Readable.from([tar]) }, stack);
    stack.unshift(c.path);
  }
  return { top: stack[0], store };
}

const MODES: UnpackMode[] = ['overlay', 'apply'];

interface Case {
  name: string;
  layers: () => TarEntry[][];
  /** The error, or undefined when the layer is accepted and its effect stays inside. */
  error?: RegExp;
  /** For accepted layers: what the top directory must show. */
  inside?: (top: string) => void;
}

const CASES: Case[] = [
  {
    name: 'absolute path',
    layers: () => [[{ name: `${canary}/pwned`, data: 'x' }, { name: `${canary}/file`, data: 'pwned' }]],
    inside: (top) => {
      expect(fs.readFileSync(path.join(top, canary, 'pwned'), 'utf8')).toBe('x');
      expect(fs.readFileSync(path.join(top, canary, 'file'), 'utf8')).toBe('pwned');
    },
  },
  { name: '.. at the start', layers: () => [[{ name: '../canary/pwned', data: 'x' }]], error: /entry "\.\.\/canary\/pwned": "\.\.\/canary\/pwned" points outside the root/ },
  { name: '.. in the middle', layers: () => [[{ name: 'a', type: 'dir' }, { name: 'a/../../canary/pwned', data: 'x' }]], error: /points outside the root/ },
  { name: '.. after a symlink', layers: () => [[{ name: 'evil', type: 'symlink', linkname: '/' }, { name: 'evil/../../canary/file', data: 'x' }]], error: /points outside the root/ },
  {
    name: 'absolute symlink as a parent',
    layers: () => [[{ name: 'evil', type: 'symlink', linkname: canary }, { name: 'evil/pwned', data: 'x' }, { name: 'evil/sub/deep', data: 'pwned' }]],
    inside: (top) => {
      expect(fs.readlinkSync(path.join(top, 'evil'))).toBe(canary);
      expect(fs.readFileSync(path.join(top, canary, 'pwned'), 'utf8')).toBe('x');
      expect(fs.readFileSync(path.join(top, canary, 'sub/deep'), 'utf8')).toBe('pwned');
    },
  },
  {
    name: 'relative symlink climbing out as a parent',
    layers: () => [[{ name: 'd', type: 'dir' }, { name: 'd/evil', type: 'symlink', linkname: `../../../../../../../../..${canary}` }, { name: 'd/evil/pwned', data: 'x' }]],
    inside: (top) => expect(fs.readFileSync(path.join(top, canary, 'pwned'), 'utf8')).toBe('x'),
  },
  {
    name: 'symlink of a lower layer as a parent',
    layers: () => [[{ name: 'evil', type: 'symlink', linkname: canary }], [{ name: 'evil/pwned', data: 'x' }]],
    inside: (top) => expect(fs.readFileSync(path.join(top, canary, 'pwned'), 'utf8')).toBe('x'),
  },
  {
    name: 'symlink chain through a file',
    layers: () => [[{ name: 'a', type: 'symlink', linkname: 'b' }, { name: 'b', type: 'symlink', linkname: `${canary}/file` }, { name: 'a/pwned', data: 'x' }]],
    inside: (top) => expect(fs.readFileSync(path.join(top, canary, 'file', 'pwned'), 'utf8')).toBe('x'),
  },
  {
    name: 'symlink to a file of the layer as a parent',
    layers: () => [[{ name: 'f', data: 'x' }, { name: 'a', type: 'symlink', linkname: '/f' }, { name: 'a/pwned', data: 'x' }]],
    error: /entry "a\/pwned": \/f is not a directory/,
  },
  {
    name: 'symlink loop',
    layers: () => [[{ name: 'a', type: 'symlink', linkname: 'b' }, { name: 'b', type: 'symlink', linkname: 'a' }, { name: 'a/x', data: 'x' }]],
    error: /too many levels of symbolic links/,
  },
  { name: 'hard link with ..', layers: () => [[{ name: 'h', type: 'link', linkname: '../canary/file' }]], error: /hard link target "\.\.\/canary\/file" points outside the root/ },
  { name: 'hard link to an absolute host path', layers: () => [[{ name: 'h', type: 'link', linkname: `${canary}/file` }]], error: /hard link target ".*" does not exist/ },
  {
    name: 'hard link through a symlink',
    layers: () => [[{ name: 's', type: 'symlink', linkname: canary }, { name: 'h', type: 'link', linkname: 's/file' }]],
    error: /hard link target "s\/file" does not exist/,
  },
  {
    name: 'hard link through a lower layer\'s symlink',
    layers: () => [[{ name: 's', type: 'symlink', linkname: canary }], [{ name: 'h', type: 'link', linkname: 's/file' }]],
    error: /does not exist/,
  },
  {
    name: 'file over a symlink to a host file',
    layers: () => [[{ name: 'f', type: 'symlink', linkname: `${canary}/file` }, { name: 'f', data: 'pwned', mode: 0o4755 }]],
    inside: (top) => {
      expect(fs.lstatSync(path.join(top, 'f')).isFile()).toBe(true);
      expect(fs.readFileSync(path.join(top, 'f'), 'utf8')).toBe('pwned');
    },
  },
  {
    name: 'file over a lower layer\'s symlink to a host file',
    layers: () => [[{ name: 'f', type: 'symlink', linkname: `${canary}/file` }], [{ name: 'f', data: 'pwned' }]],
    inside: (top) => expect(fs.readFileSync(path.join(top, 'f'), 'utf8')).toBe('pwned'),
  },
  {
    name: 'directory over a symlink to a host directory',
    layers: () => [[{ name: 'd', type: 'symlink', linkname: canary }, { name: 'd', type: 'dir', mode: 0o777, uid: 1234 }]],
    inside: (top) => expect(fs.lstatSync(path.join(top, 'd')).isDirectory()).toBe(true),
  },
  {
    name: 'file over a hard link does not write through it',
    layers: () => [[{ name: 'f', data: 'orig' }, { name: 'h', type: 'link', linkname: 'f' }, { name: 'h', data: 'new' }]],
    inside: (top) => {
      expect(fs.readFileSync(path.join(top, 'f'), 'utf8')).toBe('orig');
      expect(fs.readFileSync(path.join(top, 'h'), 'utf8')).toBe('new');
    },
  },
  {
    name: 'device and fifo over a symlink',
    layers: () => [[{ name: 'd', type: 'symlink', linkname: `${canary}/file` }, { name: 'd', type: 'char', devmajor: 1, devminor: 3 }]],
    inside: (top) => expect(fs.lstatSync(path.join(top, 'd')).isCharacterDevice()).toBe(true),
  },
  { name: 'whiteout of ..', layers: () => [[{ name: 'a', type: 'dir' }, { name: 'a/.wh..', data: '' }]], error: /invalid whiteout/ },
  {
    name: 'whiteout through a symlink',
    layers: () => [[{ name: 'evil', type: 'symlink', linkname: canary }], [{ name: 'evil/.wh.file', data: '' }, { name: 'evil/sub/.wh.deep', data: '' }]],
  },
  {
    name: 'opaque directory through a symlink',
    layers: () => [[{ name: 'evil', type: 'symlink', linkname: canary }], [{ name: 'evil/.wh..wh..opq', data: '' }]],
  },
  {
    name: 'xattr of overlayfs from the tarball',
    layers: () => [[{ name: 'd', type: 'dir', xattrs: { 'trusted.overlay.opaque': 'y', 'trusted.overlay.redirect': canary } }]],
    inside: (top) => expect(fs.readdirSync(top)).toEqual(['d']),
  },
];

describe.each(MODES)('%s mode', (mode) => {
  it.each(CASES.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const before = snapshot(canary);
    const outside = fs.readdirSync(tmp).sort();
    if (c.error) {
      const store = path.join(tmp, `store${n + 1}`);
      await expect(attempt(c.layers(), mode)).rejects.toThrow(c.error);
      if (mode === 'overlay') {
        // A refused layer leaves nothing in the cache.
        const cached = path.join(store, 'layers', 'sha256');
        const left = fs.existsSync(cached) ? fs.readdirSync(cached) : [];
        expect(left.length).toBeLessThan(c.layers().length);
        expect(fs.readdirSync(path.join(store, 'layers', 'tmp'))).toEqual([]);
      }
    } else {
      const { top } = await attempt(c.layers(), mode);
      c.inside?.(top);
    }
    expect(snapshot(canary)).toEqual(before);
    // Nothing new beside the target either (only the store this attempt made).
    expect(fs.readdirSync(tmp).sort().filter((e) => !e.startsWith('store'))).toEqual(outside.filter((e) => !e.startsWith('store')));
  });
});
