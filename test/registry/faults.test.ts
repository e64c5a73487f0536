/**
 * Pulls through a fault-injecting proxy in front of a real registry: a blob transfer cut
 * midway and a 503 are retried (the cut one resumed with a Range request) and the pull
 * completes, verified; a flipped byte, a registry that keeps answering 503 and one that is
 * gone are one-line errors that leave the store as it was (same index.json and blobs,
 * nothing in ingest/, fsck clean, no tag).
 */
import * as fs from 'fs';
import * as path from 'path';
import { busyboxTar, LayoutWriter, makeTar, removeBusyboxTar, sha256, TSBUILD } from '../helpers/images';
import { FaultProxy, ok, run, TestRegistry, type Run } from '../helpers/registry';
import { useSandbox } from '../helpers/runtime';

const HOST = { os: 'linux', architecture: process.arch === 'x64' ? 'amd64' : process.arch };
const sb = useSandbox();
let registry: TestRegistry;
let proxy: FaultProxy;
let source: string;

function tsbuild(root: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return run(process.execPath, [TSBUILD, ...args], { env: { ...process.env, TSBUILD_ROOT: root, TSBUILD_REGISTRY_RETRY_DELAY_MS: '50', ...env } });
}

beforeAll(async () => {
  registry = await TestRegistry.start();
  proxy = await FaultProxy.start(registry.host);
  // an image of three gzip layers (busybox and two of ~100 kB) in the registry
  source = sb.path('source');
  const w = new LayoutWriter(sb.path('layout'));
  const tars = [busyboxTar(), makeTar(sb.dir, { 'a.txt': 'a'.repeat(100_000) }, sb.path('a.tar')), makeTar(sb.dir, { 'b.bin': Buffer.from(Array.from({ length: 100_000 }, (_, i) => (i * 7919) & 0xff)) }, sb.path('b.tar'))];
  w.tag(w.image(tars, HOST, { Cmd: ['/bin/true'] }, true), `${registry.host}/faults/app:1`);
  w.finish();
  ok(await tsbuild(source, ['load', '-i', w.dir]));
  ok(await tsbuild(source, ['push', `${registry.host}/faults/app:1`]));
});
afterAll(async () => {
  await proxy?.close();
  registry?.stop();
  removeBusyboxTar();
});
beforeEach(() => {
  proxy.faults = {};
});

async function sourceImage() {
  return JSON.parse(ok(await tsbuild(source, ['inspect', `${registry.host}/faults/app:1`])).stdout)[0];
}

/** A store holding one unrelated image, so "unchanged" is about a store with content. */
async function storeWithSomething(): Promise<string> {
  const root = sb.path(`store-${Math.random().toString(16).slice(2)}`);
  ok(await tsbuild(root, ['import', makeTar(sb.dir, { 'hello.txt': 'hello\n' }, sb.path('hello.tar')), 'something:1']));
  return root;
}

function snapshot(root: string) {
  return {
    index: fs.readFileSync(path.join(root, 'index.json'), 'utf8'),
    blobs: fs.readdirSync(path.join(root, 'blobs/sha256')).sort(),
    ingest: fs.readdirSync(path.join(root, 'ingest')),
  };
}

async function expectUnchanged(root: string, before: ReturnType<typeof snapshot>, ref: string): Promise<void> {
  expect(snapshot(root)).toEqual(before);
  expect(ok(await tsbuild(root, ['fsck'])).stdout).toBe('');
  const r = await tsbuild(root, ['inspect', ref]);
  expect(r.code).toBe(1);
  expect(r.stderr).toBe(`Error: No such image: ${ref}\n`);
}

it('a blob transfer cut midway is resumed with Range, a 503 is retried, and the pull completes verified', async () => {
  const ref = `${proxy.host}/faults/app:1`;
  const root = await storeWithSomething();
  const start = proxy.log.length;
  proxy.faults = { cutBlobs: 1, fail503: 1 };
  const r = ok(await tsbuild(root, ['pull', ref]));
  const wire = proxy.log.slice(start);
  // one GET was answered 503, one cut after half its body and resumed from where it broke
  expect(wire.filter((q) => q.status === 503)).toHaveLength(1);
  const resumed = wire.filter((q) => q.method === 'GET' && q.range);
  expect(resumed).toHaveLength(1);
  expect(resumed[0].range).toMatch(/^bytes=[1-9]\d*-$/);
  expect(resumed[0].status).toBe(206);
  expect(r.stdout).toMatch(/Retrying .*503/);
  expect(r.stdout).toMatch(/Retrying .*connection (broken|closed) after \d+ of \d+ bytes/);
  const src = await sourceImage();
  const img = JSON.parse(ok(await tsbuild(root, ['inspect', ref])).stdout)[0];
  expect(img.Digest).toBe(src.Digest);
  expect(img.Id).toBe(src.Id);
  expect(ok(await tsbuild(root, ['fsck'])).stdout).toBe('');
  expect(fs.readdirSync(path.join(root, 'ingest'))).toEqual([]);
});

it('a push whose blob upload is answered 503 retries it and completes; skopeo reads the same digest', async () => {
  const name = `${proxy.host}/faults/pushed:1`;
  ok(await tsbuild(source, ['tag', `${registry.host}/faults/app:1`, name]));
  try {
    const start = proxy.log.length;
    proxy.faults = { failUploadPut503: 2 };
    // pushed from a store whose tags on this proxy's "registry" differ: no mount, real uploads
    const r = ok(await tsbuild(source, ['push', name]));
    const puts = proxy.log.slice(start).filter((q) => q.method === 'PUT' && q.url.includes('/blobs/uploads/'));
    expect(puts.filter((q) => q.status === 503)).toHaveLength(2);
    expect(puts.filter((q) => q.status === 201)).toHaveLength(4); // config and 3 layers
    expect(r.stdout).toMatch(/Retrying .*PUT blob sha256:[0-9a-f]{64}: 503/);
    const raw = ok(await run('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${registry.host}/faults/pushed:1`])).stdout;
    expect(sha256(raw)).toBe((await sourceImage()).Digest);
  } finally {
    await tsbuild(source, ['rmi', name]);
  }
});

it('a blob with a flipped byte is a one-line digest error and the store is unchanged', async () => {
  const ref = `${proxy.host}/faults/app:1`;
  const root = await storeWithSomething();
  const before = snapshot(root);
  proxy.faults = { flipByte: true };
  const r = await tsbuild(root, ['pull', '-q', ref]);
  expect(r.code).toBe(1);
  expect(r.stderr).toMatch(new RegExp(`^Error: ${proxy.host}/faults/app: blob sha256:[0-9a-f]{64} failed verification: its content has digest sha256:[0-9a-f]{64}\\n$`));
  await expectUnchanged(root, before, ref);
});

it('a registry that keeps answering 503 is retried with backoff, then a one-line error; the store is unchanged', async () => {
  const ref = `${proxy.host}/faults/app:1`;
  const root = await storeWithSomething();
  const before = snapshot(root);
  const start = proxy.log.length;
  proxy.faults = { always503: true };
  const r = await tsbuild(root, ['pull', '-q', ref], { TSBUILD_REGISTRY_RETRIES: '2' });
  expect(r.code).toBe(1);
  expect(r.stderr).toMatch(new RegExp(`^Error: ${proxy.host}: GET blob faults/app@sha256:[0-9a-f]{64}: 503 Service Unavailable \\(gave up after 3 attempts\\)\\n$`));
  // each blob GET tried 3 times, none more
  const gets = proxy.log.slice(start).filter((q) => q.method === 'GET' && q.url.includes('/blobs/'));
  const perBlob = new Map<string, number>();
  for (const g of gets) perBlob.set(g.url, (perBlob.get(g.url) ?? 0) + 1);
  expect([...perBlob.values()].every((n) => n === 3)).toBe(true);
  await expectUnchanged(root, before, ref);
});

it('a registry that is gone is a one-line error after the retries', async () => {
  const gone = await FaultProxy.start(registry.host);
  const host = gone.host;
  await gone.close();
  const root = await storeWithSomething();
  const before = snapshot(root);
  const r = await tsbuild(root, ['pull', `${host}/faults/app:1`], { TSBUILD_REGISTRY_RETRIES: '1' });
  expect(r.code).toBe(1);
  expect(r.stderr).toBe(`Error: ${host}: GET /v2/: connect ECONNREFUSED ${host} (gave up after 2 attempts)\n`);
  expect(r.stdout).toContain(`Retrying in a moment (attempt 2): GET /v2/: connect ECONNREFUSED ${host}\n`);
  await expectUnchanged(root, before, `${host}/faults/app:1`);
});
