/** `run`: create + start, then wait for init and exit with its status (unless --detach). */
import { exitCodeOf, native } from '../native';
import type { Context } from './context';
import { createContainer, CreateOptions } from './create';
import { destroyContainer } from './delete';
import { startContainer } from './start';

const FORWARDED: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH', 'SIGCONT'];

export async function runContainer(ctx: Context, o: CreateOptions & { detach?: boolean; keep?: boolean }): Promise<number> {
  const rec = createContainer(ctx, o);
  try {
    startContainer(ctx, rec.id);
  } catch (e) {
    destroyContainer(ctx, rec, true);
    throw e;
  }
  if (o.detach) return 0;
  // init is our child (CLONE_PARENT): relay signals to it, as runc does, and reap it.
  const handlers = FORWARDED.map((sig) => {
    const h = () => {
      try {
        process.kill(rec.pid, sig);
      } catch {
        /* gone */
      }
    };
    process.on(sig, h);
    return [sig, h] as const;
  });
  try {
    const status = await native().waitExit(rec.pid);
    return exitCodeOf(status);
  } finally {
    for (const [sig, h] of handlers) process.off(sig, h);
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
