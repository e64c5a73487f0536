/**
 * The build context: the directory COPY and ADD read from, less what .dockerignore excludes,
 * and the patterns COPY sources use (Go's filepath.Match, one path component per `*`).
 *
 * Source hashing for the build cache: a source hashes to its type, permission bits, size,
 * link target and content, for itself and everything below it (sorted); owners and mtimes are
 * left out, as BuildKit does (COPY writes 0:0 owners, and a file touched without a change
 * does not invalidate the cache).
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { IgnoreMatcher } from '../dockerfile';

export class ContextError extends Error {}

/** Go filepath.Match as a RegExp over '/'-separated paths. */
export function globRegExp(pattern: string): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '\\' && i + 1 < pattern.length) re += escapeRe(pattern[++i]);
    else if (c === '[') {
      const end = pattern.indexOf(']', i + 2);
      if (end < 0) throw new ContextError(`syntax error in pattern ${JSON.stringify(pattern)}`);
      let cls = pattern.slice(i + 1, end);
      if (cls.startsWith('^')) cls = '^' + cls.slice(1);
      re += `[${cls.replace(/\\/g, '\\\\')}]`;
      i = end;
    } else re += escapeRe(c);
  }
  return new RegExp(`^${re}$`);
}

function escapeRe(c: string): string {
  return c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

export function hasWildcards(p: string): boolean {
  return /[*?[]/.test(p);
}

/** A context-relative path, cleaned: no leading '/', no '.', no '..' above the root. */
export function cleanRel(p: string): string {
  const n = path.posix.normalize('/' + p).slice(1);
  return n.replace(/\/$/, '');
}

export class BuildContext {
  private list?: string[];
  private readonly hashes = new Map<string, string>();

  constructor(
    /** undefined: no context (Dockerfile from stdin), COPY from it fails. */
    readonly dir: string | undefined,
    readonly ignore: IgnoreMatcher | undefined,
  ) {}

  private need(): string {
    if (this.dir === undefined) throw new ContextError('no build context: the Dockerfile came from stdin without a context directory');
    return this.dir;
  }

  /** Every context path not excluded, sorted ('' is the root). */
  entries(): string[] {
    if (this.list) return this.list;
    const dir = this.need();
    const out: string[] = [];
    const ig = this.ignore;
    const walk = (rel: string) => {
      for (const n of fs.readdirSync(rel ? path.join(dir, rel) : dir).sort()) {
        const r = rel ? `${rel}/${n}` : n;
        const ignored = ig ? ig.ignores(r) : false;
        const st = fs.lstatSync(path.join(dir, r));
        if (!ignored) out.push(r);
        if (st.isDirectory() && (!ignored || ig!.hasExceptions)) walk(r);
      }
    };
    walk('');
    // A directory excluded while something below it is not: it is still there, as a parent.
    const have = new Set(out);
    for (const r of [...out]) {
      for (let p = path.posix.dirname(r); p !== '.' && !have.has(p); p = path.posix.dirname(p)) {
        have.add(p);
        out.push(p);
      }
    }
    this.list = out.sort();
    return this.list;
  }

  has(rel: string): boolean {
    if (rel === '') return true;
    return this.entries().includes(rel);
  }

  /** Context paths a COPY source names: one exact path, or every match of a pattern. */
  match(source: string): string[] {
    const rel = cleanRel(source);
    if (!hasWildcards(rel)) return this.has(rel) ? [rel] : [];
    const re = globRegExp(rel);
    return this.entries().filter((e) => re.test(e));
  }

  /** Entries at and below `rel` (it first), as they will be copied. */
  below(rel: string): string[] {
    if (rel === '') return ['', ...this.entries()];
    const prefix = `${rel}/`;
    return [rel, ...this.entries().filter((e) => e.startsWith(prefix))];
  }

  host(rel: string): string {
    return rel ? path.join(this.need(), rel) : this.need();
  }

  /** The cache hash of a source (see above); `exclude` drops paths relative to it. */
  hashSource(rel: string, exclude?: IgnoreMatcher): string {
    const memo = `${rel}\0${exclude?.patterns.join('\0') ?? ''}`;
    const known = this.hashes.get(memo);
    if (known) return known;
    const h = crypto.createHash('sha256');
    for (const e of this.below(rel)) {
      const sub = e === rel ? '' : e.slice(rel ? rel.length + 1 : 0);
      if (sub && exclude?.ignores(sub)) continue;
      h.update(hashEntry(this.host(e), sub, e === rel));
    }
    const d = h.digest('hex');
    this.hashes.set(memo, d);
    return d;
  }
}

/** One entry's contribution to a source hash. The top one follows a symlink, as COPY does. */
export function hashEntry(host: string, name: string, follow: boolean): string {
  const st = follow ? fs.statSync(host) : fs.lstatSync(host);
  let body = '';
  if (st.isFile()) body = crypto.createHash('sha256').update(fs.readFileSync(host)).digest('hex');
  else if (st.isSymbolicLink()) body = fs.readlinkSync(host);
  else if (!st.isDirectory()) body = String(st.rdev);
  return `${name}\0${st.mode.toString(8)}\0${st.isFile() ? st.size : 0}\0${body}\n`;
}
