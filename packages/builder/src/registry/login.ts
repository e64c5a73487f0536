/**
 * `tsbuild login` / `logout` as podman does them: login checks the credentials against the
 * registry (GET /v2/ authenticated, through a token service if the registry uses one) before
 * writing them to the auth file (authfile.ts); logout removes them.
 */
import { parseReference } from '../store/reference';
import { StoreError } from '../store/errors';
import { authFileForWrite, dockerConfigFile, findCredentials, removeAllCredentials, removeCredentials, storeCredentials, type Credentials } from './authfile';
import { RegistryClient, type RegistryOptions } from './client';
import { AuthError } from './errors';

/** The registry a login names: "localhost:5000", "docker.io" (also from "https://host/v1/" or a repository). */
export function loginRegistry(arg: string | undefined): string {
  if (!arg) return 'docker.io';
  const s = arg.replace(/^[a-z]+:\/\//i, '').replace(/\/+$/, '').replace(/\/v[12]$/, '');
  const host = s.split('/')[0];
  if (host === 'index.docker.io' || host === 'registry-1.docker.io') return 'docker.io';
  if (!host.includes('.') && !host.includes(':') && host !== 'localhost') {
    // a bare word is a Docker Hub repository, not a registry
    return parseReference(s).domain;
  }
  return host;
}

export async function login(registry: string, creds: Credentials, opts: RegistryOptions & { authFile?: string } = {}): Promise<string> {
  if (!creds.username) throw new StoreError('username is empty');
  if (!creds.password) throw new StoreError('password is empty');
  const client = new RegistryClient(registry, [], { ...opts, credentials: creds });
  try {
    await client.checkLogin();
  } catch (e) {
    if (e instanceof AuthError) throw new StoreError(`logging into "${registry}": invalid username/password`);
    throw e;
  }
  const file = opts.authFile ?? authFileForWrite();
  storeCredentials(file, registry, creds);
  return file;
}

export function logout(registry: string | undefined, opts: { authFile?: string; all?: boolean } = {}): string {
  const file = opts.authFile ?? authFileForWrite();
  if (opts.all) {
    removeAllCredentials(file);
    return 'Removed login credentials for all registries';
  }
  const reg = loginRegistry(registry);
  if (removeCredentials(file, reg)) return `Removed login credentials for ${reg}`;
  if (!opts.authFile && findCredentials(reg, undefined, [dockerConfigFile()])) {
    throw new StoreError(`not logged into ${reg} with tsbuild. Existing credentials were established via docker login. Please use docker logout instead.`);
  }
  throw new StoreError(`not logged into ${reg}`);
}
