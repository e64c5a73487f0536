/**
 * linux.resources -> cgroup v2 control files, following runc's fs2 (and its v1->v2 conversions
 * in convert.ts). `devices` is not handled here: v2 needs an eBPF program (see devices.ts).
 */
import { CgroupIO } from './fsio';
import { blkioWeightToIoWeight, sharesToWeight, swapToV2, v2Limit } from './convert';
import { checkPageSize, int, rdmaLines } from './resources-v1';
import { CgroupError, LinuxResources } from './types';

const set = (n: number | undefined): n is number => n !== undefined && n !== null && n !== 0;

function memory(r: LinuxResources, dir: string, io: CgroupIO): void {
  const m = r.memory;
  if (!m || !(set(m.limit) || set(m.swap) || set(m.reservation))) return;
  const limit = m.limit ?? 0;
  if (m.checkBeforeUpdate && limit > 0) {
    const usage = BigInt(io.read(dir, 'memory.current').trim());
    if (usage > BigInt(limit)) throw new CgroupError(`cgroup: memory limit ${limit} is lower than the current usage ${usage}`);
  }
  const swap = swapToV2(m.swap ?? 0, limit);
  let swapStr = v2Limit(swap);
  // memory == memory+swap: no swap at all, which is "0", not "leave alone".
  if (swapStr === '' && (m.swap ?? 0) > 0) swapStr = '0';
  if (swapStr !== '') {
    try {
      io.write(dir, 'memory.swap.max', swapStr);
    } catch (e) {
      // No swap controller (swap accounting off): "unlimited" and "none" need no enforcing.
      if (!((e as CgroupError).code === 'ENOENT' && (swapStr === 'max' || swapStr === '0'))) throw e;
    }
  }
  const max = v2Limit(limit);
  if (max) io.write(dir, 'memory.max', max);
  const low = v2Limit(m.reservation ?? 0);
  if (low) io.write(dir, 'memory.low', low);
  // swappiness, disableOOMKiller, kernel, kernelTCP, useHierarchy have no v2 file; runc ignores them.
}

function cpu(r: LinuxResources, dir: string, io: CgroupIO): void {
  const c = r.cpu;
  if (!c) return;
  if (set(c.realtimePeriod) || set(c.realtimeRuntime)) {
    throw new CgroupError('cgroup: cpu.realtimeRuntime/realtimePeriod are not supported on cgroup v2 (no cpu.rt_* files)');
  }
  if (set(c.shares)) io.write(dir, 'cpu.weight', String(sharesToWeight(c.shares)));
  if (c.idle !== undefined) io.write(dir, 'cpu.idle', int(c.idle, 'cpu.idle'));
  if (set(c.quota) || set(c.period)) {
    // "max" when only the period changes or the quota is negative; keep the period if given.
    let v = set(c.quota) && c.quota > 0 ? int(c.quota, 'cpu.quota') : 'max';
    if (set(c.period)) v += ' ' + int(c.period, 'cpu.period');
    io.write(dir, 'cpu.max', v);
  }
  if (c.burst !== undefined) io.write(dir, 'cpu.max.burst', int(c.burst, 'cpu.burst'));
  if (c.cpus) io.write(dir, 'cpuset.cpus', c.cpus);
  if (c.mems) io.write(dir, 'cpuset.mems', c.mems);
}

const ioMax = [
  ['throttleReadBpsDevice', 'rbps'],
  ['throttleWriteBpsDevice', 'wbps'],
  ['throttleReadIOPSDevice', 'riops'],
  ['throttleWriteIOPSDevice', 'wiops'],
] as const;

function blockIO(r: LinuxResources, dir: string, io: CgroupIO): void {
  const b = r.blockIO;
  if (!b) return;
  // BFQ takes blkio-style weights directly; otherwise convert to io.weight's range (runc setIo).
  const bfq = (set(b.weight) || (b.weightDevice ?? []).length > 0) && io.exists(dir, 'io.bfq.weight');
  if (set(b.weight)) {
    if (bfq) io.write(dir, 'io.bfq.weight', int(b.weight, 'blockIO.weight'));
    else io.write(dir, 'io.weight', String(blkioWeightToIoWeight(b.weight)));
  }
  if (bfq) {
    for (const w of b.weightDevice ?? []) {
      if (set(w.weight)) io.write(dir, 'io.bfq.weight', `${w.major}:${w.minor} ${int(w.weight, 'weightDevice.weight')}`);
    }
  }
  for (const [key, name] of ioMax) {
    for (const t of b[key] ?? []) io.write(dir, 'io.max', `${t.major}:${t.minor} ${name}=${int(t.rate ?? 0, key + '.rate')}`);
  }
}

function hugetlb(r: LinuxResources, dir: string, io: CgroupIO): void {
  for (const h of r.hugepageLimits ?? []) {
    const size = checkPageSize(h.pageSize);
    const v = int(h.limit, 'hugepageLimits.limit');
    io.write(dir, `hugetlb.${size}.max`, v);
    const rsvd = `hugetlb.${size}.rsvd.max`;
    if (io.exists(dir, rsvd)) io.write(dir, rsvd, v);
  }
}

/** Keys are written verbatim, after everything else so they win (the spec's escape hatch). */
function unified(r: LinuxResources, dir: string, io: CgroupIO, controllers: Set<string>): void {
  for (const [k, v] of Object.entries(r.unified ?? {})) {
    if (k.includes('/') || k === '.' || k === '..') throw new CgroupError(`cgroup: unified resource "${k}" must be a file name (no slashes)`);
    try {
      io.write(dir, k, v);
    } catch (e) {
      const code = (e as CgroupError).code;
      if (code === 'ENOENT' || code === 'EPERM' || code === 'EACCES') {
        const [ctrl, param] = k.split('.', 2);
        if (!param) throw new CgroupError(`cgroup: unified resource "${k}" must be in the form CONTROLLER.PARAMETER`);
        if (ctrl !== 'cgroup' && !controllers.has(ctrl)) {
          throw new CgroupError(`cgroup: unified resource "${k}" can't be set: controller "${ctrl}" not available`);
        }
      }
      throw e;
    }
  }
}

export function applyV2(r: LinuxResources | undefined, dir: string, io: CgroupIO, controllers: Set<string>): void {
  if (!r) return;
  const n = r.network;
  if (n && (set(n.classID) || (n.priorities ?? []).length > 0)) {
    throw new CgroupError('cgroup: linux.resources.network (net_cls/net_prio) is not supported on cgroup v2');
  }
  // runc's fs2 order: pids, memory, io, cpu, (devices), cpuset, hugetlb, rdma, unified.
  const limit = r.pids?.limit;
  if (set(limit)) io.write(dir, 'pids.max', limit > 0 ? int(limit, 'pids.limit') : 'max');
  memory(r, dir, io);
  blockIO(r, dir, io);
  cpu(r, dir, io);
  hugetlb(r, dir, io);
  for (const l of rdmaLines(r.rdma)) io.write(dir, 'rdma.max', l);
  unified(r, dir, io, controllers);
}
