/**
 * Image → bundle → container: `tsrun bundle` makes a bundle that the runtime under test
 * (tsrun, or runc with RUNTIME=runc) runs with the image's Cmd, Env, WorkingDir and User;
 * `tsrun unbundle` unmounts it (checked in the mount table). Bad input is a one-line error
 * that leaves no directory, mount or cached layer behind.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { BUSYBOX, ok, parseMountinfo, useSandbox } from '../helpers/runtime';
import { busyboxEntries, sha256, writeImage } from '../helpers/oci-image';

const TSRUN = path.resolve(__dirname, '../../packages/runtime/bin/tsrun');
// Bundles are removed before the sandbox's own leak check (hooks run in declaration order).
afterEach(() => {
  for (const d of made.splice(0)) if (fs.existsSync(d)) tsrun(['unbundle', d]);
});
const sb = useSandbox();

const PASSWD = 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n';
const GROUP = 'root:x:0:\napp:x:1000:\nextra:x:2000:app,other\nmore:x:3000:app\nnogroup:x:65534:\n';

let store: string;
const made: string[] = [];

function image(name: string, config: Record<string, unknown>, extra?: Record<string, unknown>) {
  return writeImage(store, [`docker.io/library/${name}:latest`], {
    layers: [
      { entries: busyboxEntries(BUSYBOX, PASSWD, GROUP), compression: 'gzip' },
      { entries: [{ name: 'work', type: 'dir', mode: 0o777 }, { name: 'etc/motd', data: 'layer two\n' }], compression: 'zstd' },
    ],
    config,
    extra,
  });
}

function tsrun(args: string[]) {
  const r = spawnSync(TSRUN, args, { encoding: 'utf8', env: { ...process.env, TSBUILD_ROOT: store } });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** `tsrun bundle IMAGE DIR` (throws on failure); the bundle is removed after the test. */
function bundle(img: string, dir: string, extra: string[] = []): string {
  const r = tsrun(['bundle', ...extra, img, dir]);
  if (r.code !== 0) throw new Error(`tsrun bundle failed (${r.code}): ${r.stderr}`);
  made.push(dir);
  sb.addRootfs(path.join(dir, 'rootfs'));
  return dir;
}

function overlayMountedAt(p: string): boolean {
  return parseMountinfo(fs.readFileSync('/proc/self/mountinfo', 'utf8')).some((m) => m.mountPoint === p && m.fsType === 'overlay');
}

function config(dir: string) {
  return JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
}

beforeAll(() => {
  store = sb.path('store');
  image('app', {
    Entrypoint: ['/bin/sh', '-c'],
    Cmd: ['echo cmd-ran; id; pwd; env; cat /etc/motd'],
    Env: ['FOO=bar baz', 'PATH=/bin:/usr/bin'],
    WorkingDir: '/work',
    User: 'app',
    ExposedPorts: { '80/tcp': {}, '53/udp': {} },
    Volumes: { '/data': {}, '/logs': {} },
    StopSignal: 'SIGQUIT',
    Labels: { 'org.example.team': 'images', 'org.opencontainers.image.os': 'label-wins' },
  }, { author: 'someone', created: '2024-01-02T03:04:05Z' });
  image('plain', { Cmd: ['/bin/sh', '-c', 'echo $0 $@; id'] });
});

describe('tsrun bundle', () => {
  it('makes a bundle the runtime runs with the image\'s Cmd, Env, WorkingDir and User', () => {
    const dir = bundle('app', sb.path('b-app'));
    expect(overlayMountedAt(path.join(dir, 'rootfs'))).toBe(true);
    const r = ok(sb.run(sb.id('img'), dir));
    const lines = r.stdout.split('\n');
    expect(lines[0]).toBe('cmd-ran');
    expect(lines[1]).toBe('uid=1000(app) gid=1000(app) groups=2000(extra),3000(more)');
    expect(lines[2]).toBe('/work');
    expect(lines).toContain('FOO=bar baz');
    expect(lines).toContain('PATH=/bin:/usr/bin');
    expect(lines).toContain('layer two');
  });

  it('writes the image\'s facts into config.json as conversion.md says', () => {
    const dir = bundle('app', sb.path('b-conf'));
    const c = config(dir);
    expect(c.process.args).toEqual(['/bin/sh', '-c', 'echo cmd-ran; id; pwd; env; cat /etc/motd']);
    expect(c.process.env).toEqual(['FOO=bar baz', 'PATH=/bin:/usr/bin']);
    expect(c.process.cwd).toBe('/work');
    expect(c.process.user).toEqual({ uid: 1000, gid: 1000, additionalGids: [2000, 3000] });
    expect(c.process.terminal).toBe(false);
    expect(c.root).toEqual({ path: 'rootfs', readonly: false });
    expect(c.annotations).toEqual({
      'org.opencontainers.image.os': 'label-wins',
      'org.opencontainers.image.architecture': expect.any(String),
      'org.opencontainers.image.author': 'someone',
      'org.opencontainers.image.created': '2024-01-02T03:04:05Z',
      'org.opencontainers.image.stopSignal': 'SIGQUIT',
      'org.opencontainers.image.exposedPorts': '80/tcp,53/udp',
      'io.tsrun.image.volumes': '/data,/logs',
      'org.example.team': 'images',
    });
  });

  it.each([
    ['app', { uid: 1000, gid: 1000, additionalGids: [2000, 3000] }, 'uid=1000(app) gid=1000(app) groups=2000(extra),3000(more)'],
    ['1000', { uid: 1000, gid: 1000 }, 'uid=1000(app) gid=1000(app)'],
    ['app:extra', { uid: 1000, gid: 2000 }, 'uid=1000(app) gid=2000(extra)'],
    ['1000:3000', { uid: 1000, gid: 3000 }, 'uid=1000(app) gid=3000(more)'],
    ['4242', { uid: 4242, gid: 0 }, 'uid=4242 gid=0(root)'],
    ['nobody:65534', { uid: 65534, gid: 65534 }, 'uid=65534(nobody) gid=65534(nogroup)'],
  ])('User %s resolves through the image\'s passwd and group', (user, want, idOut) => {
    const name = `user-${user.replace(/:/g, '-')}`;
    image(name, { Cmd: ['id'], User: user });
    const dir = bundle(name, sb.path(`b-${name}`));
    expect(config(dir).process.user).toEqual(want);
    expect(ok(sb.run(sb.id('u'), dir)).stdout.trim()).toBe(idOut);
  });

  it('writes of a container go to its own upper dir: a second bundle and the layer cache do not see them', () => {
    const a = bundle('plain', sb.path('b-w1'));
    const b = bundle('plain', sb.path('b-w2'));
    fs.writeFileSync(path.join(a, 'config.json'), JSON.stringify({ ...config(a), process: { ...config(a).process, args: ['/bin/sh', '-c', 'echo changed > /etc/motd; rm /bin/true'] } }));
    ok(sb.run(sb.id('w'), a));
    expect(fs.readFileSync(path.join(a, 'rootfs/etc/motd'), 'utf8')).toBe('changed\n');
    expect(fs.readFileSync(path.join(b, 'rootfs/etc/motd'), 'utf8')).toBe('layer two\n');
    expect(fs.existsSync(path.join(b, 'rootfs/bin/true'))).toBe(true);
    const layers = path.join(store, 'layers/sha256');
    for (const l of fs.readdirSync(layers)) {
      const motd = path.join(layers, l, 'fs/etc/motd');
      if (fs.existsSync(motd)) expect(fs.readFileSync(motd, 'utf8')).toBe('layer two\n');
    }
  });

  it('a second bundle reuses the unpacked layers', () => {
    bundle('plain', sb.path('b-r1'));
    const layers = path.join(store, 'layers/sha256');
    const before = new Map(fs.readdirSync(layers).map((l) => [l, fs.statSync(path.join(layers, l, 'fs')).ino]));
    bundle('plain', sb.path('b-r2'));
    const after = new Map(fs.readdirSync(layers).map((l) => [l, fs.statSync(path.join(layers, l, 'fs')).ino]));
    expect(after).toEqual(before);
  });

  it('--copy makes a plain directory rootfs that runs the same', () => {
    const dir = bundle('app', sb.path('b-copy'), ['--copy']);
    expect(overlayMountedAt(path.join(dir, 'rootfs'))).toBe(false);
    const lines = ok(sb.run(sb.id('cp'), dir)).stdout.split('\n');
    expect(lines.slice(0, 3)).toEqual(['cmd-ran', 'uid=1000(app) gid=1000(app) groups=2000(extra),3000(more)', '/work']);
  });

  it('falls back to a copy, with a warning, where overlayfs cannot be mounted', () => {
    // An overlay's upper dir cannot be on another overlay: a bundle inside a bundle's rootfs.
    const outer = bundle('plain', sb.path('b-outer'));
    const inner = path.join(outer, 'rootfs/tmp/inner');
    const r = tsrun(['bundle', 'app', inner]);
    made.unshift(inner); // removed before the outer one
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/level=warning msg="overlayfs cannot be mounted here \(mount overlay on .*: Invalid argument\); copying the layers into .*inner\/rootfs"\n$/);
    expect(overlayMountedAt(path.join(inner, 'rootfs'))).toBe(false);
    expect(fs.readFileSync(path.join(inner, 'rootfs/etc/motd'), 'utf8')).toBe('layer two\n');
    expect(ok(sb.run(sb.id('fb'), inner)).stdout.split('\n')[0]).toBe('cmd-ran');
  });
});

describe('tsrun unbundle', () => {
  it('unmounts the rootfs and removes the bundle', () => {
    const dir = bundle('plain', sb.path('b-rm'));
    expect(overlayMountedAt(path.join(dir, 'rootfs'))).toBe(true);
    const r = tsrun(['unbundle', dir]);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(overlayMountedAt(path.join(dir, 'rootfs'))).toBe(false);
    expect(fs.existsSync(dir)).toBe(false);
    expect(fs.readdirSync(path.join(store, 'bundles'))).toEqual([]);
  });

  it('refuses while a container runs on it, and works once it is gone', async () => {
    const dir = bundle('plain', sb.path('b-busy'));
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ ...config(dir), process: { ...config(dir).process, args: ['sleep', '1000'] } }));
    const id = sb.id('busy');
    await sb.startDetached(id, dir);
    const r = tsrun(['unbundle', dir]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/bundle .*b-busy is in use: process \d+ runs in its rootfs/);
    expect(overlayMountedAt(path.join(dir, 'rootfs'))).toBe(true);
    ok(sb.rt(['delete', '--force', id]));
    expect(tsrun(['unbundle', dir]).code).toBe(0);
    expect(overlayMountedAt(path.join(dir, 'rootfs'))).toBe(false);
  });

  it('refuses a directory that is not a bundle it made, and removes nothing', () => {
    const d = sb.mkdir('not-a-bundle');
    fs.writeFileSync(path.join(d, 'keep'), 'x');
    const r = tsrun(['unbundle', d]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/is not a bundle made by tsrun bundle"\n$/);
    expect(fs.readFileSync(path.join(d, 'keep'), 'utf8')).toBe('x');
  });
});

describe('bad input leaves nothing behind', () => {
  function nothingLeft(dir: string) {
    expect(fs.existsSync(dir)).toBe(false);
    expect(parseMountinfo(fs.readFileSync('/proc/self/mountinfo', 'utf8')).filter((m) => m.mountPoint.startsWith(dir))).toEqual([]);
  }

  it('an unknown image', () => {
    const dir = sb.path('b-unknown');
    const r = tsrun(['bundle', 'no-such-image', dir]);
    expect(r.code).not.toBe(0);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/no-such-image/);
    nothingLeft(dir);
  });

  it('a store root that does not exist (and is not created)', () => {
    const dir = sb.path('b-nostore');
    const r = spawnSync(TSRUN, ['bundle', '--image-root', sb.path('no-store'), 'plain', dir], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/msg="no image store at .*no-store"\n$/);
    expect(fs.existsSync(sb.path('no-store'))).toBe(false);
    nothingLeft(dir);
  });

  it('unbundle of a directory that does not exist', () => {
    const r = tsrun(['unbundle', sb.path('b-never')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/msg=".*b-never: no such bundle directory"\n$/);
  });

  it('a user the image does not have', () => {
    image('ghost', { Cmd: ['id'], User: 'ghost' });
    const dir = sb.path('b-ghost');
    const r = tsrun(['bundle', 'ghost', dir]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/msg="unable to find user ghost: no matching entries in passwd file"\n$/);
    nothingLeft(dir);
  });

  it('a layer whose content does not match its diff_id', () => {
    const other = sha256(Buffer.from('not this layer'));
    writeImage(store, ['docker.io/library/liar:latest'], { layers: [{ entries: [{ name: 'f', data: 'x' }], diffId: other }] });
    const dir = sb.path('b-liar');
    const r = tsrun(['bundle', 'liar', dir]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`uncompressed content is sha256:[0-9a-f]{64}, not the image's diff_id ${other}"\\n$`));
    nothingLeft(dir);
    expect(fs.existsSync(path.join(store, 'layers/sha256', other.slice(7)))).toBe(false);
  });

  it('a directory that is not empty', () => {
    const dir = sb.mkdir('b-full');
    fs.writeFileSync(path.join(dir, 'mine'), 'x');
    const r = tsrun(['bundle', 'plain', dir]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/msg="bundle directory .*b-full is not empty"\n$/);
    expect(fs.readdirSync(dir)).toEqual(['mine']);
  });
});
