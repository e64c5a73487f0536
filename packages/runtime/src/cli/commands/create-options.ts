/** The flags `create` and `run` share (runc's names and meanings). */
import type { Argv } from 'yargs';

export function withCreateOptions<T>(y: Argv<T>) {
  return y
    .positional('container-id', { type: 'string', demandOption: true, describe: 'the container id' })
    .option('bundle', { alias: 'b', type: 'string', default: '', describe: 'path to the root of the bundle directory' })
    .option('console-socket', { type: 'string', describe: 'path to an AF_UNIX socket which will receive the pty master' })
    .option('pid-file', { type: 'string', describe: 'file to write the process id to' })
    .option('no-pivot', { type: 'boolean', default: false, describe: 'do not use pivot root to jail process inside rootfs' })
    .option('no-new-keyring', { type: 'boolean', default: false, describe: 'do not create a new session keyring' })
    .option('preserve-fds', { type: 'number', default: 0, describe: 'pass N additional file descriptors to the container' });
}

export interface CreateArgs {
  containerId: string;
  bundle: string;
  consoleSocket?: string;
  pidFile?: string;
  noPivot: boolean;
  noNewKeyring: boolean;
  preserveFds: number;
}

export function createOptions(a: CreateArgs) {
  return {
    id: a.containerId,
    bundle: a.bundle,
    consoleSocket: a.consoleSocket,
    pidFile: a.pidFile,
    noPivot: a.noPivot,
    noNewKeyring: a.noNewKeyring,
    preserveFds: preserveFds(a.preserveFds),
  };
}

/** --preserve-fds plus systemd socket activation's LISTEN_FDS, as runc counts them. */
function preserveFds(n: number): number {
  const listen = parseInt(process.env.LISTEN_FDS ?? '', 10);
  return (Number.isFinite(n) && n > 0 ? n : 0) + (Number.isFinite(listen) && listen > 0 ? listen : 0);
}
