/**
 * Usage statistics in runc's `events --stats` shape (runc's types.Stats, as runc 1.1 prints it):
 * containerd and other tools parse these field names. Counters are bigint because the kernel's
 * "unlimited" (9223372036854771712, or 2^64-1 for v2 "max") does not fit a double; encodeGoJSON
 * prints them as plain JSON integers. Optional fields follow Go's `omitempty`: a zero counter or
 * an empty list is left out, a struct never is.
 */
import * as fs from 'fs';
import * as path from 'path';
import { tryRead } from './fsio';

export type Json = bigint | number | string | boolean | null | Json[] | { [k: string]: Json };

export const MAX_UINT64 = (1n << 64n) - 1n;

/** JSON.stringify for bigint-bearing values, in insertion order, without spaces (Go's encoder). */
export function encodeGoJSON(v: Json | undefined): string {
  if (v === undefined || v === null) return 'null';
  if (typeof v === 'bigint') return v.toString();
  if (Array.isArray(v)) return '[' + v.map((x) => encodeGoJSON(x)).join(',') + ']';
  if (typeof v === 'object') {
    return '{' + Object.entries(v).filter(([, x]) => x !== undefined).map(([k, x]) => JSON.stringify(k) + ':' + encodeGoJSON(x)).join(',') + '}';
  }
  return JSON.stringify(v);
}

/** Control-file number; "max" is 2^64-1 as runc's GetCgroupParamUint reads it; absent is 0. */
export function parseUint(text: string | undefined): bigint {
  const t = (text ?? '').trim();
  if (t === 'max') return MAX_UINT64;
  if (!/^-?\d+$/.test(t)) return 0n;
  const n = BigInt(t);
  // The kernel prints some "unlimited" values as -1 in signed files; runc clamps them to 0.
  return n < 0n ? 0n : n;
}

/** "key value" lines (memory.stat, cpu.stat, cpuacct.stat) into a map. */
export function keyValues(text: string | undefined): Map<string, bigint> {
  const out = new Map<string, bigint>();
  for (const line of (text ?? '').split('\n')) {
    const [k, v] = line.trim().split(/\s+/);
    if (k && v !== undefined && /^\d+$/.test(v)) out.set(k, BigInt(v));
  }
  return out;
}

/** "0-2,5" -> [0,1,2,5] (cpuset lists). */
export function parseCpuList(text: string | undefined): number[] {
  const out: number[] = [];
  for (const part of (text ?? '').trim().split(',')) {
    if (!part) continue;
    const [a, b] = part.split('-').map(Number);
    if (!Number.isInteger(a)) continue;
    for (let i = a; i <= (Number.isInteger(b) ? b : a); i++) out.push(i);
  }
  return out;
}

/** Sets o[k] = v unless v is zero (Go omitempty for numbers and lists). */
function omit(o: Record<string, Json>, k: string, v: bigint | Json[]): void {
  if (Array.isArray(v) ? v.length > 0 : v !== 0n) o[k] = v;
}

function cpuUsage(total: bigint, percpu: bigint[], percpuKernel: bigint[], percpuUser: bigint[], kernel: bigint, user: bigint): Record<string, Json> {
  const u: Record<string, Json> = {};
  omit(u, 'total', total);
  omit(u, 'percpu', percpu);
  omit(u, 'percpu_kernel', percpuKernel);
  omit(u, 'percpu_user', percpuUser);
  u.kernel = kernel;
  u.user = user;
  return u;
}

function throttling(periods: bigint, throttled: bigint, time: bigint): Record<string, Json> {
  const t: Record<string, Json> = {};
  omit(t, 'periods', periods);
  omit(t, 'throttledPeriods', throttled);
  omit(t, 'throttledTime', time);
  return t;
}

function memoryEntry(limit: bigint, usage: bigint, max: bigint, failcnt: bigint): Record<string, Json> {
  const e: Record<string, Json> = { limit };
  omit(e, 'usage', usage);
  omit(e, 'max', max);
  e.failcnt = failcnt;
  return e;
}

interface CpusetNumbers {
  cpus: number[];
  mems: number[];
  values: Record<string, bigint>;
}

function cpuset(c: CpusetNumbers): Record<string, Json> {
  const o: Record<string, Json> = {};
  omit(o, 'cpus', c.cpus.map(BigInt));
  o.cpu_exclusive = c.values.cpu_exclusive ?? 0n;
  omit(o, 'mems', c.mems.map(BigInt));
  for (const k of ['mem_hardwall', 'mem_exclusive', 'memory_migrate', 'memory_spread_page', 'memory_spread_slab', 'memory_pressure', 'sched_load_balance']) o[k] = c.values[k] ?? 0n;
  o.sched_relax_domain_level = c.values.sched_relax_domain_level ?? 0n;
  return o;
}

/** blkio lines "8:0 Read 4096" (or "8:0 4096"); "Total N" summary lines are skipped as runc does. */
export function blkioEntries(text: string | undefined): Json[] {
  const out: Json[] = [];
  for (const line of (text ?? '').split('\n')) {
    const f = line.trim().split(/\s+/);
    const mm = /^(\d+):(\d+)$/.exec(f[0] ?? '');
    if (!mm || f.length < 2) continue;
    const e: Record<string, Json> = {};
    omit(e, 'major', BigInt(mm[1]));
    omit(e, 'minor', BigInt(mm[2]));
    const op = f.length >= 3 ? f[1] : '';
    if (op) e.op = op;
    omit(e, 'value', parseUint(f[f.length - 1]));
    out.push(e);
  }
  return out;
}

/** Page sizes the kernel offers ("2MB", "1GB"), from /sys/kernel/mm/hugepages. */
export function hugePageSizes(): string[] {
  let names: string[] = [];
  try {
    names = fs.readdirSync('/sys/kernel/mm/hugepages');
  } catch {
    return [];
  }
  const units = ['KB', 'MB', 'GB', 'TB'];
  return names
    .map((n) => /^hugepages-(\d+)kB$/.exec(n))
    .filter((m): m is RegExpExecArray => !!m)
    .map((m) => {
      let v = Number(m[1]);
      let u = 0;
      while (v >= 1024 && v % 1024 === 0 && u < units.length - 1) {
        v /= 1024;
        u++;
      }
      return `${v}${units[u]}`;
    });
}

/** Where each v1 controller's files are (undefined when not mounted/joined). */
export type V1DirOf = (controller: string) => string | undefined;

function v2Hugetlb(dir: string): Record<string, Json> {
  const out: Record<string, Json> = {};
  for (const size of hugePageSizes()) {
    const current = tryRead(dir, `hugetlb.${size}.current`);
    if (current === undefined) continue;
    const e: Record<string, Json> = {};
    omit(e, 'usage', parseUint(current));
    e.failcnt = keyValues(tryRead(dir, `hugetlb.${size}.events`)).get('max') ?? 0n;
    out[size] = e;
  }
  return out;
}

/**
 * runc's v1 stats (libcontainer/cgroups/fs). `unifiedDir` is the container's cgroup2 dir on a
 * hybrid host: controllers bound there (e.g. hugetlb) are read from it.
 */
export function statsV1(dirOf: V1DirOf, unifiedDir?: string): Record<string, Json> {
  const read = (controller: string, file: string): string | undefined => {
    const d = dirOf(controller);
    return d === undefined ? undefined : tryRead(d, file);
  };
  const num = (controller: string, file: string): bigint => parseUint(read(controller, file));

  // cpuacct.usage_all: "cpu user system" header, then one row per cpu.
  const all = (read('cpuacct', 'cpuacct.usage_all') ?? '').trim().split('\n').slice(1).map((l) => l.trim().split(/\s+/));
  const ticks = keyValues(read('cpuacct', 'cpuacct.stat'));
  // cpuacct.stat counts USER_HZ (100) ticks; runc reports nanoseconds.
  const tickNs = 1_000_000_000n / 100n;
  const percpu = (read('cpuacct', 'cpuacct.usage_percpu') ?? '').trim().split(/\s+/).filter(Boolean).map((x) => parseUint(x));
  const cpuStat = keyValues(read('cpu', 'cpu.stat'));
  const cpu = {
    usage: cpuUsage(
      num('cpuacct', 'cpuacct.usage'),
      percpu,
      all.filter((r) => r.length === 3).map((r) => parseUint(r[2])),
      all.filter((r) => r.length === 3).map((r) => parseUint(r[1])),
      (ticks.get('system') ?? 0n) * tickNs,
      (ticks.get('user') ?? 0n) * tickNs,
    ),
    throttling: throttling(cpuStat.get('nr_periods') ?? 0n, cpuStat.get('nr_throttled') ?? 0n, cpuStat.get('throttled_time') ?? 0n),
  };

  const cs: CpusetNumbers = { cpus: parseCpuList(read('cpuset', 'cpuset.cpus')), mems: parseCpuList(read('cpuset', 'cpuset.mems')), values: {} };
  if (dirOf('cpuset')) {
    for (const k of ['cpu_exclusive', 'mem_hardwall', 'mem_exclusive', 'memory_migrate', 'memory_spread_page', 'memory_spread_slab', 'memory_pressure', 'sched_load_balance']) cs.values[k] = num('cpuset', `cpuset.${k}`);
    const relax = (read('cpuset', 'cpuset.sched_relax_domain_level') ?? '0').trim();
    cs.values.sched_relax_domain_level = /^-?\d+$/.test(relax) ? BigInt(relax) : 0n;
  }

  const raw = keyValues(read('memory', 'memory.stat'));
  const entry = (prefix: string): Record<string, Json> => {
    if (read('memory', `${prefix}.limit_in_bytes`) === undefined) return { limit: 0n, failcnt: 0n };
    return memoryEntry(num('memory', `${prefix}.limit_in_bytes`), num('memory', `${prefix}.usage_in_bytes`), num('memory', `${prefix}.max_usage_in_bytes`), num('memory', `${prefix}.failcnt`));
  };
  const memory: Record<string, Json> = {};
  omit(memory, 'cache', raw.get('cache') ?? 0n);
  memory.usage = entry('memory');
  memory.swap = entry('memory.memsw');
  memory.kernel = entry('memory.kmem');
  memory.kernelTCP = entry('memory.kmem.tcp');
  if (raw.size > 0) memory.raw = Object.fromEntries([...raw.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));

  const pids: Record<string, Json> = {};
  omit(pids, 'current', num('pids', 'pids.current'));
  omit(pids, 'limit', (read('pids', 'pids.max') ?? '').trim() === 'max' ? 0n : num('pids', 'pids.max'));

  // runc: CFQ's files when present, else BFQ's, else the throttle layer's.
  const blkio: Record<string, Json> = {};
  const blkDir = dirOf('blkio');
  if (blkDir) {
    const prefix = fs.existsSync(path.join(blkDir, 'blkio.io_serviced_recursive')) ? 'blkio.' : fs.existsSync(path.join(blkDir, 'blkio.bfq.io_serviced_recursive')) ? 'blkio.bfq.' : 'blkio.throttle.';
    const files: [string, string][] = [
      ['ioServiceBytesRecursive', 'io_service_bytes_recursive'],
      ['ioServicedRecursive', 'io_serviced_recursive'],
      ['ioQueueRecursive', 'io_queued_recursive'],
      ['ioServiceTimeRecursive', 'io_service_time_recursive'],
      ['ioWaitTimeRecursive', 'io_wait_time_recursive'],
      ['ioMergedRecursive', 'io_merged_recursive'],
      ['ioTimeRecursive', 'time_recursive'],
      ['sectorsRecursive', 'sectors_recursive'],
    ];
    for (const [key, file] of files) omit(blkio, key, blkioEntries(tryRead(blkDir, prefix + file)));
  }

  let hugetlb: Record<string, Json> = {};
  if (dirOf('hugetlb')) {
    for (const size of hugePageSizes()) {
      const e: Record<string, Json> = {};
      omit(e, 'usage', num('hugetlb', `hugetlb.${size}.usage_in_bytes`));
      omit(e, 'max', num('hugetlb', `hugetlb.${size}.max_usage_in_bytes`));
      e.failcnt = num('hugetlb', `hugetlb.${size}.failcnt`);
      hugetlb[size] = e;
    }
  } else if (unifiedDir) {
    hugetlb = v2Hugetlb(unifiedDir);
  }

  return { cpu, cpuset: cpuset(cs), memory, pids, blkio, hugetlb, intel_rdt: {}, network_interfaces: null };
}

/** runc's v2 stats (libcontainer/cgroups/fs2), in the same shape as v1's. */
export function statsV2(dir: string): Record<string, Json> {
  const read = (file: string): string | undefined => tryRead(dir, file);
  const cs = keyValues(read('cpu.stat'));
  const cpu = {
    usage: cpuUsage((cs.get('usage_usec') ?? 0n) * 1000n, [], [], [], (cs.get('system_usec') ?? 0n) * 1000n, (cs.get('user_usec') ?? 0n) * 1000n),
    throttling: throttling(cs.get('nr_periods') ?? 0n, cs.get('nr_throttled') ?? 0n, (cs.get('throttled_usec') ?? 0n) * 1000n),
  };
  const cpusetStats: CpusetNumbers = { cpus: parseCpuList(read('cpuset.cpus.effective')), mems: parseCpuList(read('cpuset.mems.effective')), values: {} };

  const raw = keyValues(read('memory.stat'));
  const memory: Record<string, Json> = {};
  omit(memory, 'cache', raw.get('file') ?? 0n);
  const usage = parseUint(read('memory.current'));
  const limit = parseUint(read('memory.max'));
  // memory.peak (Linux 5.19+) plays v1's max_usage_in_bytes.
  memory.usage = memoryEntry(limit, usage, parseUint(read('memory.peak')), keyValues(read('memory.events')).get('max') ?? 0n);
  // v1 reported swap as memory+swap; runc keeps that meaning on v2.
  const swapCurrent = read('memory.swap.current');
  if (swapCurrent === undefined) {
    memory.swap = { limit: 0n, failcnt: 0n };
  } else {
    const swapMax = parseUint(read('memory.swap.max'));
    memory.swap = memoryEntry(swapMax === MAX_UINT64 || limit === MAX_UINT64 ? MAX_UINT64 : swapMax + limit, parseUint(swapCurrent) + usage, 0n, 0n);
  }
  memory.kernel = { limit: 0n, failcnt: 0n };
  memory.kernelTCP = { limit: 0n, failcnt: 0n };
  if (raw.size > 0) memory.raw = Object.fromEntries([...raw.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));

  const pids: Record<string, Json> = {};
  omit(pids, 'current', parseUint(read('pids.current')));
  const pmax = (read('pids.max') ?? '').trim();
  omit(pids, 'limit', pmax === 'max' ? 0n : parseUint(pmax));

  // io.stat "8:0 rbytes=1 wbytes=2 rios=3 wios=4 ..." -> v1's tables (runc statIo).
  const bytes: Json[] = [];
  const ios: Json[] = [];
  for (const line of (read('io.stat') ?? '').split('\n')) {
    const [dev, ...kv] = line.trim().split(/\s+/);
    const mm = /^(\d+):(\d+)$/.exec(dev ?? '');
    if (!mm) continue;
    for (const item of kv) {
      const [k, v] = item.split('=');
      const table = k === 'rbytes' || k === 'wbytes' ? bytes : k === 'rios' || k === 'wios' ? ios : undefined;
      if (!table) continue;
      const e: Record<string, Json> = {};
      omit(e, 'major', BigInt(mm[1]));
      omit(e, 'minor', BigInt(mm[2]));
      e.op = k.startsWith('r') ? 'Read' : 'Write';
      omit(e, 'value', parseUint(v));
      table.push(e);
    }
  }
  const blkio: Record<string, Json> = {};
  omit(blkio, 'ioServiceBytesRecursive', bytes);
  omit(blkio, 'ioServicedRecursive', ios);

  return { cpu, cpuset: cpuset(cpusetStats), memory, pids, blkio, hugetlb: v2Hugetlb(dir), intel_rdt: {}, network_interfaces: null };
}
