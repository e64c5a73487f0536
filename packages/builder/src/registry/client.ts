/**
 * A client of one registry (the OCI distribution spec, i.e. Docker's Registry HTTP API v2):
 * manifests with content negotiation, blobs downloaded with verification and resume, blob
 * uploads (monolithic or chunked), cross-repository mounts and existence checks.
 *
 * Every request authenticates as the registry's challenge asks (auth.ts) and is retried with
 * exponential backoff when the connection fails or the registry answers 5xx/429; what still
 * fails is one RegistryError naming the registry and what was asked.
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import { Transform, type Readable } from 'stream';
import { MediaType, type Descriptor } from '@tsrun/spec';
import { sha256 } from '../store/digest';
import { StoreError } from '../store/errors';
import { Authenticator, parseChallenge } from './auth';
import { findCredentials, authFilesForRead, type Credentials } from './authfile';
import { allowsInsecure, registryHost, type TlsPolicy } from './endpoint';
import { RegistryError, TransientError, errorText, isTransient } from './errors';
import { drain, mediaTypeOf, readBody, send, type HttpResponse } from './http';

/** What a manifest GET accepts: OCI and Docker v2 schema 2 manifests and indexes. */
export const MANIFEST_ACCEPT = [MediaType.ImageIndex, MediaType.ImageManifest, MediaType.DockerManifestList, MediaType.DockerManifest];

export interface RegistryOptions extends TlsPolicy {
  /** Credentials to use instead of those in the auth files. */
  credentials?: Credentials;
  /** Read credentials from this file only (podman's --authfile). */
  authFile?: string;
  /** Retries after a transient failure (default 4, i.e. 5 attempts). */
  retries?: number;
  /** First backoff delay, doubled on each retry (default 250 ms). */
  retryDelayMs?: number;
  /** Told of each retry, e.g. to show it. */
  onRetry?: (what: string, attempt: number, error: Error) => void;
}

/** Sees a blob's bytes as they are downloaded, in order (after a resume, from where it was). */
export interface DownloadTap {
  data(chunk: Buffer): Promise<void>;
  /** The download starts over from byte 0 (the registry ignored a Range request). */
  restart(): void;
}

export interface FetchedManifest {
  bytes: Buffer;
  mediaType: string;
  digest: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const REDIRECTS = new Set([301, 302, 303, 307, 308]);

interface Req {
  method: string;
  url: string | URL;
  headers?: Record<string, string>;
  body?: Buffer | (() => Readable);
  /** What the request is, for error messages ("GET manifest app:1"). */
  what: string;
}

/** The registry's own error text from a JSON error body ({"errors":[{code,message}]}). */
function registryErrorText(body: Buffer): { code?: string; text?: string } {
  try {
    const doc = JSON.parse(body.toString('utf8')) as { errors?: { code?: string; message?: string }[] };
    const e = doc.errors?.[0];
    if (e) return { code: e.code, text: [e.code?.toLowerCase().replace(/_/g, ' '), e.message].filter((x, i, a) => x && a.indexOf(x) === i).join(': ') };
  } catch {
    /* not JSON */
  }
  return {};
}

export class RegistryClient {
  readonly host: string;
  private base: Promise<URL> | undefined;
  private readonly auth: Authenticator;
  private readonly insecure: boolean;
  private readonly retries: number;
  private readonly retryDelay: number;

  /**
   * A client for `domain` (as in references: "docker.io", "localhost:5000") acting with
   * `scopes` (e.g. pull on one repository, push on another).
   */
  constructor(readonly domain: string, readonly scopes: string[], readonly opts: RegistryOptions = {}) {
    this.host = registryHost(domain);
    this.insecure = allowsInsecure(domain, opts);
    this.retries = opts.retries ?? envNumber('TSBUILD_REGISTRY_RETRIES') ?? 4;
    this.retryDelay = opts.retryDelayMs ?? envNumber('TSBUILD_REGISTRY_RETRY_DELAY_MS') ?? 250;
    let credentials = opts.credentials;
    let credentialSource: string | undefined;
    if (!credentials) {
      const files = authFilesForRead(opts.authFile);
      for (const f of files) {
        credentials = findCredentials(domain, undefined, [f]);
        if (credentials) {
          credentialSource = f;
          break;
        }
      }
    }
    this.auth = new Authenticator({ registry: domain, credentials, credentialSource, verifyTls: !this.insecure });
  }

  // -------------------------------------------------------------------------------------------
  // Requests
  // -------------------------------------------------------------------------------------------

  /** Runs `fn` again after a transient failure, with backoff; the last failure is reported. */
  async withRetry<T>(what: string, fn: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await fn();
      } catch (e) {
        if (!isTransient(e)) throw e;
        if (attempt >= this.retries) {
          const n = attempt + 1;
          throw new RegistryError(`${this.domain}: ${what}: ${errorText(e)} (gave up after ${n} attempt${n === 1 ? '' : 's'})`, (e as RegistryError).status);
        }
        this.opts.onRetry?.(what, attempt + 1, e as Error);
        await sleep(this.retryDelay * 2 ** attempt);
      }
    }
  }

  /**
   * The registry's base URL: https, or http for an insecure registry whose https fails.
   * GET /v2/ also tells which authentication the registry wants (its 401 challenge).
   */
  private baseURL(): Promise<URL> {
    return (this.base ??= this.ping().catch((e) => {
      this.base = undefined;
      throw e;
    }));
  }

  private async ping(): Promise<URL> {
    const schemes = this.insecure ? ['https', 'http'] : ['https'];
    let lastError: unknown;
    for (const [i, scheme] of schemes.entries()) {
      const url = new URL(`${scheme}://${this.host}/v2/`);
      const once = async () => {
        let res: HttpResponse;
        try {
          res = await send({ method: 'GET', url, verifyTls: !this.insecure, timeoutMs: 30_000 });
        } catch (e) {
          throw isTransient(e) ? new TransientError(errorText(e)) : e;
        }
        const body = await readBody(res, 1 << 20);
        const s = res.statusCode ?? 0;
        if (s >= 500 || s === 429) throw new TransientError(`${s} ${res.statusMessage ?? ''}`.trim(), s);
        if (s === 401) this.auth.challenge = parseChallenge(res.headers['www-authenticate'] as string | undefined);
        else if (s !== 200) throw new RegistryError(`${this.domain}: ${url.origin} is not a registry (GET /v2/ answered ${s}${registryErrorText(body).text ? `: ${registryErrorText(body).text}` : ''})`);
        return new URL(`${scheme}://${this.host}/`);
      };
      try {
        // an https attempt that an http fallback follows is made once
        return i < schemes.length - 1 ? await once() : await this.withRetry('GET /v2/', once);
      } catch (e) {
        lastError = e;
        if (e instanceof RegistryError && !(e instanceof TransientError) && !/gave up/.test(e.message)) throw e;
      }
    }
    if (lastError instanceof RegistryError) throw lastError;
    throw new RegistryError(`${this.domain}: cannot reach the registry: ${tlsProblem(lastError, this.insecure) ?? errorText(lastError)}`);
  }

  /**
   * One request with authentication, redirects (GET/HEAD) and retries. 5xx and 429 are
   * retried; other statuses are returned with the body unread.
   */
  async request(r: Req): Promise<HttpResponse> {
    const base = await this.baseURL();
    return this.withRetry(r.what, async () => {
      let url = typeof r.url === 'string' ? new URL(r.url, base) : r.url;
      let authRetried = false;
      for (let redirects = 0; ; ) {
        const sameHost = url.host === base.host;
        const headers = { ...r.headers };
        const authorization = sameHost ? await this.auth.header(this.scopes) : undefined;
        if (authorization) headers.Authorization = authorization;
        let res: HttpResponse;
        try {
          res = await send({ method: r.method, url, headers, body: r.body, verifyTls: !this.insecure });
        } catch (e) {
          throw isTransient(e) ? new TransientError(errorText(e)) : new RegistryError(`${this.domain}: ${r.what}: ${errorText(e)}`);
        }
        const s = res.statusCode ?? 0;
        if (s === 401 && sameHost) {
          const body = await readBody(res, 1 << 20).catch(() => Buffer.alloc(0));
          if (!authRetried && this.auth.onUnauthorized(res.headers['www-authenticate'] as string | undefined, this.scopes, !!authorization)) {
            authRetried = true;
            continue;
          }
          throw this.auth.refused(registryErrorText(body).text ?? 'authentication required');
        }
        if (REDIRECTS.has(s) && res.headers.location && (r.method === 'GET' || r.method === 'HEAD')) {
          drain(res);
          if (++redirects > 5) throw new RegistryError(`${this.domain}: ${r.what}: too many redirects`);
          url = new URL(res.headers.location, url);
          continue;
        }
        if (s >= 500 || s === 429) {
          const body = r.method === 'HEAD' ? Buffer.alloc(0) : await readBody(res, 1 << 20).catch(() => Buffer.alloc(0));
          const text = registryErrorText(body).text;
          throw new TransientError(`${s} ${res.statusMessage ?? ''}${text ? ` (${text})` : ''}`.trim(), s);
        }
        return res;
      }
    });
  }

  /** A RegistryError from an unexpected response (body read for the registry's own text). */
  async failure(res: HttpResponse, what: string): Promise<RegistryError> {
    const body = await readBody(res, 1 << 20).catch(() => Buffer.alloc(0));
    const { code, text } = registryErrorText(body);
    return new RegistryError(`${this.domain}: ${what}: ${text ?? `${res.statusCode} ${res.statusMessage ?? ''}`.trim()}`, res.statusCode, code);
  }

  // -------------------------------------------------------------------------------------------
  // Manifests
  // -------------------------------------------------------------------------------------------

  /**
   * GET a manifest or index by tag or digest, verified: by digest its bytes must hash to it;
   * by tag they must hash to the Docker-Content-Digest the registry states (when sha256).
   */
  async getManifest(repo: string, reference: string): Promise<FetchedManifest> {
    const what = `manifest ${repo}:${reference}`.replace(':sha256:', '@sha256:');
    const res = await this.request({ method: 'GET', url: `/v2/${repo}/manifests/${reference}`, headers: { Accept: MANIFEST_ACCEPT.join(', ') }, what: `GET ${what}` });
    if (res.statusCode === 404) {
      const e = await this.failure(res, what);
      throw new RegistryError(`manifest for ${this.domain}/${repo}${reference.startsWith('sha256:') ? '@' : ':'}${reference} not found: ${e.code === 'NAME_UNKNOWN' ? 'repository name not known to registry' : 'manifest unknown'}`, 404, e.code);
    }
    if (res.statusCode !== 200) throw await this.failure(res, `GET ${what}`);
    const bytes = await this.withRetry(`GET ${what}`, () => readBody(res, 4 << 20));
    const digest = sha256(bytes);
    if (reference.startsWith('sha256:') && digest !== reference) throw new RegistryError(`${this.domain}/${repo}: manifest ${reference} failed verification: its content has digest ${digest}`, undefined, 'DIGEST_MISMATCH');
    const stated = res.headers['docker-content-digest'] as string | undefined;
    if (!reference.startsWith('sha256:') && stated?.startsWith('sha256:') && stated !== digest) {
      throw new RegistryError(`${this.domain}/${repo}: manifest ${reference} failed verification: the registry says ${stated}, its content has digest ${digest}`, undefined, 'DIGEST_MISMATCH');
    }
    let mediaType = mediaTypeOf(res.headers['content-type'] as string | undefined);
    let doc: { mediaType?: string; schemaVersion?: number };
    try {
      doc = JSON.parse(bytes.toString('utf8'));
    } catch {
      throw new RegistryError(`${this.domain}: ${what} is not valid JSON`);
    }
    if (doc.schemaVersion === 1) throw new RegistryError(`${this.domain}: ${what} is a Docker image manifest v2 schema 1, which is not supported`);
    if (!mediaType || !MANIFEST_ACCEPT.includes(mediaType as (typeof MANIFEST_ACCEPT)[number])) mediaType = doc.mediaType;
    if (!mediaType || !MANIFEST_ACCEPT.includes(mediaType as (typeof MANIFEST_ACCEPT)[number])) {
      throw new RegistryError(`${this.domain}: ${what} has unsupported media type ${JSON.stringify(mediaType ?? res.headers['content-type'])}`);
    }
    return { bytes, mediaType, digest };
  }

  /** PUT a manifest (exact bytes) under a tag or its digest; checks the digest the registry computed. */
  async putManifest(repo: string, reference: string, mediaType: string, bytes: Buffer): Promise<string> {
    const what = `PUT manifest ${repo}:${reference}`;
    const res = await this.request({ method: 'PUT', url: `/v2/${repo}/manifests/${reference}`, headers: { 'Content-Type': mediaType }, body: bytes, what });
    if (res.statusCode !== 201 && res.statusCode !== 200) throw await this.failure(res, what);
    drain(res);
    const digest = sha256(bytes);
    const stated = res.headers['docker-content-digest'] as string | undefined;
    if (stated && stated !== digest) throw new RegistryError(`${this.domain}: ${what}: the registry stored digest ${stated}, expected ${digest}`);
    return digest;
  }

  // -------------------------------------------------------------------------------------------
  // Blobs
  // -------------------------------------------------------------------------------------------

  /** HEAD: whether the repository already has the blob (so it need not be uploaded). */
  async hasBlob(repo: string, digest: string): Promise<boolean> {
    const what = `HEAD blob ${repo}@${digest}`;
    const res = await this.request({ method: 'HEAD', url: `/v2/${repo}/blobs/${digest}`, what });
    drain(res);
    if (res.statusCode === 200) return true;
    if (res.statusCode === 404) return false;
    throw new RegistryError(`${this.domain}: ${what}: ${res.statusCode} ${res.statusMessage ?? ''}`.trim(), res.statusCode);
  }

  /**
   * Downloads a blob into `file`, verifying size and digest. A connection that breaks midway
   * is resumed with a Range request from the bytes already written (restarting from zero if
   * the registry ignores the range); a blob that does not hash to its digest is an error.
   */
  async downloadBlob(repo: string, desc: Descriptor, file: string, onBytes?: (done: number, total: number) => void, tap?: DownloadTap): Promise<void> {
    const what = `GET blob ${repo}@${desc.digest}`;
    const fh = await fs.promises.open(file, 'w', 0o644);
    let hash = crypto.createHash('sha256');
    let offset = 0;
    try {
      await this.withRetry(what, async () => {
        const headers: Record<string, string> = {};
        if (offset > 0) headers.Range = `bytes=${offset}-`;
        const res = await this.request({ method: 'GET', url: `/v2/${repo}/blobs/${desc.digest}`, headers, what });
        if (res.statusCode === 404) {
          const e = await this.failure(res, what);
          throw new RegistryError(`${this.domain}: blob ${desc.digest} of ${repo} not found${e.code ? ` (${e.code.toLowerCase().replace(/_/g, ' ')})` : ''}`, 404, e.code);
        }
        if (res.statusCode === 206 && offset > 0) {
          const start = /^bytes (\d+)-/.exec(String(res.headers['content-range'] ?? ''))?.[1];
          if (Number(start) !== offset) {
            drain(res);
            throw new RegistryError(`${this.domain}: ${what}: asked for bytes from ${offset}, got Content-Range ${res.headers['content-range']}`);
          }
        } else if (res.statusCode === 200) {
          if (offset > 0) {
            // the registry ignored the range: start over
            offset = 0;
            hash = crypto.createHash('sha256');
            await fh.truncate(0);
            tap?.restart();
          }
        } else {
          throw await this.failure(res, what);
        }
        try {
          for await (const chunk of res) {
            const c = chunk as Buffer;
            if (offset + c.length > desc.size) {
              res.destroy();
              throw new RegistryError(`${this.domain}: blob ${desc.digest} is larger than its descriptor's ${desc.size} bytes`);
            }
            await fh.write(c, 0, c.length, offset);
            hash.update(c);
            offset += c.length;
            await tap?.data(c);
            onBytes?.(offset, desc.size);
          }
        } catch (e) {
          // ours (a RegistryError) or the tap's (bad compressed data): not the connection's
          if (e instanceof StoreError) throw e;
          throw new TransientError(`connection broken after ${offset} of ${desc.size} bytes: ${errorText(e)}`);
        }
        if (offset < desc.size) throw new TransientError(`connection closed after ${offset} of ${desc.size} bytes`);
      });
      const actual = `sha256:${hash.digest('hex')}`;
      if (actual !== desc.digest) throw new RegistryError(`${this.domain}/${repo}: blob ${desc.digest} failed verification: its content has digest ${actual}`, undefined, 'DIGEST_MISMATCH');
      await fh.sync();
    } finally {
      await fh.close();
    }
  }

  /**
   * Starts an upload, first trying to mount the blob from `mountFrom` repositories of this
   * registry (no bytes sent). Returns "mounted", or the upload URL.
   */
  async startUpload(repo: string, digest: string, mountFrom: string[] = []): Promise<{ mounted: string } | { location: URL }> {
    for (const from of mountFrom) {
      const what = `mount blob ${digest} from ${from} into ${repo}`;
      const res = await this.request({ method: 'POST', url: `/v2/${repo}/blobs/uploads/?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(from)}`, what });
      drain(res);
      if (res.statusCode === 201) return { mounted: from };
      if (res.statusCode === 202 && res.headers.location) {
        // not mountable; the registry opened an upload session instead, cancel it and try on
        await this.cancelUpload(await this.location(res));
        continue;
      }
      if (res.statusCode !== 404 && res.statusCode !== 403) throw await this.failure(res, what);
    }
    const what = `start upload to ${repo}`;
    const res = await this.request({ method: 'POST', url: `/v2/${repo}/blobs/uploads/`, what });
    if (res.statusCode !== 202) throw await this.failure(res, what);
    drain(res);
    return { location: await this.location(res) };
  }

  private async location(res: HttpResponse): Promise<URL> {
    const loc = res.headers.location;
    if (!loc) throw new RegistryError(`${this.domain}: upload response without a Location`);
    return new URL(loc, await this.baseURL());
  }

  private async cancelUpload(location: URL): Promise<void> {
    try {
      const res = await this.request({ method: 'DELETE', url: location, what: 'cancel upload' });
      drain(res);
    } catch {
      /* an abandoned session expires on the registry */
    }
  }

  /** Monolithic upload: the whole blob in the PUT that closes the session. */
  async uploadMonolithic(location: URL, desc: Descriptor, open: () => Readable, onBytes?: (n: number) => void): Promise<void> {
    const url = new URL(location);
    url.searchParams.set('digest', desc.digest);
    const what = `PUT blob ${desc.digest}`;
    const res = await this.request({
      method: 'PUT',
      url,
      headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(desc.size) },
      body: () => counting(open(), onBytes),
      what,
    });
    if (res.statusCode !== 201) throw await this.failure(res, what);
    drain(res);
  }

  /**
   * Chunked upload: PATCHes of `chunkSize` bytes with Content-Range, then an empty PUT with
   * the digest. A chunk that fails is resent from where the registry says the upload stands.
   */
  async uploadChunked(location: URL, desc: Descriptor, file: string, chunkSize: number, onBytes?: (n: number) => void): Promise<void> {
    let url = location;
    let offset = 0;
    while (offset < desc.size) {
      const end = Math.min(offset + chunkSize, desc.size) - 1;
      const what = `PATCH blob ${desc.digest} bytes ${offset}-${end}`;
      const res = await this.request({
        method: 'PATCH',
        url,
        headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(end - offset + 1), 'Content-Range': `${offset}-${end}` },
        body: () => fs.createReadStream(file, { start: offset, end }),
        what,
      });
      if (res.statusCode !== 202) throw await this.failure(res, what);
      drain(res);
      url = await this.location(res);
      const range = /^(?:bytes=)?0-(\d+)$/.exec(String(res.headers.range ?? ''));
      offset = range ? Number(range[1]) + 1 : end + 1;
      onBytes?.(offset);
    }
    const done = new URL(url);
    done.searchParams.set('digest', desc.digest);
    const what = `PUT blob ${desc.digest}`;
    const res = await this.request({ method: 'PUT', url: done, headers: { 'Content-Type': 'application/octet-stream' }, what });
    if (res.statusCode !== 201) throw await this.failure(res, what);
    drain(res);
  }

  /** Checks that the credentials work: GET /v2/ authenticated (for login). */
  async checkLogin(): Promise<void> {
    const res = await this.request({ method: 'GET', url: '/v2/', what: 'GET /v2/' });
    if (res.statusCode !== 200) throw await this.failure(res, 'GET /v2/');
    drain(res);
  }
}

/**
 * A readable account of a TLS failure (OpenSSL's text is long): a plain-HTTP server answering
 * our handshake, or a certificate we do not trust. Undefined for other errors.
 */
function tlsProblem(e: unknown, insecure: boolean): string | undefined {
  const err = e as NodeJS.ErrnoException;
  const hint = insecure ? '' : '; if it is a registry you trust without TLS, use --tls-verify=false';
  if (/wrong version number|packet length too long|http request/i.test(err?.message ?? '')) return `HTTPS failed: the server does not speak TLS${hint}`;
  if (err?.code === 'EPROTO' || /SSL routines/.test(err?.message ?? '')) return `HTTPS failed: ${/SSL routines:[^:]*:([^:]+)/.exec(err.message)?.[1] ?? err.code}${hint}`;
  if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ALTNAME/.test(err?.code ?? '')) return `TLS certificate not trusted: ${err.message}${hint}`;
  return undefined;
}

function counting(src: Readable, onBytes?: (n: number) => void): Readable {
  if (!onBytes) return src;
  let n = 0;
  const t = new Transform({
    transform(chunk: Buffer, _e, cb) {
      n += chunk.length;
      onBytes(n);
      cb(null, chunk);
    },
  });
  src.on('error', (e) => t.destroy(e));
  return src.pipe(t);
}

function envNumber(name: string): number | undefined {
  const v = process.env[name];
  return v !== undefined && v !== '' && Number.isFinite(Number(v)) ? Number(v) : undefined;
}

