/**
 * Compressed layers in archives: tsbuild save --compression gzip|zstd for docker-archive,
 * oci-archive and oci-dir, loaded back by tsbuild (same image ID and diff_ids) and by podman
 * (which runs the zstd image) and docker (gzip; zstd from moby 23 on); zstd layers and
 * zstd-compressed archives accepted by load,
 * also without the zstd program (the pure-JS decoder); build --output with compression=; bad
 * flags refused before anything is written.
 */
import { spawn, spawnSync, type ChildProcess } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as zlib from 'zlib';
import { busyboxTar, ImageSandbox, inspect, makeTar, ok, Podman, removeBusyboxTar, sh, sha256 } from '../helpers/images';
import { unmountUnder, waitForSync } from '../helpers/managers';

let sb: ImageSandbox;
let podman: Podman | undefined;
beforeEach(() => {
  sb = new ImageSandbox();
});
afterEach(() => {
  try {
    podman?.cleanup();
  } finally {
    podman = undefined;
    sb.cleanup();
  }
});
afterAll(() => removeBusyboxTar());

const ZSTD = 'application/vnd.oci.image.layer.v1.tar+zstd';
const GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';
const ZSTD_MAGIC = '28b52ffd';

/** A text layer that compresses well, and its image (tsbuild import: one uncompressed layer). */
function importText(name: string): { id: string; diffId: string; size: number } {
  const lines = Array.from({ length: 40000 }, (_, i) => `line ${i} of a layer that compresses well\n`).join('');
  const tar = makeTar(sb.dir, { 'text.txt': lines, 'more/text2.txt': lines.toUpperCase() }, sb.path('text.tar'));
  const id = ok(sb.tsbuild(['import', tar, name])).stdout.trim();
  return { id, diffId: sha256(fs.readFileSync(tar)), size: fs.statSync(tar).size };
}

function members(tarFile: string): string[] {
  return ok(sh('tar', ['-tf', tarFile])).stdout.trim().split('\n').sort();
}

function extract(tarFile: string): string {
  const x = sb.path(`x-${path.basename(tarFile)}`);
  fs.mkdirSync(x);
  ok(sh('tar', ['-C', x, '-xf', tarFile]));
  return x;
}

function head(file: string): string {
  return fs.readFileSync(file).subarray(0, 4).toString('hex');
}

function unzstd(file: string): Buffer {
  const r = spawnSync('zstd', ['-d', '-q', '-c', file], { maxBuffer: 256 << 20 });
  if (r.status !== 0) throw new Error(`zstd -d ${file}: ${r.stderr}`);
  return r.stdout;
}

function storeState(root: string) {
  const list = (d: string) => (fs.existsSync(path.join(root, d)) ? fs.readdirSync(path.join(root, d)).sort() : []);
  return { index: fs.readFileSync(path.join(root, 'index.json'), 'utf8'), blobs: list('blobs/sha256'), ingest: list('ingest'), variants: list('variants') };
}

describe('save --compression, load back', () => {
  it('docker-archive with zstd: the layer is blobs/sha256/<digest>, zstd; load gives the same image', () => {
    const img = importText('app:1');
    const out = sb.path('d.tar');
    ok(sb.tsbuild(['save', '--compression', 'zstd', '-o', out, 'app:1']));
    const x = extract(out);
    const [entry] = JSON.parse(fs.readFileSync(path.join(x, 'manifest.json'), 'utf8'));
    expect(entry.Config).toBe(`${img.id.slice(7)}.json`);
    expect(entry.RepoTags).toEqual(['docker.io/library/app:1']);
    expect(entry.Layers).toHaveLength(1);
    const layer = path.join(x, entry.Layers[0]);
    expect(entry.Layers[0]).toBe(`blobs/sha256/${sha256(fs.readFileSync(layer)).slice(7)}`);
    expect(head(layer)).toBe(ZSTD_MAGIC);
    expect(fs.statSync(layer).size * 10).toBeLessThan(img.size);
    expect(sha256(unzstd(layer))).toBe(img.diffId);

    const other = sb.path('other');
    expect(ok(sb.tsbuild(['load', '-i', out], { root: other })).stdout).toBe('Loaded image: app:1\n');
    const back = inspect(sb, 'app:1', [], other);
    expect(back.Id).toBe(img.id);
    expect(back.RootFS.Layers).toEqual([img.diffId]);
    expect(back.Manifest.layers[0]).toMatchObject({ mediaType: ZSTD, digest: sha256(fs.readFileSync(layer)) });
    expect(ok(sb.tsbuild(['fsck'], { root: other })).stdout).toBe('');

    // a zstd layer in the store: the default docker-archive holds it uncompressed, as docker save
    const plain = sb.path('plain.tar');
    ok(sb.tsbuild(['save', '-o', plain, 'app:1'], { root: other }));
    expect(members(plain)).toEqual([`${img.diffId.slice(7)}.tar`, `${img.id.slice(7)}.json`, 'manifest.json', 'repositories'].sort());
    expect(sha256(fs.readFileSync(path.join(extract(plain), `${img.diffId.slice(7)}.tar`)))).toBe(img.diffId);
  });

  it('oci-archive with zstd and oci-dir with gzip: rewritten manifests, same image ID and diff_ids', () => {
    const img = importText('app:1');
    const stored = inspect(sb, 'app:1');
    for (const [format, compression, mediaType] of [['oci-archive', 'zstd', ZSTD], ['oci-dir', 'gzip', GZIP]] as const) {
      const out = sb.path(`out-${format}`);
      ok(sb.tsbuild(['save', '--format', format, '--compression', compression, '-o', out, 'app:1']));
      const layout = format === 'oci-dir' ? out : extract(out);
      const index = JSON.parse(fs.readFileSync(path.join(layout, 'index.json'), 'utf8'));
      expect(index.manifests).toHaveLength(1);
      expect(index.manifests[0].annotations).toEqual({ 'org.opencontainers.image.ref.name': 'docker.io/library/app:1' });
      const manifestFile = path.join(layout, 'blobs/sha256', index.manifests[0].digest.slice(7));
      expect(sha256(fs.readFileSync(manifestFile))).toBe(index.manifests[0].digest);
      const manifest = JSON.parse(fs.readFileSync(manifestFile, 'utf8'));
      expect(manifest.config).toEqual(stored.Manifest.config);
      expect(manifest.layers).toHaveLength(1);
      expect(manifest.layers[0].mediaType).toBe(mediaType);
      const layer = path.join(layout, 'blobs/sha256', manifest.layers[0].digest.slice(7));
      expect(fs.statSync(layer).size).toBe(manifest.layers[0].size);
      expect(sha256(compression === 'zstd' ? unzstd(layer) : zlib.gunzipSync(fs.readFileSync(layer)))).toBe(img.diffId);
      // only what the new manifest names: no uncompressed layer, no stored manifest
      expect(fs.readdirSync(path.join(layout, 'blobs/sha256')).sort()).toEqual([img.id, index.manifests[0].digest, manifest.layers[0].digest].map((d) => d.slice(7)).sort());

      const other = sb.path(`other-${format}`);
      ok(sb.tsbuild(['load', '-i', out], { root: other }));
      const back = inspect(sb, 'app:1', [], other);
      expect(back.Id).toBe(img.id);
      expect(back.RootFS.Layers).toEqual([img.diffId]);
      expect(back.Digest).toBe(index.manifests[0].digest);
      expect(ok(sb.tsbuild(['fsck'], { root: other })).stdout).toBe('');
    }
    // without --compression the OCI formats are the stored image, byte for byte
    ok(sb.tsbuild(['save', '--format', 'oci-dir', '-o', sb.path('as-stored'), 'app:1']));
    expect(JSON.parse(fs.readFileSync(sb.path('as-stored', 'index.json'), 'utf8')).manifests[0].digest).toBe(stored.Digest);
  });

  it('a second save reuses the compressed layer; gzip save of a zstd layer needs --force-compression', () => {
    const img = importText('app:1');
    ok(sb.tsbuild(['save', '--format', 'oci-archive', '--compression', 'zstd', '-o', sb.path('a.tar'), 'app:1']));
    const variants = fs.readdirSync(path.join(sb.root, 'variants'));
    expect(variants).toEqual([`${img.diffId.slice(7)}-zstd-3.json`]);
    const blobs = sb.blobs();
    ok(sb.tsbuild(['save', '--format', 'oci-archive', '--compression', 'zstd', '-o', sb.path('b.tar'), 'app:1']));
    expect(sb.blobs()).toEqual(blobs); // nothing new compressed
    expect(fs.readFileSync(sb.path('b.tar'))).toEqual(fs.readFileSync(sb.path('a.tar')));
    // fsck checks the compressed variant too
    expect(ok(sb.tsbuild(['fsck'])).stdout).toBe('');
    const record = JSON.parse(fs.readFileSync(path.join(sb.root, 'variants', variants[0]), 'utf8'));
    const file = sb.blobFile(record.digest);
    const bytes = fs.readFileSync(file);
    bytes[bytes.length >> 1] ^= 0xff;
    fs.writeFileSync(file, bytes);
    const fsck = sb.tsbuild(['fsck']);
    expect(fsck.code).toBe(1);
    expect(fsck.stdout).toMatch(new RegExp(`^zstd variant of layer ${img.diffId}: blob ${record.digest} is corrupt: its content has digest sha256:[0-9a-f]{64}\n$`));
    fs.writeFileSync(file, fs.readFileSync(path.join(extract(sb.path('a.tar')), 'blobs/sha256', record.digest.slice(7))));

    // a store holding the zstd image: gzip keeps the zstd layer unless forced
    const other = sb.path('other');
    ok(sb.tsbuild(['load', '-i', sb.path('a.tar')], { root: other }));
    ok(sb.tsbuild(['save', '--format', 'oci-dir', '--compression', 'gzip', '-o', sb.path('kept'), 'app:1'], { root: other }));
    const kept = JSON.parse(fs.readFileSync(sb.path('kept', 'index.json'), 'utf8')).manifests[0].digest;
    expect(kept).toBe(inspect(sb, 'app:1', [], other).Digest);
    ok(sb.tsbuild(['save', '--format', 'oci-dir', '--compression', 'gzip', '--force-compression', '-o', sb.path('forced'), 'app:1'], { root: other }));
    const idx = JSON.parse(fs.readFileSync(sb.path('forced', 'index.json'), 'utf8'));
    const m = JSON.parse(fs.readFileSync(sb.path('forced', 'blobs/sha256', idx.manifests[0].digest.slice(7)), 'utf8'));
    expect(m.layers[0].mediaType).toBe(GZIP);
    expect(sha256(zlib.gunzipSync(fs.readFileSync(sb.path('forced', 'blobs/sha256', m.layers[0].digest.slice(7)))))).toBe(img.diffId);
  });

  it('load takes a whole archive compressed with zstd, and zstd layers without the zstd program', () => {
    const img = importText('app:1');
    ok(sb.tsbuild(['save', '--compression', 'zstd', '-o', sb.path('d.tar'), 'app:1']));
    const zst = spawnSync('zstd', ['-q', '-c', sb.path('d.tar')], { maxBuffer: 256 << 20 }).stdout;
    const a = sb.path('a');
    expect(ok(sb.tsbuild(['load'], { root: a, input: zst })).stdout).toBe('Loaded image: app:1\n');
    expect(inspect(sb, 'app:1', [], a).Id).toBe(img.id);
    // no zstd on PATH: tsbuild decodes with its pure-JS decoder (fzstd)
    const b = sb.path('b');
    const r = sh(process.execPath, [path.resolve(__dirname, '../../packages/builder/bin/tsbuild'), 'load', '-i', sb.path('d.tar')], { env: { ...process.env, TSBUILD_ROOT: b, PATH: '/nonexistent' } });
    expect(ok(r).stdout).toBe('Loaded image: app:1\n');
    expect(inspect(sb, 'app:1', [], b).RootFS.Layers).toEqual([img.diffId]);
    // a zstd layer whose content is not the diff_id is refused, nothing stored
    const x = extract(sb.path('d.tar'));
    const [entry] = JSON.parse(fs.readFileSync(path.join(x, 'manifest.json'), 'utf8'));
    const wrong = makeTar(sb.dir, { 'other.txt': 'not the layer\n' }, sb.path('wrong.tar'));
    fs.writeFileSync(path.join(x, entry.Layers[0]), spawnSync('zstd', ['-q', '-c', wrong]).stdout);
    ok(sh('tar', ['-C', x, '-cf', sb.path('bad.tar'), '.']));
    const c = sb.path('c');
    ok(sb.tsbuild(['images'], { root: c }));
    const bad = sb.tsbuild(['load', '-i', sb.path('bad.tar')], { root: c });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toBe(`Error: layer ${entry.Layers[0]} does not match the image config: its diff_id is ${sha256(fs.readFileSync(wrong))}, the config says ${img.diffId}\n`);
    expect(sb.blobs(c)).toEqual([]);
    expect(fs.readdirSync(path.join(c, 'ingest'))).toEqual([]);
  });
});

describe('podman loads the zstd archives', () => {
  for (const format of ['docker-archive', 'oci-archive']) {
    it(`${format} with zstd layers: the same image ID and diff_ids, and it runs`, () => {
      podman = new Podman(sb);
      const id = ok(sb.tsbuild(['import', '-c', 'CMD ["/bin/echo","hello from a zstd layer"]', busyboxTar(), 'demo/zstd:1'])).stdout.trim();
      const out = sb.path('z.tar');
      ok(sb.tsbuild(['save', '--format', format, '--compression', 'zstd', '-o', out, 'demo/zstd:1']));
      expect(ok(podman.run(['load', '-i', out])).stdout).toContain('Loaded image: docker.io/demo/zstd:1');
      const j = JSON.parse(ok(podman.run(['image', 'inspect', 'docker.io/demo/zstd:1'])).stdout)[0];
      expect(`sha256:${j.Id}`).toBe(id);
      expect(j.RootFS.Layers).toEqual(inspect(sb, 'demo/zstd:1').RootFS.Layers);
      expect(ok(podman.runImage('docker.io/demo/zstd:1')).stdout).toBe('hello from a zstd layer\n');
    });
  }
});

describe('docker load', () => {
  // a dockerd of its own: data, exec root, socket and pid file in a temporary directory; no
  // iptables, no bridge, vfs storage; stopped and removed after the block, even on failure
  let work = '';
  let daemon: ChildProcess | undefined;
  const docker = (args: string[]) => spawnSync('docker', ['-H', `unix://${path.join(work, 'd.sock')}`, ...args], { encoding: 'utf8', timeout: 60_000 });
  beforeAll(() => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'tsbuild-dockerd-'));
    const sock = path.join(work, 'd.sock');
    const log = fs.openSync(path.join(work, 'dockerd.log'), 'w');
    daemon = spawn('dockerd', ['--data-root', path.join(work, 'data'), '--exec-root', path.join(work, 'exec'), '--pidfile', path.join(work, 'd.pid'), '-H', `unix://${sock}`, '--iptables=false', '--ip6tables=false', '--bridge=none', '--storage-driver', 'vfs'], { stdio: ['ignore', 'ignore', log] });
    fs.closeSync(log);
    waitForSync(() => docker(['info']).status === 0, 'dockerd to answer');
  });
  afterAll(async () => {
    if (daemon && daemon.exitCode === null) {
      const exited = new Promise((r) => daemon!.once('exit', r));
      daemon.kill('SIGTERM');
      await exited;
    }
    if (!work) return;
    unmountUnder(work);
    fs.rmSync(work, { recursive: true, force: true });
  });

  it('reads the gzip docker-archive with the same image ID and diff_ids, and the zstd one from moby 23 on', () => {
    const img = importText('docker/app:1');
    for (const compression of ['gzip', 'zstd']) {
      const out = sb.path(`${compression}.tar`);
      ok(sb.tsbuild(['save', '--compression', compression, '-o', out, 'docker/app:1']));
      const server = docker(['version', '--format', '{{.Server.Version}}']).stdout.trim();
      const load = docker(['load', '-i', out]);
      // Debian 12's dockerd is 20.10: its layer store reads gzip, not zstd
      if (compression === 'zstd' && Number(server.split('.')[0]) < 23) {
        expect(load.status).not.toBe(0);
        continue;
      }
      expect(load.status).toBe(0);
      expect(load.stdout).toBe('Loaded image: docker/app:1\n');
      const j = JSON.parse(docker(['image', 'inspect', 'docker/app:1']).stdout)[0];
      expect(j.Id).toBe(img.id);
      expect(j.RootFS.Layers).toEqual([img.diffId]);
      expect(docker(['rmi', 'docker/app:1']).status).toBe(0);
    }
  });
});

describe('build --output with compression', () => {
  it('type=oci,compression=zstd,compression-level=19 and type=docker (gzip by default); brotli is refused before the build', () => {
    const ctx = sb.path('ctx');
    fs.mkdirSync(ctx);
    fs.writeFileSync(path.join(ctx, 'words.txt'), Array.from({ length: 30000 }, (_, i) => `word ${i}\n`).join(''));
    fs.writeFileSync(path.join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY words.txt /words.txt\n');
    const oci = sb.path('b-oci.tar');
    const id = ok(sb.tsbuild(['build', '-q', '-t', 'b:1', '--output', `type=oci,dest=${oci},compression=zstd,compression-level=19`, ctx])).stdout.trim();
    const layout = extract(oci);
    const index = JSON.parse(fs.readFileSync(path.join(layout, 'index.json'), 'utf8'));
    const m = JSON.parse(fs.readFileSync(path.join(layout, 'blobs/sha256', index.manifests[0].digest.slice(7)), 'utf8'));
    expect(m.config.digest).toBe(id);
    expect(m.layers.map((l: { mediaType: string }) => l.mediaType)).toEqual([ZSTD]);
    expect(fs.readdirSync(path.join(sb.root, 'variants')).some((v) => v.endsWith('-zstd-19.json'))).toBe(true);

    const docker = sb.path('b-docker.tar');
    ok(sb.tsbuild(['build', '-q', '-t', 'b:1', '--output', `type=docker,dest=${docker}`, ctx]));
    const x = extract(docker);
    const [entry] = JSON.parse(fs.readFileSync(path.join(x, 'manifest.json'), 'utf8'));
    expect(head(path.join(x, entry.Layers[0])).slice(0, 4)).toBe('1f8b');
    const other = sb.path('other');
    ok(sb.tsbuild(['load', '-i', docker], { root: other }));
    expect(inspect(sb, 'b:1', [], other).Id).toBe(id);

    const before = storeState(sb.root);
    const r = sb.tsbuild(['build', '-q', '-t', 'c:1', '--output', `type=oci,dest=${sb.path('never.tar')},compression=brotli`, ctx]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('Error: invalid --output compression "brotli": want gzip, zstd or uncompressed\n');
    expect(fs.existsSync(sb.path('never.tar'))).toBe(false);
    expect(storeState(sb.root)).toEqual(before);
  });
});

describe('bad flags', () => {
  it.each([
    [['--compression', 'brotli'], 'Error: invalid --compression "brotli": want gzip, zstd or uncompressed'],
    [['--compression-level', '3'], 'Error: --compression-level needs --compression gzip or zstd'],
    [['--force-compression'], 'Error: --force-compression needs --compression'],
    [['--compression', 'gzip', '--compression-format', 'zstd'], 'Error: --compression gzip and --compression-format zstd disagree'],
  ])('save %j: one line, exit 1, no output, the store unchanged', (flags, message) => {
    importText('app:1');
    const before = storeState(sb.root);
    const r = sb.tsbuild(['save', ...flags, '-o', sb.path('out.tar'), 'app:1']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`${message}\n`);
    expect(fs.existsSync(sb.path('out.tar'))).toBe(false);
    expect(storeState(sb.root)).toEqual(before);
  });

  it('save --compression zstd without the zstd program: one line, no output, nothing left behind', () => {
    importText('app:1');
    const before = storeState(sb.root);
    const r = sh(process.execPath, [path.resolve(__dirname, '../../packages/builder/bin/tsbuild'), 'save', '--compression', 'zstd', '-o', sb.path('out.tar'), 'app:1'], { env: { ...process.env, TSBUILD_ROOT: sb.root, PATH: '/nonexistent' } });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("Error: zstd compression needs the zstd program (Debian's zstd package), which is not on PATH\n");
    expect(fs.readdirSync(sb.dir).filter((n) => n.includes('out.tar'))).toEqual([]);
    expect(storeState(sb.root)).toEqual(before);
  });
});
