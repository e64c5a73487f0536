/**
 * --pidfd-socket (runc 1.2): a manager's AF_UNIX socket that receives a pidfd of the
 * container's init (create, run) or of the exec'd process, so that it can signal and wait for
 * it without pid reuse races. Connected before anything is created, as runc does, so that a
 * bad path fails cleanly; the pidfd goes once the process exists.
 */
import * as fs from 'fs';
import { errnoText, RuntimeError } from '../errors';
import { native } from '../native';
import { connectConsoleSocket } from './console-socket';

export class PidfdSocket {
  private constructor(private fd: number) {}

  static connect(socketPath: string): PidfdSocket {
    try {
      return new PidfdSocket(connectConsoleSocket(socketPath));
    } catch (e) {
      throw new RuntimeError(`--pidfd-socket: ${(e as Error).message}`);
    }
  }

  /** Sends a pidfd of `pid`, with "pidfd" as the message's payload. */
  send(pid: number): void {
    let pidfd = -1;
    try {
      pidfd = native().pidfdOpen(pid);
      native().sendFd(this.fd, pidfd, 'pidfd');
    } catch (e) {
      const errno = (e as { errno?: number }).errno;
      throw new RuntimeError(`--pidfd-socket: send the pidfd of ${pid}: ${errno ? errnoText(errno) : (e as Error).message}`);
    } finally {
      if (pidfd >= 0) fs.closeSync(pidfd);
    }
  }

  close(): void {
    if (this.fd >= 0) fs.closeSync(this.fd);
    this.fd = -1;
  }
}
