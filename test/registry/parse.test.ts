/**
 * The registry client's parsing, without a registry: references as docker reads them and
 * where they are fetched from, WWW-Authenticate challenges, and credential lookup in
 * docker's and podman's auth files (key forms docker and podman write).
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { formatReference, parseReference } from '../../packages/builder/src/store/reference';
import { allowsInsecure, registryHost } from '../../packages/builder/src/registry/endpoint';
import { parseChallenge } from '../../packages/builder/src/registry/auth';
import { authFileForWrite, authFilesForRead, findCredentials, normaliseKey, removeCredentials, storeCredentials } from '../../packages/builder/src/registry/authfile';
import { loginRegistry } from '../../packages/builder/src/registry/login';

describe('references and registry hosts', () => {
  it.each([
    ['debian:bookworm', 'docker.io/library/debian:bookworm', 'registry-1.docker.io', 'library/debian'],
    ['node:20-alpine', 'docker.io/library/node:20-alpine', 'registry-1.docker.io', 'library/node'],
    ['bitnami/redis', 'docker.io/bitnami/redis:latest', 'registry-1.docker.io', 'bitnami/redis'],
    ['index.docker.io/library/alpine:3', 'docker.io/library/alpine:3', 'registry-1.docker.io', 'library/alpine'],
    ['quay.io/podman/stable:v4', 'quay.io/podman/stable:v4', 'quay.io', 'podman/stable'],
    ['localhost:5000/app', 'localhost:5000/app:latest', 'localhost:5000', 'app'],
    ['localhost/app:1', 'localhost/app:1', 'localhost', 'app'],
    ['127.0.0.1:5000/a/b/c:x', '127.0.0.1:5000/a/b/c:x', '127.0.0.1:5000', 'a/b/c'],
    ['[::1]:5000/app:1', '[::1]:5000/app:1', '[::1]:5000', 'app'],
    [`ghcr.io/o/r@sha256:${'b'.repeat(64)}`, `ghcr.io/o/r@sha256:${'b'.repeat(64)}`, 'ghcr.io', 'o/r'],
  ])('%s is %s, fetched from %s as %s', (input, full, host, repo) => {
    const r = parseReference(input);
    expect(formatReference(r)).toBe(full);
    expect(registryHost(r.domain)).toBe(host);
    expect(r.path).toBe(repo);
  });

  it('allows plain HTTP only for loopback registries and those the user lists', () => {
    expect(allowsInsecure('localhost:5000', {})).toBe(true);
    expect(allowsInsecure('127.0.0.1:5000', {})).toBe(true);
    expect(allowsInsecure('127.1.2.3', {})).toBe(true);
    expect(allowsInsecure('[::1]:5000', {})).toBe(true);
    expect(allowsInsecure('docker.io', {})).toBe(false);
    expect(allowsInsecure('registry.lan:5000', {})).toBe(false);
    expect(allowsInsecure('localhost.example.com', {})).toBe(false);
    expect(allowsInsecure('registry.lan:5000', { insecureRegistries: ['registry.lan:5000'] })).toBe(true);
    expect(allowsInsecure('registry.lan:5000', { tlsVerify: false })).toBe(true);
  });

  it.each([
    [undefined, 'docker.io'],
    ['docker.io', 'docker.io'],
    ['https://index.docker.io/v1/', 'docker.io'],
    ['registry-1.docker.io', 'docker.io'],
    ['localhost:5000', 'localhost:5000'],
    ['http://127.0.0.1:5000/v2/', '127.0.0.1:5000'],
    ['quay.io/team/app', 'quay.io'],
  ])('login %s logs into %s', (arg, registry) => {
    expect(loginRegistry(arg)).toBe(registry);
  });
});

describe('WWW-Authenticate challenges', () => {
  it('parses a bearer challenge with quoted parameters', () => {
    expect(parseChallenge('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"')).toEqual({
      scheme: 'bearer',
      params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/busybox:pull' },
    });
  });

  it('parses basic, unquoted values, escapes and an error parameter', () => {
    expect(parseChallenge('Basic realm="test-realm"')).toEqual({ scheme: 'basic', params: { realm: 'test-realm' } });
    expect(parseChallenge('Bearer realm=https://r/t, service=s,error="insufficient_scope", scope="a b"')).toEqual({
      scheme: 'bearer',
      params: { realm: 'https://r/t', service: 's', error: 'insufficient_scope', scope: 'a b' },
    });
    expect(parseChallenge('Basic realm="say \\"hi\\""')!.params.realm).toBe('say "hi"');
    expect(parseChallenge(undefined)).toBeUndefined();
  });
});

describe('auth files', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsbuild-auth-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const b64 = (s: string) => Buffer.from(s).toString('base64');
  const write = (name: string, doc: unknown) => {
    const f = path.join(dir, name);
    fs.writeFileSync(f, JSON.stringify(doc));
    return f;
  };

  it("chooses podman's paths", () => {
    expect(authFileForWrite({ XDG_RUNTIME_DIR: '/run/user/1000' })).toBe('/run/user/1000/containers/auth.json');
    expect(authFileForWrite({ REGISTRY_AUTH_FILE: '/x/auth.json', XDG_RUNTIME_DIR: '/run/user/1000' })).toBe('/x/auth.json');
    expect(authFilesForRead(undefined, { XDG_RUNTIME_DIR: '/r', HOME: '/h' })).toEqual(['/r/containers/auth.json', '/h/.config/containers/auth.json', '/h/.docker/config.json']);
    expect(authFilesForRead(undefined, { XDG_RUNTIME_DIR: '/r', HOME: '/h', DOCKER_CONFIG: '/d' })[2]).toBe('/d/config.json');
    expect(authFilesForRead('/only.json', { XDG_RUNTIME_DIR: '/r' })).toEqual(['/only.json']);
  });

  it.each([
    ['https://index.docker.io/v1/', 'docker.io'],
    ['index.docker.io', 'docker.io'],
    ['docker.io', 'docker.io'],
    ['http://localhost:5000', 'localhost:5000'],
    ['https://quay.io/v2/', 'quay.io'],
    ['quay.io/team', 'quay.io/team'],
  ])('key %s names %s', (key, norm) => {
    expect(normaliseKey(key)).toBe(norm);
  });

  it("finds Docker Hub credentials under docker's key, and the most specific repository key first", () => {
    const docker = write('config.json', { auths: { 'https://index.docker.io/v1/': { auth: b64('hub:pw') }, 'quay.io': { auth: b64('q:1') }, 'quay.io/team': { auth: b64('team:2') } } });
    expect(findCredentials('docker.io', 'library/busybox', [docker])).toEqual({ username: 'hub', password: 'pw' });
    expect(findCredentials('quay.io', 'team/app', [docker])).toEqual({ username: 'team', password: '2' });
    expect(findCredentials('quay.io', 'other/app', [docker])).toEqual({ username: 'q', password: '1' });
    expect(findCredentials('ghcr.io', 'x/y', [docker])).toBeUndefined();
  });

  it('the first file with an entry wins; a password with colons survives', () => {
    const podman = write('auth.json', { auths: { 'localhost:5000': { auth: b64('pod:a:b:c') } } });
    const docker = write('config.json', { auths: { 'localhost:5000': { auth: b64('dock:x') } } });
    expect(findCredentials('localhost:5000', undefined, [path.join(dir, 'missing.json'), podman, docker])).toEqual({ username: 'pod', password: 'a:b:c' });
  });

  it('a broken file is a one-line error naming it', () => {
    const bad = path.join(dir, 'bad.json');
    fs.writeFileSync(bad, '{"auths": ');
    expect(() => findCredentials('x.io', undefined, [bad])).toThrow(new RegExp(`^${bad}: invalid credentials file: `));
    const notb64 = write('n.json', { auths: { 'x.io': { auth: b64('no-colon') } } });
    expect(() => findCredentials('x.io', undefined, [notb64])).toThrow(`${notb64}: the credentials for x.io are not base64 of "user:password"`);
  });

  it('store and remove keep the rest of the file; the file is 0600', () => {
    const f = write('auth.json', { auths: { 'https://index.docker.io/v1/': { auth: b64('old:1') }, 'other.io': { auth: b64('o:2') } }, credHelpers: { 'gcr.io': 'gcloud' } });
    storeCredentials(f, 'docker.io', { username: 'new', password: '3' });
    expect(JSON.parse(fs.readFileSync(f, 'utf8'))).toEqual({ auths: { 'other.io': { auth: b64('o:2') }, 'docker.io': { auth: b64('new:3') } }, credHelpers: { 'gcr.io': 'gcloud' } });
    expect(fs.statSync(f).mode & 0o777).toBe(0o600);
    expect(removeCredentials(f, 'docker.io')).toBe(true);
    expect(removeCredentials(f, 'docker.io')).toBe(false);
    expect(JSON.parse(fs.readFileSync(f, 'utf8')).auths).toEqual({ 'other.io': { auth: b64('o:2') } });
  });
});
