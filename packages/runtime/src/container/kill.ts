/** `kill`: signal init, or with --all every process in the container's cgroup (as runc). */
import { loadCgroupManager } from '../cgroups';
import { RuntimeError } from '../errors';
import type { Context } from './context';
import { currentStatus } from './query';

export function killContainer(ctx: Context, id: string, signal: number, all: boolean): void {
  const lock = ctx.store.lock(id);
  try {
    const rec = ctx.store.load(id);
    const status = currentStatus(ctx, rec);
    if (all) {
      const cg = rec.cgroup ? loadCgroupManager(rec.cgroup) : undefined;
      if (status === 'stopped' && !cg?.exists()) return;
      if (cg) {
        cg.signalAll(signal);
        return;
      }
    }
    if (status === 'stopped') throw new RuntimeError('container not running');
    try {
      process.kill(rec.pid, signal);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ESRCH') throw new RuntimeError('container not running');
      if (code === 'EINVAL') throw new RuntimeError(`invalid signal ${signal}`);
      throw e;
    }
  } finally {
    lock.release();
  }
}
