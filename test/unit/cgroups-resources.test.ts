/**
 * linux.resources -> control-file writes, for v1 and v2, checked against an in-memory CgroupIO
 * (no root): which files, which values, in which order, and the error messages.
 */
import * as os from 'os';
import { applyV1, DirFor } from '../../packages/runtime/src/cgroups/resources-v1';
import { applyV2 } from '../../packages/runtime/src/cgroups/resources-v2';
import { CgroupIO, fsIO } from '../../packages/runtime/src/cgroups/fsio';
import { blkioWeightToIoWeight, sharesToWeight, swapToV2 } from '../../packages/runtime/src/cgroups/convert';
import { DEFAULT_ALLOWED_DEVICES, deviceRuleString, v2DeviceRulesUnsupported } from '../../packages/runtime/src/cgroups/devices';
import { CgroupError } from '../../packages/runtime/src/cgroups/types';

class FakeIO implements CgroupIO {
  files = new Map<string, string>();
  writes: string[] = [];
  failures = new Map<string, string>(); // "dir/file" -> errno code
  constructor(init: Record<string, string> = {}) {
    for (const [k, v] of Object.entries(init)) this.files.set(k, v);
  }
  write(dir: string, file: string, value: string): void {
    const k = `${dir}/${file}`;
    const code = this.failures.get(k) ?? (this.files.has(k) ? undefined : 'ENOENT');
    if (code) throw new CgroupError(`cgroup: write ${file}=${value} in ${dir}: fake ${code}`, code);
    this.writes.push(`${k}=${value}`);
    // cpu.shares reads back what was written unless a test set a clamp.
    if (!(file === 'cpu.shares' && this.files.get(k) === 'clamp')) this.files.set(k, value);
    else this.files.set(k, '262144');
  }
  read(dir: string, file: string): string {
    const v = this.files.get(`${dir}/${file}`);
    if (v === undefined) throw new CgroupError(`cgroup: read ${file} in ${dir}: fake ENOENT`, 'ENOENT');
    return v + '\n';
  }
  exists(dir: string, file: string): boolean {
    return this.files.has(`${dir}/${file}`);
  }
}

const MOUNTED = new Set(['memory', 'cpu', 'cpuset', 'pids', 'devices', 'blkio', 'freezer']);
const dirFor: DirFor = (controller, what) => {
  if (!MOUNTED.has(controller)) throw new CgroupError(`cgroup: cannot set ${what}: the ${controller} controller is not mounted on this host`);
  return `/cg/${controller}`;
};

function v1Files(extra: Record<string, string> = {}): FakeIO {
  const base: Record<string, string> = {};
  for (const f of ['memory.limit_in_bytes', 'memory.memsw.limit_in_bytes', 'memory.soft_limit_in_bytes', 'memory.swappiness', 'memory.oom_control', 'memory.usage_in_bytes', 'memory.max_usage_in_bytes']) base[`/cg/memory/${f}`] = '9223372036854771712';
  for (const f of ['cpu.shares', 'cpu.cfs_quota_us', 'cpu.cfs_period_us', 'cpu.rt_runtime_us', 'cpu.rt_period_us', 'cpu.idle', 'cpu.cfs_burst_us']) base[`/cg/cpu/${f}`] = '0';
  for (const f of ['cpuset.cpus', 'cpuset.mems']) base[`/cg/cpuset/${f}`] = '';
  base['/cg/pids/pids.max'] = 'max';
  base['/cg/devices/devices.allow'] = '';
  base['/cg/devices/devices.deny'] = '';
  for (const f of ['blkio.throttle.read_bps_device', 'blkio.throttle.write_iops_device', 'blkio.leaf_weight']) base[`/cg/blkio/${f}`] = '';
  return new FakeIO({ ...base, ...extra });
}

describe('cgroup v1 resources', () => {
  test('podman-like config: memory 64M + swap 128M, pids, cpu quota, deny-all devices', () => {
    const io = v1Files();
    applyV1(
      {
        devices: [{ allow: false, access: 'rwm' }],
        memory: { limit: 67108864, swap: 134217728 },
        pids: { limit: 2048 },
        cpu: { quota: 50000, period: 100000 },
      },
      dirFor,
      io,
      { initial: true },
    );
    const devices = io.writes.filter((w) => w.startsWith('/cg/devices/'));
    // Deny everything first, then the spec's rules, then runc's default allow-list.
    expect(devices.slice(0, 2)).toEqual(['/cg/devices/devices.deny=a', '/cg/devices/devices.deny=a']);
    expect(devices).toContain('/cg/devices/devices.allow=c 1:3 rwm');
    expect(devices).toContain('/cg/devices/devices.allow=c 136:* rwm');
    expect(devices).toHaveLength(2 + DEFAULT_ALLOWED_DEVICES.length);
    // Current limit (max) is above the new memsw, so memory goes down first.
    expect(io.writes.filter((w) => w.startsWith('/cg/memory/'))).toEqual([
      '/cg/memory/memory.limit_in_bytes=67108864',
      '/cg/memory/memory.memsw.limit_in_bytes=134217728',
    ]);
    expect(io.writes).toContain('/cg/pids/pids.max=2048');
    expect(io.writes.filter((w) => w.startsWith('/cg/cpu/'))).toEqual(['/cg/cpu/cpu.cfs_period_us=100000', '/cg/cpu/cpu.cfs_quota_us=50000']);
  });

  test('raising memory+swap above the current limit writes swap first', () => {
    const io = v1Files({ '/cg/memory/memory.limit_in_bytes': '1048576' });
    applyV1({ memory: { limit: 2097152, swap: 4194304 } }, dirFor, io);
    expect(io.writes).toEqual(['/cg/memory/memory.memsw.limit_in_bytes=4194304', '/cg/memory/memory.limit_in_bytes=2097152']);
  });

  test('memory -1 with swap unset lifts both (runc)', () => {
    const io = v1Files();
    applyV1({ memory: { limit: -1 } }, dirFor, io);
    expect(io.writes).toEqual(['/cg/memory/memory.memsw.limit_in_bytes=-1', '/cg/memory/memory.limit_in_bytes=-1']);
  });

  test('swap asked without swap accounting is a clear error; unlimited swap is fine', () => {
    const io = v1Files();
    io.files.delete('/cg/memory/memory.memsw.limit_in_bytes');
    expect(() => applyV1({ memory: { limit: 1 << 26, swap: 1 << 27 } }, dirFor, io)).toThrow(/memory.swap=134217728 requested but the kernel has no swap accounting/);
    applyV1({ memory: { limit: 1 << 26, swap: -1 } }, dirFor, io);
    expect(io.writes).toEqual(['/cg/memory/memory.limit_in_bytes=67108864']);
  });

  test('EBUSY on a too-low memory limit says why, as runc', () => {
    const io = v1Files({ '/cg/memory/memory.usage_in_bytes': '5000000', '/cg/memory/memory.max_usage_in_bytes': '6000000' });
    io.failures.set('/cg/memory/memory.limit_in_bytes', 'EBUSY');
    expect(() => applyV1({ memory: { limit: 1000 } }, dirFor, io)).toThrow('cgroup: unable to set memory limit to 1000 (current usage: 5000000, peak usage: 6000000)');
  });

  test('checkBeforeUpdate refuses a limit below usage', () => {
    const io = v1Files({ '/cg/memory/memory.usage_in_bytes': '5000000' });
    expect(() => applyV1({ memory: { limit: 1000, checkBeforeUpdate: true } }, dirFor, io)).toThrow('lower than the current usage 5000000');
  });

  test('reservation, swappiness, OOM killer', () => {
    const io = v1Files();
    applyV1({ memory: { reservation: 1000, swappiness: 10, disableOOMKiller: true, kernel: 5, useHierarchy: true } }, dirFor, io);
    expect(io.writes).toEqual(['/cg/memory/memory.soft_limit_in_bytes=1000', '/cg/memory/memory.oom_control=1', '/cg/memory/memory.swappiness=10']);
    expect(() => applyV1({ memory: { swappiness: 101 } }, dirFor, io)).toThrow('invalid memory swappiness value: 101');
  });

  test('kernel memory: written where the kmem files exist, dropped (as runc) where not', () => {
    const io = v1Files({ '/cg/memory/memory.kmem.limit_in_bytes': '0', '/cg/memory/memory.kmem.tcp.limit_in_bytes': '0' });
    applyV1({ memory: { kernel: 1048576, kernelTCP: 2097152 } }, dirFor, io);
    expect(io.writes).toEqual(['/cg/memory/memory.kmem.limit_in_bytes=1048576', '/cg/memory/memory.kmem.tcp.limit_in_bytes=2097152']);
    const bare = v1Files();
    applyV1({ memory: { kernel: 1048576 } }, dirFor, bare);
    expect(bare.writes).toEqual([]);
  });

  test('cpu.shares out of the kernel range is refused before anything is written', () => {
    const io = v1Files();
    expect(() => applyV1({ cpu: { shares: 1 } }, dirFor, io)).toThrow('the minimum allowed cpu-shares is 2');
    expect(() => applyV1({ cpu: { shares: 262145 } }, dirFor, io)).toThrow('the maximum allowed cpu-shares is 262144');
    expect(io.writes).toEqual([]);
  });

  test('cpu: shares read back, clamping reported; rt, idle, burst; cpuset', () => {
    const io = v1Files();
    applyV1({ cpu: { shares: 512, realtimePeriod: 1000000, realtimeRuntime: 950000, idle: 0, burst: 0, cpus: '0', mems: '0' } }, dirFor, io);
    expect(io.writes).toEqual([
      '/cg/cpuset/cpuset.cpus=0',
      '/cg/cpuset/cpuset.mems=0',
      '/cg/cpu/cpu.shares=512',
      '/cg/cpu/cpu.cfs_burst_us=0',
      '/cg/cpu/cpu.rt_period_us=1000000',
      '/cg/cpu/cpu.rt_runtime_us=950000',
      '/cg/cpu/cpu.idle=0',
    ]);
    const clamp = v1Files({ '/cg/cpu/cpu.shares': 'clamp' });
    expect(() => applyV1({ cpu: { shares: 999999 } }, dirFor, clamp)).toThrow('the maximum allowed cpu-shares is 262144');
  });

  test('a period rejected with EINVAL is retried after the quota', () => {
    const io = v1Files();
    let first = true;
    const orig = io.write.bind(io);
    io.write = (dir, file, value) => {
      if (file === 'cpu.cfs_period_us' && first) {
        first = false;
        throw new CgroupError('fake', 'EINVAL');
      }
      orig(dir, file, value);
    };
    applyV1({ cpu: { quota: 1000, period: 10000 } }, dirFor, io);
    expect(io.writes).toEqual(['/cg/cpu/cpu.cfs_quota_us=1000', '/cg/cpu/cpu.cfs_period_us=10000']);
  });

  test('pids: 0 is unset (runc 1.1), negative is max', () => {
    for (const [limit, want] of [[50, ['/cg/pids/pids.max=50']], [-1, ['/cg/pids/pids.max=max']], [0, []]] as const) {
      const io = v1Files();
      applyV1({ pids: { limit } }, dirFor, io);
      expect(io.writes).toEqual(want);
    }
  });

  test('blkio throttles; weight without a weight file is a clear error', () => {
    const io = v1Files();
    applyV1({ blockIO: { leafWeight: 10, throttleReadBpsDevice: [{ major: 8, minor: 0, rate: 1048576 }], throttleWriteIOPSDevice: [{ major: 8, minor: 16, rate: 100 }] } }, dirFor, io);
    expect(io.writes).toEqual(['/cg/blkio/blkio.leaf_weight=10', '/cg/blkio/blkio.throttle.read_bps_device=8:0 1048576', '/cg/blkio/blkio.throttle.write_iops_device=8:16 100']);
    expect(() => applyV1({ blockIO: { weight: 500 } }, dirFor, io)).toThrow(/no weight file/);
    const bfq = v1Files({ '/cg/blkio/blkio.bfq.weight': '100', '/cg/blkio/blkio.bfq.weight_device': '' });
    applyV1({ blockIO: { weight: 500, weightDevice: [{ major: 8, minor: 0, weight: 300 }] } }, dirFor, bfq);
    expect(bfq.writes).toEqual(['/cg/blkio/blkio.bfq.weight=500', '/cg/blkio/blkio.bfq.weight_device=8:0 300']);
  });

  test('controllers that are not mounted: error only when something is asked of them', () => {
    const io = v1Files();
    applyV1({ hugepageLimits: [], network: {}, rdma: {} }, dirFor, io);
    expect(() => applyV1({ hugepageLimits: [{ pageSize: '2MB', limit: 1 << 21 }] }, dirFor, io)).toThrow('cgroup: cannot set hugepageLimits: the hugetlb controller is not mounted on this host');
    expect(() => applyV1({ network: { classID: 7 } }, dirFor, io)).toThrow('net_cls controller is not mounted');
  });

  test('hugepage sizes cannot smuggle paths; unified is refused on v1', () => {
    const all: DirFor = (c) => `/cg/${c}`;
    const io = new FakeIO({ '/cg/hugetlb/hugetlb.2MB.limit_in_bytes': '0', '/cg/hugetlb/hugetlb.2MB.rsvd.limit_in_bytes': '0', '/cg/net_cls/net_cls.classid': '', '/cg/net_prio/net_prio.ifpriomap': '', '/cg/rdma/rdma.max': '' });
    applyV1({ hugepageLimits: [{ pageSize: '2MB', limit: 2097152 }], network: { classID: 1048577, priorities: [{ name: 'eth0', priority: 5 }] }, rdma: { mlx5_1: { hcaHandles: 3 } } }, all, io);
    expect(io.writes).toEqual([
      '/cg/hugetlb/hugetlb.2MB.limit_in_bytes=2097152',
      '/cg/hugetlb/hugetlb.2MB.rsvd.limit_in_bytes=2097152',
      '/cg/net_cls/net_cls.classid=1048577',
      '/cg/net_prio/net_prio.ifpriomap=eth0 5',
      '/cg/rdma/rdma.max=mlx5_1 hca_handle=3 hca_object=max',
    ]);
    expect(() => applyV1({ hugepageLimits: [{ pageSize: '../x', limit: 1 }] }, all, io)).toThrow('invalid hugepage size');
    expect(() => applyV1({ unified: { 'memory.high': '1' } }, all, io)).toThrow('cannot use linux.resources.unified on a cgroup v1 host');
  });

  test('devices are left alone on update unless given', () => {
    const io = v1Files();
    applyV1({ pids: { limit: 5 } }, dirFor, io);
    expect(io.writes.some((w) => w.includes('devices'))).toBe(false);
    applyV1({ devices: [{ allow: true, access: 'rwm' }] }, dirFor, io);
    expect(io.writes.filter((w) => w.includes('devices')).slice(0, 2)).toEqual(['/cg/devices/devices.deny=a', '/cg/devices/devices.allow=a']);
  });
});

describe('device rules', () => {
  test('rule strings and validation', () => {
    expect(deviceRuleString({ allow: true, type: 'c', major: 10, minor: 229, access: 'rw' })).toBe('c 10:229 rw');
    expect(deviceRuleString({ allow: true, type: 'b', major: 8 })).toBe('b 8:* rwm');
    expect(deviceRuleString({ allow: false })).toBe('a');
    expect(() => deviceRuleString({ allow: true, type: 'x' })).toThrow('invalid device rule type');
    expect(() => deviceRuleString({ allow: true, type: 'c', access: 'rwx' })).toThrow('invalid device rule access');
  });
  test('v2DeviceRulesUnsupported: true when a restriction is asked for', () => {
    expect(v2DeviceRulesUnsupported(undefined)).toBe(false);
    expect(v2DeviceRulesUnsupported({ devices: [{ allow: true, access: 'rwm' }] })).toBe(false);
    expect(v2DeviceRulesUnsupported({ devices: [{ allow: false, access: 'rwm' }] })).toBe(true);
  });
});

describe('v1 -> v2 conversions (runc formulas)', () => {
  test('shares -> weight', () => {
    expect(sharesToWeight(0)).toBe(0);
    expect(sharesToWeight(2)).toBe(1);
    expect(sharesToWeight(1024)).toBe(39);
    expect(sharesToWeight(262144)).toBe(10000);
  });
  test('blkio weight -> io.weight', () => {
    expect(blkioWeightToIoWeight(10)).toBe(1);
    expect(blkioWeightToIoWeight(500)).toBe(4950);
    expect(blkioWeightToIoWeight(1000)).toBe(10000);
  });
  test('memory+swap -> swap', () => {
    expect(swapToV2(134217728, 67108864)).toBe(67108864);
    expect(swapToV2(0, -1)).toBe(-1);
    expect(swapToV2(-1, 100)).toBe(-1);
    expect(() => swapToV2(100, 0)).toThrow('without memory limit');
    expect(() => swapToV2(50, 100)).toThrow('memory+swap limit should be >= memory limit');
  });
});

describe('cgroup v2 resources', () => {
  const D = '/cg2/ctr';
  const v2Files = (extra: Record<string, string> = {}): FakeIO => {
    const base: Record<string, string> = {};
    for (const f of ['memory.max', 'memory.low', 'memory.swap.max', 'memory.current', 'cpu.weight', 'cpu.max', 'cpu.max.burst', 'cpu.idle', 'cpuset.cpus', 'cpuset.mems', 'pids.max', 'io.weight', 'io.max', 'hugetlb.2MB.max', 'memory.high']) base[`${D}/${f}`] = '';
    return new FakeIO({ ...base, ...extra });
  };
  const ctrls = new Set(['cpu', 'memory', 'pids', 'io', 'cpuset', 'hugetlb']);

  test('podman-like config converted to v2 files', () => {
    const io = v2Files();
    applyV2({ devices: [{ allow: false, access: 'rwm' }], memory: { limit: 67108864, swap: 134217728 }, pids: { limit: 50 }, cpu: { shares: 1024, quota: 50000, period: 100000 } }, D, io, ctrls);
    expect(io.writes).toEqual([
      `${D}/pids.max=50`,
      `${D}/memory.swap.max=67108864`,
      `${D}/memory.max=67108864`,
      `${D}/cpu.weight=39`,
      `${D}/cpu.max=50000 100000`,
    ]);
  });

  test('swap equal to memory disables swap; -1 memory lifts both; missing swap file tolerated for max/0', () => {
    let io = v2Files();
    applyV2({ memory: { limit: 1000, swap: 1000 } }, D, io, ctrls);
    expect(io.writes).toEqual([`${D}/memory.swap.max=0`, `${D}/memory.max=1000`]);
    io = v2Files();
    io.files.delete(`${D}/memory.swap.max`);
    applyV2({ memory: { limit: -1 } }, D, io, ctrls);
    expect(io.writes).toEqual([`${D}/memory.max=max`]);
  });

  test('cpu.max forms, cpuset, io, hugetlb, unified last', () => {
    const io = v2Files();
    applyV2(
      {
        cpu: { period: 100000, cpus: '0-1', mems: '0' },
        blockIO: { weight: 500, throttleReadBpsDevice: [{ major: 8, minor: 0, rate: 1048576 }] },
        hugepageLimits: [{ pageSize: '2MB', limit: 2097152 }],
        unified: { 'memory.high': '1G' },
      },
      D,
      io,
      ctrls,
    );
    expect(io.writes).toEqual([
      `${D}/io.weight=4950`,
      `${D}/io.max=8:0 rbps=1048576`,
      `${D}/cpu.max=max 100000`,
      `${D}/cpuset.cpus=0-1`,
      `${D}/cpuset.mems=0`,
      `${D}/hugetlb.2MB.max=2097152`,
      `${D}/memory.high=1G`,
    ]);
  });

  test('unified: unknown controller and slashes are reported clearly', () => {
    const io = v2Files();
    expect(() => applyV2({ unified: { 'rdma.max': 'x' } }, D, io, ctrls)).toThrow('unified resource "rdma.max" can\'t be set: controller "rdma" not available');
    expect(() => applyV2({ unified: { '../x': '1' } }, D, io, ctrls)).toThrow('must be a file name');
  });

  test('what v2 cannot do is an error, not a silent drop', () => {
    const io = v2Files();
    expect(() => applyV2({ network: { classID: 1 } }, D, io, ctrls)).toThrow('not supported on cgroup v2');
    expect(() => applyV2({ cpu: { realtimeRuntime: 1 } }, D, io, ctrls)).toThrow('not supported on cgroup v2');
  });
});

describe('real file writes', () => {
  test('a failed write names the file, the value and the errno text on one line', () => {
    let msg = '';
    try {
      fsIO.write(os.tmpdir() + '/no-such-cgroup-dir', 'memory.limit_in_bytes', '67108864');
    } catch (e) {
      msg = (e as Error).message;
      expect((e as CgroupError).code).toBe('ENOENT');
    }
    expect(msg).toBe(`cgroup: write memory.limit_in_bytes=67108864 in ${os.tmpdir()}/no-such-cgroup-dir: no such file or directory`);
  });
});
