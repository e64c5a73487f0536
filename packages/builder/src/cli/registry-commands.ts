/**
 * pull, push, login and logout: the registry commands. Output is docker's (pull's "Digest:"
 * and "Status:" lines and the full reference last; push's "The push refers to repository"
 * and "TAG: digest: ... size: N"); flags are podman's where docker has none (--tls-verify,
 * --authfile, --creds).
 */
import * as readline from 'readline';
import { Writable } from 'stream';
import { parsePlatform } from '../store/platform';
import { familiarReference, parseReference } from '../store/reference';
import { StoreError } from '../store/errors';
import type { Credentials } from '../registry/authfile';
import type { RegistryOptions } from '../registry/client';
import type { FlagSpec, CommandSpec, FlagValues } from './parse';
import { TransferView } from './progress';
import { compressionFlags, compressionFrom } from './compression-flags';
import { getContext } from './commands';

const REGISTRY_FLAGS: FlagSpec[] = [
  { name: 'tls-verify', type: 'boolean', default: true, describe: 'Require HTTPS and verify certificates (false: allow plain HTTP and any certificate); loopback registries may always use HTTP' },
  { name: 'authfile', type: 'string', describe: 'Path of the authentication file (default: $REGISTRY_AUTH_FILE, else $XDG_RUNTIME_DIR/containers/auth.json; ~/.docker/config.json is also read)' },
  { name: 'creds', type: 'string', describe: 'Credentials USERNAME:PASSWORD for the registry' },
];

function parseCreds(s: string): Credentials {
  const colon = s.indexOf(':');
  if (colon < 0) throw new StoreError('--creds: want USERNAME:PASSWORD');
  return { username: s.slice(0, colon), password: s.slice(colon + 1) };
}

function registryOptions(flags: FlagValues, view?: TransferView): RegistryOptions {
  return {
    tlsVerify: flags.tlsVerify !== false,
    authFile: flags.authfile !== undefined ? String(flags.authfile) : undefined,
    credentials: flags.creds !== undefined ? parseCreds(String(flags.creds)) : undefined,
    onRetry: view ? (what, attempt, e) => view.line(`Retrying in a moment (attempt ${attempt + 1}): ${what}: ${e.message}`) : undefined,
  };
}

const pull: CommandSpec = {
  name: 'pull',
  args: ['NAME[:TAG|@DIGEST]'],
  describe: 'Download an image from a registry',
  flags: [
    { name: 'quiet', alias: 'q', type: 'boolean', default: false, describe: 'Suppress verbose output' },
    { name: 'platform', type: 'string', describe: 'Platform of a multi-platform image (os/arch[/variant]; default: this host)' },
    ...REGISTRY_FLAGS,
  ],
  async run(flags, [name]) {
    const ctx = getContext();
    const { pullImage } = await import('../registry/pull');
    const ref = parseReference(name);
    const view = flags.quiet ? undefined : new TransferView(process.stdout, 'pull', `${ref.digest ?? ref.tag}: Pulling from ${ref.domain === 'docker.io' ? ref.path : `${ref.domain}/${ref.path}`}`);
    const store = ctx.store();
    const r = await pullImage(store, name, {
      ...registryOptions(flags, view),
      policy: 'always',
      platform: flags.platform ? parsePlatform(String(flags.platform)) : undefined,
      progress: view ? (e) => view.event(e) : undefined,
    });
    view?.finish();
    const short = familiarReference(ref);
    if (view) {
      ctx.out(`Digest: ${r.digest}\n`);
      ctx.out(r.pulled ? `Status: Downloaded newer image for ${short}\n` : `Status: Image is up to date for ${short}\n`);
    }
    ctx.out(`${r.reference}\n`);
  },
};

const push: CommandSpec = {
  name: 'push',
  args: ['NAME[:TAG]', '[DESTINATION]'],
  describe: 'Upload an image to a registry (to DESTINATION, default NAME itself)',
  flags: [{ name: 'quiet', alias: 'q', type: 'boolean', default: false, describe: 'Suppress verbose output' }, ...compressionFlags('default gzip'), ...REGISTRY_FLAGS],
  async run(flags, [source, dest]) {
    const ctx = getContext();
    const { pushImage, pushDestination } = await import('../registry/push');
    // bad flags fail here, before the store or the registry is touched
    const compression = compressionFrom(flags, 'gzip');
    const target = pushDestination(source, dest);
    const store = ctx.store();
    store.find(source); // "No such image" before anything is printed
    const view = flags.quiet ? undefined : new TransferView(process.stdout, 'push', `The push refers to repository [${target.domain}/${target.path}]`);
    const r = await pushImage(store, source, dest, { ...registryOptions(flags, view), compression, progress: view ? (e) => view.event(e) : undefined });
    view?.finish();
    ctx.out(`${target.tag ?? 'latest'}: digest: ${r.digest} size: ${r.size}\n`);
  },
};

/** Reads a line from the terminal; `hidden` does not echo it (a password). */
function prompt(question: string, hidden: boolean): Promise<string> {
  return new Promise((resolve) => {
    let muted = false;
    const output = new Writable({
      write(chunk, _enc, cb) {
        if (!muted) process.stderr.write(chunk);
        cb();
      },
    });
    const rl = readline.createInterface({ input: process.stdin, output, terminal: true });
    rl.question(question, (answer) => {
      rl.close();
      if (hidden) process.stderr.write('\n');
      resolve(answer);
    });
    muted = hidden;
  });
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

const login: CommandSpec = {
  name: 'login',
  args: ['[SERVER]'],
  describe: 'Log in to a registry (the credentials are checked, then saved in the auth file)',
  flags: [
    { name: 'username', alias: 'u', type: 'string', describe: 'Username' },
    { name: 'password', alias: 'p', type: 'string', describe: 'Password' },
    { name: 'password-stdin', type: 'boolean', default: false, describe: 'Take the password from stdin' },
    { name: 'tls-verify', type: 'boolean', default: true, describe: REGISTRY_FLAGS[0].describe },
    { name: 'authfile', type: 'string', describe: 'Path of the authentication file to write (default: $REGISTRY_AUTH_FILE, else $XDG_RUNTIME_DIR/containers/auth.json)' },
  ],
  async run(flags, [server]) {
    const ctx = getContext();
    const { login: doLogin, loginRegistry } = await import('../registry/login');
    const registry = loginRegistry(server);
    const tty = !!process.stdin.isTTY;
    let username = flags.username !== undefined ? String(flags.username) : undefined;
    let password = flags.password !== undefined ? String(flags.password) : undefined;
    if (flags.passwordStdin) {
      if (password !== undefined) throw new StoreError('--password and --password-stdin are mutually exclusive');
      if (username === undefined) throw new StoreError('must provide --username with --password-stdin');
      password = await readStdin();
    }
    if (username === undefined) {
      if (!tty) throw new StoreError('cannot prompt for a username without a terminal: use --username');
      username = (await prompt('Username: ', false)).trim();
    }
    if (password === undefined) {
      if (!tty) throw new StoreError('cannot prompt for a password without a terminal: use --password or --password-stdin');
      password = await prompt('Password: ', true);
    }
    await doLogin(registry, { username, password }, { tlsVerify: flags.tlsVerify !== false, authFile: flags.authfile !== undefined ? String(flags.authfile) : undefined });
    ctx.out('Login Succeeded!\n');
  },
};

const logout: CommandSpec = {
  name: 'logout',
  args: ['[SERVER]'],
  describe: 'Log out from a registry (remove its credentials from the auth file)',
  flags: [
    { name: 'all', alias: 'a', type: 'boolean', default: false, describe: 'Remove the credentials of every registry' },
    { name: 'authfile', type: 'string', describe: 'Path of the authentication file' },
  ],
  async run(flags, [server]) {
    const ctx = getContext();
    const { logout: doLogout } = await import('../registry/login');
    ctx.out(`${doLogout(server, { all: !!flags.all, authFile: flags.authfile !== undefined ? String(flags.authfile) : undefined })}\n`);
  },
};

export const REGISTRY_COMMANDS: CommandSpec[] = [pull, push, login, logout];
