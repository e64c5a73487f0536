/** The --console-socket a manager (conmon, the containerd shim) waits on for a pty master; --pidfd-socket dials the same way. */
import { errnoText, RuntimeError } from '../errors';
import { native } from '../native';

/** Connects to it; fails as runc words it ("dial unix P: connect: no such file or directory"). */
export function connectConsoleSocket(socketPath: string): number {
  try {
    return native().connectUnix(socketPath);
  } catch (e) {
    const errno = (e as { errno?: number }).errno;
    throw new RuntimeError(`dial unix ${socketPath}: connect: ${errno ? errnoText(errno) : (e as Error).message}`);
  }
}
