/**
 * tsbuild build from the outside: images built from Dockerfiles (FROM scratch + the busybox
 * rootfs tarball), their configs, history and layers as stored, the image run by tsrun, the
 * build cache across invocations, failures (file:line, output, no tag, nothing left behind).
 */
import { ChildProcess, execFileSync, spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { ImageSandbox, ok, sh, type Run } from '../helpers/images';
import { cleanBuildSandbox, context, mountsUnder, TSRUN, writeFiles } from './helpers';

let sb: ImageSandbox;
beforeEach(() => {
  sb = new ImageSandbox();
});
/** Builds a test runs in the background: stopped (SIGINT, as a user would) if the test ends first. */
const live = new Set<ChildProcess>();
afterEach(async () => {
  for (const child of live) {
    if (child.exitCode === null && child.signalCode === null) {
      const closed = new Promise((r) => child.once('close', r));
      child.kill('SIGINT');
      await closed;
    }
  }
  live.clear();
  cleanBuildSandbox(sb);
});

function build(ctx: string, args: string[] = [], opts: { input?: string; env?: NodeJS.ProcessEnv } = {}): Run {
  return sh(process.execPath, [path.join(__dirname, '../../packages/builder/bin/tsbuild'), 'build', '--progress', 'plain', ...args, ctx], {
    input: opts.input,
    env: { ...process.env, TSBUILD_ROOT: sb.root, ...(opts.env ?? {}) },
  });
}

function inspect(image: string): { Id: string; Config: Record<string, unknown>; ImageConfig: { history: { created_by: string; empty_layer?: boolean }[]; rootfs: { diff_ids: string[] }; author?: string }; Manifest: { layers: { digest: string }[] } } {
  return JSON.parse(ok(sb.tsbuild(['inspect', image])).stdout)[0];
}

function blobs(): string[] {
  return fs.readdirSync(path.join(sb.root, 'blobs/sha256')).sort();
}

/** Runs the image under tsrun (bundle, run, unbundle) and returns what it printed. */
function runImage(image: string): Run {
  const dir = sb.path(`bundle-${Math.random().toString(16).slice(2)}`);
  ok(sh(TSRUN, ['bundle', '--image-root', sb.root, image, dir]));
  try {
    return sh(TSRUN, ['run', '-b', dir, `tsbuild-test-${process.pid}`]);
  } finally {
    ok(sh(TSRUN, ['unbundle', dir]));
  }
}

const BASIC = `FROM scratch
ADD rootfs.tar /
ARG GREETING=hello
ENV WHO=world
RUN echo "$GREETING $WHO" > /greeting
COPY app/ /app/
WORKDIR /app
USER www
LABEL kind=test
EXPOSE 8080 53/udp
VOLUME /data
STOPSIGNAL SIGINT
ENTRYPOINT ["sh", "-c"]
CMD ["cat /greeting; id -u; pwd; cat /app/hello.txt"]
`;

test('a Dockerfile builds into a tagged image whose config and history are docker build\'s, and it runs on tsrun', () => {
  const ctx = context(sb, 'ctx', { Dockerfile: BASIC, 'app/hello.txt': 'hi there\n' });
  const r = ok(build(ctx, ['-t', 'basic:1', '--build-arg', 'GREETING=howdy']));
  expect(r.stderr).toMatch(/#\d+ \[1\/5\] FROM scratch/);
  expect(r.stderr).toMatch(/naming to docker\.io\/library\/basic:1 done/);
  const img = inspect('basic:1');
  expect(img.Config).toEqual({
    Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'WHO=world'],
    WorkingDir: '/app',
    User: 'www',
    Labels: { kind: 'test' },
    ExposedPorts: { '8080/tcp': {}, '53/udp': {} },
    Volumes: { '/data': {} },
    StopSignal: 'SIGINT',
    Entrypoint: ['sh', '-c'],
    Cmd: ['cat /greeting; id -u; pwd; cat /app/hello.txt'],
  });
  const by = img.ImageConfig.history.map((h) => `${h.created_by}${h.empty_layer ? ' (empty)' : ''}`);
  expect(by).toEqual([
    'ADD rootfs.tar / # buildkit',
    'ARG GREETING=howdy (empty)',
    'ENV WHO=world (empty)',
    'RUN |1 GREETING=howdy /bin/sh -c echo "$GREETING $WHO" > /greeting # buildkit',
    'COPY app/ /app/ # buildkit',
    'WORKDIR /app # buildkit (empty)',
    'USER www (empty)',
    'LABEL kind=test (empty)',
    'EXPOSE map[53/udp:{} 8080/tcp:{}] (empty)',
    'VOLUME [/data] (empty)',
    'STOPSIGNAL SIGINT (empty)',
    'ENTRYPOINT ["sh" "-c"] (empty)',
    'CMD ["cat /greeting; id -u; pwd; cat /app/hello.txt"] (empty)',
  ]);
  expect(img.ImageConfig.rootfs.diff_ids).toHaveLength(3);
  expect(img.Manifest.layers).toHaveLength(3);
  const out = ok(runImage('basic:1'));
  expect(out.stdout).toBe('howdy world\n33\n/app\nhi there\n');
});

test('a layer is a reproducible tar: deletions are .wh. entries, an emptied-and-refilled directory is opaque, SOURCE_DATE_EPOCH fixes the image ID', () => {
  const df = `FROM scratch
ADD rootfs.tar /
RUN rm /etc/group && rm -rf /home && mkdir /home && echo x > /home/new && mkdir -p /tmp/t && echo a > /tmp/t/a
RUN rm -rf /tmp/t && mkdir /tmp/t && echo b > /tmp/t/b
`;
  const ctx = context(sb, 'ctx', { Dockerfile: df });
  const env = { SOURCE_DATE_EPOCH: '1700000000' };
  ok(build(ctx, ['-t', 'wh:1'], { env }));
  const img = inspect('wh:1');
  const tarOf = (digest: string) => execFileSync('tar', ['-tvf', path.join(sb.root, 'blobs/sha256', digest.slice(7))], { encoding: 'utf8' });
  const l2 = tarOf(img.Manifest.layers[1].digest);
  expect(l2).toMatch(/ etc\/\.wh\.group\n/);
  expect(l2).toMatch(/ home\/new\n/);
  const l3 = tarOf(img.Manifest.layers[2].digest);
  expect(l3).toMatch(/ tmp\/t\/\.wh\.\.wh\.\.opq\n/);
  expect(l3).toMatch(/ tmp\/t\/b\n/);
  expect(l3).not.toMatch(/ tmp\/t\/a\n/);
  // every mtime clamped to the epoch (2023-11-14)
  for (const line of l3.trim().split('\n')) expect(line).toMatch(/2023-11-1[45] /);
  // entries sorted, a directory before its contents
  const names = l2.trim().split('\n').map((l) => l.split(/\s+/).slice(5).join(' '));
  expect(names).toEqual([...names].sort());
  // a second build without the cache gives the very same image
  ok(build(ctx, ['-t', 'wh:2', '--no-cache'], { env }));
  expect(inspect('wh:2').Id).toBe(img.Id);
  const out = ok(runImage('wh:1'));
  void out;
});

test('cache: a rebuild without changes runs nothing and writes no blob; a changed source file rebuilds from its COPY on', () => {
  const df = `FROM scratch
ADD rootfs.tar /
RUN echo first-run-output
COPY a.txt /a.txt
RUN echo second-run-output && cat /a.txt
COPY b.txt /b.txt
`;
  const ctx = context(sb, 'ctx', { Dockerfile: df, 'a.txt': 'one\n', 'b.txt': 'bee\n' });
  const first = ok(build(ctx, ['-t', 'c:1']));
  expect(first.stderr).toMatch(/#\d+ [\d.]+ first-run-output/);
  const id = inspect('c:1').Id;
  const before = blobs();

  const again = ok(build(ctx, ['-t', 'c:1']));
  expect(again.stderr).not.toMatch(/#\d+ [\d.]+ (first|second)-run-output/);
  expect(again.stderr.match(/CACHED/g)).toHaveLength(5);
  expect(inspect('c:1').Id).toBe(id);
  expect(blobs()).toEqual(before);

  // touching a file without changing it keeps the cache (content, not mtime)
  const later = new Date(Date.now() + 60000);
  fs.utimesSync(path.join(ctx, 'a.txt'), later, later);
  expect(ok(build(ctx, ['-t', 'c:1'])).stderr.match(/CACHED/g)).toHaveLength(5);

  fs.writeFileSync(path.join(ctx, 'a.txt'), 'two\n');
  const changed = ok(build(ctx, ['-t', 'c:1']));
  expect(changed.stderr).not.toMatch(/#\d+ [\d.]+ first-run-output/);
  expect(changed.stderr).toMatch(/#\d+ [\d.]+ second-run-output/);
  expect(changed.stderr).toMatch(/ 0\.\d+ two\n/);
  const lines = changed.stderr.split('\n');
  const state = (what: string) => {
    const n = lines.find((l) => l.includes(what))!.split(' ')[0];
    return lines.some((l) => l === `${n} CACHED`) ? 'cached' : 'built';
  };
  expect([state('ADD rootfs.tar'), state('RUN echo first'), state('COPY a.txt'), state('RUN echo second'), state('COPY b.txt')]).toEqual(['cached', 'cached', 'built', 'built', 'built']);

  // --no-cache runs everything again
  expect(ok(build(ctx, ['-t', 'c:1', '--no-cache'])).stderr).toMatch(/#\d+ [\d.]+ first-run-output/);

  // the cache survives gc, and prune drops it
  ok(sb.tsbuild(['gc']));
  expect(ok(build(ctx, ['-t', 'c:1'])).stderr).not.toMatch(/#\d+ [\d.]+ (first|second)-run-output/);
  expect(ok(sb.tsbuild(['prune', '-f'])).stdout).toMatch(/^Deleted build cache objects: \d+\nTotal reclaimed space: /);
  expect(ok(build(ctx, ['-t', 'c:1'])).stderr).toMatch(/#\d+ [\d.]+ first-run-output/);
});

test('a failing RUN: its output and the instruction\'s file:line, a non-zero exit, no tag, nothing left behind', () => {
  const df = `FROM scratch
ADD rootfs.tar /

RUN echo about to fail; echo on-stderr >&2; exit 3
CMD ["true"]
`;
  const ctx = context(sb, 'ctx', { Dockerfile: df });
  const r = build(ctx, ['-t', 'broken:1']);
  expect(r.code).toBe(1);
  expect(r.stderr).toMatch(/about to fail/);
  expect(r.stderr).toMatch(/on-stderr/);
  expect(r.stderr).toMatch(/^Error: Dockerfile:4: RUN echo about to fail; echo on-stderr >&2; exit 3: process did not complete successfully: exit code: 3$/m);
  expect(ok(sb.tsbuild(['images', '-q'])).stdout).toBe('');
  expect(fs.readdirSync(path.join(sb.root, 'buildcache/tmp'))).toEqual([]);
  expect(mountsUnder(sb.dir)).toEqual([]);
  expect(fs.readdirSync('/run/tsbuild').filter((e) => e.startsWith(`tsbuild-`))).toEqual([]);
});

test('bad input is a one-line error: unknown instruction with its position, missing COPY source, unknown target, missing context', () => {
  const ctx = context(sb, 'ctx', { Dockerfile: 'FROM scratch\nFROBNICATE x\n' });
  const r1 = build(ctx);
  expect(r1.code).not.toBe(0);
  expect(r1.stderr.trim().split('\n').pop()).toMatch(/^Error: Dockerfile:2:\d+: .*frobnicate/i);
  fs.writeFileSync(path.join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY nothere /x\n');
  expect(build(ctx).stderr).toMatch(/^Error: Dockerfile:2: COPY nothere: not found in the build context/m);
  fs.writeFileSync(path.join(ctx, 'Dockerfile'), 'FROM scratch AS a\n');
  expect(build(ctx, ['--target', 'b']).stderr).toMatch(/^Error: target stage "b" could not be found$/m);
  expect(build(sb.path('nope')).stderr).toMatch(/^Error: unable to prepare context: path ".*nope" not found$/m);
  expect(fs.readdirSync(path.join(sb.root, 'blobs/sha256'))).toEqual([]);
});

test('multi-stage: COPY --from a stage, --target skips stages it does not need, FROM an earlier stage and an image in the store', () => {
  const df = `FROM scratch AS base
ADD rootfs.tar /

FROM base AS builder
RUN mkdir /out && echo built > /out/artifact && chown 33:33 /out/artifact

FROM base AS broken
RUN exit 1

FROM base AS final
COPY --from=builder /out/artifact /srv/
COPY --from=builder --chown=1:2 /out/ /srv2/
CMD ["sh", "-c", "cat /srv/artifact; stat -c %u:%g /srv/artifact /srv2/artifact"]
`;
  const ctx = context(sb, 'ctx', { Dockerfile: df });
  const r = ok(build(ctx, ['-t', 'ms:1', '--target', 'final']));
  expect(r.stderr).not.toMatch(/\[broken/);
  expect(ok(runImage('ms:1')).stdout).toBe('built\n33:33\n1:2\n');
  // the last stage is the default target: it needs the broken one? No: broken is never used by it.
  fs.writeFileSync(path.join(ctx, 'Dockerfile'), `${df}\nFROM broken\n`);
  expect(build(ctx, ['-t', 'ms:2']).code).toBe(1);
  // FROM an image of the store, and ONBUILD triggers stored in it run in the child build
  fs.writeFileSync(path.join(ctx, 'Dockerfile'), 'FROM scratch\nADD rootfs.tar /\nONBUILD RUN echo triggered > /onbuild\nONBUILD COPY a.txt /from-child.txt\n');
  fs.writeFileSync(path.join(ctx, 'a.txt'), 'child file\n');
  ok(build(ctx, ['-t', 'parent:1']));
  expect(inspect('parent:1').Config.OnBuild).toEqual(['RUN echo triggered > /onbuild', 'COPY a.txt /from-child.txt']);
  fs.writeFileSync(path.join(ctx, 'Dockerfile'), 'FROM parent:1\nCMD ["cat", "/onbuild", "/from-child.txt"]\n');
  ok(build(ctx, ['-t', 'child:1']));
  expect(inspect('child:1').Config.OnBuild).toBeUndefined();
  expect(ok(runImage('child:1')).stdout).toBe('triggered\nchild file\n');
});

test('context: .dockerignore, -f X with X.dockerignore, a Dockerfile on stdin, --iidfile, --label, --output type=local', () => {
  const ctx = context(sb, 'ctx', {
    Dockerfile: 'FROM scratch\nCOPY . /ctx/\n',
    '.dockerignore': 'secret*\nrootfs.tar\n',
    'keep.txt': 'k',
    'secret.txt': 's',
    'sub/secret2': 's',
    'other.Dockerfile': 'FROM scratch\nCOPY . /ctx/\n',
    'other.Dockerfile.dockerignore': 'keep.txt\nrootfs.tar\n*.Dockerfile*\nDockerfile\n.dockerignore\n',
  });
  const out = sb.path('out');
  ok(build(ctx, ['--iidfile', sb.path('iid'), '--label', 'by=test', '--output', `type=local,dest=${out}`, '-t', 'ctx:1']));
  expect(fs.readdirSync(path.join(out, 'ctx')).sort()).toEqual(['.dockerignore', 'Dockerfile', 'keep.txt', 'other.Dockerfile', 'other.Dockerfile.dockerignore', 'sub']);
  // secret* matches at the top only, as in docker
  expect(fs.readdirSync(path.join(out, 'ctx/sub'))).toEqual(['secret2']);
  expect(fs.readFileSync(sb.path('iid'), 'utf8')).toBe(inspect('ctx:1').Id);
  expect(inspect('ctx:1').Config.Labels).toEqual({ by: 'test' });

  const out2 = sb.path('out2');
  ok(build(ctx, ['-f', path.join(ctx, 'other.Dockerfile'), '--output', `type=local,dest=${out2}`]));
  expect(fs.readdirSync(path.join(out2, 'ctx')).sort()).toEqual(['secret.txt', 'sub']);

  const r = ok(build('-', ['-q'], { input: 'FROM scratch\nENV FROM_STDIN=1\n' }));
  expect(r.stdout).toMatch(/^sha256:[0-9a-f]{64}\n$/);
  writeFiles(ctx, {});
});

test('RUN and COPY details: heredocs, --network=none, --security=insecure, COPY --exclude and --parents, ADD of an xz tar, ADD of an unreachable URL', () => {
  const df = `# syntax=docker/dockerfile:1
FROM scratch
ADD rootfs.tar /
RUN <<EOF
echo from-heredoc > /heredoc-ran
EOF
COPY <<EOT /etc/motd
motd line
EOT
RUN --network=none cat /proc/net/dev | tail -n +3 | cut -d: -f1 | tr -d ' ' > /net-none
RUN --network=host cat /proc/net/dev | tail -n +3 | wc -l > /net-host
RUN grep CapEff /proc/self/status > /caps-default
RUN --security=insecure grep CapEff /proc/self/status > /caps-insecure
COPY --exclude=*.log --exclude=skip dir/ /excl/
COPY --parents a/b/c.txt a/d.txt /par/
ADD arch.tar.xz /xz/
`;
  const ctx = context(sb, 'ctx', {
    Dockerfile: df,
    'dir/keep.txt': 'k',
    'dir/drop.log': 'd',
    'dir/skip/x': 'x',
    'a/b/c.txt': 'c',
    'a/d.txt': 'd',
  });
  const src = sb.path('xzsrc');
  writeFiles(src, { 'inside/file': 'in the xz tar\n' });
  ok(sh('tar', ['-C', src, '-cJf', path.join(ctx, 'arch.tar.xz'), '.']));
  const out = sb.path('out');
  ok(build(ctx, ['--output', `type=local,dest=${out}`, '--allow', 'network.host', '--allow', 'security.insecure']));
  const read = (p: string) => fs.readFileSync(path.join(out, p), 'utf8');
  expect(read('heredoc-ran')).toBe('from-heredoc\n');
  expect(read('etc/motd')).toBe('motd line\n');
  expect(read('net-none')).toBe('lo\n');
  expect(Number(read('net-host').trim())).toBeGreaterThan(1);
  expect(read('caps-default')).toMatch(/^CapEff:\s+00000000a80425fb\n$/);
  expect(read('caps-insecure')).not.toBe(read('caps-default'));
  expect(fs.readdirSync(path.join(out, 'excl'))).toEqual(['keep.txt']);
  expect(read('par/a/b/c.txt')).toBe('c');
  expect(read('par/a/d.txt')).toBe('d');
  expect(read('xz/inside/file')).toBe('in the xz tar\n');

  fs.writeFileSync(path.join(ctx, 'Dockerfile'), 'FROM scratch\nADD http://127.0.0.1:9/missing.txt /x\n');
  const r = build(ctx);
  expect(r.code).toBe(1);
  expect(r.stderr).toMatch(/^Error: Dockerfile:2: ADD http:\/\/127\.0\.0\.1:9\/missing\.txt: cannot download it \(.*\); URL sources need network access$/m);
});

test('independent stages build in parallel: each waits for the other through a shared cache mount', async () => {
  // Built one after the other, the first stage would wait for the second forever: no time limit
  // in the steps (a slow machine must not fail this), only jest's for the whole test, after which
  // the build is interrupted.
  const wait = (me: string, other: string) =>
    `RUN --mount=type=cache,id=rendezvous,target=/sync touch /sync/${me} && while [ ! -e /sync/${other} ]; do sleep 0.1; done; echo ${me} > /done`;
  const df = `FROM scratch AS base
ADD rootfs.tar /
FROM base AS one
${wait('one', 'two')}
FROM base AS two
${wait('two', 'one')}
FROM base
COPY --from=one /done /one
COPY --from=two /done /two
`;
  const ctx = context(sb, 'ctx', { Dockerfile: df });
  const out = sb.path('out');
  const child = spawn(process.execPath, [path.join(__dirname, '../../packages/builder/bin/tsbuild'), 'build', '--progress', 'plain', '--output', `type=local,dest=${out}`, ctx], {
    env: { ...process.env, TSBUILD_ROOT: sb.root },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  live.add(child);
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  expect({ code, err: code === 0 ? '' : err }).toEqual({ code: 0, err: '' });
  expect(fs.readFileSync(path.join(out, 'one'), 'utf8') + fs.readFileSync(path.join(out, 'two'), 'utf8')).toBe('one\ntwo\n');
});

test('an interrupted build (SIGINT during a RUN) exits 130 and leaves no container, mount, snapshot or tag', async () => {
  const ctx = context(sb, 'ctx', { Dockerfile: 'FROM scratch\nADD rootfs.tar /\nRUN echo step-started; exec sleep 987\n' });
  const child = spawn(process.execPath, [path.join(__dirname, '../../packages/builder/bin/tsbuild'), 'build', '--progress', 'plain', '-t', 'intr:1', ctx], {
    env: { ...process.env, TSBUILD_ROOT: sb.root },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  let sent = false;
  const code = await new Promise<number | null>((resolve) => {
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
      if (!sent && err.includes(' step-started')) sent = child.kill('SIGINT');
    });
    child.on('close', (c) => resolve(c));
  });
  expect(err).toMatch(/^Error: build interrupted by SIGINT$/m);
  expect(code).toBe(130);
  expect(ok(sb.tsbuild(['images', '-q'])).stdout).toBe('');
  expect(mountsUnder(sb.dir)).toEqual([]);
  expect(fs.readdirSync(path.join(sb.root, 'buildcache/tmp'))).toEqual([]);
  expect(fs.readdirSync('/run/tsbuild').filter((e) => e.startsWith(`tsbuild-${child.pid}-`))).toEqual([]);
  expect(sh('pgrep', ['-f', 'sleep 987']).stdout).toBe('');
});
