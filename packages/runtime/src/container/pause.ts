/**
 * `pause` / `resume`: freeze and thaw every process of the container through its cgroup's
 * freezer. The status then reads "paused" (status.ts asks the freezer). Errors in runc's words.
 */
import { CgroupManager, loadCgroupManager } from '../cgroups';
import { RuntimeError } from '../errors';
import type { Context } from './context';
import { currentStatus } from './query';
import type { ContainerRecord } from './record';

function managerOf(rec: ContainerRecord): CgroupManager {
  if (!rec.cgroup) throw new RuntimeError('container has no cgroup to freeze');
  return loadCgroupManager(rec.cgroup);
}

export function pauseContainer(ctx: Context, id: string): void {
  const lock = ctx.store.lock(id);
  try {
    const rec = ctx.store.load(id);
    const status = currentStatus(ctx, rec);
    // runc pauses running and created containers; anything else "is not running".
    if (status !== 'running' && status !== 'created') throw new RuntimeError('container not running');
    managerOf(rec).freeze();
  } finally {
    lock.release();
  }
}

export function resumeContainer(ctx: Context, id: string): void {
  const lock = ctx.store.lock(id);
  try {
    const rec = ctx.store.load(id);
    if (currentStatus(ctx, rec) !== 'paused') throw new RuntimeError('container not paused');
    managerOf(rec).thaw();
  } finally {
    lock.release();
  }
}
