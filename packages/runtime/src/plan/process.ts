/** config.json `process` → the credentials, capabilities and limits init applies before exec. */
import * as fs from 'fs';
import type { Capabilities, Process } from '@tsrun/spec';
import { RuntimeError } from '../errors';
import { CAPABILITIES, RLIMITS } from './constants';

let lastCapCache: number | undefined;

/** The highest capability the running kernel knows (bits above it cannot be set). */
export function lastCap(): number {
  if (lastCapCache === undefined) {
    try {
      lastCapCache = parseInt(fs.readFileSync('/proc/sys/kernel/cap_last_cap', 'utf8'), 10);
    } catch {
      lastCapCache = CAPABILITIES.length - 1;
    }
  }
  return lastCapCache;
}

/** Unknown or (to this kernel) unavailable names are skipped and reported, as runc does. */
export function capMask(names: string[] | undefined, unknown: Set<string>): bigint {
  let mask = 0n;
  const last = lastCap();
  for (const name of names ?? []) {
    const bit = CAPABILITIES.indexOf(name.toUpperCase());
    if (bit < 0 || bit > last) unknown.add(name);
    else mask |= 1n << BigInt(bit);
  }
  return mask;
}

/** No capabilities object means no capabilities at all (runc clears every set). */
export function capSets(caps: Capabilities | undefined, warn: (msg: string) => void) {
  const unknown = new Set<string>();
  const sets = {
    bounding: capMask(caps?.bounding, unknown),
    effective: capMask(caps?.effective, unknown),
    permitted: capMask(caps?.permitted, unknown),
    inheritable: capMask(caps?.inheritable, unknown),
    ambient: capMask(caps?.ambient, unknown),
  };
  if (unknown.size) warn(`ignoring unknown or unavailable capabilities: [${[...unknown].join(' ')}]`);
  return sets;
}

/** process.env with later duplicates winning (runc sets them one by one), plus HOME. */
export function processEnv(env: string[] | undefined, home: () => string): string[] {
  const byName = new Map<string, string>();
  for (const e of env ?? []) {
    const eq = e.indexOf('=');
    const name = eq < 0 ? e : e.slice(0, eq);
    byName.delete(name);
    byName.set(name, e);
  }
  if (!byName.has('HOME')) byName.set('HOME', `HOME=${home()}`);
  return [...byName.values()];
}

const RLIM_INFINITY = 0xffffffffffffffffn;

function rlimitValue(v: number): bigint {
  // JSON cannot carry 2^64-1 exactly; anything at or above 2^63 means "unlimited".
  if (v >= 2 ** 63 || v < 0) return RLIM_INFINITY;
  return BigInt(Math.floor(v));
}

export function rlimits(process: Process) {
  const seen = new Set<string>();
  return (process.rlimits ?? []).map((r) => {
    const type = RLIMITS[r.type];
    if (type === undefined) throw new RuntimeError(`unknown rlimit type ${JSON.stringify(r.type)}`);
    if (seen.has(r.type)) throw new RuntimeError(`rlimit ${r.type} is set more than once`);
    seen.add(r.type);
    const soft = rlimitValue(r.soft);
    const hard = rlimitValue(r.hard);
    if (soft > hard) throw new RuntimeError(`rlimit ${r.type}: soft limit ${r.soft} is above the hard limit ${r.hard}`);
    return { type, soft, hard };
  });
}

/** The PATH of the process's environment (argv[0] is looked up on it inside the container). */
export function pathOf(env: string[] | undefined): string | undefined {
  for (let i = (env?.length ?? 0) - 1; i >= 0; i--) {
    const e = env![i];
    if (e.startsWith('PATH=')) return e.slice(5);
  }
  return undefined;
}
