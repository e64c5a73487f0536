/**
 * The build cache's keys cover every input of a step. For each input, a rebuild with it
 * unchanged is a cache hit (`#N CACHED` in --progress plain) and a rebuild with it changed runs
 * the step again, and the image shows the change: a bind-mounted context path, the files of a
 * `from=` stage (RUN bind and cache mounts, COPY --from), `ADD <url>` (served here on loopback:
 * ETag and Last-Modified revalidation, no validator, --checksum, failed downloads), build args,
 * and secrets (their presence, never their value).
 *
 * Builds run asynchronously so that the test's HTTP server can answer them.
 */
import { spawn, type ChildProcess } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as http from 'http';
import type { AddressInfo } from 'net';
import * as path from 'path';
import { ImageSandbox, ok } from '../helpers/images';
import { cleanBuildSandbox, context } from './helpers';

const TSBUILD = path.join(__dirname, '../../packages/builder/bin/tsbuild');

let sb: ImageSandbox;
const live = new Set<ChildProcess>();
const servers = new Set<http.Server>();

beforeEach(() => {
  sb = new ImageSandbox();
});

afterEach(async () => {
  for (const child of live) {
    if (child.exitCode === null && child.signalCode === null) {
      const closed = new Promise((r) => child.once('close', r));
      child.kill('SIGINT');
      await closed;
    }
  }
  live.clear();
  for (const s of servers) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
  servers.clear();
  cleanBuildSandbox(sb);
});

interface Built {
  code: number;
  stderr: string;
  /** The --output type=local directory. */
  out: string;
}

let outputs = 0;

function build(ctx: string, args: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<Built> {
  const out = sb.path(`out-${++outputs}`);
  const child = spawn(process.execPath, [TSBUILD, 'build', '--progress', 'plain', '--output', `type=local,dest=${out}`, ...args, ctx], {
    env: { ...process.env, TSBUILD_ROOT: sb.root, ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  live.add(child);
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      live.delete(child);
      resolve({ code: code ?? 128, stderr, out });
    });
  });
}

async function built(ctx: string, args: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<Built> {
  const r = await build(ctx, args, env);
  if (r.code !== 0) throw new Error(`tsbuild build exited ${r.code}:\n${r.stderr}`);
  return r;
}

/** 'cached' or 'ran' for each step whose progress line contains the given text. */
function states(r: Built, ...steps: string[]): string[] {
  const lines = r.stderr.split('\n');
  return steps.map((what) => {
    const line = lines.find((l) => /^#\d+ \[/.test(l) && l.includes(what));
    if (!line) throw new Error(`no step "${what}" in:\n${r.stderr}`);
    return lines.includes(`${line.split(' ')[0]} CACHED`) ? 'cached' : 'ran';
  });
}

function read(r: Built, p: string): string {
  return fs.readFileSync(path.join(r.out, p), 'utf8');
}

/** Every file under the store, for checks that nothing was left or leaked. */
function storeFiles(): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    const dir = path.join(sb.root, rel);
    if (!fs.existsSync(dir)) return;
    for (const n of fs.readdirSync(dir).sort()) {
      const r = rel ? `${rel}/${n}` : n;
      const st = fs.lstatSync(path.join(sb.root, r));
      if (st.isDirectory()) walk(r);
      else out.push(r);
    }
  };
  walk('');
  return out;
}

test('RUN --mount=type=bind of context paths: keyed on their content, not mtimes, the rest of the context or what .dockerignore leaves out', async () => {
  const df = `FROM scratch
ADD rootfs.tar /
RUN --mount=type=bind,source=data.txt,target=/mnt/data.txt cat /mnt/data.txt > /from-file
RUN --mount=type=bind,source=src,target=/src,rw find /src | sort > /listing && cat /src/deep/a.txt > /from-dir && echo scribbled > /src/deep/a.txt
`;
  const ctx = context(sb, 'ctx', {
    Dockerfile: df,
    '.dockerignore': 'src/*.log\n',
    'data.txt': 'one\n',
    'src/deep/a.txt': 'a1\n',
    'src/ignored.log': 'log',
    'other.txt': 'other',
  });
  const steps = ['source=data.txt', 'source=src'];
  let r = await built(ctx);
  expect(states(r, ...steps)).toEqual(['ran', 'ran']);
  expect(read(r, 'from-file')).toBe('one\n');
  // what .dockerignore excludes is not in the mount; writes to a rw mount are thrown away
  expect(read(r, 'listing')).toBe('/src\n/src/deep\n/src/deep/a.txt\n');
  expect(read(r, 'from-dir')).toBe('a1\n');
  expect(fs.readFileSync(path.join(ctx, 'src/deep/a.txt'), 'utf8')).toBe('a1\n');

  expect(states(await built(ctx), ...steps)).toEqual(['cached', 'cached']);
  // a touched file, another context file, an excluded file: still hits
  const later = new Date(Date.now() + 60000);
  fs.utimesSync(path.join(ctx, 'data.txt'), later, later);
  fs.utimesSync(path.join(ctx, 'src/deep/a.txt'), later, later);
  fs.writeFileSync(path.join(ctx, 'other.txt'), 'changed');
  fs.writeFileSync(path.join(ctx, 'src/ignored.log'), 'changed');
  expect(states(await built(ctx), ...steps)).toEqual(['cached', 'cached']);

  fs.writeFileSync(path.join(ctx, 'data.txt'), 'two\n');
  r = await built(ctx);
  expect(states(r, ...steps)).toEqual(['ran', 'ran']); // the second: its parent changed
  expect(read(r, 'from-file')).toBe('two\n');

  fs.writeFileSync(path.join(ctx, 'src/deep/a.txt'), 'a2\n');
  r = await built(ctx);
  expect(states(r, ...steps)).toEqual(['cached', 'ran']);
  expect(read(r, 'from-dir')).toBe('a2\n');

  // metadata the mount shows is content too: a mode, a new file
  fs.chmodSync(path.join(ctx, 'src/deep/a.txt'), 0o600);
  expect(states(await built(ctx), ...steps)).toEqual(['cached', 'ran']);
  fs.writeFileSync(path.join(ctx, 'src/new.txt'), 'new');
  r = await built(ctx);
  expect(states(r, ...steps)).toEqual(['cached', 'ran']);
  expect(read(r, 'listing')).toBe('/src\n/src/deep\n/src/deep/a.txt\n/src/new.txt\n');
});

test('from= stages: RUN bind and cache mounts and COPY --from are keyed on what the stage has at the source path', async () => {
  const df = `FROM scratch AS base
ADD rootfs.tar /

FROM base AS gen
COPY input.txt /gen/input.txt
COPY other.txt /elsewhere/other.txt
RUN tr a-z A-Z < /gen/input.txt > /gen/out.txt

FROM base AS bound
RUN --mount=type=bind,from=gen,source=/gen,target=/g cat /g/out.txt > /bound

FROM base AS seeded
RUN --mount=type=cache,id=seeded,from=gen,source=/gen,target=/c cat /c/out.txt > /seeded

FROM base
COPY --from=bound /bound /bound
COPY --from=seeded /seeded /seeded
COPY --from=gen /gen/out.txt /copied
`;
  const ctx = context(sb, 'ctx', { Dockerfile: df, 'input.txt': 'one\n', 'other.txt': 'other\n' });
  const steps = ['RUN tr a-z', 'type=bind,from=gen', 'type=cache,id=seeded', 'COPY --from=gen'];
  let r = await built(ctx);
  expect(states(r, ...steps)).toEqual(['ran', 'ran', 'ran', 'ran']);
  expect([read(r, 'bound'), read(r, 'seeded'), read(r, 'copied')]).toEqual(['ONE\n', 'ONE\n', 'ONE\n']);

  expect(states(await built(ctx), ...steps)).toEqual(['cached', 'cached', 'cached', 'cached']);

  // the stage is rebuilt but what it has under /gen is the same (mtimes aside): hits
  fs.writeFileSync(path.join(ctx, 'other.txt'), 'changed\n');
  r = await built(ctx);
  expect(states(r, ...steps)).toEqual(['ran', 'cached', 'cached', 'cached']);

  // what it has there changes: every user of it runs again and sees the change
  fs.writeFileSync(path.join(ctx, 'input.txt'), 'two\n');
  r = await built(ctx);
  expect(states(r, ...steps)).toEqual(['ran', 'ran', 'ran', 'ran']);
  expect([read(r, 'bound'), read(r, 'seeded'), read(r, 'copied')]).toEqual(['TWO\n', 'TWO\n', 'TWO\n']);
});

/** What the test's HTTP server serves at one path, and every request it answered. */
interface Resource {
  body: string;
  etag?: string;
  lastModified?: string;
  /** Send half the body, then reset the connection. */
  truncate?: boolean;
}

interface Request {
  method: string;
  path: string;
  ifNoneMatch?: string;
  ifModifiedSince?: string;
  status: number;
}

async function server(): Promise<{ base: string; files: Map<string, Resource>; log: Request[] }> {
  const files = new Map<string, Resource>();
  const log: Request[] = [];
  const s = http.createServer((req, res) => {
    const f = files.get(req.url ?? '');
    const entry: Request = {
      method: req.method ?? '',
      path: req.url ?? '',
      ifNoneMatch: req.headers['if-none-match'],
      ifModifiedSince: req.headers['if-modified-since'],
      status: 0,
    };
    const answer = (status: number, headers: http.OutgoingHttpHeaders = {}, body?: string) => {
      entry.status = status;
      log.push(entry);
      res.writeHead(status, headers);
      res.end(body);
    };
    if (!f) return answer(404, {}, 'not found');
    const validators: http.OutgoingHttpHeaders = {};
    if (f.etag) validators.ETag = f.etag;
    if (f.lastModified) validators['Last-Modified'] = f.lastModified;
    if (f.etag && entry.ifNoneMatch?.split(/\s*,\s*/).includes(f.etag)) return answer(304, validators);
    if (!entry.ifNoneMatch && f.lastModified && entry.ifModifiedSince && Date.parse(entry.ifModifiedSince) >= Date.parse(f.lastModified)) return answer(304, validators);
    const headers = { ...validators, 'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(f.body) };
    if (req.method === 'HEAD') return answer(200, headers);
    if (f.truncate) {
      entry.status = 200;
      log.push(entry);
      res.writeHead(200, headers);
      res.write(f.body.slice(0, f.body.length / 2), () => res.socket?.destroy());
      return;
    }
    answer(200, headers, f.body);
  });
  servers.add(s);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return { base: `http://127.0.0.1:${(s.address() as AddressInfo).port}`, files, log };
}

const sha256 = (s: string) => `sha256:${crypto.createHash('sha256').update(s).digest('hex')}`;

test('ADD <url> with an ETag: revalidated (a 304 is a hit, nothing is downloaded again); new content at the same URL is fetched and rebuilds', async () => {
  const srv = await server();
  srv.files.set('/file.txt', { body: 'version one\n', etag: '"v1"' });
  const df = `FROM scratch
ADD rootfs.tar /
ADD ${srv.base}/file.txt /dl/
RUN cat /dl/file.txt > /seen
`;
  const ctx = context(sb, 'ctx', { Dockerfile: df });
  const steps = ['ADD http', 'RUN cat'];
  let r = await built(ctx);
  expect(states(r, ...steps)).toEqual(['ran', 'ran']);
  expect(read(r, 'seen')).toBe('version one\n');
  expect(srv.log.map((l) => `${l.method} ${l.status}`)).toEqual(['GET 200']);

  srv.log.length = 0;
  r = await built(ctx);
  expect(states(r, ...steps)).toEqual(['cached', 'cached']);
  expect(srv.log.map((l) => `${l.method} ${l.ifNoneMatch} ${l.status}`)).toEqual(['HEAD "v1" 304']);

  srv.files.set('/file.txt', { body: 'version two\n', etag: '"v2"' });
  srv.log.length = 0;
  r = await built(ctx);
  expect(states(r, ...steps)).toEqual(['ran', 'ran']);
  expect(read(r, 'seen')).toBe('version two\n');
  expect(srv.log.filter((l) => l.method === 'GET').map((l) => `${l.ifNoneMatch} ${l.status}`)).toEqual(['"v1" 200']);

  // the key is the content: the first version again is the first build's record
  srv.files.set('/file.txt', { body: 'version one\n', etag: '"v1"' });
  r = await built(ctx);
  expect(states(r, ...steps)).toEqual(['cached', 'cached']);
  expect(read(r, 'seen')).toBe('version one\n');

  // gc keeps what was downloaded (the next build only revalidates); prune drops it
  ok(sb.tsbuild(['gc']));
  srv.log.length = 0;
  expect(states(await built(ctx), ...steps)).toEqual(['cached', 'cached']);
  expect(srv.log.map((l) => `${l.method} ${l.status}`)).toEqual(['HEAD 304']);
  ok(sb.tsbuild(['prune', '-f']));
  srv.log.length = 0;
  r = await built(ctx);
  expect(states(r, ...steps)).toEqual(['ran', 'ran']);
  expect(srv.log.map((l) => `${l.method} ${l.ifNoneMatch ?? '-'} ${l.status}`)).toEqual(['GET - 200']);
  expect(read(r, 'seen')).toBe('version one\n');
});

test('ADD <url> without an ETag: If-Modified-Since with Last-Modified (which sets the mtime), else the whole content again; the key is its digest', async () => {
  const srv = await server();
  const jan = 'Mon, 01 Jan 2024 00:00:00 GMT';
  const feb = 'Thu, 01 Feb 2024 00:00:00 GMT';
  srv.files.set('/dated.txt', { body: 'dated one\n', lastModified: jan });
  srv.files.set('/plain.txt', { body: 'plain one\n' });
  const df = `FROM scratch
ADD rootfs.tar /
ADD ${srv.base}/dated.txt /dl/dated.txt
ADD ${srv.base}/plain.txt /dl/plain.txt
RUN cat /dl/dated.txt /dl/plain.txt > /seen
`;
  const ctx = context(sb, 'ctx', { Dockerfile: df });
  const steps = ['dated.txt', 'plain.txt', 'RUN cat'];
  let r = await built(ctx);
  expect(states(r, ...steps)).toEqual(['ran', 'ran', 'ran']);
  expect(read(r, 'seen')).toBe('dated one\nplain one\n');
  expect(fs.statSync(path.join(r.out, 'dl/dated.txt')).mtime.toUTCString()).toBe(jan);

  srv.log.length = 0;
  r = await built(ctx);
  expect(states(r, ...steps)).toEqual(['cached', 'cached', 'cached']);
  expect(srv.log.map((l) => `${l.method} ${l.path} ${l.ifModifiedSince ?? '-'} ${l.status}`)).toEqual([`GET /dated.txt ${jan} 304`, 'GET /plain.txt - 200']);

  srv.files.set('/dated.txt', { body: 'dated two\n', lastModified: feb });
  r = await built(ctx);
  expect(states(r, ...steps)).toEqual(['ran', 'ran', 'ran']); // plain.txt: its parent changed
  expect(read(r, 'seen')).toBe('dated two\nplain one\n');
  expect(fs.statSync(path.join(r.out, 'dl/dated.txt')).mtime.toUTCString()).toBe(feb);

  srv.files.set('/plain.txt', { body: 'plain two\n' });
  r = await built(ctx);
  expect(states(r, ...steps)).toEqual(['cached', 'ran', 'ran']);
  expect(read(r, 'seen')).toBe('dated two\nplain two\n');
});

test('ADD --checksum: the pinned digest is the key, no request on a rebuild; a mismatch or a broken download fails and leaves nothing in the store', async () => {
  const srv = await server();
  srv.files.set('/pinned.txt', { body: 'pinned one\n' });
  const ctx = context(sb, 'ctx', {
    Dockerfile: `FROM scratch\nADD rootfs.tar /\nADD --checksum=${sha256('pinned one\n')} ${srv.base}/pinned.txt /pinned.txt\n`,
  });
  let r = await built(ctx);
  expect(states(r, 'ADD --checksum')).toEqual(['ran']);
  expect(read(r, 'pinned.txt')).toBe('pinned one\n');

  // pinned: other content at the URL is never asked for
  srv.files.set('/pinned.txt', { body: 'pinned two\n' });
  srv.log.length = 0;
  r = await built(ctx);
  expect(states(r, 'ADD --checksum')).toEqual(['cached']);
  expect(read(r, 'pinned.txt')).toBe('pinned one\n');
  expect(srv.log).toEqual([]);

  const before = storeFiles();
  const failing: [string, Resource, RegExp][] = [
    [`ADD --checksum=${sha256('expected')} ${srv.base}/other.txt /x`, { body: 'something else\n' }, /ADD http:\S+\/other\.txt: checksum mismatch: want sha256:[0-9a-f]{64}, got sha256:[0-9a-f]{64}$/m],
    [`ADD ${srv.base}/cut.txt /x`, { body: 'x'.repeat(100000), truncate: true }, /ADD http:\S+\/cut\.txt: the download failed midway/m],
    [`ADD ${srv.base}/missing.txt /x`, { body: '' }, /ADD http:\S+\/missing\.txt: the server answered 404 Not Found$/m],
  ];
  for (const [line, resource, message] of failing) {
    if (!line.includes('missing.txt')) srv.files.set(new URL(line.split(' ').find((w) => w.startsWith('http'))!).pathname, resource);
    fs.writeFileSync(path.join(ctx, 'Dockerfile'), `FROM scratch\nADD rootfs.tar /\n${line}\n`);
    const f = await build(ctx);
    expect(f.code).toBe(1);
    expect(f.stderr).toMatch(/^Error: Dockerfile:3: /m);
    expect(f.stderr).toMatch(message);
    // no blob, no download record, nothing in ingest/ or the build's scratch space
    expect(storeFiles()).toEqual(before);
  }

  // the server mended: the same URL downloads whole
  srv.files.set('/cut.txt', { body: 'whole\n' });
  fs.writeFileSync(path.join(ctx, 'Dockerfile'), `FROM scratch\nADD rootfs.tar /\nADD ${srv.base}/cut.txt /x\n`);
  expect(read(await built(ctx), 'x')).toBe('whole\n');
});

test('build args: a value in the step\'s environment is in its key; args the stage does not declare are not', async () => {
  const df = `ARG GLOBAL_ONLY=g
FROM scratch
ADD rootfs.tar /
ARG FLAVOR=plain
ARG SILENT
RUN echo "flavor=$FLAVOR" > /flavor
`;
  const ctx = context(sb, 'ctx', { Dockerfile: df });
  const run = (...args: string[]) => built(ctx, args.flatMap((a) => ['--build-arg', a]));
  let r = await run('FLAVOR=a');
  expect(states(r, 'RUN echo')).toEqual(['ran']);
  expect(read(r, 'flavor')).toBe('flavor=a\n');
  expect(states(await run('FLAVOR=a'), 'RUN echo')).toEqual(['cached']);
  // not declared in the stage (or only before FROM): not in the step's environment
  r = await run('FLAVOR=a', 'UNRELATED=x', 'GLOBAL_ONLY=h');
  expect(states(r, 'RUN echo')).toEqual(['cached']);
  expect(r.stderr).toMatch(/\[Warning\] One or more build-args \[UNRELATED\] were not consumed/);

  r = await run('FLAVOR=b');
  expect(states(r, 'RUN echo')).toEqual(['ran']);
  expect(read(r, 'flavor')).toBe('flavor=b\n');
  // the default, given or not, is the same environment
  r = await run();
  expect(states(r, 'RUN echo')).toEqual(['ran']);
  expect(read(r, 'flavor')).toBe('flavor=plain\n');
  expect(states(await run('FLAVOR=plain'), 'RUN echo')).toEqual(['cached']);
  // a declared arg is in the environment even if the command does not name it (as BuildKit)
  expect(states(await run('SILENT=1'), 'RUN echo')).toEqual(['ran']);
  expect(states(await run('SILENT=1'), 'RUN echo')).toEqual(['cached']);
});

test('secrets: an optional secret\'s presence is in the key, its value never (a new value is a hit); a required one that is missing fails even when cached', async () => {
  const df = `FROM scratch
ADD rootfs.tar /
RUN --mount=type=secret,id=tok if [ -f /run/secrets/tok ]; then echo present; else echo absent; fi > /optional
RUN --mount=type=secret,id=env_tok,env=TOKEN echo "\${TOKEN:+set}" > /from-env
`;
  const ctx = context(sb, 'ctx', { Dockerfile: df });
  const secret = sb.path('secret');
  const values = ['sekrit-value-one', 'sekrit-value-two', 'sekrit-value-three'];
  const steps = ['id=tok', 'id=env_tok'];
  const withSecret = (value: string) => {
    fs.writeFileSync(secret, value);
    return built(ctx, ['--secret', `id=tok,src=${secret}`, '--secret', 'id=env_tok,env=TOK_VAR'], { TOK_VAR: value });
  };
  let r = await withSecret(values[0]);
  expect(states(r, ...steps)).toEqual(['ran', 'ran']);
  expect([read(r, 'optional'), read(r, 'from-env')]).toEqual(['present\n', 'set\n']);
  expect(fs.existsSync(path.join(r.out, 'run/secrets/tok'))).toBe(false);

  r = await withSecret(values[1]);
  expect(states(r, ...steps)).toEqual(['cached', 'cached']);

  // absent: the optional mount is not there, so the steps run again (and are hits the next time)
  r = await built(ctx);
  expect(states(r, ...steps)).toEqual(['ran', 'ran']);
  expect([read(r, 'optional'), read(r, 'from-env')]).toEqual(['absent\n', '\n']);
  expect(states(await built(ctx), ...steps)).toEqual(['cached', 'cached']);
  // present again, with yet another value: the first build's record
  r = await withSecret(values[2]);
  expect(states(r, ...steps)).toEqual(['cached', 'cached']);
  expect(read(r, 'optional')).toBe('present\n');

  // required: missing fails before anything is taken from the cache
  fs.writeFileSync(path.join(ctx, 'Dockerfile'), 'FROM scratch\nADD rootfs.tar /\nRUN --mount=type=secret,id=tok,required=true wc -c < /run/secrets/tok > /len\n');
  r = await withSecret(values[0]);
  expect(states(r, 'required=true')).toEqual(['ran']);
  expect(read(r, 'len').trim()).toBe(String(values[0].length));
  expect(states(await withSecret('sekrit-value-ONE'), 'required=true')).toEqual(['cached']);
  const missing = await build(ctx);
  expect(missing.code).toBe(1);
  expect(missing.stderr).toMatch(/^Error: Dockerfile:3: secret tok not found: pass it with --secret id=tok,src=FILE$/m);

  // no value, and no digest of one, anywhere in the store
  for (const f of storeFiles()) {
    const data = fs.readFileSync(path.join(sb.root, f));
    for (const v of [...values, 'sekrit-value-ONE']) {
      expect({ f, value: data.includes(v) }).toEqual({ f, value: false });
      expect({ f, digest: data.includes(sha256(v).slice(7)) }).toEqual({ f, digest: false });
    }
  }
});
