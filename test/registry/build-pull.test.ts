/**
 * FROM pulls: `tsbuild build` of a Dockerfile whose base image lives only in a registry (a
 * real docker-registry on loopback) pulls it into the store, as `docker build` does; with
 * --pull it asks the registry again and builds on the newer image; a base the registry does
 * not have fails with the instruction's file:line and tags nothing.
 */
import * as fs from 'fs';
import * as path from 'path';
import { busyboxTar, removeBusyboxTar, TSBUILD } from '../helpers/images';
import { ok, run, TestRegistry, type Run } from '../helpers/registry';
import { useSandbox } from '../helpers/runtime';

jest.setTimeout(120_000);

const sb = useSandbox();
let registry: TestRegistry;

beforeAll(async () => {
  registry = await TestRegistry.start();
});
afterAll(() => {
  registry?.stop();
  removeBusyboxTar();
});

function tsbuild(root: string, args: string[], input?: string): Promise<Run> {
  return run(process.execPath, [TSBUILD, ...args], { env: { ...process.env, TSBUILD_ROOT: root }, input });
}

async function inspect(root: string, image: string) {
  return JSON.parse(ok(await tsbuild(root, ['inspect', image])).stdout)[0];
}

/** Pushes busybox (plus, when given, one more layer holding /etc/version) as `ref`. */
async function pushBase(ref: string, version?: string): Promise<void> {
  const store = sb.path(`pusher-${Math.random().toString(16).slice(2)}`);
  ok(await tsbuild(store, ['import', busyboxTar(), 'base-src']));
  let src = 'base-src';
  if (version) {
    const ctx = sb.mkdir(`ctx-${version}`);
    fs.writeFileSync(path.join(ctx, 'Dockerfile'), 'FROM base-src\nCOPY version /etc/version\n');
    fs.writeFileSync(path.join(ctx, 'version'), `${version}\n`);
    ok(await tsbuild(store, ['build', '--progress', 'plain', '-t', 'base-versioned', ctx]));
    src = 'base-versioned';
  }
  ok(await tsbuild(store, ['push', src, ref]));
}

describe('FROM an image only a registry has', () => {
  it('is pulled into the store and built upon; --pull picks up a newer one', async () => {
    const base = `${registry.host}/tsbuild-test/base:1`;
    await pushBase(base, 'one');
    const root = sb.path('builder-store');
    const ctx = sb.mkdir('ctx');
    fs.writeFileSync(path.join(ctx, 'Dockerfile'), `FROM ${base}\nRUN cat /etc/version > /seen\n`);

    ok(await tsbuild(root, ['build', '--progress', 'plain', '-t', 'app:1', ctx]));
    const pulled = await inspect(root, base);
    const app1 = await inspect(root, 'app:1');
    // The app's layers are the base's plus the RUN's.
    expect(app1.RootFS.Layers.slice(0, pulled.RootFS.Layers.length)).toEqual(pulled.RootFS.Layers);
    expect(app1.RootFS.Layers.length).toBe(pulled.RootFS.Layers.length + 1);

    // A newer base under the same tag: a plain build keeps using the stored one, --pull does not.
    await pushBase(base, 'two');
    ok(await tsbuild(root, ['build', '--progress', 'plain', '-t', 'app:2', ctx]));
    expect((await inspect(root, 'app:2')).RootFS.Layers).toEqual(app1.RootFS.Layers);
    ok(await tsbuild(root, ['build', '--progress', 'plain', '--pull', '-t', 'app:3', ctx]));
    const newer = await inspect(root, base);
    expect(newer.Id).not.toBe(pulled.Id);
    const app3 = await inspect(root, 'app:3');
    expect(app3.RootFS.Layers.slice(0, newer.RootFS.Layers.length)).toEqual(newer.RootFS.Layers);
    expect(app3.Id).not.toBe(app1.Id);
  });

  it('a base the registry does not have: one line naming the Dockerfile line, nothing tagged', async () => {
    const root = sb.path('missing-store');
    const ctx = sb.mkdir('ctx-missing');
    fs.writeFileSync(path.join(ctx, 'Dockerfile'), `# a comment\nFROM ${registry.host}/tsbuild-test/nothing:here\nRUN true\n`);
    const r = await tsbuild(root, ['build', '--progress', 'quiet', '-t', 'never', ctx]);
    expect(r.code).not.toBe(0);
    const lines = r.stderr.trim().split('\n');
    expect(lines[lines.length - 1]).toMatch(/Dockerfile:2.*FROM .*nothing:here.*(not found|unknown|manifest)/i);
    expect((await tsbuild(root, ['inspect', 'never'])).code).not.toBe(0);
  });
});

