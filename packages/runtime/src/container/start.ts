/** `start`: release a created container's init by writing to its exec fifo. */
import * as fs from 'fs';
import { RuntimeError } from '../errors';
import type { Context } from './context';
import { runHooksWarn } from './hooks';
import { currentStatus } from './query';
import { specState } from './state-json';

export function startContainer(ctx: Context, id: string): void {
  const lock = ctx.store.lock(id);
  try {
    const rec = ctx.store.load(id);
    const status = currentStatus(ctx, rec);
    if (status === 'stopped') throw new RuntimeError('cannot start a container that has stopped');
    if (status === 'running') throw new RuntimeError('cannot start an already running container');
    if (status !== 'created') throw new RuntimeError(`cannot start a container in the ${status} state`);
    const fifo = ctx.store.fifoPath(id);
    let fd: number;
    try {
      // Non-blocking: with no reader (init died) this fails at once with ENXIO instead of hanging.
      fd = fs.openSync(fifo, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENXIO') throw new RuntimeError('cannot start a container that has stopped');
      throw e;
    }
    try {
      fs.writeSync(fd, '0');
    } finally {
      fs.closeSync(fd);
    }
    const poststart = rec.config.hooks?.poststart ?? [];
    // poststart comes after the user process has been executed (runtime-spec "Lifecycle"), so
    // also after init's startContainer hooks: wait until init has exec'd (or died).
    if (poststart.length) waitUntilFifoClosed(fifo);
    fs.unlinkSync(fifo);
    runHooksWarn('poststart', poststart, specState(rec, 'running'), (m) => ctx.log.warn(m));
  } finally {
    lock.release();
  }
}

/**
 * Init holds the exec fifo open, close-on-exec, until it execs the user process: once opening
 * it for writing without blocking fails with ENXIO, no reader is left, so init has exec'd (or
 * died). Opening as a writer consumes nothing. Bounded: a startContainer hook has its own timeout.
 */
function waitUntilFifoClosed(fifo: string): void {
  const sleeper = new Int32Array(new SharedArrayBuffer(4));
  for (let i = 0; i < 60_000; i++) {
    let fd: number;
    try {
      fd = fs.openSync(fifo, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENXIO') return;
      throw e;
    }
    fs.closeSync(fd);
    Atomics.wait(sleeper, 0, 0, 1);
  }
}
