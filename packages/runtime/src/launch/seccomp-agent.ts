/**
 * linux.seccomp.listenerPath: the seccomp agent that answers the syscalls a profile gives
 * SCMP_ACT_NOTIFY. Each process loading such a filter hands its listener to the runtime
 * (MSG_SECCOMP_FD), which connects to the agent's socket, sends the container process state
 * (config-linux.md) as one message with the listener as SCM_RIGHTS, and closes the connection:
 * one connection per process, as runc does. For init this happens during `create` (the state
 * says "creating"), for an exec'd process once it loads the filter, just before its exec
 * ("running", the process's pid beside init's). A failure is an error of the create or exec,
 * which then leaves nothing behind.
 */
import * as fs from 'fs';
import { OCI_VERSION, type ContainerProcessState, type LinuxSeccomp, type State } from '@tsrun/spec';
import { errnoText, RuntimeError } from '../errors';
import { native } from '../native';

/** SECCOMP_FILTER_FLAG_NEW_LISTENER: the compiled filter has notifying rules. */
export const NEW_LISTENER = 8;

/** The container process state of `pid`, as runc sends it: its keys in runc's order, metadata only when there is some. */
export function processState(seccomp: LinuxSeccomp, pid: number, state: State): ContainerProcessState {
  const metadata = seccomp.listenerMetadata || undefined;
  return { ociVersion: OCI_VERSION, fds: ['seccompFd'], pid, ...(metadata ? { metadata } : {}), state };
}

/** Sends `listener` with `state` to the agent at `listenerPath`; the caller keeps (and closes) `listener`. */
export function sendToAgent(listenerPath: string | undefined, listener: number, state: ContainerProcessState): void {
  // Checked before anything is made (seccomp/profile.ts); here only for a profile changed since.
  if (!listenerPath) throw new RuntimeError('seccomp listenerPath is not set');
  let sock: number;
  try {
    sock = native().connectUnix(listenerPath);
  } catch (e) {
    throw new RuntimeError(
      `failed to connect with seccomp agent specified in the seccomp profile: dial unix ${listenerPath}: connect: ${describe(e)}`,
    );
  }
  try {
    native().sendFd(sock, listener, JSON.stringify(state));
  } catch (e) {
    throw new RuntimeError(`cannot send seccomp fd to ${listenerPath}: ${describe(e)}`);
  } finally {
    fs.closeSync(sock);
  }
}

function describe(e: unknown): string {
  const errno = (e as { errno?: number }).errno;
  return errno ? errnoText(errno) : (e as Error).message;
}
