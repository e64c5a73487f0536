/** `run`: create + start, then wait for init and exit with its status (unless --detach). */
import type { TtyRelay } from '../launch/tty-relay';
import type { Context } from './context';
import { createContainer, CreateExtras, CreateOptions } from './create';
import { destroyContainer } from './delete';
import { waitForeground } from './foreground';
import { startContainer } from './start';

export async function runContainer(ctx: Context, o: CreateOptions & { detach?: boolean; keep?: boolean }): Promise<number> {
  const extras: CreateExtras = {};
  const rec = createContainer(ctx, { ...o, detach: !!o.detach }, extras);
  // A terminal of ours to relay (and Node's tty module loaded only then). The relay sizes the
  // pty like our terminal before the process starts, so it never sees another size first.
  let relay: TtyRelay | undefined;
  if (extras.ttyMaster !== undefined) {
    relay = (require('../launch/tty-relay') as typeof import('../launch/tty-relay')).TtyRelay.start(extras.ttyMaster);
  }
  try {
    startContainer(ctx, rec.id);
  } catch (e) {
    destroyContainer(ctx, rec, true);
    await relay?.finish();
    throw e;
  }
  if (o.detach) return 0;
  // init is our child (CLONE_PARENT): relay signals (and the terminal) to it, as runc does, and reap it.
  try {
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
