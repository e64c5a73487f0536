/**
 * Waiting in the foreground for a process tsrun started (a container's init in `run`, a
 * process of `exec`): it is our child, so we reap it, forward the signals we get to it as
 * runc does, and relay its terminal when we hold one.
 */
import type { TtyRelay } from '../launch/tty-relay';
import { exitCodeOf, native } from '../native';

const FORWARDED: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH', 'SIGCONT'];

/** Resolves with the process's exit code (128 + N when signal N killed it). */
export async function waitForeground(pid: number, relay?: TtyRelay): Promise<number> {
  const handlers = FORWARDED.map((sig) => {
    const h = () => {
      // With a terminal, a window change resizes the pty; the kernel tells its processes.
      if (sig === 'SIGWINCH' && relay) {
        relay.resize();
        return;
      }
      try {
        process.kill(pid, sig);
      } catch {
        /* gone */
      }
    };
    process.on(sig, h);
    return [sig, h] as const;
  });
  try {
    return exitCodeOf(await native().waitExit(pid));
  } finally {
    if (relay) await relay.finish();
    for (const [sig, h] of handlers) process.off(sig, h);
  }
}
