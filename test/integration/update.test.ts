/**
 * update: new limits reach the live container's cgroup (read back from inside the container,
 * through its own /sys/fs/cgroup view), from runc's flags, from -r FILE and from -r - (stdin,
 * as docker and the CRI send them). Bad input is a one-line error that changes nothing.
 * On cgroup v1 the per-controller files are read; on v2 (the VM tier) the container's one
 * cgroup2 directory, where the spec's v1 values arrive converted as runc converts them.
 */
import * as fs from 'fs';
import * as path from 'path';
import { itTsrun, ok, readIf, useSandbox, waitFor } from '../helpers/runtime';

const sb = useSandbox();
const MB = 1024 * 1024;
const v1 = / - cgroup cgroup /.test(fs.readFileSync('/proc/self/mountinfo', 'utf8'));

/** What the container reads, by key, in each mode (v2: its cgroupns root is its own cgroup). */
const FILES_V1 = {
  memory: 'memory/memory.limit_in_bytes',
  reservation: 'memory/memory.soft_limit_in_bytes',
  memsw: 'memory/memory.memsw.limit_in_bytes',
  pids: 'pids/pids.max',
  quota: 'cpu/cpu.cfs_quota_us',
  period: 'cpu/cpu.cfs_period_us',
  shares: 'cpu/cpu.shares',
  cpus: 'cpuset/cpuset.cpus',
  high: 'memory/memory.limit_in_bytes', // no v1 file; never asked for on v1
  ioWeight: 'blkio/blkio.weight',
};
const FILES_V2: typeof FILES_V1 = {
  memory: 'memory.max',
  reservation: 'memory.low',
  memsw: 'memory.swap.max', // swap alone: memory+swap minus memory
  pids: 'pids.max',
  quota: 'cpu.max', // "quota period" in one file: read as a line, the two are compared together
  period: 'cpu.max',
  shares: 'cpu.weight', // 1 + (shares - 2) * 9999 / 262142
  cpus: 'cpuset.cpus',
  high: 'memory.high',
  ioWeight: 'io.weight',
};
const FILES = v1 ? FILES_V1 : FILES_V2;
type Key = keyof typeof FILES;
type Values = Partial<Record<Key, string>>;

/** The values one test expects, in the files of this host's mode. */
function expected(values: { v1: Values; v2: Values }): Values {
  return v1 ? values.v1 : values.v2;
}

/**
 * A container that keeps copying its cgroup values to /dev/shm/v ("key value" lines, written
 * with shell builtins and renamed into place), so the host sees what the container sees.
 */
async function watcher(): Promise<{ id: string; inside: () => Values }> {
  const id = sb.id('upd');
  // Whole lines (cpu.max has two fields, io.weight "default N"); files missing in this mode skip.
  const reads = Object.entries(FILES).map(([k, f]) => `[ -e /sys/fs/cgroup/${f} ] && { read -r v < /sys/fs/cgroup/${f}; echo "${k} $v"; }`).join('; ');
  const b = sb.bundle(['sh', '-c', `while true; do { ${reads}; } > /dev/shm/v.new; mv /dev/shm/v.new /dev/shm/v; sleep 0.05; done`], (s) => {
    s.linux.cgroupsPath = `/${id}`;
    // v2: its own cgroup at /sys/fs/cgroup on every runtime, as Docker and podman set it up there.
    if (!v1) s.linux.namespaces.push({ type: 'cgroup' });
    s.linux.resources.memory = { limit: 64 * MB };
    s.linux.resources.pids = { limit: 50 };
  });
  const pid = await sb.startDetached(id, b);
  const inside = (): Values => {
    const text = readIf(`/proc/${pid}/root/dev/shm/v`) ?? '';
    return Object.fromEntries(text.trim().split('\n').filter(Boolean).map((l) => [l.slice(0, l.indexOf(' ')), l.slice(l.indexOf(' ') + 1)])) as Values;
  };
  await waitFor(() => inside().memory === String(64 * MB), 'the container to report its memory limit');
  return { id, inside };
}

async function expectInside(inside: () => Values, want: Values): Promise<void> {
  let last: Values = {};
  try {
    await waitFor(() => {
      last = inside();
      return Object.entries(want).every(([k, v]) => last[k as Key] === v);
    }, 'the container to see the new values', 5000);
  } catch {
    expect(last).toMatchObject(want); // shows the difference
  }
}

describe('update', () => {
  it('runc\'s flags change the live cgroup, as the container sees it', async () => {
    const { id, inside } = await watcher();
    ok(sb.rt(['update', '--memory', '32m', '--memory-reservation', '16m', '--memory-swap', '48m', '--pids-limit', '15', '--cpu-quota', '20000', '--cpu-period', '100000', '--cpu-share', '256', '--cpuset-cpus', '0', id]));
    await expectInside(inside, expected({
      v1: { memory: String(32 * MB), reservation: String(16 * MB), memsw: String(48 * MB), pids: '15', quota: '20000', period: '100000', shares: '256', cpus: '0' },
      v2: { memory: String(32 * MB), reservation: String(16 * MB), memsw: String(16 * MB), pids: '15', quota: '20000 100000', shares: '10', cpus: '0' },
    }));
    // Raising memory above the old memory+swap works: swap is raised first.
    ok(sb.rt(['update', '--memory', '100m', '--memory-swap', '200m', id]));
    await expectInside(inside, expected({
      v1: { memory: String(100 * MB), memsw: String(200 * MB) },
      v2: { memory: String(100 * MB), memsw: String(100 * MB) },
    }));
    // -1: unlimited (swap follows, as runc does when it is not given).
    ok(sb.rt(['update', '--memory', '-1', id]));
    await expectInside(inside, expected({
      v1: { memory: '9223372036854771712', memsw: '9223372036854771712' },
      v2: { memory: 'max', memsw: 'max' },
    }));
  });

  it('-r - reads LinuxResources JSON from stdin (docker update, crictl update), -r FILE from a file', async () => {
    const { id, inside } = await watcher();
    ok(sb.rt(['update', '-r', '-', id], { input: JSON.stringify({ memory: { limit: 48 * MB }, pids: { limit: 25 }, cpu: { quota: 30000, period: 60000 } }) }));
    await expectInside(inside, expected({
      v1: { memory: String(48 * MB), pids: '25', quota: '30000', period: '60000' },
      v2: { memory: String(48 * MB), pids: '25', quota: '30000 60000' },
    }));
    const file = path.join(sb.dir, 'resources.json');
    fs.writeFileSync(file, JSON.stringify({ memory: { limit: 40 * MB }, cpu: { shares: 2048 } }));
    ok(sb.rt(['update', '--resources', file, id]));
    await expectInside(inside, { memory: String(40 * MB), shares: v1 ? '2048' : '79', pids: '25' });
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
      // v1: the kernel's range, checked by reading back; v2: a weight the kernel refuses.
      [['update', '--cpu-share', '1', id], v1 ? /the minimum allowed cpu-shares is 2/ : /cpu\.weight.*(out of range|too large)/i],
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

  (v1 ? it.skip : it)('v2: unified keys (memory.high) and the blkio weight as io.weight', async () => {
    const { id, inside } = await watcher();
    ok(sb.rt(['update', '-r', '-', id], { input: JSON.stringify({ unified: { 'memory.high': String(40 * MB) } }) }));
    ok(sb.rt(['update', '--blkio-weight', '500', id]));
    // io.weight is "default N": 1 + (500 - 10) * 9999 / 990 (BFQ's io.bfq.weight would take 500 as is).
    await expectInside(inside, { high: String(40 * MB), ioWeight: 'default 4950', memory: String(64 * MB) });
  });

  itTsrun('a refused cpu.shares leaves the old value in place', async () => {
    const { id, inside } = await watcher();
    const before = inside().shares;
    expect(sb.rt(['update', '--cpu-share', '1', id]).code).toBe(1);
    expect(inside().shares).toBe(before);
  });
});
