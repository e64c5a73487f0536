/**
 * tsbuild pull and push against a real registry (Debian's docker-registry, no auth), with
 * skopeo on the other side: what tsbuild pushes, skopeo reads with the same digests, and
 * what skopeo pushes (from oci-archive and docker-archive), tsbuild pulls with the same
 * digests and the runtime under test runs. A logging proxy in front of the registry shows
 * what went over the wire: skipped blobs, chunked uploads, cross-repository mounts.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { busyboxTar, fileDigest, LayoutWriter, makeTar, removeBusyboxTar, sha256, TSBUILD } from '../helpers/images';
import { FaultProxy, ok, run, TestRegistry, type Run } from '../helpers/registry';
import { useSandbox } from '../helpers/runtime';

const TSRUN = path.resolve(__dirname, '../../packages/runtime/bin/tsrun');
const bundles: string[] = [];
const HOST = { os: 'linux', architecture: process.arch === 'x64' ? 'amd64' : process.arch };

// bundles are removed before the sandbox's own leak check (hooks run in declaration order)
afterEach(async () => {
  for (const d of bundles.splice(0)) await run(TSRUN, ['unbundle', d]);
});
const sb = useSandbox();
let registry: TestRegistry;
let proxy: FaultProxy;

beforeAll(async () => {
  registry = await TestRegistry.start();
  proxy = await FaultProxy.start(registry.host);
});
afterAll(async () => {
  await proxy?.close();
  registry?.stop();
  removeBusyboxTar();
});

function tsbuild(root: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return run(process.execPath, [TSBUILD, ...args], { env: { ...process.env, TSBUILD_ROOT: root, ...env } });
}

async function inspect(root: string, image: string) {
  return JSON.parse(ok(await tsbuild(root, ['inspect', image])).stdout)[0];
}

/** skopeo's view of a registry image: the digest of the manifest it serves, and its config digest. */
async function skopeoInspect(ref: string): Promise<{ digest: string; config: string; mediaType: string }> {
  const raw = ok(await run('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${ref}`])).stdout;
  const doc = JSON.parse(raw);
  return { digest: sha256(raw), config: doc.config?.digest, mediaType: doc.mediaType };
}

/**
 * A store with a busybox image tagged `name` plus `extraLayers` small layers (a layout written
 * by hand, loaded): Docker's media types and gzip layers, as registries mostly serve, or
 * with `docker` false, OCI's with uncompressed layers.
 */
async function storeWithBusybox(name: string, extraLayers = 0, docker = true): Promise<string> {
  const id = Math.random().toString(16).slice(2);
  const root = sb.path(`store-${id}`);
  const w = new LayoutWriter(sb.path(`layout-${id}`));
  const tars = [busyboxTar(), ...Array.from({ length: extraLayers }, (_, i) => makeTar(sb.dir, { [`layer${i}.txt`]: `layer ${i}\n`.repeat(1000 * (i + 1)) }, sb.path(`l${i}-${id}.tar`)))];
  w.tag(w.image(tars, HOST, { Cmd: ['/bin/echo', 'hello from the registry'] }, docker), name);
  w.finish();
  ok(await tsbuild(root, ['load', '-i', w.dir]));
  return root;
}

function lastLine(s: string): string {
  return s.trim().split('\n').pop()!;
}

describe('tsbuild push → registry → skopeo', () => {
  it('skopeo reads what tsbuild pushed with the same manifest and config digests', async () => {
    const name = `${proxy.host}/app/busybox:1`;
    const root = await storeWithBusybox(name, 2);
    const local = await inspect(root, name);
    const r = ok(await tsbuild(root, ['push', name]));
    expect(r.stdout).toContain(`The push refers to repository [${proxy.host}/app/busybox]`);
    expect(lastLine(r.stdout)).toBe(`1: digest: ${local.Digest} size: ${fs.statSync(path.join(root, 'blobs/sha256', local.Digest.slice(7))).size}`);
    // skopeo, straight from the registry
    const remote = await skopeoInspect(`${registry.host}/app/busybox:1`);
    expect(remote.digest).toBe(local.Digest);
    expect(remote.config).toBe(local.Id);
    const out = sb.path('skopeo-dir');
    ok(await run('skopeo', ['copy', '-q', '--src-tls-verify=false', `docker://${registry.host}/app/busybox:1`, `dir:${out}`]));
    expect(fileDigest(path.join(out, 'manifest.json'))).toBe(local.Digest);
    for (const l of local.Manifest.layers) expect(fileDigest(path.join(out, l.digest.slice(7)))).toBe(l.digest);
  });

  it('pushing again uploads nothing: every blob is found with HEAD', async () => {
    const name = `${proxy.host}/app/again:1`;
    const root = await storeWithBusybox(name, 1);
    ok(await tsbuild(root, ['push', name]));
    const before = proxy.log.length;
    const r = ok(await tsbuild(root, ['push', name]));
    const wire = proxy.log.slice(before);
    expect(r.stdout.match(/Layer already exists/g)).toHaveLength(2);
    expect(wire.filter((q) => q.method === 'HEAD' && q.url.includes('/app/again/blobs/sha256:'))).toHaveLength(3); // config and 2 layers
    expect(wire.filter((q) => q.method === 'POST' || q.method === 'PATCH' || (q.method === 'PUT' && q.url.includes('/blobs/')))).toEqual([]);
  });

  it('uploads a blob larger than the chunk size in PATCH chunks, and skopeo reads it', async () => {
    const name = `${proxy.host}/app/chunked:1`;
    const root = await storeWithBusybox(name);
    const local = await inspect(root, name);
    const layer = local.Manifest.layers[0];
    const chunk = 256 * 1024;
    const before = proxy.log.length;
    ok(await tsbuild(root, ['push', name], { TSBUILD_PUSH_CHUNK_SIZE: String(chunk) }));
    const patches = proxy.log.slice(before).filter((q) => q.method === 'PATCH');
    expect(patches).toHaveLength(Math.ceil(layer.size / chunk));
    expect((await skopeoInspect(`${registry.host}/app/chunked:1`)).digest).toBe(local.Digest);
    // dir: keeps blobs as the registry serves them, named by their hex digest
    const out = sb.path('chunked-dir');
    ok(await run('skopeo', ['copy', '-q', '--src-tls-verify=false', `docker://${registry.host}/app/chunked:1`, `dir:${out}`]));
    expect(fileDigest(path.join(out, layer.digest.slice(7)))).toBe(layer.digest);
  });

  it('pushes a multi-platform index after its manifests; skopeo reads the same index', async () => {
    const w = new LayoutWriter(sb.path('push-multi'));
    const host = w.image([busyboxTar()], HOST, { Cmd: ['/bin/echo', 'host'] }, true);
    const other = w.image([makeTar(sb.dir, { 'x.txt': 'arm' }, sb.path('arm.tar'))], { os: 'linux', architecture: 'arm64' }, {}, true);
    const index = w.index([{ ...host, platform: HOST }, { ...other, platform: { os: 'linux', architecture: 'arm64' } }], true);
    const name = `${proxy.host}/multi/pushed:1`;
    w.tag(index, name);
    w.finish();
    const root = sb.path('push-multi-store');
    ok(await tsbuild(root, ['load', '-i', w.dir]));
    const before = proxy.log.length;
    const r = ok(await tsbuild(root, ['push', name]));
    expect(lastLine(r.stdout)).toBe(`1: digest: ${index.digest} size: ${index.size}`);
    const puts = proxy.log.slice(before).filter((q) => q.method === 'PUT' && q.url.includes('/manifests/')).map((q) => q.url.split('/manifests/')[1]);
    expect(puts.slice(0, 2).sort()).toEqual([host.digest, other.digest].sort());
    expect(puts[2]).toBe('1');
    expect((await skopeoInspect(`${registry.host}/multi/pushed:1`)).digest).toBe(index.digest);
    const arm = sb.path('arm-dir');
    ok(await run('skopeo', ['copy', '-q', '--src-tls-verify=false', '--override-arch', 'arm64', `docker://${registry.host}/multi/pushed:1`, `dir:${arm}`]));
    expect(fileDigest(path.join(arm, 'manifest.json'))).toBe(other.digest);
  });

  it('mounts blobs from another repository of the registry instead of uploading them', async () => {
    const first = `${proxy.host}/team/base:1`;
    const root = await storeWithBusybox(first);
    ok(await tsbuild(root, ['push', first]));
    const second = `${proxy.host}/team/derived:2`;
    ok(await tsbuild(root, ['tag', first, second]));
    const before = proxy.log.length;
    const r = ok(await tsbuild(root, ['push', second]));
    expect(r.stdout).toContain('Mounted from team/base');
    const wire = proxy.log.slice(before);
    expect(wire.filter((q) => q.method === 'POST' && /\/v2\/team\/derived\/blobs\/uploads\/\?mount=sha256%3A[0-9a-f]{64}&from=team%2Fbase$/.test(q.url)).length).toBeGreaterThan(0);
    expect(wire.filter((q) => q.method === 'PATCH' || (q.method === 'PUT' && q.url.includes('/blobs/')))).toEqual([]);
    expect((await skopeoInspect(`${registry.host}/team/derived:2`)).digest).toBe((await inspect(root, second)).Digest);
  });
});

describe('skopeo → registry → tsbuild pull', () => {
  for (const format of ['oci-archive', 'docker-archive'] as const) {
    it(`pulls what skopeo pushed from ${format} with the same digests, and the image runs`, async () => {
      const src = await storeWithBusybox('src/app:1', 0, format === 'docker-archive');
      const archive = sb.path(`${format}.tar`);
      ok(await tsbuild(src, ['save', '--format', format, '-o', archive, 'src/app:1']));
      const remote = `${registry.host}/from-skopeo/${format}:v1`;
      ok(await run('skopeo', ['copy', '-q', '--dest-tls-verify=false', `${format}:${archive}`, `docker://${remote}`]));
      const served = await skopeoInspect(remote);
      expect(served.mediaType).toBe(format === 'oci-archive' ? 'application/vnd.oci.image.manifest.v1+json' : 'application/vnd.docker.distribution.manifest.v2+json');

      const root = sb.path(`pulled-${format}`);
      const r = ok(await tsbuild(root, ['pull', remote]));
      expect(r.stdout).toContain(`Digest: ${served.digest}\n`);
      expect(r.stdout).toContain(`Status: Downloaded newer image for ${remote}\n`);
      expect(lastLine(r.stdout)).toBe(remote);
      const img = await inspect(root, remote);
      expect(img.Digest).toBe(served.digest);
      expect(img.Id).toBe(served.config);
      expect(img.Id).toBe((await inspect(src, 'src/app:1')).Id);
      expect(ok(await tsbuild(root, ['fsck'])).stdout).toBe('');

      // a second pull finds it up to date and downloads nothing
      const before = proxy.log.length;
      const again = ok(await tsbuild(root, ['pull', remote.replace(registry.host, proxy.host)]));
      expect(again.stdout).toContain('Already exists');
      expect(proxy.log.slice(before).filter((q) => q.url.includes('/blobs/'))).toEqual([]);

      // and it runs under the runtime under test
      const dir = sb.path(`bundle-${format}`);
      ok(await run(TSRUN, ['bundle', remote, dir], { env: { ...process.env, TSBUILD_ROOT: root } }));
      bundles.push(dir);
      sb.addRootfs(path.join(dir, 'rootfs'));
      const out = sb.run(sb.id('pulled'), dir);
      expect(out.code).toBe(0);
      expect(out.stdout).toBe('hello from the registry\n');
    });
  }

  it('resolves a multi-platform index to the host platform (or --platform) and stores that manifest', async () => {
    const w = new LayoutWriter(sb.path('multi'));
    const host = w.image([busyboxTar()], HOST, { Cmd: ['/bin/echo', 'host'] });
    const other = w.image([makeTar(sb.dir, { 'x.txt': 's390x' }, sb.path('s390x.tar'))], { os: 'linux', architecture: 's390x' }, { Cmd: ['/bin/echo', 's390x'] });
    const index = w.index([{ ...other, platform: { os: 'linux', architecture: 's390x' } }, { ...host, platform: HOST }]);
    w.tag(index, 'multi:1');
    w.finish();
    const remote = `${registry.host}/multi/app:1`;
    ok(await run('skopeo', ['copy', '-q', '--all', '--dest-tls-verify=false', `oci:${w.dir}:multi:1`, `docker://${remote}`]));
    const indexDigest = (await skopeoInspect(remote)).digest;
    // skopeo may rewrite the manifests (compressing layers): the registry's index says what they are
    const served = JSON.parse(ok(await run('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${remote}`])).stdout).manifests as { digest: string; platform: { architecture: string } }[];
    const hostDigest = served.find((m) => m.platform.architecture === HOST.architecture)!.digest;
    const otherDigest = served.find((m) => m.platform.architecture === 's390x')!.digest;

    const root = sb.path('multi-store');
    const r = ok(await tsbuild(root, ['pull', remote]));
    expect(r.stdout).toContain(`Digest: ${indexDigest}\n`);
    const img = await inspect(root, remote);
    expect(img.Digest).toBe(hostDigest);
    expect(img.Architecture).toBe(HOST.architecture);

    ok(await tsbuild(root, ['pull', '--platform', 'linux/s390x', `${registry.host}/multi/app@${indexDigest}`]));
    const byDigest = JSON.parse(ok(await tsbuild(root, ['images', '--format', 'json'])).stdout.trim().split('\n').pop()!);
    expect(byDigest.Digest).toBe(otherDigest);
    const missing = await tsbuild(root, ['pull', '--platform', 'linux/mips64', remote]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe(`Error: ${remote}: no image for platform linux/mips64 (it has linux/s390x, ${HOST.os}/${HOST.architecture})\n`);
  });
});

describe('pullImage (the library call the builder makes for FROM)', () => {
  it("'missing' uses the stored image without asking the registry, 'always' asks, 'never' only looks in the store", async () => {
    const { ImageStore } = await import('../../packages/builder/src/store/store');
    const { pullImage } = await import('../../packages/builder/src/registry/pull');
    const name = `${proxy.host}/lib/app:1`;
    const src = await storeWithBusybox(name);
    ok(await tsbuild(src, ['push', '-q', name]));
    const store = ImageStore.open(sb.path('lib-store'));
    await expect(pullImage(store, name, { policy: 'never' })).rejects.toThrow(`No such image: ${name}`);

    let start = proxy.log.length;
    const first = await pullImage(store, name);
    expect(first).toMatchObject({ reference: name, pulled: true, id: (await inspect(src, name)).Id, digest: (await inspect(src, name)).Digest });
    expect(proxy.log.length).toBeGreaterThan(start);

    start = proxy.log.length;
    expect(await pullImage(store, name, { policy: 'missing' })).toMatchObject({ reference: name, pulled: false, id: first.id });
    expect(await pullImage(store, name, { policy: 'never' })).toMatchObject({ pulled: false, id: first.id });
    expect(proxy.log.length).toBe(start); // not a single request

    const always = await pullImage(store, name, { policy: 'always' });
    expect(always).toMatchObject({ pulled: false, id: first.id });
    const wire = proxy.log.slice(start);
    expect(wire.filter((q) => q.url.includes('/manifests/'))).toHaveLength(1);
    expect(wire.filter((q) => q.url.includes('/blobs/'))).toEqual([]);
    expect(await store.fsck()).toEqual([]);
  });
});

describe('plain HTTP', () => {
  // a registry at this host's non-loopback address is not insecure unless the user says so
  const address = Object.values(os.networkInterfaces()).flat().find((a) => a && a.family === 'IPv4' && !a.internal)?.address;
  (address ? it : it.skip)('is refused for a non-loopback registry unless --tls-verify=false', async () => {
    const remote = await FaultProxy.start(registry.host, undefined, address);
    try {
      const name = `${remote.host}/plain/app:1`;
      const root = await storeWithBusybox(name);
      const refused = await tsbuild(root, ['push', name], { TSBUILD_REGISTRY_RETRIES: '0' });
      expect(refused.code).toBe(1);
      expect(refused.stderr).toBe(`Error: ${remote.host}: cannot reach the registry: HTTPS failed: the server does not speak TLS; if it is a registry you trust without TLS, use --tls-verify=false\n`);
      expect(remote.log.every((q) => !q.url.startsWith('/v2/plain'))).toBe(true); // nothing reached it over HTTP
      ok(await tsbuild(root, ['push', '--tls-verify=false', name]));
      const pulled = sb.path('plain-store');
      const denied = await tsbuild(pulled, ['pull', name], { TSBUILD_REGISTRY_RETRIES: '0' });
      expect(denied.code).toBe(1);
      ok(await tsbuild(pulled, ['pull', '--tls-verify=false', name]));
      expect((await inspect(pulled, name)).Digest).toBe((await inspect(root, name)).Digest);
    } finally {
      await remote.close();
    }
  });
});

describe('progress', () => {
  it('on a terminal, layer lines are redrawn in place with bytes and speed; in a pipe, plain lines', async () => {
    const name = `${registry.host}/progress/app:1`;
    const src = await storeWithBusybox(name, 2);
    ok(await tsbuild(src, ['push', '-q', name]));
    const root = sb.path('progress-store');
    // script(1) runs the pull on a pseudo-terminal
    const tty = ok(await run('script', ['-q', '-e', '-c', `${process.execPath} ${TSBUILD} pull ${name}`, '/dev/null'], { env: { ...process.env, TSBUILD_ROOT: root, TERM: 'xterm' } }));
    expect(tty.stdout).toMatch(/\x1b\[\d+A/); // cursor up: lines redrawn
    expect(tty.stdout).toMatch(/[0-9a-f]{12}: Pull complete {2}[\d.]+[kM]?B in [\d.]+s \([\d.]+[kM]?B\/s\)/);
    ok(await tsbuild(root, ['rmi', name]));
    const piped = ok(await tsbuild(root, ['pull', name]));
    expect(piped.stdout).not.toContain('\x1b');
    const lines = piped.stdout.trim().split('\n');
    expect(lines[0]).toBe(`1: Pulling from ${name.replace(/:1$/, '')}`);
    expect(lines.filter((l) => /^[0-9a-f]{12}: Pull complete /.test(l))).toHaveLength(3);
    expect(lines.filter((l) => /^[0-9a-f]{12}: Downloading$/.test(l))).toHaveLength(3);
  });
});

describe('failures leave the store unchanged', () => {
  function snapshot(root: string) {
    const blobs = fs.existsSync(path.join(root, 'blobs/sha256')) ? fs.readdirSync(path.join(root, 'blobs/sha256')).sort() : [];
    const ingest = fs.existsSync(path.join(root, 'ingest')) ? fs.readdirSync(path.join(root, 'ingest')) : [];
    return { index: fs.readFileSync(path.join(root, 'index.json'), 'utf8'), blobs, ingest };
  }

  it.each([
    ['an unknown repository', (h: string) => `${h}/nope/nothing:1`, (h: string) => `Error: manifest for ${h}/nope/nothing:1 not found: manifest unknown\n`],
    ['an unknown tag', (h: string) => `${h}/app/busybox:no-such-tag`, (h: string) => `Error: manifest for ${h}/app/busybox:no-such-tag not found: manifest unknown\n`],
    ['an invalid reference', () => 'Bad/Name', () => 'Error: invalid reference format: repository name must be lowercase: "Bad/Name"\n'],
  ])('pull of %s is a one-line error', async (_what, ref, message) => {
    const root = await storeWithBusybox('keep/me:1');
    ok(await tsbuild(root, ['push', 'keep/me:1', `${registry.host}/app/busybox:1`]));
    const before = snapshot(root);
    const r = await tsbuild(root, ['pull', ref(registry.host)]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(message(registry.host));
    expect(r.stdout).toBe('');
    expect(snapshot(root)).toEqual(before);
    expect(ok(await tsbuild(root, ['fsck'])).stdout).toBe('');
  });

  it('push of an image the store lacks is a one-line error', async () => {
    const root = await storeWithBusybox('keep/me:1');
    const r = await tsbuild(root, ['push', `${registry.host}/absent:1`]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`Error: No such image: ${registry.host}/absent:1\n`);
  });
});
