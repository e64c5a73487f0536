/**
 * `delete`: remove everything the container owned: its processes (with --force, or when
 * it was only created), its cgroup and its state; then run the poststop hooks.
 */
import { loadCgroupManager } from '../cgroups';
import { NotExistError, RuntimeError } from '../errors';
import type { Context } from './context';
import { runHooksWarn } from './hooks';
import { currentStatus } from './query';
import type { ContainerRecord } from './record';
import { specState } from './state-json';
import { isAlive } from './status';

export function deleteContainer(ctx: Context, id: string, force: boolean): void {
  let lock;
  try {
    lock = ctx.store.lock(id);
  } catch (e) {
    if (e instanceof NotExistError && force) return;
    throw e;
  }
  try {
    let rec: ContainerRecord;
    try {
      rec = ctx.store.load(id);
    } catch (e) {
      // A directory without state is the remains of an interrupted create.
      if (!(e instanceof NotExistError)) throw e;
      ctx.store.remove(id);
      if (force) return;
      throw e;
    }
    const status = currentStatus(ctx, rec);
    if ((status === 'running' || status === 'paused' || status === 'creating') && !force) {
      throw new RuntimeError(`cannot delete container ${id} that is not stopped: ${status}`);
    }
    destroyContainer(ctx, rec, status !== 'stopped');
  } finally {
    lock.release();
  }
}

/** Kills what still runs, removes the cgroup and the state, runs poststop hooks. */
export function destroyContainer(ctx: Context, rec: ContainerRecord, kill: boolean): void {
  const cg = rec.cgroup ? loadCgroupManager(rec.cgroup) : undefined;
  if (kill) {
    if (cg) {
      try {
        cg.thaw();
      } catch {
        /* not frozen, or no freezer */
      }
    }
    if (isAlive(rec.pid, rec.pidStartTime)) {
      try {
        process.kill(rec.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
      waitGone(rec.pid, rec.pidStartTime);
    }
  }
  try {
    cg?.destroy();
  } catch (e) {
    // Keep going: the state must go, or the container could never be deleted.
    ctx.log.warn(`remove cgroup of ${rec.id}: ${(e as Error).message}`);
  }
  ctx.store.remove(rec.id);
  runHooksWarn('poststop', rec.config.hooks?.poststop, specState(rec, 'stopped'), (m) => ctx.log.error(m));
}

/** Waits (bounded) until a process we are not the parent of has died. */
function waitGone(pid: number, startTime: string): void {
  const sleeper = new Int32Array(new SharedArrayBuffer(4));
  for (let i = 0; i < 2000 && isAlive(pid, startTime); i++) Atomics.wait(sleeper, 0, 0, 5);
}
