/**
 * linux.resources -> cgroup v1 control files, following runc 1.1's fs subsystems (value 0 means
 * "unset" for numbers, as in runc; -1 means unlimited). Used by the v1 and hybrid drivers.
 */
import { CgroupIO } from './fsio';
import { effectiveDeviceRules, v1DeviceWrites } from './devices';
import { ApplyOptions, CgroupError, LinuxResources } from './types';

/** Finds the directory of the hierarchy holding `controller`, or throws naming `what` was asked. */
export type DirFor = (controller: string, what: string) => string;

/** Integer to decimal text without exponent notation (String(1e21) would give "1e+21"). */
export function int(n: number, what: string): string {
  if (!Number.isInteger(n)) throw new CgroupError(`cgroup: ${what} must be an integer, got ${n}`);
  return BigInt(n).toString();
}

const set = (n: number | undefined): n is number => n !== undefined && n !== null && n !== 0;

function readBig(io: CgroupIO, dir: string, file: string): bigint {
  const t = io.read(dir, file).trim();
  try {
    return BigInt(t);
  } catch {
    throw new CgroupError(`cgroup: unexpected content ${JSON.stringify(t)} in ${file} (${dir})`);
  }
}

function memory(r: LinuxResources, dirFor: DirFor, io: CgroupIO): void {
  const m = r.memory;
  if (!m) return;
  const wants = set(m.limit) || set(m.swap) || set(m.reservation) || set(m.kernel) || set(m.kernelTCP) || m.disableOOMKiller || (m.swappiness !== undefined && m.swappiness !== -1);
  if (!wants) return;
  const d = dirFor('memory', 'memory limits');
  const memsw = 'memory.memsw.limit_in_bytes';
  const limit = m.limit ?? 0;
  let swap = m.swap ?? 0;
  // runc: "memory unlimited, swap unset" also lifts the swap limit, when swap accounting exists.
  if (limit === -1 && swap === 0 && io.exists(d, memsw)) swap = -1;
  if (swap !== 0 && !io.exists(d, memsw)) {
    // Nothing to enforce for an unlimited swap; a real limit must not be dropped silently.
    if (swap !== -1) {
      throw new CgroupError(`cgroup: memory.swap=${swap} requested but the kernel has no swap accounting (${memsw} does not exist; boot with swapaccount=1)`);
    }
    swap = 0;
  }
  if (m.checkBeforeUpdate && limit > 0) {
    const usage = readBig(io, d, 'memory.usage_in_bytes');
    if (usage > BigInt(limit)) throw new CgroupError(`cgroup: memory limit ${limit} is lower than the current usage ${usage}`);
  }
  const setLimit = (): void => {
    if (limit === 0) return;
    const v = int(limit, 'memory.limit');
    try {
      io.write(d, 'memory.limit_in_bytes', v);
    } catch (e) {
      // EBUSY: the kernel cannot reclaim down to the new limit; say why, as runc does.
      if ((e as CgroupError).code !== 'EBUSY') throw e;
      const usage = io.read(d, 'memory.usage_in_bytes').trim();
      const peak = io.read(d, 'memory.max_usage_in_bytes').trim();
      throw new CgroupError(`cgroup: unable to set memory limit to ${v} (current usage: ${usage}, peak usage: ${peak})`, 'EBUSY');
    }
  };
  const setSwap = (): void => {
    if (swap !== 0) io.write(d, memsw, int(swap, 'memory.swap'));
  };
  // The kernel requires memory <= memsw at all times: order the writes so both old and new pairs
  // stay valid (raise swap first when it grows).
  if (limit !== 0 && swap !== 0 && (swap === -1 || readBig(io, d, 'memory.limit_in_bytes') < BigInt(swap))) {
    setSwap();
    setLimit();
  } else {
    setLimit();
    setSwap();
  }
  if (set(m.reservation)) io.write(d, 'memory.soft_limit_in_bytes', int(m.reservation, 'memory.reservation'));
  if (m.disableOOMKiller) io.write(d, 'memory.oom_control', '1');
  if (m.swappiness !== undefined && m.swappiness !== -1) {
    if (m.swappiness < 0 || m.swappiness > 100) throw new CgroupError(`cgroup: invalid memory swappiness value: ${m.swappiness} (valid range is 0-100)`);
    io.write(d, 'memory.swappiness', int(m.swappiness, 'memory.swappiness'));
  }
  // kmem limits where the kernel still has the files; without them they are dropped, as runc
  // 1.1 drops them everywhere (deprecated: Linux 5.16+ accepts but no longer enforces
  // memory.kmem.limit_in_bytes, while memory.kmem.tcp still works).
  for (const [v, file, what] of [[m.kernel, 'memory.kmem.limit_in_bytes', 'memory.kernel'], [m.kernelTCP, 'memory.kmem.tcp.limit_in_bytes', 'memory.kernelTCP']] as const) {
    if (set(v) && io.exists(d, file)) io.write(d, file, int(v, what));
  }
  // useHierarchy is ignored: always on since Linux 5.x and writing 0 fails.
}

function cpu(r: LinuxResources, dirFor: DirFor, io: CgroupIO): void {
  const c = r.cpu;
  if (!c) return;
  if (c.cpus || c.mems) {
    const d = dirFor('cpuset', 'cpu.cpus/cpu.mems');
    if (c.cpus) io.write(d, 'cpuset.cpus', c.cpus);
    if (c.mems) io.write(d, 'cpuset.mems', c.mems);
  }
  const wants = set(c.shares) || set(c.quota) || set(c.period) || c.burst !== undefined || set(c.realtimePeriod) || set(c.realtimeRuntime) || c.idle !== undefined;
  if (!wants) return;
  const d = dirFor('cpu', 'cpu limits');
  if (set(c.shares)) {
    // The kernel's range; checked first so a refused value never replaces the current one.
    if (c.shares < 2) throw new CgroupError('cgroup: the minimum allowed cpu-shares is 2');
    if (c.shares > 262144) throw new CgroupError('cgroup: the maximum allowed cpu-shares is 262144');
    io.write(d, 'cpu.shares', int(c.shares, 'cpu.shares'));
    // The kernel clamps silently; report it instead of running with a different value.
    const got = Number(io.read(d, 'cpu.shares').trim());
    if (c.shares > got) throw new CgroupError(`cgroup: the maximum allowed cpu-shares is ${got}`);
    if (c.shares < got) throw new CgroupError(`cgroup: the minimum allowed cpu-shares is ${got}`);
  }
  let pendingPeriod = '';
  if (set(c.period)) {
    const p = int(c.period, 'cpu.period');
    try {
      io.write(d, 'cpu.cfs_period_us', p);
    } catch (e) {
      // A smaller period can make old_quota/new_period exceed the parent's limit (EINVAL);
      // if a quota comes too, retry after writing it (runc does the same).
      if ((e as CgroupError).code !== 'EINVAL' || !set(c.quota)) throw e;
      pendingPeriod = p;
    }
  }
  if (set(c.quota)) {
    io.write(d, 'cpu.cfs_quota_us', int(c.quota, 'cpu.quota'));
    if (pendingPeriod) io.write(d, 'cpu.cfs_period_us', pendingPeriod);
  }
  if (c.burst !== undefined) io.write(d, 'cpu.cfs_burst_us', int(c.burst, 'cpu.burst'));
  if (set(c.realtimePeriod)) io.write(d, 'cpu.rt_period_us', int(c.realtimePeriod, 'cpu.realtimePeriod'));
  if (set(c.realtimeRuntime)) io.write(d, 'cpu.rt_runtime_us', int(c.realtimeRuntime, 'cpu.realtimeRuntime'));
  if (c.idle !== undefined) io.write(d, 'cpu.idle', int(c.idle, 'cpu.idle'));
}

function pids(r: LinuxResources, dirFor: DirFor, io: CgroupIO): void {
  // runc 1.1: 0 is "unset", negative is "max".
  const limit = r.pids?.limit;
  if (!set(limit)) return;
  io.write(dirFor('pids', 'pids.limit'), 'pids.max', limit > 0 ? int(limit, 'pids.limit') : 'max');
}

const throttles = [
  ['throttleReadBpsDevice', 'blkio.throttle.read_bps_device'],
  ['throttleWriteBpsDevice', 'blkio.throttle.write_bps_device'],
  ['throttleReadIOPSDevice', 'blkio.throttle.read_iops_device'],
  ['throttleWriteIOPSDevice', 'blkio.throttle.write_iops_device'],
] as const;

function blkio(r: LinuxResources, dirFor: DirFor, io: CgroupIO): void {
  const b = r.blockIO;
  if (!b) return;
  const wantsWeight = set(b.weight) || (b.weightDevice ?? []).some((w) => set(w.weight));
  const any = wantsWeight || set(b.leafWeight) || (b.weightDevice ?? []).length > 0 || throttles.some(([k]) => (b[k] ?? []).length > 0);
  if (!any) return;
  const d = dirFor('blkio', 'blockIO limits');
  // BFQ exposes blkio.bfq.weight instead of CFQ's blkio.weight (runc detectWeightFilenames).
  const bfq = io.exists(d, 'blkio.bfq.weight');
  const weightFile = bfq ? 'blkio.bfq.weight' : 'blkio.weight';
  const weightDeviceFile = bfq ? 'blkio.bfq.weight_device' : 'blkio.weight_device';
  if (wantsWeight && !bfq && !io.exists(d, weightFile)) {
    throw new CgroupError('cgroup: blockIO weight requested but the blkio controller has no weight file (blkio.weight or blkio.bfq.weight: needs the BFQ or CFQ I/O scheduler)');
  }
  if (set(b.weight)) io.write(d, weightFile, int(b.weight, 'blockIO.weight'));
  if (set(b.leafWeight)) io.write(d, 'blkio.leaf_weight', int(b.leafWeight, 'blockIO.leafWeight'));
  for (const w of b.weightDevice ?? []) {
    if (set(w.weight)) io.write(d, weightDeviceFile, `${w.major}:${w.minor} ${int(w.weight, 'weightDevice.weight')}`);
    if (set(w.leafWeight)) io.write(d, 'blkio.leaf_weight_device', `${w.major}:${w.minor} ${int(w.leafWeight, 'weightDevice.leafWeight')}`);
  }
  for (const [key, file] of throttles) {
    for (const t of b[key] ?? []) io.write(d, file, `${t.major}:${t.minor} ${int(t.rate ?? 0, key + '.rate')}`);
  }
}

/** "2MB" etc.; also keeps a page size from smuggling a path into the file name. */
export function checkPageSize(size: string): string {
  if (!/^[0-9]+[KMGTP]?B$/.test(size)) throw new CgroupError(`cgroup: invalid hugepage size "${size}" (want e.g. 2MB, 1GB)`);
  return size;
}

function hugetlb(r: LinuxResources, dirFor: DirFor, io: CgroupIO): void {
  const limits = r.hugepageLimits ?? [];
  if (limits.length === 0) return;
  const d = dirFor('hugetlb', 'hugepageLimits');
  for (const h of limits) {
    const size = checkPageSize(h.pageSize);
    const v = int(h.limit, 'hugepageLimits.limit');
    io.write(d, `hugetlb.${size}.limit_in_bytes`, v);
    // Reservation accounting (Linux 5.7+) is what the spec prefers when the kernel has it.
    const rsvd = `hugetlb.${size}.rsvd.limit_in_bytes`;
    if (io.exists(d, rsvd)) io.write(d, rsvd, v);
  }
}

function network(r: LinuxResources, dirFor: DirFor, io: CgroupIO): void {
  const n = r.network;
  if (!n) return;
  if (set(n.classID)) io.write(dirFor('net_cls', 'network.classID'), 'net_cls.classid', int(n.classID, 'network.classID'));
  const prios = n.priorities ?? [];
  if (prios.length > 0) {
    const d = dirFor('net_prio', 'network.priorities');
    for (const p of prios) io.write(d, 'net_prio.ifpriomap', `${p.name} ${int(p.priority, 'network.priorities.priority')}`);
  }
}

/** "mlx5_1 hca_handle=3 hca_object=max": both keys always, as runc writes them. */
export function rdmaLines(rdma: LinuxResources['rdma']): string[] {
  return Object.entries(rdma ?? {}).map(([dev, l]) => {
    const v = (n: number | undefined): string => (n === undefined || n === null ? 'max' : int(n, 'rdma limit'));
    return `${dev} hca_handle=${v(l.hcaHandles)} hca_object=${v(l.hcaObjects)}`;
  });
}

export function applyV1(r: LinuxResources | undefined, dirFor: DirFor, io: CgroupIO, opts: ApplyOptions = {}): void {
  if (r?.unified && Object.keys(r.unified).length > 0) {
    throw new CgroupError('cgroup: invalid configuration: cannot use linux.resources.unified on a cgroup v1 host');
  }
  // Same order as runc's subsystem list: cpuset, devices, memory, cpu, pids, blkio, hugetlb, net.
  if (opts.initial || r?.devices !== undefined) {
    const d = dirFor('devices', 'device rules');
    for (const [file, value] of v1DeviceWrites(effectiveDeviceRules(r?.devices, opts.extraDeviceRules))) io.write(d, file, value);
  }
  if (!r) return;
  memory(r, dirFor, io);
  cpu(r, dirFor, io);
  pids(r, dirFor, io);
  blkio(r, dirFor, io);
  hugetlb(r, dirFor, io);
  network(r, dirFor, io);
  const lines = rdmaLines(r.rdma);
  if (lines.length > 0) {
    const d = dirFor('rdma', 'rdma limits');
    for (const l of lines) io.write(d, 'rdma.max', l);
  }
}
