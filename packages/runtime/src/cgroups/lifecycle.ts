/**
 * Behaviour both drivers share: signalling every process, and tearing the cgroup down.
 */
import { killPid, removeTree, sleepMs, errnoText } from './fsio';
import { CgroupError } from './types';

export const SIGKILL = 9;

export interface Signallable {
  pids(): number[];
  canFreeze(): boolean;
  freeze(): void;
  thaw(): void;
  isFrozen(): boolean;
}

/**
 * Freeze, signal every pid, thaw: a frozen cgroup cannot fork, so no child escapes the signal
 * (runc's signalAllProcesses). Unlike runc, a container that was already paused stays paused
 * unless the signal is SIGKILL (then it must run to die).
 */
export function signalAllFrozen(m: Signallable, signal: number): void {
  let frozeIt = false;
  let wasFrozen = false;
  if (m.canFreeze()) {
    try {
      wasFrozen = m.isFrozen();
      if (!wasFrozen) m.freeze();
      frozeIt = true;
    } catch {
      // Freezing is an optimisation against fork races; signal anyway.
    }
  }
  try {
    for (const pid of m.pids()) killPid(pid, signal);
  } finally {
    if (frozeIt && (!wasFrozen || signal === SIGKILL)) {
      try {
        m.thaw();
      } catch {
        /* the cgroup may be gone already */
      }
    }
  }
}

/**
 * SIGKILL what is left, wait until the cgroup is empty (bounded: ~2 s), then rmdir every dir
 * with runc's retry schedule (10 ms doubling, 6 tries) since the kernel may report EBUSY while
 * the last tasks finish exiting. Already-removed dirs are fine; anything left is an error.
 */
export function destroyDirs(m: { pids(): number[]; signalAll(signal: number): void }, dirs: string[]): void {
  const alive = (): number[] => {
    try {
      return m.pids();
    } catch {
      return [];
    }
  };
  for (let i = 0; i < 100 && alive().length > 0; i++) {
    if (i % 10 === 0) {
      try {
        m.signalAll(SIGKILL);
      } catch {
        /* keep waiting; rmdir will tell */
      }
    }
    sleepMs(20);
  }
  let remaining = [...new Set(dirs)];
  let lastErr: NodeJS.ErrnoException | undefined;
  let delay = 10;
  for (let attempt = 0; attempt < 6 && remaining.length > 0; attempt++) {
    if (attempt > 0) {
      sleepMs(delay);
      delay *= 2;
    }
    remaining = remaining.filter((d) => {
      const err = removeTree(d);
      if (err) lastErr = err;
      return err !== undefined;
    });
  }
  if (remaining.length > 0) {
    throw new CgroupError(`cgroup: failed to remove ${remaining.join(', ')}: ${errnoText(lastErr)}`, lastErr?.code);
  }
}
