/**
 * process.scheduler and process.ioPriority (runtime-spec 1.2) → the plan's sched_setattr(2)
 * attributes and ioprio_set(2) value, checked here so that a bad value is a one-line error
 * before anything is created.
 */
import type { Process } from '@tsrun/spec';
import { RuntimeError } from '../errors';

const POLICIES: Record<string, number> = {
  SCHED_OTHER: 0,
  SCHED_FIFO: 1,
  SCHED_RR: 2,
  SCHED_BATCH: 3,
  SCHED_ISO: 4,
  SCHED_IDLE: 5,
  SCHED_DEADLINE: 6,
};

const FLAGS: Record<string, number> = {
  SCHED_FLAG_RESET_ON_FORK: 0x01,
  SCHED_FLAG_RECLAIM: 0x02,
  SCHED_FLAG_DL_OVERRUN: 0x04,
  SCHED_FLAG_KEEP_POLICY: 0x08,
  SCHED_FLAG_KEEP_PARAMS: 0x10,
  SCHED_FLAG_UTIL_CLAMP_MIN: 0x20,
  SCHED_FLAG_UTIL_CLAMP_MAX: 0x40,
};

const IO_CLASSES: Record<string, number> = { IOPRIO_CLASS_RT: 1, IOPRIO_CLASS_BE: 2, IOPRIO_CLASS_IDLE: 3 };

export interface SchedulingPlan {
  sched?: { policy: number; flags: bigint; nice: number; priority: number; runtime: bigint; deadline: bigint; period: bigint };
  ioprio?: number;
}

export function schedulingPlan(proc: Pick<Process, 'scheduler' | 'ioPriority'>): SchedulingPlan {
  const out: SchedulingPlan = {};
  const s = proc.scheduler;
  if (s) {
    const policy = POLICIES[s.policy];
    if (policy === undefined) throw new RuntimeError(`process.scheduler: invalid policy ${JSON.stringify(s.policy)}`);
    let flags = 0;
    for (const f of s.flags ?? []) {
      const bit = FLAGS[f];
      if (bit === undefined) throw new RuntimeError(`process.scheduler: invalid flag ${JSON.stringify(f)}`);
      flags |= bit;
    }
    const nice = s.nice ?? 0;
    if (!Number.isInteger(nice) || nice < -20 || nice > 19) throw new RuntimeError(`process.scheduler: nice ${nice} is not between -20 and 19`);
    const ns = (v: number | undefined, what: string): bigint => {
      if (v === undefined) return 0n;
      if (!Number.isInteger(v) || v < 0) throw new RuntimeError(`process.scheduler: ${what} must be a non-negative integer`);
      return BigInt(v);
    };
    out.sched = {
      policy,
      flags: BigInt(flags),
      nice,
      priority: s.priority ?? 0,
      runtime: ns(s.runtime, 'runtime'),
      deadline: ns(s.deadline, 'deadline'),
      period: ns(s.period, 'period'),
    };
  }
  const io = proc.ioPriority;
  if (io) {
    const cls = IO_CLASSES[io.class];
    if (cls === undefined) throw new RuntimeError(`process.ioPriority: invalid class ${JSON.stringify(io.class)}`);
    const level = io.priority ?? 0;
    if (!Number.isInteger(level) || level < 0 || level > 7) throw new RuntimeError(`process.ioPriority: priority ${level} is not between 0 and 7`);
    out.ioprio = (cls << 13) | level;
  }
  return out;
}
