/**
 * linux.seccomp → a checked, normalised profile: actions as SECCOMP_RET_* values, conditions
 * with 64-bit values. Malformed input is a one-line error in runc's words; what runc (with
 * libseccomp) silently accepts, such as syscall names it does not know, is accepted here too.
 */
import type { LinuxSeccomp } from '@tsrun/spec';
import { KNOWN_ARCHES } from './arch';

// SECCOMP_RET_* (linux/seccomp.h).
export const RET_KILL_PROCESS = 0x80000000;
export const RET_KILL_THREAD = 0x00000000;
export const RET_TRAP = 0x00030000;
export const RET_ERRNO = 0x00050000;
export const RET_USER_NOTIF = 0x7fc00000;
export const RET_TRACE = 0x7ff00000;
export const RET_LOG = 0x7ffc0000;
export const RET_ALLOW = 0x7fff0000;

const EPERM = 1;
export const ENOSYS = 38;

// SECCOMP_FILTER_FLAG_* (linux/seccomp.h).
export const FLAG_TSYNC = 1;
export const FLAG_NEW_LISTENER = 8;
export const FLAG_WAIT_KILLABLE_RECV = 32;
const FLAGS: Record<string, number> = {
  SECCOMP_FILTER_FLAG_TSYNC: FLAG_TSYNC,
  SECCOMP_FILTER_FLAG_LOG: 2,
  SECCOMP_FILTER_FLAG_SPEC_ALLOW: 4,
  SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV: FLAG_WAIT_KILLABLE_RECV,
};

/**
 * The syscall that hands the listener of a filter with SCMP_ACT_NOTIFY rules to the runtime,
 * the first one made under the filter: notified, it would wait for an agent that cannot have
 * the listener yet (runc refuses `write`, which is its own hand-over call, for that reason).
 */
const HANDOVER_SYSCALL = 'sendmsg';

export type Op = 'SCMP_CMP_NE' | 'SCMP_CMP_LT' | 'SCMP_CMP_LE' | 'SCMP_CMP_EQ' | 'SCMP_CMP_GE' | 'SCMP_CMP_GT' | 'SCMP_CMP_MASKED_EQ';
const OPS = new Set<string>(['SCMP_CMP_NE', 'SCMP_CMP_LT', 'SCMP_CMP_LE', 'SCMP_CMP_EQ', 'SCMP_CMP_GE', 'SCMP_CMP_GT', 'SCMP_CMP_MASKED_EQ']);

export interface Condition {
  index: number;
  op: Op;
  value: bigint;
  valueTwo: bigint;
}

/** One rule: `action` when every condition holds (no conditions: always). */
export interface Rule {
  action: number;
  conditions: Condition[];
}

export interface Profile {
  defaultAction: number;
  architectures: string[];
  /**
   * SECCOMP_FILTER_FLAG_*: the profile's, plus NEW_LISTENER when a rule notifies an agent.
   * TSYNC goes then (the kernel refuses it with NEW_LISTENER, and the process that loads the
   * filter has one thread), and WAIT_KILLABLE_RECV without it (it only concerns notifications).
   */
  flags: number;
  /** Rules per syscall name, in the profile's order. */
  rules: Map<string, Rule[]>;
  /** Every syscall name the profile mentions (for runc's -ENOSYS rule on newer syscalls). */
  names: Set<string>;
}

export class SeccompError extends Error {}

const MAX_U64 = (1n << 64n) - 1n;

export function parseProfile(s: LinuxSeccomp): Profile {
  if (!s || typeof s !== 'object') throw new SeccompError('linux.seccomp must be an object');
  const defaultAction = action(s.defaultAction, s.defaultErrnoRet);
  // As runc: the hand-over of the listener would be notified too, and wait for ever.
  if (defaultAction === RET_USER_NOTIF) throw new SeccompError('SCMP_ACT_NOTIFY cannot be used as default action');

  const architectures: string[] = [];
  for (const a of s.architectures ?? []) {
    if (!KNOWN_ARCHES.includes(a)) throw new SeccompError(`string ${a} is not a valid arch for seccomp`);
    architectures.push(a);
  }

  let flags = 0;
  for (const f of s.flags ?? []) {
    if (FLAGS[f] === undefined) throw new SeccompError(`seccomp flag ${JSON.stringify(f)} is not supported`);
    flags |= FLAGS[f];
  }

  const rules = new Map<string, Rule[]>();
  const names = new Set<string>();
  let notify = false;
  for (const sc of s.syscalls ?? []) {
    const act = action(sc.action, sc.errnoRet);
    const conditions = (sc.args ?? []).map((a) => condition(a, sc.names));
    for (const n of sc.names ?? []) names.add(n);
    if (act === RET_USER_NOTIF) {
      notify = true;
      if (sc.names?.includes(HANDOVER_SYSCALL)) {
        throw new SeccompError(`SCMP_ACT_NOTIFY cannot be used for the ${HANDOVER_SYSCALL} syscall`);
      }
    }
    // runc hands libseccomp no rule whose action is the default one: it would change nothing,
    // except hide other rules of the same syscall (libseccomp lets an unconditional rule win).
    if (act === defaultAction) continue;
    // runc's rule: conditions on distinct arguments are ANDed in one rule, but when one
    // argument is named twice (e.g. arg0 == 1, arg0 == 2) each condition is a rule of its own.
    const seen = new Set(conditions.map((c) => c.index));
    const groups = seen.size === conditions.length ? [conditions] : conditions.map((c) => [c]);
    for (const n of sc.names ?? []) {
      if (!rules.has(n)) rules.set(n, []);
      for (const g of groups) rules.get(n)!.push({ action: act, conditions: g });
    }
  }
  if (notify) {
    // runc's words; runc finds out once init has loaded the filter, we before init is started.
    if (!s.listenerPath) throw new SeccompError('seccomp listenerPath is not set');
    flags = (flags | FLAG_NEW_LISTENER) & ~FLAG_TSYNC;
  } else {
    flags &= ~FLAG_WAIT_KILLABLE_RECV;
  }
  return { defaultAction, architectures, flags, rules, names };
}

/** An SCMP_ACT_* name (with its errnoRet) → the SECCOMP_RET_* value the filter returns. */
function action(name: unknown, errnoRet: number | undefined): number {
  const data = () => {
    if (errnoRet === undefined || errnoRet === null) return EPERM;
    if (!Number.isInteger(errnoRet) || errnoRet < 0 || errnoRet > 0xffff) {
      throw new SeccompError(`seccomp errnoRet ${JSON.stringify(errnoRet)} is not a number from 0 to 65535`);
    }
    return errnoRet;
  };
  switch (name) {
    case 'SCMP_ACT_KILL':
    case 'SCMP_ACT_KILL_THREAD':
      return RET_KILL_THREAD;
    case 'SCMP_ACT_KILL_PROCESS':
      return RET_KILL_PROCESS;
    case 'SCMP_ACT_TRAP':
      return RET_TRAP;
    case 'SCMP_ACT_ERRNO':
      return (RET_ERRNO | data()) >>> 0;
    case 'SCMP_ACT_TRACE':
      // As runc: errnoRet (default EPERM) is the value the tracer sees.
      return (RET_TRACE | data()) >>> 0;
    case 'SCMP_ACT_LOG':
      return RET_LOG;
    case 'SCMP_ACT_ALLOW':
      return RET_ALLOW;
    case 'SCMP_ACT_NOTIFY':
      return RET_USER_NOTIF;
    default:
      throw new SeccompError(`string ${String(name)} is not a valid action for seccomp`);
  }
}

function condition(a: { index: number; value: number; valueTwo?: number; op: string }, names: string[]): Condition {
  if (!OPS.has(a.op)) throw new SeccompError(`string ${String(a.op)} is not a valid operator for seccomp`);
  if (!Number.isInteger(a.index) || a.index < 0 || a.index > 5) {
    throw new SeccompError(
      `error creating seccomp syscall condition for syscall ${names?.[0]}: syscalls only have up to 6 arguments (${a.index} given)`,
    );
  }
  return { index: a.index, op: a.op as Op, value: u64(a.value, 'value'), valueTwo: u64(a.valueTwo ?? 0, 'valueTwo') };
}

/**
 * A JSON number as an unsigned 64-bit value. JSON numbers above 2^53 arrive rounded; the only
 * one that rounds past the range is 18446744073709551615 (all ones), which is what it meant.
 */
function u64(v: number, field: string): bigint {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) {
    throw new SeccompError(`seccomp argument ${field} ${JSON.stringify(v)} is not an unsigned 64-bit integer`);
  }
  const b = BigInt(v);
  if (b === MAX_U64 + 1n) return MAX_U64;
  if (b > MAX_U64) throw new SeccompError(`seccomp argument ${field} ${v} is larger than 64 bits`);
  return b;
}
