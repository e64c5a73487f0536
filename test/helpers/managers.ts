/**
 * What the manager tests (podman, containerd, Docker driving the runtime under test) share:
 * waiting on a condition without an event loop turn, running a command line on a terminal of
 * its own (script(1)), an image of a busybox rootfs as a docker archive, unmounting what a
 * manager left under its work directory, and what a systemd host changes: there the managers
 * use their systemd cgroup driver by default (as on real hosts), so the suites do too.
 */
import { spawnSync, SpawnSyncReturns } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { buildRootfs, parseMountinfo } from './runtime';

/**
 * Names for the containers a suite makes, unique to this process, each remembered in `made` so
 * that the suite's cleanup can remove them all.
 */
export function containerNamer(made: string[], prefix = 'tsrun'): (tag: string) => string {
  let counter = 0;
  return (tag) => {
    const n = `${prefix}-${process.pid}-${tag}-${++counter}`;
    made.push(n);
    return n;
  };
}

/** Polls `cond` every 50 ms until it holds (exceptions count as "not yet"). */
export function waitForSync(cond: () => boolean, what: string, timeoutMs = 30_000): void {
  const end = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (cond()) return;
    } catch {
      /* not yet */
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    spawnSync('sleep', ['0.05']);
  }
}

export function shellQuote(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** Runs argv on a new terminal (script(1)), as from a user's shell; `input` is typed into it. */
export function onTerminal(argv: string[], env: NodeJS.ProcessEnv = process.env, input = ''): SpawnSyncReturns<string> {
  return spawnSync('script', ['-qefc', argv.map(shellQuote).join(' '), '/dev/null'], { encoding: 'utf8', env, input, timeout: 60_000 });
}

/**
 * A docker archive at `<work>/image.tar` of a busybox rootfs tagged `image`, made by tsbuild
 * (its store under `<work>/images`): what managers load without a registry.
 */
export function busyboxImageArchive(work: string, image: string): string {
  const repo = path.resolve(__dirname, '../..');
  const rootfs = path.join(work, 'rootfs');
  buildRootfs(rootfs);
  const tar = path.join(work, 'rootfs.tar');
  const t = spawnSync('tar', ['-C', rootfs, '-cf', tar, '.']);
  if (t.status !== 0) throw new Error(`tar: ${t.stderr}`);
  const tsbuild = (args: string[]) => {
    const r = spawnSync(process.execPath, [path.join(repo, 'packages/builder/bin/tsbuild'), '--root', path.join(work, 'images'), ...args], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`tsbuild ${args.join(' ')}: ${r.stderr}`);
  };
  tsbuild(['import', tar, image]);
  const out = path.join(work, 'image.tar');
  tsbuild(['save', '-o', out, image]);
  return out;
}

/** Lazily unmounts everything mounted under `dir`, deepest first. */
export function unmountUnder(dir: string): void {
  for (const m of parseMountinfo(fs.readFileSync('/proc/self/mountinfo', 'utf8')).reverse()) {
    if (m.mountPoint.startsWith(dir)) spawnSync('umount', ['-l', m.mountPoint]);
  }
}

/**
 * systemd runs as this host's init (sd_booted(3): /run/systemd/system exists). podman, dockerd,
 * containerd's CRI and the kubelet then default to the systemd cgroup driver, and so do the
 * manager suites: the runtime gets --systemd-cgroup and a cgroupsPath of slice:prefix:name.
 */
export const systemdHost = fs.existsSync('/run/systemd/system');

/** The units systemd has loaded whose names match `pattern` (a glob), any state. */
export function systemdUnits(pattern: string): string[] {
  if (!systemdHost) return [];
  const r = spawnSync('systemctl', ['list-units', '--all', '--plain', '--no-legend', '--no-pager', pattern], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`systemctl list-units ${pattern}: ${r.stderr.trim()}`);
  return r.stdout.split('\n').map((l) => l.trim().split(/\s+/)[0]).filter(Boolean);
}

/** Stops transient units that a suite's manager left (a leak, asserted by the suite). */
export function stopUnits(units: string[]): void {
  if (units.length) spawnSync('systemctl', ['stop', ...units], { encoding: 'utf8' });
}
