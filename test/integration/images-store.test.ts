/**
 * The image store through the tsbuild CLI: import, tags and reference normalisation, the
 * archive formats both ways, multi-platform indexes, digest verification, rmi, gc, and a
 * writer killed with SIGKILL in the middle of a load.
 */
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import * as zlib from 'zlib';
import * as crypto from 'crypto';
import { busyboxTar, fileDigest, ImageSandbox, inspect, LayoutWriter, makeTar, ok, removeBusyboxTar, sh, sha256, TSBUILD } from '../helpers/images';

let sb: ImageSandbox;
beforeEach(() => {
  sb = new ImageSandbox();
});
afterEach(() => sb.cleanup());
afterAll(() => removeBusyboxTar());

const HOST = { os: 'linux', architecture: process.arch === 'x64' ? 'amd64' : process.arch };

/** An image made by `tsbuild import` of the busybox rootfs, tagged `name`. */
function importBusybox(name = 'bb:1'): string {
  const r = ok(sb.tsbuild(['import', '-c', 'CMD ["/bin/echo","hello"]', '-c', 'ENV A=1', busyboxTar(), name]));
  return r.stdout.trim();
}

function lines(s: string): string[] {
  return s.split('\n').filter((l) => l !== '');
}

/** Every tag resolves and every blob it reaches matches its digest. */
function expectConsistent(root = sb.root): void {
  const r = sb.tsbuild(['fsck'], { root });
  expect(r.stdout + r.stderr).toBe('');
  expect(r.code).toBe(0);
}

describe('import, tags, images, inspect', () => {
  it('imports a rootfs tarball as a one-layer image whose diff_id is the tar digest', () => {
    const id = importBusybox();
    const img = inspect(sb, 'bb:1');
    expect(img.Id).toBe(id);
    expect(fileDigest(sb.blobFile(id))).toBe(id);
    expect(img.RootFS.Layers).toEqual([fileDigest(busyboxTar())]);
    expect(img.Config.Cmd).toEqual(['/bin/echo', 'hello']);
    expect(img.Config.Env).toEqual(['A=1']);
    expect(img.RepoTags).toEqual(['bb:1']);
    expect(img.Architecture).toBe(HOST.architecture);
    expect(img.Manifest.layers[0].mediaType).toBe('application/vnd.oci.image.layer.v1.tar');
    // the store is an OCI layout: the tag is a ref.name annotation in index.json
    const index = JSON.parse(fs.readFileSync(path.join(sb.root, 'index.json'), 'utf8'));
    expect(index.manifests).toEqual([expect.objectContaining({ digest: img.Digest, annotations: { 'org.opencontainers.image.ref.name': 'docker.io/library/bb:1' } })]);
    expect(JSON.parse(fs.readFileSync(path.join(sb.root, 'oci-layout'), 'utf8'))).toEqual({ imageLayoutVersion: '1.0.0' });
  });

  it('normalises references as docker does and lists images as a table', () => {
    const id = importBusybox();
    ok(sb.tsbuild(['tag', 'bb:1', 'busybox']));
    ok(sb.tsbuild(['tag', id.slice(7, 19), 'localhost:5000/me/app:v2']));
    for (const name of ['busybox', 'busybox:latest', 'docker.io/library/busybox', 'library/busybox:latest', 'index.docker.io/library/busybox', id, id.slice(7), id.slice(7, 19), 'localhost:5000/me/app:v2']) {
      expect(inspect(sb, name).Id).toBe(id);
    }
    const table = lines(ok(sb.tsbuild(['images'])).stdout);
    expect(table[0]).toMatch(/^REPOSITORY +TAG +IMAGE ID +CREATED +SIZE$/);
    const rows = table.slice(1).map((l) => l.split(/ {3,}/));
    expect(rows.map((r) => [r[0], r[1], r[2]]).sort()).toEqual([
      ['bb', '1', id.slice(7, 19)],
      ['busybox', 'latest', id.slice(7, 19)],
      ['localhost:5000/me/app', 'v2', id.slice(7, 19)],
    ]);
    expect(lines(ok(sb.tsbuild(['images', '-q'])).stdout)).toEqual([id.slice(7, 19)]);
    expect(lines(ok(sb.tsbuild(['images', 'busybox'])).stdout)).toHaveLength(2);
    const json = lines(ok(sb.tsbuild(['images', '--format', 'json'])).stdout).map((l) => JSON.parse(l));
    expect(json.map((j) => j.ID)).toEqual([id, id, id]);
    expect(inspect(sb, 'bb:1').RepoTags.sort()).toEqual(['bb:1', 'busybox:latest', 'localhost:5000/me/app:v2']);
  });

  it('reports unknown images and bad references in one line with exit 1', () => {
    importBusybox();
    for (const args of [['inspect', 'nosuch'], ['rmi', 'nosuch'], ['save', '-o', sb.path('x.tar'), 'nosuch'], ['tag', 'nosuch', 'y']]) {
      const r = sb.tsbuild(args);
      expect(r.code).toBe(1);
      expect(r.stderr).toBe('Error: No such image: nosuch\n');
    }
    const bad = sb.tsbuild(['tag', 'bb:1', 'Upper/Case']);
    expect(bad.code).toBe(1);
    expect(lines(bad.stderr)).toEqual([expect.stringMatching(/^Error: invalid reference format: repository name must be lowercase/)]);
    expect(fs.existsSync(sb.path('x.tar'))).toBe(false);
    const usage = sb.tsbuild(['rmi']);
    expect(usage.code).toBe(125);
    expect(usage.stderr).toMatch(/"tsbuild rmi" requires at least 1 argument/);
  });

  it('uses --root before TSBUILD_ROOT', () => {
    const other = sb.path('other');
    ok(sb.tsbuild(['--root', other, 'import', busyboxTar(), 'x']));
    expect(lines(ok(sb.tsbuild(['--root', other, 'images', '-q'])).stdout)).toHaveLength(1);
    expect(ok(sb.tsbuild(['images', '-q'])).stdout).toBe('');
  });
});

describe('archives both ways', () => {
  for (const format of ['docker-archive', 'oci-archive', 'oci-dir']) {
    it(`save --format ${format} then load into another store keeps the image`, () => {
      const id = importBusybox();
      const before = inspect(sb, 'bb:1');
      const out = sb.path(`out-${format}`);
      ok(sb.tsbuild(['save', '--format', format, '-o', out, 'bb:1']));
      const other = sb.path('other');
      expect(ok(sb.tsbuild(['load', '-i', out], { root: other })).stdout).toBe('Loaded image: bb:1\n');
      const after = inspect(sb, 'bb:1', [], other);
      expect(after.Id).toBe(id);
      expect(after.RootFS.Layers).toEqual(before.RootFS.Layers);
      expect(after.ImageConfig).toEqual(before.ImageConfig);
      // OCI formats carry the manifest itself; docker archives get a generated one
      if (format !== 'docker-archive') expect(after.Digest).toBe(before.Digest);
      expectConsistent(other);
    });
  }

  it('writes docker archives as docker save does and reads them back from stdin, gzipped too', () => {
    const id = importBusybox();
    const diff = fileDigest(busyboxTar());
    const out = sb.path('d.tar');
    ok(sb.tsbuild(['save', '-o', out, 'bb:1']));
    const members = lines(ok(sh('tar', ['-tf', out])).stdout).sort();
    expect(members).toEqual([`${diff.slice(7)}.tar`, `${id.slice(7)}.json`, 'manifest.json', 'repositories'].sort());
    const x = sb.path('x');
    fs.mkdirSync(x);
    ok(sh('tar', ['-C', x, '-xf', out]));
    expect(JSON.parse(fs.readFileSync(path.join(x, 'manifest.json'), 'utf8'))).toEqual([{ Config: `${id.slice(7)}.json`, RepoTags: ['docker.io/library/bb:1'], Layers: [`${diff.slice(7)}.tar`] }]);
    expect(fileDigest(path.join(x, `${diff.slice(7)}.tar`))).toBe(diff);
    const other = sb.path('other');
    ok(sb.tsbuild(['load'], { root: other, input: zlib.gzipSync(fs.readFileSync(out)) as unknown as string }));
    expect(inspect(sb, 'bb:1', [], other).Id).toBe(id);
  });

  it('refuses a docker archive whose layer does not match the diff_id, storing nothing', () => {
    importBusybox();
    const out = sb.path('d.tar');
    ok(sb.tsbuild(['save', '-o', out, 'bb:1']));
    const x = sb.path('x');
    fs.mkdirSync(x);
    ok(sh('tar', ['-C', x, '-xf', out]));
    const layer = fs.readdirSync(x).find((n) => n.endsWith('.tar'))!;
    fs.appendFileSync(path.join(x, layer), Buffer.alloc(1024)); // still a tar, different bytes
    const bad = sb.path('bad.tar');
    ok(sh('tar', ['-C', x, '-cf', bad, '.']));
    const other = sb.path('other');
    const r = sb.tsbuild(['load', '-i', bad], { root: other });
    expect(r.code).toBe(1);
    expect(lines(r.stderr)).toEqual([`Error: layer ${layer} does not match the image config: its diff_id is ${fileDigest(path.join(x, layer))}, the config says sha256:${layer.slice(0, -4)}`]);
    expect(ok(sb.tsbuild(['images', '-q'], { root: other })).stdout).toBe('');
    expect(fs.readdirSync(path.join(other, 'ingest'))).toEqual([]);
    ok(sb.tsbuild(['gc'], { root: other }));
    expect(sb.blobs(other)).toEqual([]);
  });

  it('refuses what is not an image archive', () => {
    const notTar = sb.path('junk');
    fs.writeFileSync(notTar, 'hello world, not a tar'.repeat(100));
    const r = sb.tsbuild(['load', '-i', notTar]);
    expect(r.code).toBe(1);
    expect(lines(r.stderr)).toHaveLength(1);
    expect(r.stderr).toMatch(/^Error: (not a valid tar archive|not an image archive)/);
    const plain = makeTar(sb.dir, { 'hello.txt': 'hi' }, sb.path('plain.tar'));
    const r2 = sb.tsbuild(['load', '-i', plain]);
    expect(r2.stderr).toBe('Error: not an image archive: it has neither oci-layout and index.json (OCI) nor manifest.json (docker save)\n');
    const r3 = sb.tsbuild(['load', '-i', sb.path('missing.tar')]);
    expect(r3.stderr).toBe(`Error: open ${sb.path('missing.tar')}: no such file or directory\n`);
    for (const x of [r, r2, r3]) expect(x.code).toBe(1);
    expect(fs.readdirSync(path.join(sb.root, 'ingest'))).toEqual([]);
    expect(sb.blobs()).toEqual([]);
  });
});

describe('multi-platform indexes', () => {
  function multiPlatformLayout(): { dir: string; host: string; arm: string; index: string } {
    const w = new LayoutWriter(sb.path('multi'));
    const host = w.image([busyboxTar()], HOST, { Cmd: ['/bin/echo', 'host'] });
    const armLayer = makeTar(sb.dir, { 'arm.txt': 'arm64 only' }, sb.path('arm.tar'));
    const arm = w.image([armLayer], { os: 'linux', architecture: 'arm64', variant: 'v8' }, { Cmd: ['/bin/echo', 'arm'] });
    const index = w.index([
      { ...arm, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
      { ...host, platform: HOST },
    ]);
    w.tag(index, 'multi:1');
    w.finish();
    return { dir: w.dir, host: host.digest, arm: arm.digest, index: index.digest };
  }

  it('resolves the host platform of an index, and others with --platform', () => {
    const m = multiPlatformLayout();
    ok(sb.tsbuild(['load', '-i', m.dir]));
    const host = inspect(sb, 'multi:1');
    expect(host.Digest).toBe(m.index);
    expect(host.ManifestDigest).toBe(m.host);
    expect(host.Config.Cmd).toEqual(['/bin/echo', 'host']);
    const arm = inspect(sb, 'multi:1', ['--platform', 'linux/arm64']);
    expect(arm.ManifestDigest).toBe(m.arm);
    expect(arm.Architecture).toBe('arm64');
    expect(inspect(sb, `multi@${m.host}`).ManifestDigest).toBe(m.host);
    const none = sb.tsbuild(['inspect', '--platform', 'linux/s390x', 'multi:1']);
    expect(none.code).toBe(1);
    expect(none.stderr).toBe(`Error: image ${m.index} has no manifest for platform linux/s390x\n`);
    // gc keeps every platform's blobs; an oci-archive round trip keeps the index
    const before = sb.blobs();
    ok(sb.tsbuild(['gc']));
    expect(sb.blobs()).toEqual(before);
    ok(sb.tsbuild(['save', '--format', 'oci-archive', '-o', sb.path('m.tar'), 'multi:1']));
    const other = sb.path('other');
    ok(sb.tsbuild(['load', '-i', sb.path('m.tar')], { root: other }));
    expect(inspect(sb, 'multi:1', [], other).Digest).toBe(m.index);
    expect(sb.blobs(other)).toEqual(before);
    expectConsistent(other);
  });
});

describe("Docker's media types", () => {
  it('reads a Docker manifest list of v2 manifests with gzip layers, and saves it as a docker archive', () => {
    const w = new LayoutWriter(sb.path('docker-layout'));
    const host = w.image([busyboxTar()], HOST, { Cmd: ['/bin/echo', 'docker'] }, true);
    const arm = w.image([makeTar(sb.dir, { 'x.txt': 'arm' }, sb.path('arm.tar'))], { os: 'linux', architecture: 'arm64' }, {}, true);
    const list = w.index([{ ...arm, platform: { os: 'linux', architecture: 'arm64' } }, { ...host, platform: HOST }], true);
    w.tag(list, 'docker.io/me/dock:1');
    w.finish();
    ok(sb.tsbuild(['load', '-i', w.dir]));
    const img = inspect(sb, 'me/dock:1');
    expect(img.Digest).toBe(list.digest);
    expect(img.ManifestDigest).toBe(host.digest);
    expect(img.Config.Cmd).toEqual(['/bin/echo', 'docker']);
    expect(img.Manifest.layers[0].mediaType).toBe('application/vnd.docker.image.rootfs.diff.tar.gzip');
    expect(img.RootFS.Layers).toEqual([fileDigest(busyboxTar())]);
    // docker archives hold uncompressed layers: the gzip layer is decompressed on the way out
    ok(sb.tsbuild(['save', '-o', sb.path('d.tar'), 'me/dock:1']));
    const other = sb.path('other');
    ok(sb.tsbuild(['load', '-i', sb.path('d.tar')], { root: other }));
    const back = inspect(sb, 'me/dock:1', [], other);
    expect(back.Id).toBe(img.Id);
    expect(back.Manifest.layers.map((l) => l.digest)).toEqual([fileDigest(busyboxTar())]);
    expect(fs.readdirSync(path.join(sb.root, 'ingest'))).toEqual([]);
  });

  it('lists an image of another architecture by its first platform', () => {
    const w = new LayoutWriter(sb.path('arm-layout'));
    const arm = w.image([makeTar(sb.dir, { 'x.txt': 'arm' }, sb.path('arm.tar'))], { os: 'linux', architecture: 'arm64' });
    w.tag(w.index([{ ...arm, platform: { os: 'linux', architecture: 'arm64' } }]), 'armonly:1');
    w.finish();
    ok(sb.tsbuild(['load', '-i', w.dir]));
    const r = ok(sb.tsbuild(['images', '--format', 'json']));
    expect(r.stderr).toBe('');
    expect(lines(r.stdout).map((l) => JSON.parse(l).Repository)).toEqual(['armonly']);
    expect(inspect(sb, 'armonly:1', ['--platform', 'linux/arm64']).Architecture).toBe('arm64');
  });
});

describe('digest verification', () => {
  function flipByte(file: string, at: number): void {
    const fd = fs.openSync(file, 'r+');
    const b = Buffer.alloc(1);
    fs.readSync(fd, b, 0, 1, at);
    b[0] ^= 0xff;
    fs.writeSync(fd, b, 0, 1, at);
    fs.closeSync(fd);
  }

  it('a corrupt layer fails save (naming the digest, no output left) and fsck', () => {
    importBusybox();
    const layer = inspect(sb, 'bb:1').Manifest.layers[0].digest;
    flipByte(sb.blobFile(layer), 5000);
    for (const format of ['docker-archive', 'oci-archive', 'oci-dir']) {
      const out = sb.path(`out-${format}`);
      const r = sb.tsbuild(['save', '--format', format, '-o', out, 'bb:1']);
      expect(r.code).toBe(1);
      expect(lines(r.stderr)).toEqual([expect.stringMatching(new RegExp(`^Error: blob ${layer} is corrupt: its content has digest sha256:[0-9a-f]{64}$`))]);
      expect(fs.readdirSync(sb.dir).filter((n) => n.includes('out-'))).toEqual([]);
    }
    const fsck = sb.tsbuild(['fsck']);
    expect(fsck.code).toBe(1);
    expect(fsck.stdout).toMatch(new RegExp(`^docker.io/library/bb:1: blob ${layer} is corrupt`));
  });

  it('a corrupt config fails inspect with the digest', () => {
    const id = importBusybox();
    flipByte(sb.blobFile(id), 10);
    const r = sb.tsbuild(['inspect', 'bb:1']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`^Error: blob ${id} is corrupt: its content has digest sha256:[0-9a-f]{64}\\n$`));
  });

  it('a tampered blob in an OCI archive is refused on load, leaving the store as it was', () => {
    importBusybox();
    const out = sb.path('o');
    ok(sb.tsbuild(['save', '--format', 'oci-dir', '-o', out, 'bb:1']));
    const layer = inspect(sb, 'bb:1').Manifest.layers[0].digest;
    flipByte(path.join(out, 'blobs/sha256', layer.slice(7)), 100);
    const other = sb.path('other');
    ok(sb.tsbuild(['images'], { root: other }));
    for (const input of [out]) {
      const r = sb.tsbuild(['load', '-i', input], { root: other });
      expect(r.code).toBe(1);
      expect(lines(r.stderr)).toEqual([expect.stringMatching(new RegExp(`^Error: blob ${layer} is corrupt`))]);
    }
    ok(sh('tar', ['-C', out, '-cf', sb.path('o.tar'), '.']));
    const r = sb.tsbuild(['load', '-i', sb.path('o.tar')], { root: other });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`^Error: blob ${layer} is corrupt`));
    expect(JSON.parse(fs.readFileSync(path.join(other, 'index.json'), 'utf8')).manifests).toEqual([]);
    expect(fs.readdirSync(path.join(other, 'ingest'))).toEqual([]);
  });
});

describe('rmi and gc', () => {
  it('untags, deletes the last tag with its blobs, and refuses ambiguous IDs unless forced', () => {
    const id = importBusybox('bb:1');
    ok(sb.tsbuild(['tag', 'bb:1', 'bb:2']));
    ok(sb.tsbuild(['tag', 'bb:1', 'other:1']));
    const blobs = sb.blobs();
    expect(ok(sb.tsbuild(['rmi', 'bb:2'])).stdout).toBe('Untagged: bb:2\n');
    expect(sb.blobs()).toEqual(blobs);
    const conflict = sb.tsbuild(['rmi', id.slice(7, 19)]);
    expect(conflict.code).toBe(1);
    expect(conflict.stderr).toBe(`Error: conflict: unable to delete ${id.slice(7, 19)} (must be forced) - image is referenced in multiple repositories\n`);
    expect(ok(sb.tsbuild(['rmi', 'bb:1'])).stdout).toBe('Untagged: bb:1\n');
    expect(sb.blobs()).toEqual(blobs);
    expect(inspect(sb, id).RepoTags).toEqual(['other:1']);
  });

  it('rmi of each tag, then the last one deletes the image and gc frees its blobs', () => {
    const id = importBusybox('bb:1');
    ok(sb.tsbuild(['tag', 'bb:1', 'bb:2']));
    const r = sb.tsbuild(['rmi', 'bb:2', 'nosuch', 'bb:1']);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe(`Untagged: bb:2\nUntagged: bb:1\nDeleted: ${id}\n`);
    expect(r.stderr).toBe('Error: No such image: nosuch\n');
    expect(sb.blobs()).toEqual([]);
    expect(ok(sb.tsbuild(['images', '-q'])).stdout).toBe('');
  });

  it('rmi -f of an ID removes every tag', () => {
    const id = importBusybox('bb:1');
    ok(sb.tsbuild(['tag', 'bb:1', 'other:1']));
    const r = ok(sb.tsbuild(['rmi', '-f', id.slice(7, 19)]));
    expect(lines(r.stdout).sort()).toEqual(['Untagged: bb:1', 'Untagged: other:1', `Deleted: ${id}`].sort());
    expect(sb.blobs()).toEqual([]);
  });

  it('gc removes only unreferenced blobs and stale temporary files, nothing outside blobs/', () => {
    importBusybox('bb:1');
    const referenced = sb.blobs();
    const stray = Buffer.from('nobody references me');
    fs.writeFileSync(sb.blobFile(sha256(stray)), stray);
    fs.writeFileSync(path.join(sb.root, 'ingest', 'blob.tmp-123-abcd'), 'half a blob');
    // directories that other parts of the system keep in the store root
    for (const d of ['layers/sha256/abc', 'bundles/b1']) {
      fs.mkdirSync(path.join(sb.root, d), { recursive: true });
      fs.writeFileSync(path.join(sb.root, d, 'file'), 'keep');
    }
    const r = ok(sb.tsbuild(['gc']));
    expect(r.stdout).toBe(`deleted: ${sha256(stray)}\nTotal reclaimed space: ${stray.length}B\n`);
    expect(sb.blobs()).toEqual(referenced);
    expect(fs.readdirSync(path.join(sb.root, 'ingest'))).toEqual([]);
    for (const d of ['layers/sha256/abc', 'bundles/b1']) expect(fs.readFileSync(path.join(sb.root, d, 'file'), 'utf8')).toBe('keep');
    expectConsistent();
  });
});

describe('crash safety', () => {
  /** A docker archive with a large (incompressible) layer, so that a load takes a while. */
  function bigArchive(): string {
    const file = sb.path('big.bin');
    const fd = fs.openSync(file, 'w');
    for (let i = 0; i < 48; i++) fs.writeSync(fd, crypto.randomBytes(1 << 20));
    fs.closeSync(fd);
    const layerTree = sb.path('tree');
    fs.mkdirSync(layerTree);
    fs.renameSync(file, path.join(layerTree, 'big.bin'));
    ok(sh('tar', ['-C', layerTree, '-cf', sb.path('layer.tar'), '.']));
    fs.rmSync(layerTree, { recursive: true });
    const w = new LayoutWriter(sb.path('big-layout'));
    w.tag(w.image([busyboxTar(), sb.path('layer.tar')], HOST), 'big:1');
    w.finish();
    ok(sh('tar', ['-C', sb.path('big-layout'), '-cf', sb.path('big.tar'), '.']));
    fs.rmSync(sb.path('big-layout'), { recursive: true });
    fs.rmSync(sb.path('layer.tar'));
    return sb.path('big.tar');
  }

  /** Starts `tsbuild load`, waits until `when()` holds, kills it with SIGKILL. */
  async function killDuring(archive: string, when: () => boolean): Promise<boolean> {
    const child = spawn(process.execPath, [TSBUILD, 'load', '-i', archive], { env: { ...process.env, TSBUILD_ROOT: sb.root }, stdio: 'ignore' });
    const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
    let killed = false;
    const deadline = Date.now() + 60000;
    while (Date.now() < deadline && child.exitCode === null) {
      if (when()) {
        killed = child.kill('SIGKILL');
        break;
      }
      await new Promise((r) => setTimeout(r, 1));
    }
    await exited;
    return killed;
  }

  it('a load killed mid-write leaves every tag resolvable; gc clears the leftovers', async () => {
    importBusybox('bb:1');
    const archive = bigArchive();
    const ingest = path.join(sb.root, 'ingest');
    const blobsBefore = sb.blobs().length;
    // 1. while the archive is being extracted into ingest/
    expect(await killDuring(archive, () => fs.readdirSync(ingest).length > 0)).toBe(true);
    expectConsistent();
    expect(lines(ok(sb.tsbuild(['images', '--format', 'json'])).stdout).map((l) => JSON.parse(l).Repository)).toEqual(['bb']);
    // 2. once blobs of the new image have started to land in blobs/
    await killDuring(archive, () => sb.blobs().length > blobsBefore);
    expectConsistent();
    const repos = lines(ok(sb.tsbuild(['images', '--format', 'json'])).stdout).map((l) => JSON.parse(l).Repository).sort();
    expect(repos[0]).toBe('bb');
    // leftovers are unreferenced blobs and ingest files only; gc removes them
    ok(sb.tsbuild(['gc']));
    expect(fs.readdirSync(ingest)).toEqual([]);
    expectConsistent();
    // and a complete load then works
    ok(sb.tsbuild(['load', '-i', archive]));
    expectConsistent();
    expect(inspect(sb, 'big:1').RootFS.Layers).toHaveLength(2);
  });

  it('gc during a load waits for it: the new image survives whole', async () => {
    importBusybox('bb:1');
    const archive = bigArchive();
    const ingest = path.join(sb.root, 'ingest');
    const load = spawn(process.execPath, [TSBUILD, 'load', '-i', archive], { env: { ...process.env, TSBUILD_ROOT: sb.root }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    load.stdout.on('data', (d) => (out += d));
    const loaded = new Promise<number | null>((resolve) => load.on('exit', (code) => resolve(code)));
    while (fs.readdirSync(ingest).length === 0 && load.exitCode === null) await new Promise((r) => setTimeout(r, 1));
    const gc = spawn(process.execPath, [TSBUILD, 'gc'], { env: { ...process.env, TSBUILD_ROOT: sb.root }, stdio: 'ignore' });
    const collected = new Promise<number | null>((resolve) => gc.on('exit', (code) => resolve(code)));
    expect(await loaded).toBe(0);
    expect(await collected).toBe(0);
    expect(out).toBe('Loaded image: big:1\n');
    expectConsistent();
    expect(inspect(sb, 'big:1').RootFS.Layers).toHaveLength(2);
  });

  it('concurrent tag commands lose no update of index.json', async () => {
    importBusybox('bb:1');
    const runs = Array.from({ length: 8 }, (_, i) =>
      new Promise<number | null>((resolve) => spawn(process.execPath, [TSBUILD, 'tag', 'bb:1', `t:${i}`], { env: { ...process.env, TSBUILD_ROOT: sb.root }, stdio: 'ignore' }).on('exit', resolve)),
    );
    expect(await Promise.all(runs)).toEqual(Array(8).fill(0));
    const tags = lines(ok(sb.tsbuild(['images', '--format', 'json'])).stdout).map((l) => `${JSON.parse(l).Repository}:${JSON.parse(l).Tag}`);
    expect(tags.sort()).toEqual(['bb:1', ...Array.from({ length: 8 }, (_, i) => `t:${i}`)].sort());
  });
});
