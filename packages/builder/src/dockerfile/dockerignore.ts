/**
 * .dockerignore with Docker's exact rules (moby/patternmatcher and its ignorefile reader):
 * `#` comments (only at column 0), surrounding whitespace trimmed, patterns cleaned like Go's
 * filepath.Clean with one leading `/` dropped, `!` exceptions (the last matching pattern wins),
 * `**` for any number of directories, filepath.Match syntax (`*`, `?`, `[...]`, `\` escapes).
 * A path is excluded when it or one of its parent directories matches.
 */
import * as path from 'node:path';

/** Reads a .dockerignore file into its cleaned patterns (exceptions keep their leading `!`). */
export function parseDockerignore(text: string): string[] {
  const out: string[] = [];
  const lines = text.replace(/^\uFEFF/, '').split('\n');
  for (let raw of lines) {
    if (raw.startsWith('#')) continue;
    raw = raw.trim();
    if (raw === '') continue;
    const invert = raw[0] === '!';
    let p = invert ? raw.slice(1).trim() : raw;
    if (p.length > 0) {
      p = cleanPath(p);
      if (p.length > 1 && p[0] === '/') p = p.slice(1);
    }
    out.push(invert ? '!' + p : p);
  }
  return out;
}

/** Go's path.Clean: collapse `//`, resolve `.` and `..`, no trailing `/`, '' -> '.'. */
export function cleanPath(p: string): string {
  if (p === '') return '.';
  const rooted = p[0] === '/';
  const parts: string[] = [];
  for (const seg of p.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') {
      if (parts.length && parts[parts.length - 1] !== '..') parts.pop();
      else if (!rooted) parts.push('..');
      continue;
    }
    parts.push(seg);
  }
  const joined = (rooted ? '/' : '') + parts.join('/');
  return joined === '' ? '.' : joined;
}

export class DockerignoreError extends Error {}

type MatchKind = 'exact' | 'prefix' | 'suffix' | 'regexp';

interface Pattern {
  cleaned: string;
  exclusion: boolean;
  kind: MatchKind;
  re?: RegExp;
}

/** Decides whether a context-relative path ('a/b/c', forward slashes) is excluded. */
export class IgnoreMatcher {
  private readonly compiled: Pattern[] = [];

  /** Throws DockerignoreError for `!` alone or a malformed pattern (e.g. an unclosed `[`). */
  constructor(readonly patterns: string[]) {
    for (let p of patterns) {
      p = p.trim();
      if (p === '') continue;
      p = cleanPath(p);
      let exclusion = false;
      if (p[0] === '!') {
        if (p.length === 1) throw new DockerignoreError('illegal exclusion pattern: "!"');
        exclusion = true;
        p = p.slice(1);
      }
      checkMatchSyntax(p);
      this.compiled.push({ cleaned: p, exclusion, ...compile(p) });
    }
  }

  /** True when a `!` pattern exists (a walker must then descend into excluded directories). */
  get hasExceptions(): boolean {
    return this.compiled.some((p) => p.exclusion);
  }

  /** True when the path is excluded from the build context (patternmatcher's MatchesOrParentMatches). */
  ignores(file: string): boolean {
    file = cleanPath(file);
    if (file === '.') return false;
    const parent = path.posix.dirname(file);
    const parentDirs = parent === '.' ? [] : parent.split('/');
    let matched = false;
    for (const p of this.compiled) {
      if (p.exclusion !== matched) continue;
      let match = matchOne(p, file);
      for (let i = 0; !match && i < parentDirs.length; i++) match = matchOne(p, parentDirs.slice(0, i + 1).join('/'));
      if (match) matched = !p.exclusion;
    }
    return matched;
  }
}

function matchOne(p: Pattern, file: string): boolean {
  switch (p.kind) {
    case 'exact':
      return file === p.cleaned;
    case 'prefix':
      return file.startsWith(p.cleaned.slice(0, -2));
    case 'suffix': {
      const suffix = p.cleaned.slice(2);
      return file.endsWith(suffix) || (suffix[0] === '/' && file === suffix.slice(1));
    }
    default:
      return p.re!.test(file);
  }
}

const REGEX_ESCAPE = new Set(['.', '+', '(', ')', '|', '{', '}', '$']);

/** patternmatcher's compile(): cheap string matches where possible, else an anchored regexp. */
function compile(pattern: string): { kind: MatchKind; re?: RegExp } {
  const cs = Array.from(pattern);
  let re = '^';
  let kind: MatchKind = 'exact';
  for (let i = 0; i < cs.length; i++) {
    const c = cs[i];
    if (c === '*') {
      if (cs[i + 1] === '*') {
        const first = i === 0;
        i++;
        if (cs[i + 1] === '/') i++;
        if (i + 1 >= cs.length) {
          if (kind === 'exact') kind = 'prefix';
          else {
            re += '.*';
            kind = 'regexp';
          }
        } else {
          re += '(.*/)?';
          kind = 'regexp';
        }
        if (first) kind = 'suffix';
      } else {
        re += '[^/]*';
        kind = 'regexp';
      }
    } else if (c === '?') {
      re += '[^/]';
      kind = 'regexp';
    } else if (REGEX_ESCAPE.has(c)) re += '\\' + c;
    else if (c === '\\') {
      if (i + 1 < cs.length) {
        re += escapeLiteral(cs[++i]);
        kind = 'regexp';
      } else re += '\\\\';
    } else if (c === '[' || c === ']') {
      re += c;
      kind = 'regexp';
    } else re += c;
  }
  if (kind !== 'regexp') return { kind };
  try {
    return { kind, re: new RegExp(re + '$') };
  } catch {
    throw new DockerignoreError(`syntax error in pattern: ${pattern}`);
  }
}

const escapeLiteral = (c: string): string => (/[A-Za-z0-9]/.test(c) ? c : '\\' + c);

/** Go's filepath.Match syntax check: unclosed `[`, empty class, bad range, trailing `\`. */
function checkMatchSyntax(p: string): void {
  const bad = (): never => {
    throw new DockerignoreError(`syntax error in pattern: ${p}`);
  };
  const cs = Array.from(p);
  for (let i = 0; i < cs.length; i++) {
    const c = cs[i];
    if (c === '\\') {
      if (++i >= cs.length) bad();
    } else if (c === '[') {
      i++;
      if (cs[i] === '^') i++;
      let ranges = 0;
      for (;;) {
        if (cs[i] === ']' && ranges > 0) break;
        const esc = (): void => {
          if (i >= cs.length || cs[i] === '-' || cs[i] === ']') bad();
          if (cs[i] === '\\' && ++i >= cs.length) bad();
          i++;
          if (i >= cs.length) bad();
        };
        esc();
        if (cs[i] === '-') {
          i++;
          esc();
        }
        ranges++;
      }
    }
  }
}

/**
 * The ignore files to try, in order: `<dockerfile>.dockerignore` next to the Dockerfile
 * (`-f path/X.Dockerfile` -> `path/X.Dockerfile.dockerignore`), else `<context>/.dockerignore`.
 */
export function dockerignoreCandidates(contextDir: string, dockerfilePath?: string): string[] {
  const out: string[] = [];
  if (dockerfilePath) {
    const abs = path.resolve(contextDir, dockerfilePath);
    out.push(path.join(path.dirname(abs), path.basename(abs) + '.dockerignore'));
  }
  out.push(path.join(path.resolve(contextDir), '.dockerignore'));
  return out;
}
