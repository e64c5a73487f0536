/**
 * Registry authentication. Basic: docker-registry behind htpasswd (bcrypt) — push without
 * credentials, login with a wrong password, login (podman's auth.json), push and pull with
 * the saved credentials, credentials from docker's ~/.docker/config.json, logout. Bearer: a
 * token service (the test proxy) in front of a registry — anonymous pull tokens, push with
 * credentials exchanged for a token of the right scopes, a wrong password. Failures are one
 * line and leave no tag, and no auth file when login fails.
 */
import * as fs from 'fs';
import * as path from 'path';
import { LayoutWriter, busyboxTar, removeBusyboxTar, sha256, TSBUILD } from '../helpers/images';
import { FaultProxy, ok, run, TestRegistry, type Run } from '../helpers/registry';
import { useSandbox } from '../helpers/runtime';

const HOST = { os: 'linux', architecture: process.arch === 'x64' ? 'amd64' : process.arch };
const USER = { user: 'alice', password: 's3cret-pw' };
const sb = useSandbox();
let basic: TestRegistry;
let open: TestRegistry;
let bearer: FaultProxy;
let source: string;

/** tsbuild with a private HOME and XDG_RUNTIME_DIR (no credentials of the machine are read). */
function tsbuild(root: string, args: string[], env: NodeJS.ProcessEnv = {}, input?: string): Promise<Run> {
  return run(process.execPath, [TSBUILD, ...args], {
    env: { ...process.env, TSBUILD_ROOT: root, HOME: sb.path('home'), XDG_RUNTIME_DIR: sb.path('xdg'), REGISTRY_AUTH_FILE: '', DOCKER_CONFIG: '', TSBUILD_REGISTRY_RETRIES: '0', ...env },
    input,
  });
}

beforeAll(async () => {
  basic = await TestRegistry.start(USER);
  open = await TestRegistry.start();
  bearer = await FaultProxy.start(open.host, { ...USER, anonymousPull: true });
  fs.mkdirSync(sb.path('home'), { recursive: true });
  fs.mkdirSync(sb.path('xdg'), { recursive: true });
  source = sb.path('source');
  const w = new LayoutWriter(sb.path('layout'));
  w.tag(w.image([busyboxTar()], HOST, { Cmd: ['/bin/true'] }, true), 'app:1');
  w.finish();
  ok(await tsbuild(source, ['load', '-i', w.dir]));
});
afterAll(async () => {
  await bearer?.close();
  basic?.stop();
  open?.stop();
  removeBusyboxTar();
});
afterEach(() => {
  fs.rmSync(sb.path('xdg', 'containers'), { recursive: true, force: true });
  fs.rmSync(sb.path('home', '.docker'), { recursive: true, force: true });
});

async function localDigest(): Promise<string> {
  return JSON.parse(ok(await tsbuild(source, ['inspect', 'app:1'])).stdout)[0].Digest;
}

function authFile(): string {
  return sb.path('xdg', 'containers', 'auth.json');
}

describe('basic auth (htpasswd)', () => {
  it('push without credentials is a one-line error naming the way out', async () => {
    const r = await tsbuild(source, ['push', 'app:1', `${basic.host}/auth/app:1`]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`Error: ${basic.host}: unauthorized: authentication required (no credentials; log in with "tsbuild login ${basic.host}")\n`);
    const remote = await run('skopeo', ['inspect', '--raw', '--tls-verify=false', '--creds', `${USER.user}:${USER.password}`, `docker://${basic.host}/auth/app:1`]);
    expect(remote.code).not.toBe(0);
  });

  it('login with a wrong password fails and writes nothing', async () => {
    const r = await tsbuild(source, ['login', '-u', USER.user, '-p', 'wrong', basic.host]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`Error: logging into "${basic.host}": invalid username/password\n`);
    expect(fs.existsSync(authFile())).toBe(false);
  });

  it('login saves the credentials in auth.json; push and pull use them; logout removes them', async () => {
    const login = ok(await tsbuild(source, ['login', '-u', USER.user, '--password-stdin', basic.host], {}, `${USER.password}\n`));
    expect(login.stdout).toBe('Login Succeeded!\n');
    expect(fs.statSync(authFile()).mode & 0o777).toBe(0o600);
    expect(JSON.parse(fs.readFileSync(authFile(), 'utf8'))).toEqual({ auths: { [basic.host]: { auth: Buffer.from(`${USER.user}:${USER.password}`).toString('base64') } } });

    const pushed = ok(await tsbuild(source, ['push', 'app:1', `${basic.host}/auth/app:1`]));
    expect(pushed.stdout.trim().split('\n').pop()).toBe(`1: digest: ${await localDigest()} size: ${fs.statSync(path.join(source, 'blobs/sha256', (await localDigest()).slice(7))).size}`);
    const raw = ok(await run('skopeo', ['inspect', '--raw', '--tls-verify=false', '--creds', `${USER.user}:${USER.password}`, `docker://${basic.host}/auth/app:1`])).stdout;
    expect(sha256(raw)).toBe(await localDigest());

    const root = sb.path('pulled-basic');
    ok(await tsbuild(root, ['pull', '-q', `${basic.host}/auth/app:1`]));
    expect(JSON.parse(ok(await tsbuild(root, ['inspect', `${basic.host}/auth/app:1`])).stdout)[0].Digest).toBe(await localDigest());

    expect(ok(await tsbuild(source, ['logout', basic.host])).stdout).toBe(`Removed login credentials for ${basic.host}\n`);
    expect(JSON.parse(fs.readFileSync(authFile(), 'utf8'))).toEqual({ auths: {} });
    const again = await tsbuild(source, ['logout', basic.host]);
    expect(again.code).toBe(1);
    expect(again.stderr).toBe(`Error: not logged into ${basic.host}\n`);
  });

  it("reads docker's ~/.docker/config.json; wrong credentials there are a one-line error and no tag", async () => {
    ok(await tsbuild(source, ['push', '-q', '--creds', `${USER.user}:${USER.password}`, 'app:1', `${basic.host}/auth/docker-config:1`]));
    const dockerConfig = sb.path('home', '.docker', 'config.json');
    fs.mkdirSync(path.dirname(dockerConfig), { recursive: true });
    const write = (password: string) =>
      fs.writeFileSync(dockerConfig, JSON.stringify({ auths: { [`http://${basic.host}`]: { auth: Buffer.from(`${USER.user}:${password}`).toString('base64') } }, credsStore: '' }));

    write('wrong');
    const root = sb.path('pulled-docker-config');
    const bad = await tsbuild(root, ['pull', '-q', `${basic.host}/auth/docker-config:1`]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toBe(`Error: ${basic.host}: unauthorized: authentication required (user "alice", credentials from ${dockerConfig})\n`);
    expect(JSON.parse(fs.readFileSync(path.join(root, 'index.json'), 'utf8')).manifests).toEqual([]);
    expect(fs.readdirSync(path.join(root, 'blobs/sha256'))).toEqual([]);

    write(USER.password);
    ok(await tsbuild(root, ['pull', '-q', `${basic.host}/auth/docker-config:1`]));
    expect(ok(await tsbuild(root, ['fsck'])).stdout).toBe('');
    // logout does not touch docker's file, and says so
    const out = await tsbuild(root, ['logout', basic.host]);
    expect(out.stderr).toBe(`Error: not logged into ${basic.host} with tsbuild. Existing credentials were established via docker login. Please use docker logout instead.\n`);
  });

  it('--creds on the command line wins over the files', async () => {
    const r = await tsbuild(source, ['push', '--creds', `${USER.user}:nope`, 'app:1', `${basic.host}/auth/creds:1`]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`Error: ${basic.host}: unauthorized: authentication required (user "alice")\n`);
    ok(await tsbuild(source, ['push', '-q', '--creds', `${USER.user}:${USER.password}`, 'app:1', `${basic.host}/auth/creds:1`]));
  });
});

describe('bearer tokens (a token service in front of the registry)', () => {
  it('pulls anonymously with a pull token and pushes with a token for pull,push got with the credentials', async () => {
    const start = bearer.tokenRequests.length;
    const push = await tsbuild(source, ['push', 'app:1', `${bearer.host}/tok/app:1`]);
    expect(push.code).toBe(1);
    expect(push.stderr).toBe(`Error: ${bearer.host}: unauthorized: authentication required (no credentials; log in with "tsbuild login ${bearer.host}")\n`);

    const login = ok(await tsbuild(source, ['login', '-u', USER.user, '-p', USER.password, bearer.host]));
    expect(login.stdout).toBe('Login Succeeded!\n');
    ok(await tsbuild(source, ['push', 'app:1', `${bearer.host}/tok/app:1`]));
    const tokens = bearer.tokenRequests.slice(start);
    expect(tokens).toContainEqual({ scopes: ['repository:tok/app:pull,push'], account: 'alice', user: 'alice' });
    // the registry behind got it
    const raw = ok(await run('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${open.host}/tok/app:1`])).stdout;
    expect(sha256(raw)).toBe(await localDigest());

    // a pull with no credentials gets an anonymous pull token
    fs.rmSync(authFile());
    const before = bearer.tokenRequests.length;
    const root = sb.path('pulled-bearer');
    ok(await tsbuild(root, ['pull', '-q', `${bearer.host}/tok/app:1`]));
    expect(bearer.tokenRequests.slice(before)).toEqual([{ scopes: ['repository:tok/app:pull'], account: undefined, user: undefined }]);
    expect(JSON.parse(ok(await tsbuild(root, ['inspect', `${bearer.host}/tok/app:1`])).stdout)[0].Digest).toBe(await localDigest());
  });

  it('a wrong password is refused by the token service: one line, nothing written', async () => {
    const login = await tsbuild(source, ['login', '-u', USER.user, '-p', 'wrong', bearer.host]);
    expect(login.code).toBe(1);
    expect(login.stderr).toBe(`Error: logging into "${bearer.host}": invalid username/password\n`);
    expect(fs.existsSync(authFile())).toBe(false);
    const push = await tsbuild(source, ['push', '--creds', `${USER.user}:wrong`, 'app:1', `${bearer.host}/tok/wrong:1`]);
    expect(push.code).toBe(1);
    expect(push.stderr).toBe(`Error: ${bearer.host}: unauthorized: incorrect username or password (user "alice")\n`);
  });
});
