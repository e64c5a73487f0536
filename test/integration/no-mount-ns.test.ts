/**
 * A config without a mount namespace: the container shares the runtime's mount table, as runc
 * allows (runtime-tools' linux_ns_itype runs such a container). Its mounts are made in that
 * table, under its root, and must all be gone after delete.
 *
 * The runtime runs in a throwaway mount namespace standing in for the host (nsenter into a
 * holder process's), so that what it mounts there, or what runc changes there, never reaches
 * the machine: killing the holder takes that namespace away with whatever is left in it. The
 * stand-in's / is either private, or shared as on a systemd host.
 */
import { ChildProcess, spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import {
  isRunc, itRunc, itTsrun, MountInfo, nsLinks, ok, parseMountinfo, pidAlive, readIf, RUNTIME, Spec, useSandbox, waitFor,
} from '../helpers/runtime';

const sb = useSandbox();

/** A process in a mount namespace of its own, which the runtime calls are made in. */
class StandInHost {
  private constructor(private readonly holder: ChildProcess, readonly pid: number) {}

  static async start(shared: boolean): Promise<StandInHost> {
    const script = `${shared ? 'mount --make-rshared / && ' : ''}echo ready && exec sleep 100000`;
    const holder = spawn('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', script], {
      cwd: '/',
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    holder.stdout!.on('data', (d) => (out += d));
    await waitFor(() => out.includes('ready') || holder.exitCode !== null, 'the stand-in host namespace');
    if (!out.includes('ready')) throw new Error(`unshare failed (exit ${holder.exitCode})`);
    return new StandInHost(holder, holder.pid!);
  }

  /** Sandbox.rt's `via`: the runtime, run in this namespace. */
  get via(): string[] {
    return ['nsenter', '-t', String(this.pid), '-m', '--', RUNTIME];
  }

  mountinfo(): MountInfo[] {
    return parseMountinfo(readIf(`/proc/${this.pid}/mountinfo`) ?? '');
  }

  /** Mounts of this namespace below the sandbox (state root, rootfs, bundles). */
  sandboxMounts(): string[] {
    return this.mountinfo()
      .map((m) => m.mountPoint)
      .filter((mp) => mp.startsWith(sb.dir + '/'));
  }

  async stop(): Promise<void> {
    this.holder.kill('SIGKILL');
    await waitFor(() => !pidAlive(this.pid), 'the stand-in host to go');
  }
}

/** The test spec without a mount namespace (nor the masked and read-only paths that need one). */
function noMountNs(s: Spec): void {
  s.linux.namespaces = s.linux.namespaces.filter((n: { type: string }) => n.type !== 'mount');
  delete s.linux.maskedPaths;
  delete s.linux.readonlyPaths;
}

describe.each([['private'], ['shared']])("without a mount namespace (the host's / %s)", (kind) => {
  let host: StandInHost;
  const ids: string[] = [];
  const rt = (args: string[]) => sb.rt(args, { via: host.via });
  const id = (name: string) => {
    const i = sb.id(name);
    ids.push(i);
    return i;
  };

  beforeEach(async () => {
    host = await StandInHost.start(kind === 'shared');
  });

  afterEach(async () => {
    // In the stand-in, where the mounts are; the sandbox's own checks follow.
    for (const i of ids.splice(0)) rt(['delete', '--force', i]);
    await host.stop();
  });

  /** create + start `args` (detached); returns the container's host pid. */
  async function started(name: string, args: string[], edit?: (s: Spec) => void): Promise<{ id: string; pid: number }> {
    const i = id(name);
    ok(rt(['create', '--bundle', sb.bundle(args, (s) => (noMountNs(s), edit?.(s))), i]));
    const pid = JSON.parse(ok(rt(['state', i])).stdout).pid as number;
    ok(rt(['start', i]));
    await waitFor(() => readIf(`/proc/${pid}/cmdline`)?.startsWith(args[0]), `container ${i} to exec ${args[0]}`);
    return { id: i, pid };
  }

  it("the container shares the runtime's mount namespace, chrooted into its rootfs, its mounts made there", async () => {
    const { pid } = await started('share', ['sleep', '1000']);
    expect(nsLinks(pid).mnt).toBe(nsLinks(host.pid).mnt);
    // Its root is the rootfs (a bind of it, for tsrun), not the host's /.
    const root = fs.statSync(`/proc/${pid}/root`);
    const rootfs = fs.statSync(sb.rootfs);
    expect([root.dev, root.ino]).toEqual([rootfs.dev, rootfs.ino]);
    const inside = parseMountinfo(readIf(`/proc/${pid}/mountinfo`) ?? '');
    const rootLine = inside.find((m) => m.mountPoint === '/');
    expect(rootLine?.root).toBe(sb.rootfs);
    for (const [mp, type] of [['/proc', 'proc'], ['/dev', 'tmpfs'], ['/dev/pts', 'devpts'], ['/sys', 'sysfs']]) {
      expect([mp, inside.find((m) => m.mountPoint === mp)?.fsType]).toEqual([mp, type]);
    }
    // The same mounts, in the host's table.
    expect(host.mountinfo().filter((m) => m.fsType === 'devpts' && m.mountPoint.startsWith(sb.dir + '/'))).toHaveLength(1);
  });

  it('runtime-tools linux_ns_itype: with no namespaces at all, each of the 7 is the runtime\'s', async () => {
    // runtime-tools' generated config with every namespace and the hostname removed.
    const { pid } = await started('itype', ['sleep', '1000'], (s) => {
      s.linux.namespaces = [];
      delete s.hostname;
      s.mounts = s.mounts.filter((m: { type: string }) => m.type !== 'cgroup');
    });
    const runtimeNs: Record<string, string> = { ...nsLinks(process.pid), mnt: nsLinks(host.pid).mnt };
    const ns = nsLinks(pid);
    for (const t of ['cgroup', 'ipc', 'mnt', 'net', 'pid', 'user', 'uts']) expect([t, ns[t]]).toEqual([t, runtimeNs[t]]);
  });

  it('delete takes every mount of the container away (runc 1.1.5 leaves them all)', async () => {
    const { id: i } = await started('gone', ['sleep', '1000']);
    expect(host.sandboxMounts().length).toBeGreaterThan(5);
    ok(rt(['kill', i, 'KILL']));
    await waitFor(() => JSON.parse(ok(rt(['state', i])).stdout).status === 'stopped', 'the container to stop');
    ok(rt(['delete', i]));
    if (isRunc) expect(host.sandboxMounts()).toContain(path.join(sb.rootfs, 'proc'));
    else expect(host.sandboxMounts()).toEqual([]);
  });

  it('delete --force of a running container too', async () => {
    const { id: i, pid } = await started('force', ['sleep', '1000']);
    const before = host.sandboxMounts().length;
    ok(rt(['delete', '--force', i]));
    expect(pidAlive(pid)).toBe(false);
    expect(host.sandboxMounts().length).toBe(isRunc ? before : 0);
  });

  it('run, and a create that fails after the mounts, leave nothing mounted either', async () => {
    const r = rt(['run', '--bundle', sb.bundle(['sh', '-c', 'grep -c " /dev/pts " /proc/self/mountinfo'], noMountNs), id('run')]);
    expect(ok(r).stdout).toBe('1\n');
    const failed = rt(['create', '--bundle', sb.bundle(['/no/such/program'], noMountNs), id('fail')]);
    expect(failed.code).not.toBe(0);
    expect(failed.stderr).toMatch(/no such file or directory/i);
    if (isRunc) expect(host.sandboxMounts().length).toBeGreaterThan(0);
    else expect(host.sandboxMounts()).toEqual([]);
  });

  it('root.readonly: the root is read-only for tsrun (runc 1.1.5 skips it without a mount namespace)', () => {
    const r = ok(rt(['run', '--bundle', sb.bundle(['sh', '-c', 'touch /ro-probe 2>&1; echo $?'], noMountNs), id('ro')]));
    if (isRunc) {
      expect(r.stdout).toBe('0\n');
      fs.rmSync(path.join(sb.rootfs, 'ro-probe'), { force: true });
    } else {
      expect(r.stdout).toMatch(/Read-only file system\n1\n$/);
    }
    expect(fs.existsSync(path.join(sb.rootfs, 'ro-probe'))).toBe(false);
  });

  itTsrun("exec: the process is chrooted into the container's root, as init is", async () => {
    const { id: i } = await started('exec', ['sleep', '1000']);
    const r = ok(rt(['exec', '--cwd', '/bin', i, 'sh', '-c', `pwd; readlink /proc/self/root; ls -d /bin/busybox; test -e ${sb.dir}; echo $?`]));
    // The sandbox directory is on the host, out of the container's sight.
    expect(r.stdout.split('\n')).toEqual(['/bin', '/', '/bin/busybox', '1', '']);
  });

  itRunc("exec: runc 1.1.5 leaves the process at the runtime's own root (what tsrun does not do)", async () => {
    const { id: i } = await started('execr', ['sleep', '1000']);
    const r = ok(rt(['exec', i, 'readlink', '/proc/self/root']));
    expect(r.stdout).toBe('/\n');
    // Its / is the host's: the bundle directory of the sandbox is there.
    expect(ok(rt(['exec', i, 'ls', '-d', sb.dir])).stdout).toBe(`${sb.dir}\n`);
  });

  itTsrun('--no-pivot changes nothing: a chroot either way, the host keeps its /proc and /sys', () => {
    const r = ok(rt(['run', '--no-pivot', '--bundle', sb.bundle(['readlink', '/proc/self/root'], noMountNs), id('np')]));
    expect(r.stdout).toBe('/\n');
    const mps = host.mountinfo().map((m) => m.mountPoint);
    expect(mps).toEqual(expect.arrayContaining(['/proc', '/sys']));
    expect(host.sandboxMounts()).toEqual([]);
  });
});

describe('without a mount namespace, what would change the host is refused', () => {
  it("maskedPaths and readonlyPaths (runc's words)", async () => {
    for (const edit of [(s: Spec) => delete s.linux.readonlyPaths, (s: Spec) => delete s.linux.maskedPaths]) {
      const r = sb.run(sb.id('mask'), sb.bundle(['true'], (s) => {
        s.linux.namespaces = s.linux.namespaces.filter((n: { type: string }) => n.type !== 'mount');
        edit(s);
      }));
      await sb.expectRefused(r, /unable to restrict sys entries without a private MNT namespace/);
    }
  });

  // runc applies the value to the host's / and makes the mount holding the rootfs private.
  itTsrun('rootfsPropagation', async () => {
    const r = sb.run(sb.id('prop'), sb.bundle(['true'], (s) => {
      noMountNs(s);
      s.linux.rootfsPropagation = 'rshared';
    }));
    await sb.expectRefused(r, /rootfsPropagation is set but the config has no mount namespace/);
  });
});
