/**
 * The cgroup driver on this real host (as root): create a container cgroup with a unique
 * absolute path, limit it, put a `sleep` in it, check the kernel agrees (/proc/PID/cgroup and
 * the control files), freeze/thaw it, and destroy it. Every test cleans up after itself, also
 * when it fails: processes are killed and directories removed in afterEach.
 */
import { ChildProcess, spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { cgroupManagerFor, CgroupManager, detectMode, loadCgroupManager } from '../../packages/runtime/src/cgroups';
import { cgroupLayout, parseMountinfo } from '../../packages/runtime/src/cgroups/mountinfo';
import type { HostCgroups } from '../../packages/runtime/src/cgroups/host';

const isRoot = process.getuid?.() === 0;
const hasCgroups = fs.existsSync('/proc/self/mountinfo') && fs.readFileSync('/proc/self/mountinfo', 'utf8').includes(' - cgroup');
const maybe = isRoot && hasCgroups ? describe : describe.skip;

const MB64 = 64 * 1024 * 1024;

function read(dir: string, file: string): string {
  return fs.readFileSync(path.join(dir, file), 'utf8').trim();
}

/** The directory holding `controller`'s files (v1: its hierarchy; v2: the one dir). */
function dirOf(m: CgroupManager, controller: string): string {
  if (m.mode === 'v2') return m.dirs[''];
  const key = Object.keys(m.dirs).find((k) => k.split(',').includes(controller));
  if (!key) throw new Error(`no ${controller} hierarchy`);
  return m.dirs[key];
}

/** cgroupfs directories are removed with rmdir (their control files cannot be unlinked). */
function rmdirQuiet(dir: string): void {
  try {
    fs.rmdirSync(dir);
  } catch {
    /* gone already, or busy: nothing more a cleanup can do */
  }
}

function exited(child: ChildProcess, ms = 5000): Promise<NodeJS.Signals | number | null> {
  return new Promise((resolve, reject) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve(child.signalCode ?? child.exitCode);
    const t = setTimeout(() => reject(new Error(`pid ${child.pid} did not exit within ${ms} ms`)), ms);
    child.once('exit', (code, sig) => {
      clearTimeout(t);
      resolve(sig ?? code);
    });
  });
}

maybe('cgroups driver on this host', () => {
  let managers: CgroupManager[] = [];
  let children: ChildProcess[] = [];
  const unique = (tag: string): string => `/tsrun-test-${tag}-${process.pid}-${Date.now().toString(36)}`;

  function manager(cgroupsPath: string): CgroupManager {
    const m = cgroupManagerFor({ cgroupsPath, id: path.basename(cgroupsPath) });
    managers.push(m);
    return m;
  }

  function sleeper(): ChildProcess {
    const c = spawn('sleep', ['100'], { stdio: 'ignore' });
    children.push(c);
    return c;
  }

  afterEach(() => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    for (const m of managers) {
      try {
        m.destroy();
      } catch {
        // Last resort: leave no directory behind even if destroy() itself is what broke.
        for (const d of Object.values(m.dirs)) rmdirQuiet(d);
      }
    }
    managers = [];
    children = [];
  });

  test('the detected mode matches the mounts', () => {
    const mode = detectMode();
    const mi = fs.readFileSync('/proc/self/mountinfo', 'utf8');
    const v1 = / - cgroup cgroup /.test(mi);
    const v2 = / - cgroup2 /.test(mi);
    expect(mode).toBe(v1 && v2 ? 'hybrid' : v1 ? 'v1' : 'v2');
  });

  test('create, limit, join, freeze/thaw, destroy', async () => {
    const cgPath = unique('main');
    const m = manager(cgPath);
    expect(m.exists()).toBe(false);
    m.create();
    expect(m.exists()).toBe(true);
    for (const d of Object.values(m.dirs)) expect(fs.statSync(d).isDirectory()).toBe(true);

    m.apply({ memory: { limit: MB64 }, pids: { limit: 50 }, cpu: { quota: 50000, period: 100000 }, devices: [{ allow: false, access: 'rwm' }] }, { initial: true });
    if (m.mode === 'v2') {
      expect(read(m.dirs[''], 'memory.max')).toBe(String(MB64));
      expect(read(m.dirs[''], 'pids.max')).toBe('50');
      expect(read(m.dirs[''], 'cpu.max')).toBe('50000 100000');
    } else {
      expect(read(dirOf(m, 'memory'), 'memory.limit_in_bytes')).toBe(String(MB64));
      expect(read(dirOf(m, 'pids'), 'pids.max')).toBe('50');
      expect(read(dirOf(m, 'cpu'), 'cpu.cfs_quota_us')).toBe('50000');
      expect(read(dirOf(m, 'cpu'), 'cpu.cfs_period_us')).toBe('100000');
      // Deny-all plus runc's default allow-list.
      const list = read(dirOf(m, 'devices'), 'devices.list').split('\n');
      expect(list).toContain('c 1:3 rwm');
      expect(list).not.toContain('a *:* rwm');
    }

    const child = sleeper();
    const pid = child.pid!;
    m.join(pid);

    // The kernel's view: the container path in every hierarchy (absolute path: same everywhere).
    const lines = fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8').trim().split('\n');
    for (const l of lines) expect(l.slice(l.indexOf(':', l.indexOf(':') + 1) + 1)).toBe(cgPath);
    if (m.mode === 'hybrid') expect(lines).toContain(`0::${cgPath}`);
    expect(m.pids()).toEqual([pid]);
    expect(m.stats()).toMatchObject({ pids: { current: 1n } });

    m.freeze();
    expect(m.isFrozen()).toBe(true);
    if (m.mode === 'v2') {
      expect(read(m.dirs[''], 'cgroup.events')).toMatch(/^frozen 1$/m);
    } else {
      expect(read(dirOf(m, 'freezer'), 'freezer.state')).toBe('FROZEN');
      // v1 frozen tasks sit in the freezer's uninterruptible wait.
      expect(fs.readFileSync(`/proc/${pid}/status`, 'utf8')).toMatch(/^State:\s+D/m);
    }
    m.thaw();
    expect(m.isFrozen()).toBe(false);
    expect(fs.readFileSync(`/proc/${pid}/status`, 'utf8')).toMatch(/^State:\s+S/m);

    // A manager rebuilt from the saved state sees the same cgroup.
    const again = loadCgroupManager(m.save());
    expect(again.pids()).toEqual([pid]);

    m.destroy();
    expect(await exited(child)).toBe('SIGKILL');
    for (const d of Object.values(m.dirs)) expect(fs.existsSync(d)).toBe(false);
    expect(m.exists()).toBe(false);
    m.destroy(); // already gone: quiet
  });

  test('signalAll reaches every process; a paused container stays paused for non-fatal signals', async () => {
    const m = manager(unique('sig'));
    m.create();
    const a = sleeper();
    const b = sleeper();
    m.join(a.pid!);
    m.join(b.pid!);
    expect(m.pids()).toEqual([a.pid!, b.pid!].sort((x, y) => x - y));
    m.freeze();
    m.signalAll(15);
    expect(m.isFrozen()).toBe(true);
    m.thaw();
    expect(await exited(a)).toBe('SIGTERM');
    expect(await exited(b)).toBe('SIGTERM');
  });

  test('destroy also works on a paused (frozen) container', async () => {
    const m = manager(unique('frozen'));
    m.create();
    const a = sleeper();
    m.join(a.pid!);
    m.freeze();
    m.destroy();
    expect(await exited(a)).toBe('SIGKILL');
    for (const d of Object.values(m.dirs)) expect(fs.existsSync(d)).toBe(false);
  });

  test('a failed write is one line naming the file and the value', () => {
    const m = manager(unique('err'));
    m.create();
    let msg = '';
    try {
      m.apply({ cpu: { cpus: '9999' } });
    } catch (e) {
      msg = (e as Error).message;
    }
    expect(msg).toMatch(/^cgroup: write cpuset\.cpus=9999 in \/\S+: [a-z ]+$/);
    expect(msg).not.toContain('\n');
  });

  test('mount sources for the container view', () => {
    const m = manager(unique('mnt'));
    m.create();
    const sources = m.mountSources();
    if (m.mode === 'v2') {
      expect(sources).toEqual([{ controller: '', hostPath: m.dirs[''] }]);
      return;
    }
    // One per v1 hierarchy, named after the host mountpoint; never the cgroup2 dir (runc does not mount it).
    expect(sources.length).toBe(Object.keys(m.dirs).filter((k) => k !== '').length);
    for (const s of sources) {
      expect(fs.statSync(s.hostPath).isDirectory()).toBe(true);
      expect(s.controller).not.toBe('unified');
    }
  });
});

/**
 * The v2 driver, exercised on this host's cgroup2 tree whatever the mode (on a hybrid host that
 * is /sys/fs/cgroup/unified). It runs inside a private sub-tree that the test presents to the
 * driver as the mount root, so enabling controllers touches only our own directories.
 */
const unifiedMount = hasCgroups ? cgroupLayout(parseMountinfo(fs.readFileSync('/proc/self/mountinfo', 'utf8'))).unified : undefined;
(isRoot && unifiedMount ? describe : describe.skip)('cgroups v2 driver on this host\'s cgroup2 tree', () => {
  let testRoot = '';
  let m: CgroupManager | undefined;
  let children: ChildProcess[] = [];

  beforeEach(() => {
    testRoot = path.join(unifiedMount!.mountpoint, `tsrun-test-v2root-${process.pid}-${Date.now().toString(36)}`);
    fs.mkdirSync(testRoot);
    const host: HostCgroups = { mode: 'v2', layout: { v1: [], unified: { mountpoint: testRoot, root: '/' } }, own: new Map([['', '/']]) };
    m = cgroupManagerFor({ id: 'ctr', cgroupsPath: '/ctr', host });
  });

  afterEach(() => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    children = [];
    try {
      m?.destroy();
    } finally {
      rmdirQuiet(path.join(testRoot, 'ctr'));
      rmdirQuiet(testRoot);
    }
  });

  test('create, join, limits or a clear error, freeze/thaw, destroy', async () => {
    const mgr = m!;
    expect(mgr.mode).toBe('v2');
    const dir = mgr.dirs[''];
    expect(dir).toBe(path.join(testRoot, 'ctr'));
    mgr.create();
    expect(fs.statSync(dir).isDirectory()).toBe(true);

    const child = spawn('sleep', ['100'], { stdio: 'ignore' });
    children.push(child);
    mgr.join(child.pid!);
    const rel = '/' + path.relative(unifiedMount!.mountpoint, dir);
    expect(fs.readFileSync(`/proc/${child.pid}/cgroup`, 'utf8')).toMatch(new RegExp(`^0::${rel}$`, 'm'));
    expect(mgr.pids()).toEqual([child.pid]);

    const controllers = fs.readFileSync(path.join(dir, 'cgroup.controllers'), 'utf8').trim().split(/\s+/);
    if (controllers.includes('pids')) {
      mgr.apply({ pids: { limit: 50 } });
      expect(read(dir, 'pids.max')).toBe('50');
    } else {
      // e.g. a hybrid host, where pids is bound to its v1 hierarchy.
      expect(() => mgr.apply({ pids: { limit: 50 } })).toThrow(/^cgroup: cannot write pids\.max=50: the pids controller is not enabled in /);
    }

    mgr.freeze();
    expect(mgr.isFrozen()).toBe(true);
    expect(read(dir, 'cgroup.events')).toMatch(/^frozen 1$/m);
    mgr.thaw();
    expect(mgr.isFrozen()).toBe(false);

    mgr.destroy();
    expect(await exited(child)).toBe('SIGKILL');
    expect(fs.existsSync(dir)).toBe(false);
    mgr.destroy();
  });
});
