/**
 * Compiled filters kept on disk, so that a profile is compiled once per build of tsrun rather
 * than on every create and exec: managers send the same profile (Docker's or podman's default)
 * for nearly every container, and compiling it cold costs several milliseconds.
 *
 * One file per profile under the cache directory (container/cache-dir.ts), which is used only
 * when it is this user's own and nobody else may write to it (a filter from it is loaded into
 * containers as is): [u32 flags][u32 key length][key][program], where the key is the
 * compiler's own file (its size and mtime: a new build of tsrun starts afresh), the architecture
 * and the profile JSON. The file is named by cheap hashes of them; a hit must carry the identical
 * key, so a name collision can only cost a compile, never hand one profile another's filter.
 */
import * as fs from 'fs';
import * as path from 'path';

export interface CompiledFilter {
  filter: Buffer;
  flags: number;
}

let stamp: string | undefined;
/** Identifies the code that compiled a cached filter. */
function codeStamp(): string {
  if (stamp === undefined) {
    try {
      const st = fs.statSync(__filename);
      stamp = `${st.size}:${st.mtimeMs}`;
    } catch {
      stamp = 'unknown';
    }
  }
  return stamp;
}

/**
 * A cheap name for a profile: its length and FNV-1a over at most ~512 of its characters (hashing
 * all of a 10 KB profile in not-yet-optimised JS costs about a millisecond). Two profiles with
 * one name only take turns in the cache file; the full comparison on read keeps them apart.
 */
function nameOf(text: string): string {
  const step = Math.max(1, Math.floor(text.length / 512));
  let h1 = 0x811c9dc5;
  let h2 = 0xcbf29ce4;
  for (let i = 0; i < text.length; i += step) {
    const c = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 0x01000193) >>> 0;
    h2 = Math.imul(h2 ^ c, 0x01000193 ^ 0x5bd1e995) >>> 0;
  }
  return `${text.length.toString(16)}-${h1.toString(16).padStart(8, '0')}${h2.toString(16).padStart(8, '0')}`;
}

export function cachedCompile(profileJSON: string, dir: string | undefined, compile: () => CompiledFilter): CompiledFilter {
  if (!dir) return compile();
  // What a hit must match exactly: the code that compiled it, the architecture, the profile.
  const key = `${codeStamp()}\0${process.arch}\0${profileJSON}`;
  const file = path.join(dir, `${nameOf(profileJSON)}-${nameOf(key.slice(0, key.length - profileJSON.length))}.bpf`);
  const hit = read(file, key);
  if (hit) return hit;
  const compiled = compile();
  write(dir, file, key, compiled);
  return compiled;
}

/** The directory is ours alone: owned by this user, not writable by group or others. */
function trusted(dir: string): boolean {
  try {
    const st = fs.statSync(dir);
    return st.isDirectory() && st.uid === process.geteuid!() && (st.mode & 0o022) === 0;
  } catch {
    return false;
  }
}

function read(file: string, key: string): CompiledFilter | undefined {
  let buf: Buffer;
  try {
    // The directory and its parent (tsrun-cache): nobody else may have put or swapped a file in.
    if (!trusted(path.dirname(file)) || !trusted(path.dirname(path.dirname(file)))) return undefined;
    buf = fs.readFileSync(file);
  } catch {
    return undefined;
  }
  if (buf.length < 8) return undefined;
  const flags = buf.readUInt32LE(0);
  const len = buf.readUInt32LE(4);
  if (8 + len > buf.length || (buf.length - 8 - len) % 8 !== 0 || buf.length - 8 - len === 0) return undefined;
  if (buf.toString('utf8', 8, 8 + len) !== key) return undefined;
  return { flags, filter: Buffer.from(buf.subarray(8 + len)) };
}

/** Best effort: a cache that cannot be written only means compiling next time too. */
function write(dir: string, file: string, key: string, c: CompiledFilter): void {
  try {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    if (!trusted(dir) || !trusted(path.dirname(dir))) return;
    const json = Buffer.from(key, 'utf8');
    const head = Buffer.alloc(8);
    head.writeUInt32LE(c.flags >>> 0, 0);
    head.writeUInt32LE(json.length, 4);
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, Buffer.concat([head, json, c.filter]), { mode: 0o600 });
    fs.renameSync(tmp, file);
  } catch {
    /* read-only or full: fine */
  }
}
