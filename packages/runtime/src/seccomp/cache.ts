/**
 * Compiled filters kept on disk, so that a profile is compiled once per build of tsrun rather
 * than on every create and exec: managers send the same profile (Docker's or podman's default)
 * for nearly every container, and compiling it cold costs several milliseconds.
 *
 * One file per profile under the cache directory (inside the state root, so it has the root's
 * owner and permissions): [u32 flags][u32 profile length][profile JSON][program]. The name is a
 * hash of the profile, the architecture and the compiler's own file (its size and mtime: a new
 * build of tsrun starts afresh); a hit must also carry the identical profile JSON, so a hash
 * collision can only cost a compile, never hand one profile another's filter.
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

/** 64-bit FNV-1a as hex: fast, and collisions are harmless here (see above). */
function fnv64(text: string): string {
  let h1 = 0x811c9dc5;
  let h2 = 0xcbf29ce4;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 0x01000193) >>> 0;
    h2 = Math.imul(h2 ^ c, 0x01000193 ^ 0x5bd1e995) >>> 0;
  }
  return h1.toString(16).padStart(8, '0') + h2.toString(16).padStart(8, '0');
}

export function cachedCompile(profileJSON: string, dir: string | undefined, compile: () => CompiledFilter): CompiledFilter {
  if (!dir) return compile();
  const file = path.join(dir, `${fnv64(`${codeStamp()}\0${process.arch}\0${profileJSON}`)}.bpf`);
  const hit = read(file, profileJSON);
  if (hit) return hit;
  const compiled = compile();
  write(dir, file, profileJSON, compiled);
  return compiled;
}

function read(file: string, profileJSON: string): CompiledFilter | undefined {
  let buf: Buffer;
  try {
    buf = fs.readFileSync(file);
  } catch {
    return undefined;
  }
  if (buf.length < 8) return undefined;
  const flags = buf.readUInt32LE(0);
  const len = buf.readUInt32LE(4);
  if (8 + len > buf.length || (buf.length - 8 - len) % 8 !== 0 || buf.length - 8 - len === 0) return undefined;
  if (buf.toString('utf8', 8, 8 + len) !== profileJSON) return undefined;
  return { flags, filter: Buffer.from(buf.subarray(8 + len)) };
}

/** Best effort: a cache that cannot be written only means compiling next time too. */
function write(dir: string, file: string, profileJSON: string, c: CompiledFilter): void {
  try {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const json = Buffer.from(profileJSON, 'utf8');
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
