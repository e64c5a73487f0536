/** `run`: create + start, then wait for init and exit with its status (unless --detach). */
import * as fs from 'fs';
import type { Context } from './context';
import { createContainer, CreateExtras, CreateOptions } from './create';
import { destroyContainer } from './delete';
import { waitForeground } from './foreground';
import { startContainer } from './start';

export async function runContainer(ctx: Context, o: CreateOptions & { detach?: boolean; keep?: boolean }): Promise<number> {
  const extras: CreateExtras = {};
  const rec = createContainer(ctx, { ...o, detach: !!o.detach }, extras);
  try {
    startContainer(ctx, rec.id);
  } catch (e) {
    if (extras.ttyMaster !== undefined) fs.closeSync(extras.ttyMaster);
    destroyContainer(ctx, rec, true);
    throw e;
  }
  if (o.detach) return 0;
  // init is our child (CLONE_PARENT): relay signals (and a terminal) to it, as runc does, and reap it.
  try {
    // The relay (and Node's tty module) only when there is a terminal to relay.
    const relay = extras.ttyMaster !== undefined
      ? (require('../launch/tty-relay') as typeof import('../launch/tty-relay')).TtyRelay.start(extras.ttyMaster)
      : undefined;
    return await waitForeground(rec.pid, relay);
  } finally {
    if (!o.keep) {
      const lock = ctx.store.lock(rec.id);
      try {
        destroyContainer(ctx, ctx.store.load(rec.id), true);
      } finally {
        lock.release();
      }
    }
  }
}
