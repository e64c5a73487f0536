/**
 * ADD <url>: what a URL holds, as BuildKit's http source finds out. Whatever the step's cache
 * holds, every build asks the server, and the step's cache key is the content's digest (with
 * the Last-Modified header, which becomes the file's mtime), never the URL alone: changed
 * content at the same URL is a miss, and the same content is a hit.
 *
 * What was downloaded last for a URL is remembered, so that an unchanged URL is not downloaded
 * again:
 *
 *   <root>/buildcache/urls/<sha256 of the URL>.json
 *       {"url", "digest", "size", "etag"?, "lastModified"?, "date"?, "descriptors": [content]}
 *
 * and the content itself is a blob of the store (gc keeps what a record lists in
 * "descriptors"; `tsbuild prune` drops the records). Revalidation, with a record whose blob is
 * still there: with an ETag, a HEAD with If-None-Match first (BuildKit's way round servers that
 * mishandle If-None-Match on GET), then a GET with If-None-Match; without one, a GET with
 * If-Modified-Since when Last-Modified was a strong validator (the response's Date at least a
 * second later, RFC 9110 8.8.2.2). A 304 for the same validator is the recorded content; any
 * other answer is downloaded whole.
 *
 * ADD --checksum=sha256:... pins the content: the digest is the key, so a rebuild asks nothing;
 * the content is downloaded only when a step runs and the store lacks it, and checked.
 *
 * Downloads go into the store's ingest/ and are renamed into blobs/ only when complete and
 * (with --checksum) verified; the record is written after its blob. A download that fails
 * midway, times out (30 s without data) or has the wrong digest leaves nothing.
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { pipeline as pipelineCb, Readable, Transform } from 'stream';
import type { Descriptor } from '@tsrun/spec';
import { DigestMismatchError } from '../store/errors';
import { writeFileAtomic } from '../store/fsutil';
import type { ImageStore } from '../store/store';

/** How long a request may go without an answer or a byte of its body. */
const IDLE_TIMEOUT_MS = 30000;

/** What a URL holds, as far as the step's cache key and its file are concerned. */
export interface UrlContent {
  url: string;
  /** sha256:... of the content (a blob of the store once downloaded). */
  digest: string;
  /** The Last-Modified header: the file's mtime (epoch 0 without one, as BuildKit). */
  lastModified?: string;
}

interface UrlRecord {
  url: string;
  digest: string;
  size: number;
  etag?: string;
  lastModified?: string;
  /** The Date of the response, or the time it came: tells whether Last-Modified is strong. */
  date?: string;
  descriptors: Descriptor[];
}

/** A weak ETag's opaque part compares with the strong one's (BuildKit compares them so). */
function etagValue(v: string): string {
  return v.startsWith('W/') ? v.slice(2) : v;
}

export class UrlSources {
  readonly dir: string;
  private readonly resolved = new Map<string, Promise<UrlContent>>();

  constructor(private readonly store: ImageStore) {
    this.dir = path.join(store.root, 'buildcache', 'urls');
  }

  /** The content at `url` now (once per build, whatever the number of steps that name it). */
  resolve(url: string): Promise<UrlContent> {
    let p = this.resolved.get(url);
    if (!p) {
      p = this.revalidate(url);
      this.resolved.set(url, p);
    }
    return p;
  }

  /** Content pinned by ADD --checksum: from the store when it is there, else downloaded and checked. */
  pinned(url: string, checksum: string): Promise<UrlContent> {
    const memo = `${url}\0${checksum}`;
    let p = this.resolved.get(memo);
    if (!p) {
      p = (async () => {
        const rec = this.record(url);
        if (this.store.hasBlob(checksum)) return { url, digest: checksum, lastModified: rec?.digest === checksum ? rec.lastModified : undefined };
        const { res, idle, done } = await this.request(url, 'GET', {});
        if (!res.ok) {
          done();
          throw this.status(url, res);
        }
        return this.save(url, res, idle, done, checksum);
      })();
      this.resolved.set(memo, p);
    }
    return p;
  }

  /** The file's content, verified against its digest as it is read. */
  open(c: UrlContent): Readable {
    return this.store.openBlob(c.digest);
  }

  private file(url: string): string {
    return path.join(this.dir, `${crypto.createHash('sha256').update(url).digest('hex')}.json`);
  }

  /** The last download of `url`, if its content is still in the store. */
  private record(url: string): UrlRecord | undefined {
    try {
      const rec = JSON.parse(fs.readFileSync(this.file(url), 'utf8')) as UrlRecord;
      if (rec.url !== url || !this.store.hasBlob(rec.digest)) return undefined;
      return rec;
    } catch {
      return undefined; // none, or torn: download again
    }
  }

  private async revalidate(url: string): Promise<UrlContent> {
    const rec = this.record(url);
    const recorded = (r: UrlRecord): UrlContent => ({ url, digest: r.digest, lastModified: r.lastModified });
    if (rec?.etag) {
      // An error here only means the GET decides.
      const head = await this.request(url, 'HEAD', { 'If-None-Match': rec.etag }).catch(() => undefined);
      if (head) {
        head.done();
        const got = head.res.headers.get('etag') ?? (head.res.status === 304 ? rec.etag : undefined);
        if ((head.res.status === 200 || head.res.status === 304) && got !== undefined && etagValue(got) === etagValue(rec.etag)) return recorded(rec);
      }
    }
    const conditional: Record<string, string> = {};
    if (rec?.etag) conditional['If-None-Match'] = rec.etag;
    else if (rec?.lastModified && rec.date && Date.parse(rec.date) - Date.parse(rec.lastModified) >= 1000) conditional['If-Modified-Since'] = rec.lastModified;
    const { res, idle, done } = await this.request(url, 'GET', conditional);
    if (res.status === 304) {
      done();
      const got = res.headers.get('etag');
      if (!rec || (got && rec.etag && etagValue(got) !== etagValue(rec.etag))) {
        throw new Error(`ADD ${url}: the server answered 304 Not Modified to a request it could not have matched`);
      }
      return recorded(rec);
    }
    if (!res.ok) {
      done();
      throw this.status(url, res);
    }
    return this.save(url, res, idle, done);
  }

  private status(url: string, res: Response): Error {
    return new Error(`ADD ${url}: the server answered ${res.status} ${res.statusText}`.trimEnd());
  }

  /**
   * A request whose answer must come within the idle timeout; `idle` re-arms it (for each
   * chunk of the body), `done` stops it and discards an unread body.
   */
  private async request(url: string, method: 'GET' | 'HEAD', headers: Record<string, string>): Promise<{ res: Response; idle: () => void; done: () => void }> {
    const ac = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const idle = () => {
      clearTimeout(timer);
      timer = setTimeout(() => ac.abort(new Error(`no data for ${IDLE_TIMEOUT_MS / 1000}s`)), IDLE_TIMEOUT_MS);
    };
    idle();
    let res: Response;
    try {
      res = await fetch(url, { method, headers: { 'User-Agent': 'tsbuild', ...headers }, signal: ac.signal, redirect: 'follow' });
    } catch (e) {
      clearTimeout(timer);
      const cause = (e as { cause?: Error }).cause?.message ?? (e as Error).message;
      throw new Error(`ADD ${url}: cannot download it (${cause}); URL sources need network access`);
    }
    const done = () => {
      clearTimeout(timer);
      res.body?.cancel().catch(() => undefined);
    };
    return { res, idle, done };
  }

  /** The body into the store (verified against `expect` when given), then its record. */
  private async save(url: string, res: Response, idle: () => void, done: () => void, expect?: string): Promise<UrlContent> {
    const body = res.body ? Readable.fromWeb(res.body as import('stream/web').ReadableStream<Uint8Array>) : Readable.from([]);
    const watch = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        idle();
        cb(null, chunk);
      },
    });
    let put: { digest: string; size: number };
    try {
      put = await this.store.putBlob(pipelineCb(body, watch, () => undefined), expect ? { digest: expect } : {});
    } catch (e) {
      if (e instanceof DigestMismatchError) throw new Error(`ADD ${url}: checksum mismatch: want ${e.expected}, got ${e.actual}`);
      const err = e as Error & { cause?: Error };
      throw new Error(`ADD ${url}: the download failed midway (${err.cause?.message ?? err.message})`);
    } finally {
      done();
    }
    const etag = res.headers.get('etag') ?? undefined;
    const lastModified = res.headers.get('last-modified') ?? undefined;
    const rec: UrlRecord = {
      url,
      digest: put.digest,
      size: put.size,
      ...(etag ? { etag } : {}),
      ...(lastModified ? { lastModified, date: res.headers.get('date') ?? new Date().toUTCString() } : {}),
      descriptors: [{ mediaType: 'application/octet-stream', digest: put.digest, size: put.size }],
    };
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    writeFileAtomic(this.file(url), JSON.stringify(rec), 0o600);
    return { url, digest: put.digest, lastModified };
  }
}
