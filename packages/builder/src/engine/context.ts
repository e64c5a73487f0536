/**
 * The build context: the directory COPY and ADD read from, less what .dockerignore excludes,
 * and the patterns COPY sources use (Go's filepath.Match, one path component per `*`).
 *
 * Source hashing for the build cache: a source hashes to its type, permission bits, size,
 * link target and content, for itself and everything below it (sorted); mtimes are left out,
 * as BuildKit does (a file touched without a change does not invalidate the cache), and so
 * are owners where the step does not show them (COPY from the context writes 0:0). A RUN bind
 * mount shows owners, a `from=` source keeps them: their hashes include them (hashTree, and
 * hashSource with owners).
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

  /**
   * The cache hash of a source (see above); `exclude` drops paths relative to it, `owners`
   * adds every entry's uid:gid.
   */
  hashSource(rel: string, exclude?: IgnoreMatcher, opts: { owners?: boolean } = {}): string {
    const memo = `${rel}\0${exclude?.patterns.join('\0') ?? ''}\0${opts.owners ? 'owners' : ''}`;
    const known = this.hashes.get(memo);
    if (known) return known;
    const h = crypto.createHash('sha256');
    for (const e of this.below(rel)) {
      const sub = e === rel ? '' : e.slice(rel ? rel.length + 1 : 0);
      if (sub && exclude?.ignores(sub)) continue;
      h.update(hashEntry(this.host(e), sub, e === rel, opts.owners));
    }
    const d = h.digest('hex');
    this.hashes.set(memo, d);
    return d;
  }

  /** The context path of a host path inside the context directory (symlinks resolved by the caller). */
  relOf(host: string): string {
    const rel = path.relative(this.need(), host);
    if (rel.startsWith('..') || path.isAbsolute(rel)) throw new ContextError(`${host} is outside the build context`);
    return rel.split(path.sep).join('/');
  }

  /** True when the directory has something below `rel` that .dockerignore excludes. */
  excludesBelow(rel: string): boolean {
    if (!this.ignore) return false;
    const kept = new Set(this.below(rel));
    const walk = (r: string): boolean => {
      const host = this.host(r);
      if (!fs.lstatSync(host).isDirectory()) return false;
      for (const n of fs.readdirSync(host)) {
        const child = r ? `${r}/${n}` : n;
        if (!kept.has(child) || walk(child)) return true;
      }
      return false;
    };
    return walk(rel);
  }
}

/** The sha256 of a file's content, read in chunks (files may be larger than a Buffer). */
export function hashFile(host: string): string {
  const h = crypto.createHash('sha256');
  const fd = fs.openSync(host, 'r');
  try {
    const buf = Buffer.allocUnsafe(1 << 20);
    for (;;) {
      const n = fs.readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      h.update(buf.subarray(0, n));
    }
  } finally {
    fs.closeSync(fd);
  }
  return h.digest('hex');
}

/** One entry's contribution to a source hash. The top one follows a symlink, as COPY does. */
export function hashEntry(host: string, name: string, follow: boolean, owners = false): string {
  const st = follow ? fs.statSync(host) : fs.lstatSync(host);
  let body = '';
  if (st.isFile()) body = hashFile(host);
  else if (st.isSymbolicLink()) body = fs.readlinkSync(host);
  else if (!st.isDirectory()) body = String(st.rdev);
  return `${name}\0${st.mode.toString(8)}\0${st.isFile() ? st.size : 0}\0${body}${owners ? `\0${st.uid}:${st.gid}` : ''}\n`;
}

/**
 * The hash of a tree outside the context (a stage's or image's filesystem, mounted): `top`
 * (symlinks followed) and everything below it, as hashSource with owners; `exclude` drops
 * paths relative to `top`, and what is below an excluded directory.
 */
export function hashTree(top: string, exclude?: IgnoreMatcher): string {
  const h = crypto.createHash('sha256');
  const walk = (host: string, sub: string, follow: boolean) => {
    h.update(hashEntry(host, sub, follow, true));
    const st = follow ? fs.statSync(host) : fs.lstatSync(host);
    if (!st.isDirectory()) return;
    for (const n of fs.readdirSync(host).sort()) {
      const s = sub ? `${sub}/${n}` : n;
      if (exclude?.ignores(s)) continue;
      walk(path.join(host, n), s, false);
    }
  };
  walk(top, '', true);
  return h.digest('hex');
}
