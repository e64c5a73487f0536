/**
 * A container's status is derived from the kernel each time it is asked for, never stored:
 * stopped when init is gone, a zombie, or a different process reusing the pid; created while
 * the exec fifo exists; paused when its cgroup is frozen (checked first, as runc); else running.
 */
import type { ContainerStatus } from '@tsrun/spec';
import * as fs from 'fs';
import type { ContainerRecord } from './record';

interface ProcStat {
  state: string;
  startTime: string;
}

/** Fields of /proc/PID/stat; the command name may hold spaces and parentheses. */
export function readProcStat(pid: number): ProcStat | undefined {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state); field 22 (starttime) is rest[19].
  return { state: rest[0], startTime: rest[19] };
}

export function isAlive(pid: number, startTime?: string): boolean {
  if (pid <= 0) return false;
  const st = readProcStat(pid);
  if (!st || st.state === 'Z' || st.state === 'X') return false;
  return startTime === undefined || startTime === '' || st.startTime === startTime;
}

export function statusOf(rec: ContainerRecord, frozen: () => boolean, fifoPath: string): ContainerStatus {
  if (rec.pid === 0) return isAlive(rec.creatorPid) ? 'creating' : 'stopped';
  if (!isAlive(rec.pid, rec.pidStartTime)) return 'stopped';
  // As runc: a frozen container is paused even before `start`.
  if (frozen()) return 'paused';
  if (fs.existsSync(fifoPath)) return 'created';
  return 'running';
}
