/**
 * Stats in runc's `events --stats` shape, read from fake cgroup directories (v1 files and v2
 * files written to a temp dir: no root, and a v2 layout this v1/hybrid machine cannot show).
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { encodeGoJSON, MAX_UINT64, parseCpuList, statsV1, statsV2 } from '../../packages/runtime/src/cgroups/stats';

function fakeDir(files: Record<string, string>): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-stats-'));
  for (const [f, v] of Object.entries(files)) fs.writeFileSync(path.join(d, f), v);
  return d;
}

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

test('v2: cpu.stat, memory (swap reported as memory+swap, as runc), pids, io.stat', () => {
  const d = fakeDir({
    'cpu.stat': 'usage_usec 1500\nuser_usec 1000\nsystem_usec 500\nnr_periods 7\nnr_throttled 2\nthrottled_usec 30\n',
    'memory.current': '4096\n',
    'memory.max': '67108864\n',
    'memory.peak': '8192\n',
    'memory.swap.current': '100\n',
    'memory.swap.max': 'max\n',
    'memory.events': 'low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n',
    'memory.stat': 'anon 2048\nfile 1024\n',
    'pids.current': '3\n',
    'pids.max': 'max\n',
    'io.stat': '254:0 rbytes=4096 wbytes=0 rios=1 wios=0 dbytes=0 dios=0\n',
    'cpuset.cpus.effective': '0-1\n',
    'cpuset.mems.effective': '0\n',
  });
  dirs.push(d);
  const s = statsV2(d);
  expect(s.cpu).toEqual({ usage: { total: 1500000n, kernel: 500000n, user: 1000000n }, throttling: { periods: 7n, throttledPeriods: 2n, throttledTime: 30000n } });
  expect(s.memory).toMatchObject({ cache: 1024n, usage: { limit: 67108864n, usage: 4096n, max: 8192n, failcnt: 3n }, swap: { limit: MAX_UINT64, usage: 4196n, failcnt: 0n }, raw: { anon: 2048n, file: 1024n } });
  expect(s.pids).toEqual({ current: 3n }); // limit "max" is 0, left out
  expect(s.blkio).toEqual({
    ioServiceBytesRecursive: [{ major: 254n, op: 'Read', value: 4096n }, { major: 254n, op: 'Write' }],
    ioServicedRecursive: [{ major: 254n, op: 'Read', value: 1n }, { major: 254n, op: 'Write' }],
  });
  expect(s.cpuset).toMatchObject({ cpus: [0n, 1n], mems: [0n] });
  // Go's encoder: big counters as plain integers, fields in struct order.
  const json = encodeGoJSON(s);
  expect(json).toContain('"swap":{"limit":18446744073709551615,"usage":4196,"failcnt":0}');
  expect(json.indexOf('"cpu"')).toBeLessThan(json.indexOf('"memory"'));
  expect(json.endsWith('"intel_rdt":{},"network_interfaces":null}')).toBe(true);
});

test('v1: cpuacct, cpu throttling, memory entries, pids, blkio lines without the Total', () => {
  const files: Record<string, Record<string, string>> = {
    cpuacct: {
      'cpuacct.usage': '3000\n',
      'cpuacct.usage_percpu': '1000 2000 \n',
      'cpuacct.usage_all': 'cpu user system\n0 600 400\n1 1500 500\n',
      'cpuacct.stat': 'user 3\nsystem 2\n',
    },
    cpu: { 'cpu.stat': 'nr_periods 0\nnr_throttled 0\nthrottled_time 0\n' },
    memory: {
      'memory.limit_in_bytes': '9223372036854771712\n',
      'memory.usage_in_bytes': '10\n',
      'memory.max_usage_in_bytes': '20\n',
      'memory.failcnt': '0\n',
      'memory.stat': 'cache 5\nrss 5\n',
    },
    pids: { 'pids.current': '2\n', 'pids.max': '20\n' },
    blkio: { 'blkio.throttle.io_service_bytes_recursive': '8:0 Read 512\n8:0 Write 0\nTotal 512\n' },
  };
  const where: Record<string, string> = {};
  for (const [c, f] of Object.entries(files)) {
    where[c] = fakeDir(f);
    dirs.push(where[c]);
  }
  const s = statsV1((c) => where[c]);
  // cpuacct.stat ticks are USER_HZ (100/s): 1 tick = 10 ms.
  expect(s.cpu).toEqual({ usage: { total: 3000n, percpu: [1000n, 2000n], percpu_kernel: [400n, 500n], percpu_user: [600n, 1500n], kernel: 20000000n, user: 30000000n }, throttling: {} });
  expect(s.memory).toMatchObject({ cache: 5n, usage: { limit: 9223372036854771712n, usage: 10n, max: 20n, failcnt: 0n }, swap: { limit: 0n, failcnt: 0n } });
  expect(s.pids).toEqual({ current: 2n, limit: 20n });
  expect(s.blkio).toEqual({ ioServiceBytesRecursive: [{ major: 8n, op: 'Read', value: 512n }, { major: 8n, op: 'Write' }] });
  expect(s.hugetlb).toEqual({});
  expect(encodeGoJSON(s.memory)).toContain('"limit":9223372036854771712');
});

test('cpu lists', () => {
  expect(parseCpuList('0-2,5\n')).toEqual([0, 1, 2, 5]);
  expect(parseCpuList('')).toEqual([]);
});
