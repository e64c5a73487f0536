/**
 * RUN networking and BuildKit's entitlements, from the outside: `--network=host` and
 * `--security=insecure` need `--allow` (refused before anything runs, nothing stored); the
 * default network is a namespace of the step's own, through slirp4netns, that cannot reach the
 * host's loopback services but reaches other addresses (a server in a network namespace this
 * test makes, on a veth pair with 198.18.0.0/15 benchmark addresses: no traffic leaves the
 * machine); the resolv.conf and hosts files BuildKit gives; no slirp4netns left running.
 */
import { spawn } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as net from 'net';
import * as path from 'path';
import { ImageSandbox, ok, sh, type Run } from '../helpers/images';
import { cleanBuildSandbox, context, mountsUnder } from './helpers';

const TSBUILD = path.join(__dirname, '../../packages/builder/bin/tsbuild');

let sb: ImageSandbox;
beforeEach(() => {
  sb = new ImageSandbox();
});
afterEach(() => cleanBuildSandbox(sb));

function build(ctx: string, args: string[] = []): Run {
  return sh(process.execPath, [TSBUILD, 'build', '--progress', 'plain', ...args, ctx], { env: { ...process.env, TSBUILD_ROOT: sb.root } });
}

/** The same, without blocking the event loop (a server of this process must answer meanwhile). */
function buildAsync(ctx: string, args: string[] = []): Promise<Run> {
  const argv = [TSBUILD, 'build', '--progress', 'plain', ...args, ctx];
  const child = spawn(process.execPath, argv, { env: { ...process.env, TSBUILD_ROOT: sb.root }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 128, stdout, stderr, argv }));
  });
}

function read(dir: string, p: string): string {
  return fs.readFileSync(path.join(dir, p), 'utf8');
}

/** The slirp4netns processes tsbuild starts (its exact flags), by pid. */
function ourSlirps(): number[] {
  const pids: number[] = [];
  for (const e of fs.readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(e)) continue;
    try {
      const argv = fs.readFileSync(`/proc/${e}/cmdline`, 'utf8').split('\0');
      if (path.basename(argv[0]) === 'slirp4netns' && argv.includes('--disable-host-loopback') && argv.includes('--exit-fd=4')) pids.push(Number(e));
    } catch {
      /* gone */
    }
  }
  return pids;
}

/**
 * Waits until none of ours is left: a killed slirp4netns takes ~20 ms to exit on a quiet
 * machine (the kernel tears its tap device down), far longer on a loaded one; bounded at 10 s.
 */
async function noSlirpLeft(before: number[]): Promise<number[]> {
  let left: number[] = [];
  for (let i = 0; i < 200; i++) {
    left = ourSlirps().filter((p) => !before.includes(p));
    if (!left.length) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  return left;
}

function nothingStored(): void {
  expect(sb.blobs()).toEqual([]);
  expect(ok(sb.tsbuild(['images', '-q'])).stdout).toBe('');
  const steps = path.join(sb.root, 'buildcache/steps');
  expect(fs.existsSync(steps) ? fs.readdirSync(steps) : []).toEqual([]);
}

test.each([
  ['--network=host', 'network.host'],
  ['--security=insecure', 'security.insecure'],
])('RUN %s needs --allow %s: refused before anything runs, in one line, with nothing stored', (flag, entitlement) => {
  const ctx = context(sb, 'ctx', { Dockerfile: `FROM scratch\nADD rootfs.tar /\nRUN echo first-step-ran\nRUN ${flag} echo privileged-step-ran\n` });
  const refused = build(ctx, ['-t', 'ent:1']);
  expect(refused.code).toBe(1);
  expect(refused.stderr.trim().split('\n')).toEqual([`Error: Dockerfile:4: ${entitlement} is not allowed`]);
  expect(refused.stdout).toBe('');
  nothingStored();
  const allowed = ok(build(ctx, ['-t', 'ent:1', '--allow', entitlement]));
  expect(allowed.stderr).toMatch(/ first-step-ran\n[^]* privileged-step-ran\n/);
  // with every step in the cache, still refused (BuildKit checks each step it loads)
  expect(build(ctx, ['-t', 'ent:2']).stderr.trim().split('\n')).toEqual([`Error: Dockerfile:4: ${entitlement} is not allowed`]);
  expect(sb.tsbuild(['inspect', 'ent:2']).code).not.toBe(0);
});

test('--allow takes both entitlements, repeated or comma-separated, and refuses unknown ones', () => {
  // both, comma-separated as buildx takes them, or repeated
  const both = context(sb, 'ctx', { Dockerfile: 'FROM scratch\nADD rootfs.tar /\nRUN --network=host --security=insecure echo both-ran\n' });
  expect(build(both).stderr.trim()).toBe('Error: Dockerfile:3: network.host is not allowed');
  expect(build(both, ['--allow', 'network.host']).stderr.trim()).toBe('Error: Dockerfile:3: security.insecure is not allowed');
  expect(ok(build(both, ['--allow', 'network.host,security.insecure', '--no-cache'])).stderr).toMatch(/ both-ran\n/);
  expect(ok(build(both, ['--allow', 'network.host', '--allow', 'security.insecure', '--no-cache'])).stderr).toMatch(/ both-ran\n/);
  const bogus = build(both, ['--allow', 'network.bridge']);
  expect([bogus.code, bogus.stderr.trim()]).toEqual([125, 'Error: invalid entitlement: network.bridge']);
});

test('--network host on the command line grants network.host (as docker build does): RUN steps share the host\'s network namespace', () => {
  const ctx = context(sb, 'ctx', { Dockerfile: 'FROM scratch\nADD rootfs.tar /\nRUN readlink /proc/self/ns/net > /netns\n' });
  const out = sb.path('out');
  ok(build(ctx, ['--network', 'host', '--output', `type=local,dest=${out}`]));
  expect(read(out, 'netns').trim()).toBe(fs.readlinkSync('/proc/self/ns/net'));
  // and with it a RUN --network=host is allowed
  const ctx2 = context(sb, 'ctx2', { Dockerfile: 'FROM scratch\nADD rootfs.tar /\nRUN --network=host true\n' });
  ok(build(ctx2, ['--network', 'host']));
});

describe('a host loopback server', () => {
  let server: net.Server;
  let port: number;
  beforeAll(async () => {
    server = net.createServer((s) => s.end('host-loopback-secret\n'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as net.AddressInfo).port;
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  /** What a RUN step gets from 127.0.0.1:PORT and from slirp's gateway 10.0.2.2:PORT. */
  const probe = (port: number) =>
    `( nc -w 3 127.0.0.1 ${port} </dev/null || echo unreachable ) > /loopback 2>&1; ` +
    `( nc -w 3 10.0.2.2 ${port} </dev/null || echo unreachable ) > /gateway 2>&1`;

  test('the default network cannot reach it (nor through 10.0.2.2), and the step can listen on its port itself', async () => {
    const before = ourSlirps();
    const df = `FROM scratch
ADD rootfs.tar /
RUN readlink /proc/self/ns/net > /netns; ${probe(port)}
RUN mkdir /www && echo step-own-server > /www/index.html && httpd -f -p 127.0.0.1:${port} -h /www & \\
    i=0; until wget -qO /own http://127.0.0.1:${port}/; do i=$((i+1)); [ $i -lt 100 ] || exit 9; sleep 0.05; done
`;
    const ctx = context(sb, 'ctx', { Dockerfile: df });
    const out = sb.path('out');
    const r = await buildAsync(ctx, ['--output', `type=local,dest=${out}`]);
    expect(r.code).toBe(0);
    expect(read(out, 'netns').trim()).not.toBe(fs.readlinkSync('/proc/self/ns/net'));
    expect(read(out, 'loopback')).toMatch(/unreachable\n$/);
    expect(read(out, 'gateway')).toMatch(/unreachable\n$/);
    expect(read(out, 'own')).toBe('step-own-server\n');
    // the host's server was there all along, and still answers
    const got = await new Promise<string>((resolve, reject) => {
      const c = net.connect(port, '127.0.0.1');
      let data = '';
      c.on('data', (d) => (data += d.toString()));
      c.on('end', () => resolve(data));
      c.on('error', reject);
    });
    expect(got).toBe('host-loopback-secret\n');
    expect(await noSlirpLeft(before)).toEqual([]);
  });

  test('control: with --network=host (allowed) the same step does reach it', async () => {
    const ctx = context(sb, 'ctx', { Dockerfile: `FROM scratch\nADD rootfs.tar /\nRUN --network=host ${probe(port).split(';')[0]}\n` });
    const out = sb.path('out');
    const r = await buildAsync(ctx, ['--allow', 'network.host', '--output', `type=local,dest=${out}`]);
    expect(r.code).toBe(0);
    expect(read(out, 'loopback')).toBe('host-loopback-secret\n');
  });
});

describe('a server in a network namespace of the test, on a veth pair (198.18.0.1 here, 198.18.0.2 there)', () => {
  const tag = crypto.randomBytes(3).toString('hex');
  const ns = `tsbuild-test-${tag}`;
  const hostIf = `tsb${tag}h`;
  const HOST_ADDR = '198.18.0.1';
  const NS_ADDR = '198.18.0.2';
  const PORT = 8080;
  let www: string;
  let httpd: ReturnType<typeof spawn> | undefined;

  beforeAll(async () => {
    www = fs.mkdtempSync(path.join(require('os').tmpdir(), 'tsbuild-www-'));
    fs.writeFileSync(path.join(www, 'index.html'), 'served-from-the-test-namespace\n');
    ok(sh('ip', ['netns', 'add', ns]));
    ok(sh('ip', ['link', 'add', hostIf, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]));
    ok(sh('ip', ['addr', 'add', `${HOST_ADDR}/30`, 'dev', hostIf]));
    ok(sh('ip', ['link', 'set', hostIf, 'up']));
    ok(sh('ip', ['-n', ns, 'addr', 'add', `${NS_ADDR}/30`, 'dev', 'eth0']));
    ok(sh('ip', ['-n', ns, 'link', 'set', 'eth0', 'up']));
    ok(sh('ip', ['-n', ns, 'link', 'set', 'lo', 'up']));
    httpd = spawn('ip', ['netns', 'exec', ns, 'busybox', 'httpd', '-f', '-p', `${NS_ADDR}:${PORT}`, '-h', www], { stdio: 'ignore' });
    // up once the host reaches it
    for (let i = 0; i < 100; i++) {
      const up = await new Promise<boolean>((resolve) => {
        const c = net.connect(PORT, NS_ADDR, () => (c.destroy(), resolve(true)));
        c.on('error', () => resolve(false));
      });
      if (up) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`busybox httpd did not come up on ${NS_ADDR}:${PORT}`);
  });

  afterAll(() => {
    // ip netns exec execs busybox: the pid is httpd's
    if (httpd?.pid && httpd.exitCode === null) process.kill(httpd.pid, 'SIGKILL');
    sh('ip', ['link', 'del', hostIf]);
    sh('ip', ['netns', 'del', ns]);
    fs.rmSync(www, { recursive: true, force: true });
  });

  test('a RUN step with the default network reaches it: outbound access through slirp4netns', async () => {
    const before = ourSlirps();
    const df = `FROM scratch\nADD rootfs.tar /\nRUN wget -qO /fetched http://${NS_ADDR}:${PORT}/ && ip route > /routes\n`;
    const ctx = context(sb, 'ctx', { Dockerfile: df });
    const out = sb.path('out');
    const r = await buildAsync(ctx, ['--output', `type=local,dest=${out}`]);
    expect(r.code).toBe(0);
    expect(read(out, 'fetched')).toBe('served-from-the-test-namespace\n');
    expect(read(out, 'routes')).toMatch(/^default via 10\.0\.2\.2 dev tap0/);
    expect(await noSlirpLeft(before)).toEqual([]);
    // --network=none stays loopback only
    fs.writeFileSync(path.join(ctx, 'Dockerfile'), `FROM scratch\nADD rootfs.tar /\nRUN --network=none ( wget -qO- -T 3 http://${NS_ADDR}:${PORT}/ || echo unreachable ) > /fetched 2>&1; ip -o link | cut -d: -f2 > /links\n`);
    const out2 = sb.path('out2');
    expect((await buildAsync(ctx, ['--output', `type=local,dest=${out2}`])).code).toBe(0);
    expect(read(out2, 'fetched')).toMatch(/unreachable\n$/);
    expect(read(out2, 'links').trim()).toBe('lo');
  });
});

test('resolv.conf and hosts are BuildKit\'s, read-only, and stay out of the layer: a step that changes nothing makes none', () => {
  const df = `FROM scratch
ADD rootfs.tar /
RUN cat /etc/resolv.conf > /resolv-default && cat /etc/hosts > /hosts && hostname > /hostname && \\
    ( echo x >> /etc/hosts 2>/dev/null && echo writable || echo read-only ) > /hosts-write
RUN --network=host cat /etc/resolv.conf > /resolv-host
RUN --network=none true
RUN true
`;
  const ctx = context(sb, 'ctx', { Dockerfile: df });
  const out = sb.path('out');
  ok(build(ctx, ['-t', 'files:1', '--allow', 'network.host', '--output', `type=local,dest=${out}`]));
  const hostResolv = fs.readFileSync('/etc/resolv.conf', 'utf8');
  const kept = hostResolv.split('\n').filter((l) => l.trim() && !/^\s*nameserver\s/.test(l));
  expect(read(out, 'resolv-default')).toBe(['nameserver 10.0.2.3', ...kept].join('\n') + '\n');
  expect(read(out, 'resolv-host')).toBe(hostResolv);
  expect(read(out, 'hosts')).toBe('127.0.0.1\tlocalhost tsbuild\n::1\tlocalhost ip6-localhost ip6-loopback\n');
  expect(read(out, 'hostname')).toBe('tsbuild\n');
  expect(read(out, 'hosts-write')).toBe('read-only\n');
  expect(fs.existsSync(path.join(out, 'etc/resolv.conf')) || fs.existsSync(path.join(out, 'etc/hosts'))).toBe(false);
  const img = JSON.parse(ok(sb.tsbuild(['inspect', 'files:1'])).stdout)[0] as { ImageConfig: { history: { created_by: string; empty_layer?: boolean }[] }; Manifest: { layers: { digest: string }[] } };
  const h = img.ImageConfig.history;
  expect(h.slice(-2).map((e) => e.empty_layer)).toEqual([true, true]);
  // the first RUN's layer has its files and none of the mount points it needed
  const tar = ok(sh('tar', ['-tf', sb.blobFile(img.Manifest.layers[1].digest)])).stdout.split('\n').filter(Boolean);
  expect(tar.filter((n) => /^(\.\/)?etc(\/|$)/.test(n))).toEqual([]);
});

test('slirp4netns missing: one line naming the package and the alternatives, before anything runs', () => {
  // A PATH without slirp4netns (the build fails before it would need any other tool).
  const bin = sb.path('bin');
  fs.mkdirSync(bin);
  const ctx = context(sb, 'ctx', { Dockerfile: 'FROM scratch\nADD rootfs.tar /\nRUN echo ran\n' });
  const r = sh(process.execPath, [TSBUILD, 'build', '-t', 'noslirp:1', ctx], { env: { ...process.env, PATH: bin, TSBUILD_ROOT: sb.root } });
  expect(r.code).toBe(1);
  expect(r.stderr.trim().split('\n')).toEqual([
    'Error: Dockerfile:3: slirp4netns not found: the default network of RUN steps needs it (install the slirp4netns package); or build with --network=none (loopback only), or --network=host with --allow network.host',
  ]);
  nothingStored();
  // --network=none needs no slirp4netns
  ok(sh(process.execPath, [TSBUILD, 'build', '-q', '--network', 'none', ctx], { env: { ...process.env, PATH: bin, TSBUILD_ROOT: sb.root } }));
});

test('an interrupted build (SIGINT during a RUN on the default network) leaves no slirp4netns, container or mount', async () => {
  const before = ourSlirps();
  const ctx = context(sb, 'ctx', { Dockerfile: 'FROM scratch\nADD rootfs.tar /\nRUN echo step-started; exec sleep 986\n' });
  const child = spawn(process.execPath, [TSBUILD, 'build', '--progress', 'plain', '-t', 'intr:1', ctx], { env: { ...process.env, TSBUILD_ROOT: sb.root }, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  let during: number[] = [];
  const code = await new Promise<number | null>((resolve) => {
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
      // the step's own output line (its header line names it too)
      if (!during.length && /#\d+ [\d.]+ step-started\n/.test(err)) {
        during = ourSlirps().filter((p) => !before.includes(p));
        child.kill('SIGINT');
      }
    });
    child.on('close', (c) => resolve(c));
  });
  expect(during).toHaveLength(1);
  expect(code).toBe(130);
  expect(err).toMatch(/^Error: build interrupted by SIGINT$/m);
  expect(await noSlirpLeft(before)).toEqual([]);
  expect(mountsUnder(sb.dir)).toEqual([]);
  expect(fs.readdirSync('/run/tsbuild').filter((e) => e.startsWith(`tsbuild-${child.pid}-`))).toEqual([]);
  expect(ok(sb.tsbuild(['images', '-q'])).stdout).toBe('');
});
