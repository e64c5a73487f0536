/**
 * Compressed layers on the way to a registry and back (Debian's docker-registry, a logging
 * proxy in front): tsbuild push --compression gzip|zstd|uncompressed writes the media types
 * and sizes a registry client expects, skopeo reads the image and copies it into an OCI layout
 * whose blobs decompress to the diff_ids, tsbuild pull brings it back into another store with
 * the same image ID and diff_ids, a second push compresses and uploads nothing, and a pull
 * checks each layer's uncompressed content against its diff_id.
 */
import { spawnSync } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as zlib from 'zlib';
import { LayoutWriter, makeTar, sha256, TSBUILD } from '../helpers/images';
import { FaultProxy, ok, run, TestRegistry, type Run } from '../helpers/registry';

const HOST = { os: 'linux', architecture: process.arch === 'x64' ? 'amd64' : process.arch };
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
const LAYER = { gzip: 'application/vnd.oci.image.layer.v1.tar+gzip', zstd: 'application/vnd.oci.image.layer.v1.tar+zstd', uncompressed: 'application/vnd.oci.image.layer.v1.tar' } as const;

let registry: TestRegistry | undefined;
let proxy: FaultProxy | undefined;
let dir: string;

beforeAll(async () => {
  registry = await TestRegistry.start();
  proxy = await FaultProxy.start(registry.host);
});
afterAll(async () => {
  await proxy?.close();
  registry?.stop();
});
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsbuild-compression-'));
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

const at = (...p: string[]) => path.join(dir, ...p);
const reg = () => registry!.host;
const prx = () => proxy!.host;

function tsbuild(root: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return run(process.execPath, [TSBUILD, ...args], { env: { ...process.env, TSBUILD_ROOT: root, ...env } });
}

async function inspect(root: string, image: string) {
  return JSON.parse(ok(await tsbuild(root, ['inspect', image])).stdout)[0];
}

/** The manifest the registry serves, raw, and its digest. */
async function served(ref: string): Promise<{ raw: string; digest: string; doc: { mediaType: string; config: { mediaType: string; digest: string }; layers: { mediaType: string; digest: string; size: number }[] } }> {
  const raw = ok(await run('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${ref}`])).stdout;
  return { raw, digest: sha256(raw), doc: JSON.parse(raw) };
}

/** A layer that compresses well: 2 MB of text in a few files. */
function compressibleTar(name: string): string {
  const lines = (tag: string) => Array.from({ length: 20000 }, (_, i) => `${tag} line ${i} of ${name}, a layer that compresses well\n`).join('');
  return makeTar(dir, { 'a.txt': lines('a'), 'b/c.txt': lines('c'), 'd.json': JSON.stringify({ n: Array.from({ length: 5000 }, (_, i) => i) }) }, at(name));
}

/** A store with an image `name` of one uncompressed layer (tsbuild import), as builds make them. */
async function storeWithImage(name: string): Promise<{ root: string; id: string; diffId: string; size: number }> {
  const root = at(`store-${crypto.randomBytes(3).toString('hex')}`);
  const tar = compressibleTar(`layer-${crypto.randomBytes(3).toString('hex')}.tar`);
  const id = ok(await tsbuild(root, ['import', '-c', 'CMD ["/bin/true"]', tar, name])).stdout.trim();
  return { root, id, diffId: sha256(fs.readFileSync(tar)), size: fs.statSync(tar).size };
}

/** The uncompressed content of a blob, decoded with zlib or Debian's zstd (not tsbuild's code). */
function decode(file: string, mediaType: string): Buffer {
  const data = fs.readFileSync(file);
  if (mediaType.endsWith('gzip')) return zlib.gunzipSync(data);
  if (mediaType.endsWith('zstd')) {
    const r = spawnSync('zstd', ['-d', '-q', '-c'], { input: data, maxBuffer: 256 << 20 });
    if (r.status !== 0) throw new Error(`zstd -d: ${r.stderr}`);
    return r.stdout;
  }
  return data;
}

function lastLine(s: string): string {
  return s.trim().split('\n').pop()!;
}

function blobUploads(from: number) {
  return proxy!.log.slice(from).filter((q) => q.method === 'POST' || q.method === 'PATCH' || (q.method === 'PUT' && q.url.includes('/blobs/')));
}

describe('push --compression', () => {
  for (const compression of ['gzip', 'zstd', 'uncompressed'] as const) {
    it(`${compression}: the registry gets ${LAYER[compression]}; skopeo copies it to an OCI layout whose blobs decode; pull gives the same image`, async () => {
      const name = `${prx()}/comp/${compression}:1`;
      const img = await storeWithImage(name);
      const r = ok(await tsbuild(img.root, ['push', '--compression', compression, name]));
      const remote = await served(`${reg()}/comp/${compression}:1`);
      expect(lastLine(r.stdout)).toBe(`1: digest: ${remote.digest} size: ${Buffer.byteLength(remote.raw)}`);
      expect(remote.doc.mediaType).toBe(OCI_MANIFEST);
      expect(remote.doc.config).toMatchObject({ mediaType: OCI_CONFIG, digest: img.id });
      expect(remote.doc.layers).toHaveLength(1);
      const layer = remote.doc.layers[0];
      expect(layer.mediaType).toBe(LAYER[compression]);
      if (compression === 'uncompressed') {
        expect(layer).toMatchObject({ digest: img.diffId, size: img.size });
        expect(r.stdout).not.toContain('Compressing');
      } else {
        expect(r.stdout).toContain(`: Compressing (${compression})`);
        expect(layer.digest).not.toBe(img.diffId);
        expect(layer.size * 10).toBeLessThan(img.size); // text: far smaller than the tar
      }

      // skopeo: docker:// → oci:, compressed blobs as served (an uncompressed one it gzips
      // itself, as its oci: destination does), each decoding to the diff_id
      const layout = at('skopeo-oci');
      ok(await run('skopeo', ['copy', '-q', '--src-tls-verify=false', `docker://${reg()}/comp/${compression}:1`, `oci:${layout}:x`]));
      const index = JSON.parse(fs.readFileSync(path.join(layout, 'index.json'), 'utf8'));
      const manifest = JSON.parse(fs.readFileSync(path.join(layout, 'blobs/sha256', index.manifests[0].digest.slice(7)), 'utf8'));
      expect(manifest.config.digest).toBe(img.id);
      const copied = manifest.layers[0] as { mediaType: string; digest: string };
      if (compression !== 'uncompressed') expect(copied).toMatchObject({ mediaType: layer.mediaType, digest: layer.digest });
      const blob = path.join(layout, 'blobs/sha256', copied.digest.slice(7));
      expect(sha256(fs.readFileSync(blob))).toBe(copied.digest);
      expect(sha256(decode(blob, copied.mediaType))).toBe(img.diffId);

      // pull into another store: the same image ID and diff_ids, the registry's manifest
      const other = at('pulled');
      const p = ok(await tsbuild(other, ['pull', `${reg()}/comp/${compression}:1`]));
      expect(p.stdout).toContain(`Digest: ${remote.digest}\n`);
      const back = await inspect(other, `${reg()}/comp/${compression}:1`);
      expect(back.Id).toBe(img.id);
      expect(back.RootFS.Layers).toEqual([img.diffId]);
      expect(back.Digest).toBe(remote.digest);
      expect(back.Manifest.layers[0]).toMatchObject({ mediaType: LAYER[compression], digest: layer.digest });
      expect(ok(await tsbuild(other, ['fsck'])).stdout).toBe('');
    });
  }

  it('--compression-level: zstd 19 is smaller than zstd 1; both levels are kept apart', async () => {
    const img = await storeWithImage(`${prx()}/levels/app:1`);
    const sizes: number[] = [];
    for (const level of ['1', '19']) {
      ok(await tsbuild(img.root, ['push', '--compression', 'zstd', '--compression-level', level, `${prx()}/levels/app:1`, `${prx()}/levels/app:${level}`]));
      sizes.push((await served(`${reg()}/levels/app:${level}`)).doc.layers[0].size);
    }
    expect(sizes[1]).toBeLessThan(sizes[0]);
    expect(fs.readdirSync(path.join(img.root, 'variants')).sort()).toEqual([`${img.diffId.slice(7)}-zstd-1.json`, `${img.diffId.slice(7)}-zstd-19.json`]);
    // gzip at its default level is gzip 6: the same variant
    ok(await tsbuild(img.root, ['push', '-q', `${prx()}/levels/app:1`, `${prx()}/levels/app:gz`]));
    const again = ok(await tsbuild(img.root, ['push', '--compression-level', '6', `${prx()}/levels/app:1`, `${prx()}/levels/app:gz6`]));
    expect(again.stdout).not.toContain('Compressing');
    expect((await served(`${reg()}/levels/app:gz6`)).digest).toBe((await served(`${reg()}/levels/app:gz`)).digest);
  });

  it('a second push compresses nothing and uploads nothing; a push to a new repository reuses the compressed blob', async () => {
    const name = `${prx()}/again/zstd:1`;
    const img = await storeWithImage(name);
    ok(await tsbuild(img.root, ['push', '--compression', 'zstd', name]));
    const first = await served(`${reg()}/again/zstd:1`);
    const before = proxy!.log.length;
    const r = ok(await tsbuild(img.root, ['push', '--compression', 'zstd', name]));
    expect(r.stdout).not.toContain('Compressing');
    expect(r.stdout).toContain('Layer already exists');
    expect(blobUploads(before)).toEqual([]);
    expect(lastLine(r.stdout)).toBe(`1: digest: ${first.digest} size: ${Buffer.byteLength(first.raw)}`);

    // gc keeps the compressed layer while its image is there
    ok(await tsbuild(img.root, ['gc']));
    const fresh = `${prx()}/again/other:1`;
    const start = proxy!.log.length;
    const r2 = ok(await tsbuild(img.root, ['push', '--compression', 'zstd', name, fresh]));
    expect(r2.stdout).not.toContain('Compressing');
    expect((await served(`${reg()}/again/other:1`)).digest).toBe(first.digest);
    // mounted from again/zstd, which has the same compressed layer
    expect(r2.stdout).toContain('Mounted from again/zstd');
    expect(blobUploads(start).filter((q) => q.method === 'PATCH' || q.method === 'PUT')).toEqual([]);

    // once the image is gone, gc removes the compressed layer and its record
    const variant = first.doc.layers[0].digest;
    expect(fs.existsSync(path.join(img.root, 'blobs/sha256', variant.slice(7)))).toBe(true);
    ok(await tsbuild(img.root, ['rmi', name]));
    ok(await tsbuild(img.root, ['gc']));
    expect(fs.existsSync(path.join(img.root, 'blobs/sha256', variant.slice(7)))).toBe(false);
    expect(fs.readdirSync(path.join(img.root, 'variants'))).toEqual([]);
  });

  it('gzip layers of a Docker image go as they are; --force-compression zstd makes it an OCI image with zstd layers', async () => {
    const w = new LayoutWriter(at('docker-layout'));
    const tars = [compressibleTar('d1.tar'), compressibleTar('d2.tar')];
    const m = w.image(tars, HOST, { Cmd: ['/bin/true'] }, true);
    const name = `${prx()}/force/app:1`;
    w.tag(m, name);
    w.finish();
    const root = at('force-store');
    ok(await tsbuild(root, ['load', '-i', w.dir]));
    const local = await inspect(root, name);

    // default gzip, and zstd without force: the stored gzip layers, the stored manifest
    for (const args of [[], ['--compression', 'zstd']]) {
      const r = ok(await tsbuild(root, ['push', ...args, name]));
      expect(r.stdout).not.toContain('Compressing');
      const remote = await served(`${reg()}/force/app:1`);
      expect(remote.digest).toBe(local.Digest);
      expect(remote.doc.mediaType).toBe(DOCKER_MANIFEST);
    }

    const r = ok(await tsbuild(root, ['push', '--compression', 'zstd', '--force-compression', name, `${prx()}/force/app:zstd`]));
    expect(r.stdout.match(/Compressing \(zstd\)/g)).toHaveLength(2);
    const remote = await served(`${reg()}/force/app:zstd`);
    expect(remote.doc.mediaType).toBe(OCI_MANIFEST);
    expect(remote.doc.config).toMatchObject({ mediaType: OCI_CONFIG, digest: local.Id });
    expect(remote.doc.layers.map((l) => l.mediaType)).toEqual([LAYER.zstd, LAYER.zstd]);
    // forced the other way: a Docker manifest still, with Docker's uncompressed layer type
    ok(await tsbuild(root, ['push', '--compression', 'uncompressed', '--force-compression', name, `${prx()}/force/app:plain`]));
    const plain = await served(`${reg()}/force/app:plain`);
    expect(plain.doc.mediaType).toBe(DOCKER_MANIFEST);
    expect(plain.doc.layers.map((l) => [l.mediaType, l.digest])).toEqual(tars.map((t) => ['application/vnd.docker.image.rootfs.diff.tar', sha256(fs.readFileSync(t))]));

    const other = at('force-pulled');
    ok(await tsbuild(other, ['pull', `${reg()}/force/app:zstd`]));
    const back = await inspect(other, `${reg()}/force/app:zstd`);
    expect(back.Id).toBe(local.Id);
    expect(back.RootFS.Layers).toEqual(tars.map((t) => sha256(fs.readFileSync(t))));

    // and back to gzip, forced, from the store that pulled it (an OCI image there: it stays one)
    ok(await tsbuild(other, ['push', '--force-compression', `${reg()}/force/app:zstd`, `${reg()}/force/app:gz`]));
    const gz = await served(`${reg()}/force/app:gz`);
    expect(gz.doc.mediaType).toBe(OCI_MANIFEST);
    expect(gz.doc.layers.map((l) => l.mediaType)).toEqual([LAYER.gzip, LAYER.gzip]);
    expect(sha256(zlib.gunzipSync(fs.readFileSync(path.join(other, 'blobs/sha256', gz.doc.layers[1].digest.slice(7)))))).toBe(back.RootFS.Layers[1]);
  });

  it('a multi-platform index: each manifest rewritten, the index after them names the new digests', async () => {
    const w = new LayoutWriter(at('multi'));
    const host = w.image([compressibleTar('h.tar')], HOST, {});
    const arm = w.image([compressibleTar('a.tar')], { os: 'linux', architecture: 'arm64' }, {});
    const index = w.index([{ ...host, platform: HOST }, { ...arm, platform: { os: 'linux', architecture: 'arm64' } }]);
    const name = `${prx()}/multi/zstd:1`;
    w.tag(index, name);
    w.finish();
    const root = at('multi-store');
    ok(await tsbuild(root, ['load', '-i', w.dir]));
    const before = proxy!.log.length;
    const r = ok(await tsbuild(root, ['push', '--compression', 'zstd', name]));
    const remote = await served(`${reg()}/multi/zstd:1`);
    expect(lastLine(r.stdout)).toBe(`1: digest: ${remote.digest} size: ${Buffer.byteLength(remote.raw)}`);
    const children = (JSON.parse(remote.raw) as { manifests: { digest: string; platform: { architecture: string } }[] }).manifests;
    expect(children.map((c) => c.platform.architecture)).toEqual([HOST.architecture, 'arm64']);
    const puts = proxy!.log.slice(before).filter((q) => q.method === 'PUT' && q.url.includes('/manifests/')).map((q) => q.url.split('/manifests/')[1]);
    expect(puts).toEqual([...children.map((c) => c.digest), '1']);
    for (const c of children) {
      const m = await served(`${reg()}/multi/zstd@${c.digest}`);
      expect(m.digest).toBe(c.digest);
      expect(m.doc.layers.map((l) => l.mediaType)).toEqual([LAYER.zstd]);
    }
  });
});

describe('pull checks both digests', () => {
  /**
   * A layout whose manifest names a well-formed layer blob (its digest right) whose content
   * is not what the config's diff_id says: pushed as it is, it must not be pulled.
   */
  async function pushLying(compression: 'gzip' | 'zstd', repo: string): Promise<{ layer: string; real: string; claimed: string }> {
    const w = new LayoutWriter(at(`lie-${compression}`));
    const realTar = compressibleTar(`real-${compression}.tar`);
    const claimedTar = makeTar(dir, { 'other.txt': 'something else\n' }, at(`claimed-${compression}.tar`));
    const data = fs.readFileSync(realTar);
    const blob = compression === 'gzip' ? zlib.gzipSync(data) : spawnSync('zstd', ['-q', '-c'], { input: data, maxBuffer: 256 << 20 }).stdout;
    const layer = w.blob(LAYER[compression], blob);
    const config = w.json(OCI_CONFIG, { ...HOST, config: {}, rootfs: { type: 'layers', diff_ids: [sha256(fs.readFileSync(claimedTar))] } });
    const m = w.json(OCI_MANIFEST, { schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers: [layer] });
    w.tag(m, `${reg()}/${repo}:1`);
    w.finish();
    const src = at(`lie-store-${compression}`);
    ok(await tsbuild(src, ['load', '-i', w.dir]));
    ok(await tsbuild(src, ['push', '-q', `${reg()}/${repo}:1`])); // compressed already: sent as it is
    return { layer: layer.digest, real: sha256(data), claimed: sha256(fs.readFileSync(claimedTar)) };
  }

  for (const compression of ['gzip', 'zstd'] as const) {
    it(`a ${compression} layer whose content is not its diff_id is refused, and the store keeps nothing`, async () => {
      const lie = await pushLying(compression, `lie/${compression}`);
      const root = at('victim');
      ok(await tsbuild(root, ['images']));
      const r = await tsbuild(root, ['pull', `${reg()}/lie/${compression}:1`]);
      expect(r.code).toBe(1);
      expect(r.stderr).toBe(`Error: ${reg()}/lie/${compression}: layer ${lie.layer} failed verification: its uncompressed content has digest ${lie.real}, the image config's diff_id is ${lie.claimed}\n`);
      expect(fs.readdirSync(path.join(root, 'blobs/sha256'))).toEqual([]);
      expect(fs.readdirSync(path.join(root, 'ingest'))).toEqual([]);
      expect(JSON.parse(fs.readFileSync(path.join(root, 'index.json'), 'utf8')).manifests).toEqual([]);
    });
  }
});

describe('pull checks the diff_id of a download that starts over', () => {
  it('a connection cut midway, the Range ignored: the whole blob again, checked from its first byte', async () => {
    const name = `${reg()}/restart/app:1`;
    const img = await storeWithImage(name);
    ok(await tsbuild(img.root, ['push', '-q', '--compression', 'zstd', name]));
    ok(await tsbuild(img.root, ['push', '-q', '--compression', 'uncompressed', name, `${reg()}/restart/app:plain`]));
    // the same config through another manifest first: then the only download is the layer's
    const root = at('restarted');
    ok(await tsbuild(root, ['pull', '-q', `${reg()}/restart/app:plain`]));
    proxy!.faults = { cutBlobs: 1, ignoreRange: true };
    try {
      const start = proxy!.log.length;
      ok(await tsbuild(root, ['pull', `${prx()}/restart/app:1`]));
      const gets = proxy!.log.slice(start).filter((q) => q.method === 'GET' && /\/blobs\/sha256:/.test(q.url));
      expect(gets).toHaveLength(2); // the layer, cut; then again from where it was cut
      expect(gets[1]).toMatchObject({ url: gets[0].url, status: 200 }); // asked to resume, got it all
      expect(gets[1].range).toMatch(/^bytes=[1-9][0-9]*-$/);
      const back = await inspect(root, `${prx()}/restart/app:1`);
      expect(back.Id).toBe(img.id);
      expect(back.RootFS.Layers).toEqual([img.diffId]);
    } finally {
      proxy!.faults = {};
    }
  });
});

describe('bad flags are one line, exit 1, and change nothing', () => {
  function snapshot(root: string) {
    const list = (d: string) => (fs.existsSync(path.join(root, d)) ? fs.readdirSync(path.join(root, d)).sort() : []);
    return { index: fs.readFileSync(path.join(root, 'index.json'), 'utf8'), blobs: list('blobs/sha256'), ingest: list('ingest'), variants: list('variants') };
  }

  it.each([
    [['--compression', 'brotli'], 'Error: invalid --compression "brotli": want gzip, zstd or uncompressed'],
    [['--compression-format', 'lz4'], 'Error: invalid --compression "lz4": want gzip, zstd or uncompressed'],
    [['--compression', 'zstd', '--compression-level', '23'], 'Error: invalid --compression-level 23 for zstd: want 1 to 22'],
    [['--compression-level', '10'], 'Error: invalid --compression-level 10 for gzip: want 0 to 9'],
    [['--compression-level', 'fast'], 'Error: invalid --compression-level "fast": want a number'],
    [['--compression', 'uncompressed', '--compression-level', '3'], 'Error: --compression-level does not apply to uncompressed layers'],
  ])('push %j', async (flags, message) => {
    const name = `${prx()}/bad/app:1`;
    const img = await storeWithImage(name);
    const before = snapshot(img.root);
    const start = proxy!.log.length;
    const r = await tsbuild(img.root, ['push', ...flags, name]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`${message}\n`);
    expect(r.stdout).toBe('');
    expect(proxy!.log.length).toBe(start); // not a single request
    expect(snapshot(img.root)).toEqual(before);
  });

  it('zstd without the zstd program: one line, nothing pushed, nothing left in the store', async () => {
    const name = `${prx()}/nozstd/app:1`;
    const img = await storeWithImage(name);
    const before = snapshot(img.root);
    const r = await tsbuild(img.root, ['push', '--compression', 'zstd', name], { PATH: '/nonexistent' });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("Error: zstd compression needs the zstd program (Debian's zstd package), which is not on PATH\n");
    expect(proxy!.log.slice().filter((q) => q.url.includes('/nozstd/')).filter((q) => q.method !== 'GET' && q.method !== 'HEAD')).toEqual([]);
    expect(snapshot(img.root)).toEqual(before);
  });
});
