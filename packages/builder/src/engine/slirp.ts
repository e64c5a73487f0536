/**
 * Outbound network access for a RUN step in a network namespace of its own, as `docker build`
 * gives: slirp4netns (what podman and buildah use for user-mode networking) opens a tap device
 * in the step's namespace and carries its traffic through sockets of the host's stack. It
 * needs no bridge, no iptables rules and no ip_forward, so the builder changes nothing on the
 * host. Inside, tap0 is 10.0.2.100/24, the gateway 10.0.2.2 and slirp's DNS forwarder 10.0.2.3.
 *
 * --disable-host-loopback: without it, 10.0.2.2 reaches the host's 127.0.0.1, and a
 * Dockerfile could talk to services that trust loopback. --enable-sandbox and --enable-seccomp
 * confine slirp4netns itself (it parses what the step sends, as root, on the host's network).
 * --exit-fd is a pipe only we hold: slirp4netns exits when we do, however we end.
 */
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

export const SLIRP_DNS = '10.0.2.3';

export const SLIRP_MISSING =
  'slirp4netns not found: the default network of RUN steps needs it (install the slirp4netns package); ' +
  'or build with --network=none (loopback only), or --network=host with --allow network.host';

let found: string | null | undefined;

/** slirp4netns on PATH (looked up once per process), or undefined. */
export function findSlirp(): string | undefined {
  if (found === undefined) {
    found = null;
    for (const dir of (process.env.PATH || '/usr/local/bin:/usr/bin:/bin').split(':')) {
      const p = path.join(dir || '.', 'slirp4netns');
      try {
        fs.accessSync(p, fs.constants.X_OK);
        if (fs.statSync(p).isFile()) {
          found = p;
          break;
        }
      } catch {
        /* not here */
      }
    }
  }
  return found ?? undefined;
}

export interface Slirp {
  /** Kills slirp4netns; resolves once it has exited. */
  stop(): Promise<void>;
}

/**
 * Starts slirp4netns for the network namespace of `pid` (a created container's init) and
 * resolves once it has configured tap0 there, so the step starts with its network up.
 */
export function startSlirp(pid: number, timeoutMs = 10_000): Promise<Slirp> {
  const bin = findSlirp();
  if (!bin) return Promise.reject(new Error(SLIRP_MISSING));
  const args = ['--configure', '--mtu=65520', '--disable-host-loopback', '--enable-sandbox', '--enable-seccomp', '--ready-fd=3', '--exit-fd=4', String(pid), 'tap0'];
  // fd 3: slirp4netns writes "1" once tap0 is configured; fd 4: its exit fd.
  const child = spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (b: Buffer) => void (stderr = (stderr + b.toString()).slice(-2000)));
  for (const s of [child.stdio[3], child.stdio[4]]) (s as NodeJS.EventEmitter).on('error', () => undefined);
  const exited = new Promise<void>((resolve) => {
    if (child.pid === undefined) resolve(); // never started (spawn failed)
    else child.once('close', () => resolve());
  });
  const slirp: Slirp = {
    stop: async () => {
      // Nothing to flush or undo: the namespace it serves goes with the step.
      if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
  return new Promise<Slirp>((resolve, reject) => {
    let settled = false;
    const settle = () => {
      if (settled) return false;
      settled = true;
      clearTimeout(timer);
      return true;
    };
    const fail = (why: string) => {
      if (!settle()) return;
      const last = stderr.trim().split('\n').filter((l) => !/^WARNING: /.test(l)).pop();
      void slirp.stop().then(() => reject(new Error(`slirp4netns: ${why}${last ? `: ${last}` : ''}`)));
    };
    const timer = setTimeout(() => fail(`not ready after ${timeoutMs} ms`), timeoutMs);
    child.on('error', (e) => fail(e.message));
    child.once('exit', (code, sig) => fail(`exited (${sig ?? `status ${code}`}) before the network was up`));
    (child.stdio[3] as NodeJS.ReadableStream).once('data', () => {
      if (settle()) resolve(slirp);
    });
  });
}
