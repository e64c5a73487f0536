/**
 * A real registry for the registry tests: Debian's docker-registry (the CNCF distribution
 * server) on 127.0.0.1 with a config written here (a free port, storage in a temporary
 * directory, optionally htpasswd basic auth), stopped and removed by stop(). And a proxy in
 * front of it that injects faults (a blob transfer cut midway, 503s, a flipped byte) or
 * demands bearer tokens from a token service of its own, logging every request.
 *
 * Commands run asynchronously (spawn, not spawnSync): the proxy lives in the test process
 * and must keep serving while the command under test talks to it.
 */
import { spawn, spawnSync, type ChildProcess } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as http from 'http';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
  argv: string[];
}

export function ok(r: Run): Run {
  if (r.code !== 0) throw new Error(`exit ${r.code}: ${r.argv.join(' ')}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r;
}

/** Runs a command without blocking the event loop. */
export function run(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: opts.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? 128 + (signal ? os.constants.signals[signal] : 0), stdout, stderr, argv: [cmd, ...args] });
    });
    child.stdin.end(opts.input ?? '');
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

async function answers(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get(url, (res) => {
      res.resume();
      resolve(res.statusCode === 200 || res.statusCode === 401);
    });
    req.on('error', () => resolve(false));
    req.setTimeout(1000, () => req.destroy());
  });
}

export class TestRegistry {
  private child?: ChildProcess;
  port = 0;

  private constructor(readonly dir: string, readonly auth?: { user: string; password: string }) {}

  /** host:port, as in image references. */
  get host(): string {
    return `127.0.0.1:${this.port}`;
  }

  /**
   * Starts docker-registry; with `auth`, behind htpasswd basic auth (a bcrypt htpasswd made
   * by apache2-utils' htpasswd -B, the only hash distribution accepts).
   */
  static async start(auth?: { user: string; password: string }): Promise<TestRegistry> {
    const r = new TestRegistry(fs.mkdtempSync(path.join(os.tmpdir(), 'tsbuild-registry-')), auth);
    try {
      for (let attempt = 0; ; attempt++) {
        try {
          await r.launch();
          return r;
        } catch (e) {
          if (attempt >= 2) throw e; // the free port was taken meanwhile: try another
        }
      }
    } catch (e) {
      r.stop();
      throw e;
    }
  }

  private async launch(): Promise<void> {
    this.port = await freePort();
    const lines = [
      'version: 0.1',
      'log:',
      '  level: error',
      '  accesslog:',
      '    disabled: true',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${path.join(this.dir, 'data')}`,
      '  delete:',
      '    enabled: true',
      'http:',
      `  addr: 127.0.0.1:${this.port}`,
      `  secret: ${crypto.randomBytes(16).toString('hex')}`,
    ];
    if (this.auth) {
      const h = spawnSync('htpasswd', ['-Bbn', this.auth.user, this.auth.password], { encoding: 'utf8' });
      if (h.status !== 0) throw new Error(`htpasswd: ${h.stderr}`);
      fs.writeFileSync(path.join(this.dir, 'htpasswd'), h.stdout);
      lines.push('auth:', '  htpasswd:', '    realm: test-realm', `    path: ${path.join(this.dir, 'htpasswd')}`);
    }
    const config = path.join(this.dir, 'config.yml');
    fs.writeFileSync(config, lines.join('\n') + '\n');
    const log = fs.openSync(path.join(this.dir, 'registry.log'), 'a');
    const child = spawn('docker-registry', ['serve', config], { cwd: this.dir, stdio: ['ignore', log, log] });
    fs.closeSync(log);
    this.child = child;
    let exited = false;
    child.on('exit', () => (exited = true));
    for (let i = 0; i < 100; i++) {
      if (exited) throw new Error(`docker-registry exited: ${fs.readFileSync(path.join(this.dir, 'registry.log'), 'utf8')}`);
      if (await answers(`http://${this.host}/v2/`)) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    child.kill('SIGKILL');
    throw new Error('docker-registry did not start');
  }

  stop(): void {
    if (this.child && this.child.exitCode === null) {
      this.child.kill('SIGKILL');
      // reap it before the directory goes
      spawnSync('sh', ['-c', `while kill -0 ${this.child.pid} 2>/dev/null; do sleep 0.05; done`], { timeout: 5000 });
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

export interface LoggedRequest {
  method: string;
  url: string;
  range?: string;
  authorization?: string;
  status?: number;
}

export interface Faults {
  /** Blob GETs to cut after half their body (the connection is destroyed). */
  cutBlobs?: number;
  /** Blob GETs to answer 503 before forwarding. */
  fail503?: number;
  /** Answer 503 to every blob GET. */
  always503?: boolean;
  /** Flip a byte in the middle of every blob GET's body. */
  flipByte?: boolean;
  /** Upload PUTs (the request closing a blob upload) to answer 503 without forwarding. */
  failUploadPut503?: number;
  /** Drop the Range header of blob GETs: the registry answers 200 with the whole blob. */
  ignoreRange?: boolean;
}

/**
 * A proxy on 127.0.0.1 in front of a registry. Faults apply to GET .../blobs/sha256:...;
 * the Host header is passed through, so the registry's upload Locations point back here.
 * With `bearer`, it also plays a token service: /v2/ requests need a token from /token,
 * which it grants (to `user` with `password`, or to anyone for pull when `anonymousPull`)
 * for the scopes asked.
 */
export class FaultProxy {
  readonly log: LoggedRequest[] = [];
  readonly tokenRequests: { scopes: string[]; account?: string; user?: string }[] = [];
  faults: Faults = {};
  private readonly tokens = new Map<string, string[]>();
  private server!: http.Server;
  port = 0;

  private constructor(readonly target: string, readonly bearer?: { user: string; password: string; anonymousPull?: boolean }, readonly address = '127.0.0.1') {}

  get host(): string {
    return `${this.address}:${this.port}`;
  }

  /** A proxy to `target`, listening on `address` (default 127.0.0.1). */
  static async start(target: string, bearer?: { user: string; password: string; anonymousPull?: boolean }, address?: string): Promise<FaultProxy> {
    const p = new FaultProxy(target, bearer, address);
    p.server = http.createServer((req, res) => p.handle(req, res).catch(() => res.destroy()));
    await new Promise<void>((resolve) => p.server.listen(0, p.address, resolve));
    p.port = (p.server.address() as net.AddressInfo).port;
    return p;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  /** The logged requests matching a method and a path pattern. */
  requests(method: string, pattern: RegExp): LoggedRequest[] {
    return this.log.filter((r) => r.method === method && pattern.test(r.url));
  }

  private token(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url!, `http://${this.host}`);
    const scopes = url.searchParams.getAll('scope');
    const basic = /^Basic (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    const [user, password] = basic ? Buffer.from(basic, 'base64').toString().split(':') : [];
    this.tokenRequests.push({ scopes, account: url.searchParams.get('account') ?? undefined, user });
    const authed = user === this.bearer!.user && password === this.bearer!.password;
    if (basic && !authed) {
      res.writeHead(401, { 'Content-Type': 'application/json' });
      return void res.end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'incorrect username or password' }] }));
    }
    // anonymous tokens grant pull only (when allowed), as Docker Hub's do for public images
    const granted = authed ? scopes : this.bearer!.anonymousPull ? scopes.map((s) => s.replace(/:[^:]*$/, ':pull')) : [];
    const token = crypto.randomBytes(12).toString('hex');
    this.tokens.set(token, granted);
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ token, expires_in: 300 }));
  }

  /** Whether a bearer token grants what the request needs; else the challenge to send. */
  private challenge(req: http.IncomingMessage): string | undefined {
    const m = /^\/v2\/(.+)\/(blobs|manifests|tags)\//.exec(req.url!);
    const need = m ? `repository:${m[1]}:${req.method === 'GET' || req.method === 'HEAD' ? 'pull' : 'push'}` : undefined;
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    const granted = token ? this.tokens.get(token) : undefined;
    const grants = (scope: string) => {
      const [, repo, action] = /^repository:(.+):([a-z]+)$/.exec(scope)!;
      return granted!.some((g) => g.startsWith(`repository:${repo}:`) && g.slice(`repository:${repo}:`.length).split(',').includes(action));
    };
    if (granted && (!need || grants(need))) return undefined;
    const scope = need ? `,scope="${need.replace(/:push$/, ':pull,push')}"` : '';
    return `Bearer realm="http://${this.host}/token",service="test-registry"${scope}${granted ? ',error="insufficient_scope"' : ''}`;
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const entry: LoggedRequest = { method: req.method!, url: req.url!, range: req.headers.range, authorization: req.headers.authorization };
    this.log.push(entry);
    if (this.bearer && req.url!.startsWith('/token')) return this.token(req, res);
    if (this.bearer) {
      const c = this.challenge(req);
      if (c) {
        entry.status = 401;
        res.writeHead(401, { 'WWW-Authenticate': c, 'Content-Type': 'application/json' });
        req.resume();
        return void res.end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] }));
      }
    }
    const isBlobGet = req.method === 'GET' && /\/blobs\/sha256:/.test(req.url!);
    if (isBlobGet && (this.faults.always503 || (this.faults.fail503 ?? 0) > 0)) {
      if (!this.faults.always503) this.faults.fail503!--;
      entry.status = 503;
      res.writeHead(503, { 'Content-Type': 'text/plain' });
      return void res.end('injected 503\n');
    }
    if (req.method === 'PUT' && /\/blobs\/uploads\//.test(req.url!) && (this.faults.failUploadPut503 ?? 0) > 0) {
      this.faults.failUploadPut503!--;
      entry.status = 503;
      req.resume();
      req.on('end', () => {
        res.writeHead(503, { 'Content-Type': 'text/plain' });
        res.end('injected 503\n');
      });
      return;
    }
    const headers = { ...req.headers };
    if (isBlobGet && this.faults.ignoreRange) delete headers.range;
    delete headers.authorization; // the registry behind the bearer proxy needs none
    if (!this.bearer) headers.authorization = req.headers.authorization;
    if (headers.authorization === undefined) delete headers.authorization;
    const upstream = await new Promise<http.IncomingMessage>((resolve, reject) => {
      const u = http.request(`http://${this.target}${req.url}`, { method: req.method, headers, setHost: false }, resolve);
      u.on('error', reject);
      req.pipe(u);
    });
    entry.status = upstream.statusCode;
    const cut = isBlobGet && upstream.statusCode === 200 && (this.faults.cutBlobs ?? 0) > 0;
    if (cut) this.faults.cutBlobs!--; // now: concurrent transfers must not both take it
    const flip = isBlobGet && (upstream.statusCode === 200 || upstream.statusCode === 206) && this.faults.flipByte;
    if (!cut && !flip) {
      res.writeHead(upstream.statusCode!, upstream.headers);
      upstream.pipe(res);
      return;
    }
    const chunks: Buffer[] = [];
    for await (const c of upstream) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    res.writeHead(upstream.statusCode!, upstream.headers);
    if (cut) {
      res.write(body.subarray(0, Math.floor(body.length / 2)), () => setTimeout(() => res.socket?.destroy(), 20));
      return;
    }
    body[Math.floor(body.length / 2)] ^= 0xff;
    res.end(body);
  }
}
