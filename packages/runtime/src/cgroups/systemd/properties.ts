/**
 * The unit properties the systemd cgroup driver hands to StartTransientUnit and
 * SetUnitProperties, as runc's systemd driver sets them: the unit's place and accounting, the
 * resource limits systemd knows by name (so that a daemon-reload keeps them), and the config's
 * `org.systemd.property.*` annotations. Pure: a property is [name, [D-Bus signature, value]].
 */
import { CgroupError, LinuxResources } from '../types';
import { blkioWeightToIoWeight, sharesToWeight, swapToV2 } from '../convert';
import { idListMask } from '../../plan/id-list';

export type Property = [string, [string, unknown]];

/** systemd's "infinity" for uint64 limits. */
const INFINITY = '18446744073709551615';

export interface UnitPlace {
  /** e.g. "tsrun-<id>.scope", or a slice unit "<name>.slice". */
  unit: string;
  slice: string;
  description: string;
  /** The first process of a scope (scopes cannot be empty). */
  pid?: number;
  unified: boolean;
}

/** Where the unit goes and what systemd should account and delegate. */
export function placementProperties(p: UnitPlace): Property[] {
  const props: Property[] = [['Description', ['s', p.description]]];
  if (p.unit.endsWith('.slice')) {
    // A slice unit (runc: a container named "x.slice" becomes a slice of its own).
    props.push(['Wants', ['as', [p.slice]]]);
  } else {
    props.push(['Slice', ['s', p.slice]], ['Delegate', ['b', true]]);
  }
  if (p.pid !== undefined) props.push(['PIDs', ['au', [p.pid]]]);
  props.push(
    ['MemoryAccounting', ['b', true]],
    ['CPUAccounting', ['b', true]],
    [p.unified ? 'IOAccounting' : 'BlockIOAccounting', ['b', true]],
    ['TasksAccounting', ['b', true]],
    ['DefaultDependencies', ['b', false]],
  );
  return props;
}

function limit(v: number | bigint): string {
  return BigInt(v) < 0n ? INFINITY : String(v);
}

/** "0-3,8" → the byte mask systemd's AllowedCPUs/AllowedMemoryNodes take (bit n of byte n/8). */
export function cpuSetMask(list: string, what: string): number[] {
  try {
    return idListMask(list, what, 8192);
  } catch {
    throw new CgroupError(`cgroup: invalid ${what} "${list}"`);
  }
}

/** The limits systemd knows by name (runc's genV1/genV2ResourcesProperties). */
export function resourceProperties(r: LinuxResources | undefined, unified: boolean): Property[] {
  if (!r) return [];
  const props: Property[] = [];
  const mem = r.memory;
  if (mem?.limit !== undefined && mem.limit !== 0) props.push([unified ? 'MemoryMax' : 'MemoryLimit', ['t', limit(mem.limit)]]);
  if (unified && mem?.reservation !== undefined && mem.reservation !== 0) props.push(['MemoryLow', ['t', limit(mem.reservation)]]);
  if (unified && mem?.swap !== undefined && mem.swap !== 0) {
    const swap = swapToV2(Number(mem.swap), Number(mem.limit ?? 0));
    if (swap !== 0) props.push(['MemorySwapMax', ['t', limit(swap)]]);
  }
  const cpu = r.cpu;
  if (cpu?.shares) {
    props.push(unified ? ['CPUWeight', ['t', String(sharesToWeight(Number(cpu.shares)))]] : ['CPUShares', ['t', String(cpu.shares)]]);
  }
  if (cpu?.quota !== undefined && cpu.quota !== 0) {
    const period = Number(cpu.period ?? 100000) || 100000;
    props.push(['CPUQuotaPeriodUSec', ['t', String(period)]]);
    let perSec = Number(cpu.quota) < 0 ? INFINITY : String(Math.floor((Number(cpu.quota) * 1000000) / period));
    // systemd rounds the quota to 10 ms per second; round up as runc does, never below what was asked.
    if (perSec !== INFINITY && Number(perSec) % 10000 !== 0) perSec = String((Math.floor(Number(perSec) / 10000) + 1) * 10000);
    props.push(['CPUQuotaPerSecUSec', ['t', perSec]]);
  }
  if (unified && cpu?.cpus) props.push(['AllowedCPUs', ['ay', cpuSetMask(cpu.cpus, 'cpuset.cpus')]]);
  if (unified && cpu?.mems) props.push(['AllowedMemoryNodes', ['ay', cpuSetMask(cpu.mems, 'cpuset.mems')]]);
  if (r.pids?.limit !== undefined && r.pids.limit !== 0) props.push(['TasksMax', ['t', limit(r.pids.limit)]]);
  if (unified && r.blockIO?.weight) props.push(['IOWeight', ['t', String(blkioWeightToIoWeight(r.blockIO.weight))]]);
  return props;
}

const ANNOTATION = 'org.systemd.property.';

/**
 * `org.systemd.property.NAME` annotations, their values in GVariant text form as runc reads
 * them: `true`/`false`, a type keyword and a number (`uint64 300000000`), a quoted string, a
 * bare integer (int32) or a decimal (double). Anything else is refused: silently dropping a
 * property the user asked for would be worse.
 */
export function annotationProperties(annotations: Record<string, string> | undefined): Property[] {
  const props: Property[] = [];
  for (const [key, value] of Object.entries(annotations ?? {})) {
    if (!key.startsWith(ANNOTATION)) continue;
    const name = key.slice(ANNOTATION.length);
    if (!/^[A-Za-z][A-Za-z0-9]*$/.test(name)) throw new CgroupError(`cgroup: annotation ${key}: invalid systemd property name`);
    props.push([name, parseVariant(value, key)]);
  }
  return props;
}

const TYPED: Record<string, [string, bigint, bigint]> = {
  byte: ['y', 0n, 255n],
  int16: ['n', -(2n ** 15n), 2n ** 15n - 1n],
  uint16: ['q', 0n, 2n ** 16n - 1n],
  int32: ['i', -(2n ** 31n), 2n ** 31n - 1n],
  uint32: ['u', 0n, 2n ** 32n - 1n],
  int64: ['x', -(2n ** 63n), 2n ** 63n - 1n],
  uint64: ['t', 0n, 2n ** 64n - 1n],
};

export function parseVariant(text: string, key: string): [string, unknown] {
  const v = text.trim();
  if (v === 'true' || v === 'false') return ['b', v === 'true'];
  const quoted = /^'((?:[^'\\]|\\.)*)'$/.exec(v) ?? /^"((?:[^"\\]|\\.)*)"$/.exec(v);
  if (quoted) return ['s', quoted[1].replace(/\\(.)/g, '$1')];
  const typed = /^(byte|int16|uint16|int32|uint32|int64|uint64)\s+(-?\d+)$/.exec(v);
  if (typed) {
    const [sig, lo, hi] = TYPED[typed[1]];
    const n = BigInt(typed[2]);
    if (n < lo || n > hi) throw new CgroupError(`cgroup: annotation ${key}: ${typed[2]} is out of range for ${typed[1]}`);
    return [sig, sig === 't' || sig === 'x' ? n.toString() : Number(n)];
  }
  if (/^-?\d+$/.test(v)) {
    const n = BigInt(v);
    if (n < TYPED.int32[1] || n > TYPED.int32[2]) throw new CgroupError(`cgroup: annotation ${key}: ${v} is out of range for int32 (give a type: uint64 ${v})`);
    return ['i', Number(n)];
  }
  if (/^-?\d+\.\d*(e-?\d+)?$/.test(v)) return ['d', Number(v)];
  throw new CgroupError(`cgroup: annotation ${key}: cannot read "${text}" as a value (want true, false, 'text', a number, or e.g. uint64 N)`);
}
