/**
 * Registry credentials in the files docker and podman keep them in, read and written the way
 * podman does (containers-auth.json(5)):
 *
 * - written by `tsbuild login` to $REGISTRY_AUTH_FILE, else $XDG_RUNTIME_DIR/containers/auth.json,
 *   else /run/containers/<uid>/auth.json (podman's path without XDG_RUNTIME_DIR);
 * - read from that file, then $HOME/.config/containers/auth.json, then docker's
 *   $DOCKER_CONFIG/config.json (default ~/.docker/config.json); the first file with an entry
 *   for the registry wins.
 *
 * All share one shape: {"auths": {"<key>": {"auth": base64("user:password")}}}. A key is a
 * registry ("quay.io", "localhost:5000"), possibly with a repository path ("quay.io/team"),
 * the most specific matching key winning; docker's keys may carry a scheme and a path
 * ("https://index.docker.io/v1/", docker's key for Docker Hub). Credential helpers
 * (credsStore, credHelpers) are not supported: entries that need them are skipped.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { writeFileAtomic } from '../store/fsutil';
import { DEFAULT_DOMAIN } from '../store/reference';
import { RegistryError } from './errors';

export interface Credentials {
  username: string;
  password: string;
}

interface AuthEntry {
  auth?: string;
  username?: string;
  password?: string;
}

interface AuthFileDoc {
  auths?: Record<string, AuthEntry>;
  [k: string]: unknown;
}


/** The file `tsbuild login` writes (podman's choice). */
export function authFileForWrite(env: NodeJS.ProcessEnv = process.env): string {
  if (env.REGISTRY_AUTH_FILE) return env.REGISTRY_AUTH_FILE;
  if (env.XDG_RUNTIME_DIR) return path.join(env.XDG_RUNTIME_DIR, 'containers', 'auth.json');
  return path.join('/run/containers', String(process.getuid?.() ?? 0), 'auth.json');
}

function home(env: NodeJS.ProcessEnv): string {
  return env.HOME || os.homedir();
}

/** docker's config.json: $DOCKER_CONFIG/config.json, else ~/.docker/config.json. */
export function dockerConfigFile(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(env.DOCKER_CONFIG || path.join(home(env), '.docker'), 'config.json');
}

/** The files credentials are read from, in order. An explicit file is the only one read. */
export function authFilesForRead(authFile?: string, env: NodeJS.ProcessEnv = process.env): string[] {
  if (authFile) return [authFile];
  return [authFileForWrite(env), path.join(home(env), '.config', 'containers', 'auth.json'), dockerConfigFile(env)];
}

function readDoc(file: string): AuthFileDoc {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new RegistryError(`reading credentials from ${file}: ${(e as Error).message}`);
  }
  if (!text.trim()) return {};
  try {
    const doc = JSON.parse(text) as AuthFileDoc;
    if (!doc || typeof doc !== 'object' || Array.isArray(doc)) throw new Error('not a JSON object');
    return doc;
  } catch (e) {
    throw new RegistryError(`${file}: invalid credentials file: ${(e as Error).message}`);
  }
}

/** A key of "auths" reduced to host[/path]: scheme and docker's "/v1/" style suffixes dropped. */
export function normaliseKey(key: string): string {
  let k = key.replace(/^[a-z]+:\/\//i, '').replace(/\/+$/, '');
  if (/^(index\.)?docker\.io(\/v1|\/v2)?$/.test(k) || k === 'registry-1.docker.io') return DEFAULT_DOMAIN;
  k = k.replace(/\/v[12]$/, '');
  return k;
}

function decode(entry: AuthEntry, key: string, file: string): Credentials | undefined {
  if (entry.username !== undefined && entry.password !== undefined) return { username: entry.username, password: entry.password };
  if (!entry.auth) return undefined;
  const text = Buffer.from(entry.auth, 'base64').toString('utf8');
  const colon = text.indexOf(':');
  if (colon < 0) throw new RegistryError(`${file}: the credentials for ${key} are not base64 of "user:password"`);
  return { username: text.slice(0, colon), password: text.slice(colon + 1) };
}

/**
 * The credentials for `repository` (e.g. "quay.io/team/app") on `domain` from the first file
 * that has a matching key, or undefined.
 */
export function findCredentials(domain: string, repository: string | undefined, files: string[]): Credentials | undefined {
  const wanted = repository ? `${domain}/${repository}` : domain;
  for (const file of files) {
    const auths = readDoc(file).auths ?? {};
    let best: { len: number; key: string; entry: AuthEntry } | undefined;
    for (const [key, entry] of Object.entries(auths)) {
      const k = normaliseKey(key);
      if (k !== wanted && !wanted.startsWith(`${k}/`) && k !== domain) continue;
      if (!best || k.length > best.len) best = { len: k.length, key, entry };
    }
    if (best) {
      const c = decode(best.entry ?? {}, best.key, file);
      if (c) return c;
    }
  }
  return undefined;
}

/** The key login writes: "docker.io" for Docker Hub (podman's), else the registry as given. */
function keyFor(registry: string): string {
  return normaliseKey(registry);
}

/** Adds (or replaces) the credentials of `registry` in `file`, keeping everything else. */
export function storeCredentials(file: string, registry: string, creds: Credentials): void {
  const doc = readDoc(file);
  const key = keyFor(registry);
  const auths = { ...(doc.auths ?? {}) };
  for (const k of Object.keys(auths)) if (normaliseKey(k) === key) delete auths[k];
  auths[key] = { auth: Buffer.from(`${creds.username}:${creds.password}`).toString('base64') };
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  writeFileAtomic(file, JSON.stringify({ ...doc, auths }, null, '\t') + '\n', 0o600);
}

/** Removes the credentials of `registry` from `file`; false when it had none. */
export function removeCredentials(file: string, registry: string): boolean {
  const doc = readDoc(file);
  const key = keyFor(registry);
  const auths = { ...(doc.auths ?? {}) };
  const keys = Object.keys(auths).filter((k) => normaliseKey(k) === key);
  if (!keys.length) return false;
  for (const k of keys) delete auths[k];
  writeFileAtomic(file, JSON.stringify({ ...doc, auths }, null, '\t') + '\n', 0o600);
  return true;
}

/** Removes every credential from `file` (logout --all); false when there were none. */
export function removeAllCredentials(file: string): boolean {
  const doc = readDoc(file);
  if (!doc.auths || !Object.keys(doc.auths).length) return false;
  writeFileAtomic(file, JSON.stringify({ ...doc, auths: {} }, null, '\t') + '\n', 0o600);
  return true;
}
