/**
 * update: new limits reach the live container's cgroup (read back from inside the container,
 * through its own /sys/fs/cgroup view), from runc's flags, from -r FILE and from -r - (stdin,
 * as docker and the CRI send them). Bad input is a one-line error that changes nothing.
 */
import * as fs from 'fs';
import * as path from 'path';
import { itTsrun, ok, readIf, useSandbox, waitFor } from '../helpers/runtime';

const sb = useSandbox();
const MB = 1024 * 1024;
const v1 = / - cgroup cgroup /.test(fs.readFileSync('/proc/self/mountinfo', 'utf8'));
const describeV1 = v1 ? describe : describe.skip;

const FILES = {
  memory: 'memory/memory.limit_in_bytes',
  reservation: 'memory/memory.soft_limit_in_bytes',
  memsw: 'memory/memory.memsw.limit_in_bytes',
  pids: 'pids/pids.max',
  quota: 'cpu/cpu.cfs_quota_us',
  period: 'cpu/cpu.cfs_period_us',
  shares: 'cpu/cpu.shares',
  cpus: 'cpuset/cpuset.cpus',
};
type Key = keyof typeof FILES;

/**
 * A container that keeps copying its cgroup values to /dev/shm/v ("key value" lines, written
 * with shell builtins and renamed into place), so the host sees what the container sees.
 */
async function watcher(): Promise<{ id: string; inside: () => Partial<Record<Key, string>> }> {
  const id = sb.id('upd');
  const reads = Object.entries(FILES).map(([k, f]) => `read v < /sys/fs/cgroup/${f}; echo "${k} $v"`).join('; ');
  const b = sb.bundle(['sh', '-c', `while true; do { ${reads}; } > /dev/shm/v.new; mv /dev/shm/v.new /dev/shm/v; sleep 0.05; done`], (s) => {
    s.linux.cgroupsPath = `/${id}`;
    s.linux.resources.memory = { limit: 64 * MB };
    s.linux.resources.pids = { limit: 50 };
  });
  const pid = await sb.startDetached(id, b);
  const inside = (): Partial<Record<Key, string>> => {
    const text = readIf(`/proc/${pid}/root/dev/shm/v`) ?? '';
    return Object.fromEntries(text.trim().split('\n').filter(Boolean).map((l) => l.split(' ', 2))) as Partial<Record<Key, string>>;
  };
  await waitFor(() => inside().memory === String(64 * MB), 'the container to report its memory limit');
  return { id, inside };
}

async function expectInside(inside: () => Partial<Record<Key, string>>, want: Partial<Record<Key, string>>): Promise<void> {
  let last: Partial<Record<Key, string>> = {};
  try {
    await waitFor(() => {
      last = inside();
      return Object.entries(want).every(([k, v]) => last[k as Key] === v);
    }, 'the container to see the new values', 5000);
  } catch {
    expect(last).toMatchObject(want); // shows the difference
  }
}

describeV1('update', () => {
  it('runc\'s flags change the live cgroup, as the container sees it', async () => {
    const { id, inside } = await watcher();
    ok(sb.rt(['update', '--memory', '32m', '--memory-reservation', '16m', '--memory-swap', '48m', '--pids-limit', '15', '--cpu-quota', '20000', '--cpu-period', '100000', '--cpu-share', '256', '--cpuset-cpus', '0', id]));
    await expectInside(inside, { memory: String(32 * MB), reservation: String(16 * MB), memsw: String(48 * MB), pids: '15', quota: '20000', period: '100000', shares: '256', cpus: '0' });
    // Raising memory above the old memory+swap works: swap is raised first.
    ok(sb.rt(['update', '--memory', '100m', '--memory-swap', '200m', id]));
    await expectInside(inside, { memory: String(100 * MB), memsw: String(200 * MB) });
    // -1: unlimited (swap follows, as runc does when it is not given).
    ok(sb.rt(['update', '--memory', '-1', id]));
    await expectInside(inside, { memory: '9223372036854771712', memsw: '9223372036854771712' });
  });

  it('-r - reads LinuxResources JSON from stdin (docker update, crictl update), -r FILE from a file', async () => {
    const { id, inside } = await watcher();
    ok(sb.rt(['update', '-r', '-', id], { input: JSON.stringify({ memory: { limit: 48 * MB }, pids: { limit: 25 }, cpu: { quota: 30000, period: 60000 } }) }));
    await expectInside(inside, { memory: String(48 * MB), pids: '25', quota: '30000', period: '60000' });
    const file = path.join(sb.dir, 'resources.json');
    fs.writeFileSync(file, JSON.stringify({ memory: { limit: 40 * MB }, cpu: { shares: 2048 } }));
    ok(sb.rt(['update', '--resources', file, id]));
    await expectInside(inside, { memory: String(40 * MB), shares: '2048', pids: '25' });
    // The long form with stdin, exactly as containerd's shim calls it for `docker update`.
    ok(sb.rt(['update', '--resources', '-', id], { input: JSON.stringify({ memory: { limit: 36 * MB } }) }));
    await expectInside(inside, { memory: String(36 * MB) });
  });

  itTsrun('the saved config follows, so state and later updates build on it', async () => {
    const { id } = await watcher();
    ok(sb.rt(['update', '--memory', '32m', '--pids-limit', '15', id]));
    ok(sb.rt(['update', '--cpu-quota', '20000', id]));
    const saved = JSON.parse(fs.readFileSync(path.join(sb.root, id, 'state.json'), 'utf8'));
    expect(saved.config.linux.resources).toMatchObject({ memory: { limit: 32 * MB }, pids: { limit: 15 }, cpu: { quota: 20000 } });
  });

  it('bad values and wrong states are one-line errors that change nothing', async () => {
    const { id, inside } = await watcher();
    const before = inside();
    const cases: [string[], RegExp, string?][] = [
      [['update', '--memory', 'abc', id], /invalid value for memory: invalid size: 'abc'/],
      [['update', '--pids-limit', 'x', id], /invalid value \\?"x\\?" for flag -pids-limit/],
      [['update', '--cpu-share', '1', id], /the minimum allowed cpu-shares is 2/],
      [['update', '-r', path.join(sb.dir, 'missing.json'), id], /no such file or directory/],
      [['update', '-r', '-', id], /invalid/, '{bad'],
      [['update', '--memory', '32m', sb.id('nope')], /container does not exist/],
    ];
    for (const [args, msg, input] of cases) {
      const r = sb.rt(args, input === undefined ? {} : { input });
      expect({ args, code: r.code }).toEqual({ args, code: 1 });
      expect(r.stderr).toMatch(msg);
    }
    const now = inside();
    expect({ memory: now.memory, pids: now.pids }).toEqual({ memory: before.memory, pids: before.pids });

    ok(sb.rt(['kill', id, 'KILL']));
    await sb.waitStatus(id, 'stopped');
    const stopped = sb.rt(['update', '--memory', '32m', id]);
    expect(stopped.code).toBe(1);
    expect(stopped.stderr).toMatch(/container not running/);
  });

  itTsrun('a refused cpu.shares leaves the old value in place', async () => {
    const { id, inside } = await watcher();
    const before = inside().shares;
    expect(sb.rt(['update', '--cpu-share', '1', id]).code).toBe(1);
    expect(inside().shares).toBe(before);
  });
});
