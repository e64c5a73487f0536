/**
 * Runs one RUN step's container to completion: `node run-worker.js STATE_ROOT BUNDLE ID NET`,
 * NET `slirp` when the step's own network namespace gets slirp4netns, else `-`.
 *
 * The runtime library clones the container's processes from the calling process, and they
 * inherit its stdio. The builder runs this small program with stdout and stderr as pipes, so
 * the step's output reaches the progress display (and the error report) without the builder's
 * own fds being handed to the container.
 *
 * It is the runtime's `run` (create, start, wait, delete) with one step between create and
 * start: the container's network namespace exists once it is created, so slirp4netns is
 * attached to it then, and the step starts with its network up. slirp4netns is killed when
 * the container has exited or failed to start, and, holding an exit fd only we have open, it
 * exits with this process however this process ends. A SIGTERM or SIGINT (the build is being stopped) before the
 * start cancels it; after it, the runtime forwards it to the container.
 */
import { createContainer, destroyContainer, Logger, makeContext, startContainer, waitForeground } from '@tsrun/runtime';
// Not in the runtime's index: the wait `run` itself uses (init is our child: it reaps it and
// passes our signals on to it).
import { startSlirp, type Slirp } from './slirp';

async function run(stateRoot: string, bundle: string, id: string, net: string): Promise<number> {
  const ctx = makeContext(stateRoot, new Logger());
  let stopped: NodeJS.Signals | undefined;
  const cancel = (sig: NodeJS.Signals) => void (stopped = sig);
  process.on('SIGINT', cancel);
  process.on('SIGTERM', cancel);
  let slirp: Slirp | undefined;
  const rec = createContainer(ctx, { id, bundle, detach: false });
  try {
    if (net === 'slirp') slirp = await startSlirp(rec.pid);
    if (stopped) throw new Error(`stopped by ${stopped} before it started`);
    startContainer(ctx, rec.id);
  } catch (e) {
    await slirp?.stop();
    destroyContainer(ctx, rec, true);
    throw e;
  } finally {
    process.off('SIGINT', cancel);
    process.off('SIGTERM', cancel);
  }
  try {
    return await waitForeground(rec.pid);
  } finally {
    // Not waited for: once killed, slirp4netns only has its exit to finish, in which the
    // kernel tears the tap device down (~20 ms, an RCU grace period), and the step need not
    // wait for that.
    void slirp?.stop();
    const lock = ctx.store.lock(rec.id);
    try {
      destroyContainer(ctx, ctx.store.load(rec.id), true);
    } finally {
      lock.release();
    }
  }
}

const [stateRoot, bundle, id, net] = process.argv.slice(2);
run(stateRoot, bundle, id, net ?? '-').then(
  (code) => process.exit(code),
  (e: Error) => {
    process.stderr.write(`tsbuild: cannot run the step's container: ${e.message}\n`);
    process.exit(125);
  },
);
