/**
 * `exec --cgroup`: the exec'd process runs in an existing sub-cgroup of the container's cgroup,
 * as with runc: `--cgroup PATH` for every hierarchy (the only form on cgroup v2),
 * `--cgroup CTRL[,CTRL]:PATH` (repeatable) per v1 controller. The sub-cgroups are made by the
 * test from the host inside the container's cgroup (the runtime never makes one); the process's
 * /proc/self/cgroup says where it landed. Refusals are one line, status 255, and leave no
 * process behind: the container's cgroup tree still holds init alone.
 *
 * Where runc 1.1.5 (Debian 12's) predates a check that later runc releases have, or does
 * something this runtime refuses on purpose, the test runs against tsrun only and says so.
 */
import * as fs from 'fs';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { detectMode } from '../../packages/runtime/src/cgroups';
import { removeCgroups } from '../helpers/cgroups';
import { isRunc, itTsrun, ok, parseMountinfo, pidAlive, useSandbox, waitFor } from '../helpers/runtime';

const sb = useSandbox();
const mode = detectMode();
const itV1 = mode === 'v2' ? it.skip : it;
const itV2 = mode === 'v2' ? it : it.skip;

/** One hierarchy the container's init is in: its key in /proc/PID/cgroup, its host dir, its path. */
interface Hierarchy {
  /** As in /proc/PID/cgroup: 'memory', 'cpu,cpuacct', 'name=systemd'; '' for cgroup2. */
  key: string;
  /** The container's directory on the host. */
  dir: string;
  /** The cgroup path /proc/PID/cgroup shows. */
  path: string;
}

/** Sub-cgroup dirs a test made, removed (with what is in them) after each test. */
let made: string[] = [];
/** Mount points a test made in a cgroup, unmounted in the test's finally and here. */
let mounted: string[] = [];

afterEach(() => {
  for (const mp of mounted.splice(0).reverse()) spawnSync('umount', ['-l', mp], { stdio: 'ignore' });
  const r = removeCgroups(made.splice(0), { subtree: true });
  expect(r.left).toEqual([]);
});

/** /proc/PID/cgroup as key -> path. */
function cgroupLines(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.trim().split('\n')) {
    const a = line.indexOf(':');
    const b = line.indexOf(':', a + 1);
    if (a > 0 && b > a) out.set(line.slice(a + 1, b), line.slice(b + 1));
  }
  return out;
}

/** The hierarchies of the container (those where init's cgroup is the container's own, named after its id). */
function hierarchies(id: string, pid: number): Hierarchy[] {
  const mounts = parseMountinfo(fs.readFileSync('/proc/self/mountinfo', 'utf8')).filter((m) => m.fsType === 'cgroup' || m.fsType === 'cgroup2');
  const out: Hierarchy[] = [];
  for (const [key, p] of cgroupLines(fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8'))) {
    if (path.basename(p) !== id) continue;
    const m = key === '' ? mounts.find((x) => x.fsType === 'cgroup2') : mounts.find((x) => x.fsType === 'cgroup' && key.split(',').every((c) => x.superOptions.includes(c)));
    if (!m) continue;
    out.push({ key, dir: path.join(m.mountPoint, path.relative(m.root, p)), path: p });
  }
  expect(out.length).toBeGreaterThan(0);
  return out;
}

/**
 * mkdir -p `rel` below the container's dir in each of `hs`; a v1 cpuset gets its parent's cpus
 * and mems at each level (a new one has none, and takes no task until it has both).
 */
function makeSub(hs: Hierarchy[], rel: string): void {
  for (const h of hs) {
    let dir = h.dir;
    for (const part of rel.split('/')) {
      const parent = dir;
      dir = path.join(dir, part);
      if (!fs.existsSync(dir)) {
        fs.mkdirSync(dir);
        made.push(dir);
      }
      if (h.key.split(',').includes('cpuset')) {
        for (const f of ['cpuset.cpus', 'cpuset.mems']) {
          if (fs.readFileSync(path.join(dir, f), 'utf8').trim() === '') fs.writeFileSync(path.join(dir, f), fs.readFileSync(path.join(parent, f), 'utf8').trim());
        }
      }
    }
  }
}

/** Hierarchies holding one of `controllers`. */
function withControllers(hs: Hierarchy[], controllers: string[]): Hierarchy[] {
  return hs.filter((h) => h.key.split(',').some((c) => controllers.includes(c)));
}

async function running(): Promise<{ id: string; pid: number; hs: Hierarchy[] }> {
  const id = sb.id('excg');
  const pid = await sb.startDetached(id, sb.bundle(['sleep', '1000']));
  return { id, pid, hs: hierarchies(id, pid) };
}

function exec(id: string, flags: string[], args: string[] = ['cat', '/proc/self/cgroup']) {
  return sb.rt(['exec', ...flags, id, ...args]);
}

/** What /proc/self/cgroup of a process in `where(h)` below the container's cgroup shows. */
function expected(pid: number, hs: Hierarchy[], where: (h: Hierarchy) => string): Map<string, string> {
  const want = cgroupLines(fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8'));
  for (const h of hs) {
    const rel = where(h);
    if (rel) want.set(h.key, `${h.path}/${rel}`);
  }
  return want;
}

/**
 * The processes in a cgroup tree, read on the host. A threaded cgroup cannot list processes
 * (EOPNOTSUPP; its threaded domain lists them), only threads: those count too.
 */
function pidsIn(dir: string): number[] {
  const out: number[] = [];
  let text = '';
  try {
    text = fs.readFileSync(path.join(dir, 'cgroup.procs'), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOTSUP') throw e;
    try {
      text = fs.readFileSync(path.join(dir, 'cgroup.threads'), 'utf8');
    } catch (e2) {
      // "domain invalid": no processes, no threads.
      if ((e2 as NodeJS.ErrnoException).code !== 'ENOTSUP') throw e2;
    }
  }
  for (const l of text.split('\n')) if (l) out.push(Number(l));
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) out.push(...pidsIn(path.join(dir, e.name)));
  return out;
}

/**
 * Nothing but init is left in the container's cgroups, sub-cgroups included (read on the host:
 * runc 1.1.5's `ps` fails on a v2 tree with a threaded cgroup in it).
 */
function onlyInit(pid: number, hs: Hierarchy[]): void {
  for (const h of hs) expect([...new Set(pidsIn(h.dir))]).toEqual([pid]);
}

/** A refusal: status 255, one line on stderr with `message`, nothing on stdout, no process left. */
function refused(r: ReturnType<typeof exec>, message: RegExp, c: { id: string; pid: number; hs: Hierarchy[] }): void {
  expect({ code: r.code, stdout: r.stdout }).toEqual({ code: 255, stdout: '' });
  const lines = r.stderr.trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/exec failed: /);
  expect(lines[0]).toMatch(message);
  onlyInit(c.pid, c.hs);
}

describe('exec --cgroup PATH', () => {
  it('runs the process in the sub-cgroup of every hierarchy', async () => {
    const { id, pid, hs } = await running();
    makeSub(hs, 'sub');
    const want = expected(pid, hs, () => 'sub');
    expect(cgroupLines(ok(exec(id, ['--cgroup', 'sub'])).stdout)).toEqual(want);
    // The same path, spelt otherwise: relative to the container's cgroup whatever the slashes.
    for (const spelt of ['/sub', 'sub/', './sub', 'x/../sub']) {
      expect(cgroupLines(ok(exec(id, ['--cgroup', spelt])).stdout)).toEqual(want);
    }
  });

  it('"/" and "" are the container cgroup itself; nested sub-cgroups work too', async () => {
    const { id, pid, hs } = await running();
    const top = fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8');
    expect(cgroupLines(ok(exec(id, ['--cgroup', '/'])).stdout)).toEqual(cgroupLines(top));
    expect(cgroupLines(ok(exec(id, ['--cgroup', ''])).stdout)).toEqual(cgroupLines(top));
    makeSub(hs, 'a/b');
    expect(cgroupLines(ok(exec(id, ['--cgroup', 'a/b'])).stdout)).toEqual(expected(pid, hs, () => 'a/b'));
  });

  it('a detached process in a sub-cgroup is the container\'s: ps lists it, delete kills it and removes the sub-cgroup', async () => {
    const { id, pid, hs } = await running();
    makeSub(hs, 'sub');
    const pidFile = sb.path('sub.pid');
    ok(exec(id, ['--detach', '--pid-file', pidFile, '--cgroup', 'sub'], ['sleep', '500']));
    const epid = Number(fs.readFileSync(pidFile, 'utf8'));
    expect(cgroupLines(fs.readFileSync(`/proc/${epid}/cgroup`, 'utf8'))).toEqual(expected(pid, hs, () => 'sub'));
    const pids = JSON.parse(ok(sb.rt(['ps', '--format', 'json', id])).stdout) as number[];
    expect(pids.sort((a, b) => a - b)).toEqual([pid, epid].sort((a, b) => a - b));
    ok(sb.rt(['delete', '--force', id]));
    await waitFor(() => !pidAlive(epid), 'the process in the sub-cgroup to die');
    for (const h of hs) expect(fs.existsSync(h.dir)).toBe(false);
  });

  it('refuses a sub-cgroup that does not exist (it is never created)', async () => {
    const c = await running();
    refused(exec(c.id, ['--cgroup', 'nonexistent']), /nonexistent.*o such file or directory/, c);
    for (const h of c.hs) expect(fs.existsSync(path.join(h.dir, 'nonexistent'))).toBe(false);
  });

  it('refuses a path out of the container cgroup', async () => {
    const c = await running();
    for (const p of ['..', '../..', 'a/../..', '/..']) {
      // runc 1.1.5: ".. is not a sub cgroup path"; later runc and tsrun: "bad sub cgroup path: ..".
      refused(exec(c.id, ['--cgroup', p]), /sub cgroup path/, c);
    }
  });

  itTsrun('refuses a sibling cgroup whose name starts with the container\'s (runc 1.1.5 joins it)', async () => {
    const c = await running();
    // "<id>-sibling" beside the container's cgroup: a string prefix check lets it through.
    // (Removed here, not after the test: the sandbox would count it as a leaked cgroup first.)
    const parents = c.hs.map((h) => ({ ...h, dir: path.dirname(h.dir) }));
    const before = made.length;
    makeSub(parents, `${c.id}-sibling`);
    const siblings = made.splice(before);
    try {
      refused(exec(c.id, ['--cgroup', `../${c.id}-sibling`]), /bad sub cgroup path: \.\.\//, c);
      // Lexically back inside, but through the parent: refused too.
      makeSub(c.hs, 'sub');
      refused(exec(c.id, ['--cgroup', `../${c.id}/sub`]), /bad sub cgroup path/, c);
    } finally {
      expect(removeCgroups(siblings).left).toEqual([]);
    }
  });

  it('refuses a path combined with other --cgroup values', async () => {
    const c = await running();
    refused(exec(c.id, ['--cgroup', 'a', '--cgroup', 'b']), /invalid --cgroup argument: a \(missing <controller>: prefix\)/, c);
  });

  it('refuses exec in a paused container, --cgroup or not', async () => {
    const c = await running();
    makeSub(c.hs, 'sub');
    ok(sb.rt(['pause', c.id]));
    try {
      refused(exec(c.id, ['--cgroup', 'sub'], ['true']), /cannot exec in a paused container \(use --ignore-paused to override\)/, c);
    } finally {
      ok(sb.rt(['resume', c.id]));
    }
  });

  it('a "domain invalid" cgroup2 sub-cgroup (a threaded sibling) is refused by the kernel, in one line', async () => {
    const c = await running();
    const unified = c.hs.find((h) => h.key === '');
    if (!unified) return; // a v1 host without a cgroup2 hierarchy for the container
    makeSub(c.hs, 'tsx/t2');
    makeSub([unified], 'tsx/t1');
    fs.writeFileSync(path.join(unified.dir, 'tsx/t1/cgroup.type'), 'threaded');
    expect(fs.readFileSync(path.join(unified.dir, 'tsx/t2/cgroup.type'), 'utf8').trim()).toBe('domain invalid');
    refused(exec(c.id, ['--cgroup', 'tsx/t2']), /operation not supported/, c);
  });
});

describe('exec --cgroup CONTROLLER[,CONTROLLER]:PATH (cgroup v1)', () => {
  itV1('each controller in its own sub-cgroup, the others in the container cgroup', async () => {
    const { id, pid, hs } = await running();
    const cpuMem = withControllers(hs, ['cpu', 'memory']);
    const pids = withControllers(hs, ['pids']);
    makeSub(cpuMem, 'sub');
    makeSub(pids, 'other');
    const where = (h: Hierarchy) => (cpuMem.includes(h) ? 'sub' : pids.includes(h) ? 'other' : '');
    const out = ok(exec(id, ['--cgroup', 'cpu,memory:sub', '--cgroup', 'pids:other'])).stdout;
    expect(cgroupLines(out)).toEqual(expected(pid, hs, where));
    // The cgroup2 line (hybrid) and the unnamed controllers stay where init is.
    if (hs.some((h) => h.key === '')) expect(cgroupLines(out).get('')).toBe(cgroupLines(fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8')).get(''));
    // A named hierarchy (name=systemd) is addressed by its name.
    const named = hs.find((h) => h.key.startsWith('name='));
    if (named) {
      makeSub([named], 'sub');
      expect(cgroupLines(ok(exec(id, ['--cgroup', `${named.key}:sub`])).stdout)).toEqual(expected(pid, hs, (h) => (h === named ? 'sub' : '')));
    }
  });

  itV1('refuses a sub-cgroup missing in a named controller', async () => {
    const c = await running();
    refused(exec(c.id, ['--cgroup', 'cpu:nonexistent']), /nonexistent.*o such file or directory/, c);
    refused(exec(c.id, ['--cgroup', 'cpu:../..']), /sub cgroup path/, c);
  });

  it('refuses an unknown controller', async () => {
    const c = await running();
    refused(exec(c.id, ['--cgroup', 'whaaat:/'], ['true']), /unknown controller whaaat/, c);
  });

  itV2('on cgroup v2 a controller prefix is an unknown controller', async () => {
    const c = await running();
    makeSub(c.hs, 'sub');
    refused(exec(c.id, ['--cgroup', 'memory:sub'], ['true']), /unknown controller memory/, c);
  });

  itTsrun('refuses malformed values that runc 1.1.5 lets through (later runc refuses them, in these words)', async () => {
    const c = await running();
    refused(exec(c.id, ['--cgroup', ',cpu:sub']), /invalid --cgroup argument: ,cpu:sub \(empty <controller> prefix\)/, c);
    refused(exec(c.id, ['--cgroup', 'cpu,,memory:sub']), /\(empty <controller> prefix\)/, c);
    refused(exec(c.id, ['--cgroup', ':sub']), /\(empty <controller> prefix\)/, c);
    refused(exec(c.id, ['--cgroup', 'pids:a', '--cgroup', 'pids:b']), /invalid --cgroup argument\(s\): controller pids specified multiple times/, c);
  });

  itTsrun('refuses two sub-cgroups for controllers of one hierarchy', async () => {
    const c = await running();
    const comount = c.hs.find((h) => h.key.includes(',') && !h.key.startsWith('name='));
    if (!comount) return; // no comounted controllers here (cpu and cpuacct apart)
    const [a, b] = comount.key.split(',');
    makeSub([comount], 'x');
    makeSub([comount], 'y');
    refused(exec(c.id, ['--cgroup', `${a}:x`, '--cgroup', `${b}:y`]), new RegExp(`controllers ${a} and ${b} share one hierarchy`), c);
  });
});

describe('hostile sub-cgroup paths', () => {
  // runc 1.1.5 opens DIR/cgroup.procs beneath /sys/fs/cgroup, through mounts and symlinks:
  // with a tmpfs over the sub-cgroup it writes the pid into a plain file there and the process
  // stays in runc's own cgroup, outside the container's.
  itTsrun('a filesystem mounted over a sub-cgroup is not a cgroup: refused, symlinks in it too', async () => {
    const c = await running();
    // A tmpfs over mnt in one hierarchy; in the others mnt/link is a real sub-cgroup, so that
    // whichever hierarchy is walked first, the mounted one is met.
    const [h, ...others] = c.hs;
    makeSub(c.hs, 'mnt');
    makeSub(c.hs, 'other');
    makeSub(others, 'mnt/link');
    const mp = path.join(h.dir, 'mnt');
    expect(spawnSync('mount', ['-t', 'tmpfs', 'tsrun-test', mp], { encoding: 'utf8' })).toMatchObject({ status: 0, stderr: '' });
    mounted.push(mp);
    try {
      for (const f of ['cgroup.procs', 'tasks']) fs.writeFileSync(path.join(mp, f), '');
      fs.symlinkSync('../other', path.join(mp, 'link'));
      refused(exec(c.id, ['--cgroup', 'mnt']), /another filesystem is mounted there/, c);
      refused(exec(c.id, ['--cgroup', 'mnt/link']), /another filesystem is mounted there/, c);
      expect(fs.readFileSync(path.join(mp, 'cgroup.procs'), 'utf8')).toBe('');
    } finally {
      spawnSync('umount', [mp], { stdio: 'ignore' });
      mounted = mounted.filter((m) => m !== mp);
    }
  });
});

describe('cgroup v2: only leaves hold processes', () => {
  // The container's init moves to <ctr>/init, so that <ctr> may enable the memory controller
  // for its children; <ctr>/busy enables it for busy/leaf.
  itV2('a sub-cgroup with controllers enabled for its children is refused; its leaf is not', async () => {
    const c = await running();
    const [h] = c.hs;
    if (!fs.readFileSync(path.join(h.dir, 'cgroup.controllers'), 'utf8').split(/\s+/).includes('memory')) return;
    makeSub(c.hs, 'init');
    makeSub(c.hs, 'busy/leaf');
    fs.writeFileSync(path.join(h.dir, 'init/cgroup.procs'), String(c.pid));
    fs.writeFileSync(path.join(h.dir, 'cgroup.subtree_control'), '+memory');
    fs.writeFileSync(path.join(h.dir, 'busy/cgroup.subtree_control'), '+memory');
    const r = exec(c.id, ['--cgroup', 'busy'], ['true']);
    refused(r, /evice or resource busy/, c);
    if (!isRunc) expect(r.stderr).toMatch(/only a leaf cgroup can hold processes/);
    // "/" is the container's cgroup, which now has children with controllers: refused as well
    // (runc's fallback to init's cgroup is for exec without --cgroup).
    refused(exec(c.id, ['--cgroup', '/'], ['true']), /evice or resource busy/, c);
    expect(ok(exec(c.id, ['--cgroup', 'busy/leaf'])).stdout.trim()).toBe(`0::${h.path}/busy/leaf`);
    expect(ok(exec(c.id, ['--cgroup', 'init'])).stdout.trim()).toBe(`0::${h.path}/init`);
  });
});
