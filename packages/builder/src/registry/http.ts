/**
 * One HTTP exchange with Node's http/https (no client library: the distribution API needs
 * only requests with streamed bodies, redirects and ranges). Keep-alive agents are shared so
 * parallel layer transfers reuse connections. Retries, auth and error texts are the client's.
 */
import * as http from 'http';
import * as https from 'https';
import type { Readable } from 'stream';
import { RegistryError, TransientError, errorText } from './errors';

const agents = {
  http: new http.Agent({ keepAlive: true, maxSockets: 16 }),
  https: new https.Agent({ keepAlive: true, maxSockets: 16 }),
  httpsInsecure: new https.Agent({ keepAlive: true, maxSockets: 16, rejectUnauthorized: false }),
};

export interface HttpRequest {
  method: string;
  url: URL;
  headers?: Record<string, string>;
  /** A buffer, or a factory of a fresh stream (so that a retry can send the body again). */
  body?: Buffer | (() => Readable);
  /** false: accept any TLS certificate (insecure registries only). */
  verifyTls?: boolean;
  /** Inactivity timeout of the connection, ms. */
  timeoutMs?: number;
}

export type HttpResponse = http.IncomingMessage & { requestUrl: URL };

export const USER_AGENT = 'tsbuild/0.1.0';
const DEFAULT_TIMEOUT = 60_000;

/** Sends one request; resolves with the response (body unread) or rejects on a network error. */
export function send(req: HttpRequest): Promise<HttpResponse> {
  return new Promise((resolve, reject) => {
    const secure = req.url.protocol === 'https:';
    const mod = secure ? https : http;
    const agent = secure ? (req.verifyTls === false ? agents.httpsInsecure : agents.https) : agents.http;
    const headers: Record<string, string> = { 'User-Agent': USER_AGENT, ...req.headers };
    if (Buffer.isBuffer(req.body)) headers['Content-Length'] = String(req.body.length);
    else if (!req.body && !['GET', 'HEAD', 'DELETE'].includes(req.method)) headers['Content-Length'] = '0';
    const r = mod.request(req.url, { method: req.method, headers, agent }, (res) => {
      const out = res as HttpResponse;
      out.requestUrl = req.url;
      resolve(out);
    });
    r.setTimeout(req.timeoutMs ?? DEFAULT_TIMEOUT, () => r.destroy(Object.assign(new Error(`${req.method} ${req.url.host}: timed out`), { code: 'ETIMEDOUT' })));
    r.on('error', reject);
    if (!req.body) r.end();
    else if (Buffer.isBuffer(req.body)) r.end(req.body);
    else {
      const body = req.body();
      body.on('error', (e) => r.destroy(e));
      body.pipe(r);
    }
  });
}

/** Reads a (small) response body; longer than `limit` is an error. */
export async function readBody(res: http.IncomingMessage, limit = 8 << 20): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  try {
    for await (const c of res) {
      n += (c as Buffer).length;
      if (n > limit) {
        res.destroy();
        throw new RegistryError(`response from ${(res as HttpResponse).requestUrl?.host} is larger than ${limit} bytes`);
      }
      chunks.push(c as Buffer);
    }
  } catch (e) {
    if (e instanceof RegistryError) throw e;
    throw new TransientError(`reading a response: ${errorText(e)}`);
  }
  return Buffer.concat(chunks);
}

/** Discards a response body so its connection can be reused. */
export function drain(res: http.IncomingMessage): void {
  res.resume();
  res.on('error', () => undefined);
}

/** The media type of a Content-Type header, without parameters. */
export function mediaTypeOf(header: string | undefined): string | undefined {
  const t = header?.split(';')[0].trim();
  return t || undefined;
}
