/**
 * The commands about a container's processes: exec and ps (runc's names, flags, messages and
 * exit codes). Implementations load when the command runs.
 */
import { RuntimeError } from '../errors';
import { context } from './main';
import type { CommandSpec, Parsed } from './parse';

/** runc ends a failed exec with "exec failed: <why>" and status 255. */
async function execCommand(a: Parsed): Promise<number> {
  const f = a.flags;
  try {
    const { execInContainer } = require('../container/exec') as typeof import('../container/exec');
    return await execInContainer(context(), {
      id: a.args[0],
      args: a.args.slice(1),
      processFile: (f.process as string | undefined) || undefined,
      consoleSocket: (f.consoleSocket as string | undefined) || undefined,
      cwd: (f.cwd as string | undefined) || undefined,
      env: f.env as string[],
      tty: !!f.tty,
      user: (f.user as string | undefined) || undefined,
      additionalGids: (f.additionalGids as string[]).flatMap((g) => g.split(',')),
      caps: f.cap as string[],
      noNewPrivs: a.flags.noNewPrivs ? true : undefined,
      apparmor: (f.apparmor as string | undefined) || undefined,
      processLabel: (f.processLabel as string | undefined) || undefined,
      detach: !!f.detach,
      pidFile: (f.pidFile as string | undefined) || undefined,
      pidfdSocket: (f.pidfdSocket as string | undefined) || undefined,
      preserveFds: f.preserveFds as number,
      ignorePaused: !!f.ignorePaused,
      cgroups: f.cgroup as string[] | undefined,
    });
  } catch (e) {
    throw new RuntimeError(`exec failed: ${(e as Error).message}`, 255);
  }
}

export const PROCESS_COMMANDS: CommandSpec[] = [
  {
    name: 'exec',
    args: ['container-id', '[command...]'],
    stopAtFirstArg: true,
    describe: 'execute new process inside the container',
    flags: [
      { name: 'console-socket', type: 'string', describe: 'path to an AF_UNIX socket which will receive a file descriptor referencing the master end of the console\'s pseudoterminal' },
      { name: 'cwd', type: 'string', describe: 'current working directory in the container' },
      { name: 'env', alias: 'e', type: 'strings', describe: 'set environment variables' },
      { name: 'tty', alias: 't', type: 'boolean', default: false, describe: 'allocate a pseudo-TTY' },
      { name: 'user', alias: 'u', type: 'string', describe: 'UID (format: <uid>[:<gid>])' },
      { name: 'additional-gids', alias: 'g', type: 'strings', describe: 'additional gids' },
      { name: 'process', alias: 'p', type: 'string', describe: 'path to the process.json' },
      { name: 'detach', alias: 'd', type: 'boolean', default: false, describe: 'detach from the container\'s process' },
      { name: 'pid-file', type: 'string', describe: 'specify the file to write the process id to' },
      { name: 'pidfd-socket', type: 'string', describe: 'path to an AF_UNIX socket which will receive a file descriptor referencing the exec process' },
      { name: 'process-label', type: 'string', describe: 'set the asm process label for the process commonly used with selinux' },
      { name: 'apparmor', type: 'string', describe: 'set the apparmor profile for the process' },
      { name: 'no-new-privs', type: 'boolean', default: false, describe: 'set the no new privileges value for the process' },
      { name: 'cap', alias: 'c', type: 'strings', describe: 'add a capability to the bounding set for the process' },
      { name: 'preserve-fds', type: 'number', default: 0, describe: 'Pass N additional file descriptors to the container (stdio + $LISTEN_FDS + N in total)' },
      { name: 'cgroup', type: 'strings', describe: 'run the process in an (existing) sub-cgroup(s). Format is [<controller>:]<cgroup>.' },
      { name: 'ignore-paused', type: 'boolean', default: false, describe: 'allow exec in a paused container' },
    ],
    run: execCommand,
  },
  {
    name: 'ps',
    args: ['container-id', '[ps-args...]'],
    stopAtFirstArg: true,
    describe: 'ps displays the processes running inside a container',
    flags: [{ name: 'format', alias: 'f', type: 'string', default: 'table', describe: 'select one of: table or json' }],
    run: (a) => {
      const { containerPids, psJson, psTable } = require('../container/ps') as typeof import('../container/ps');
      const pids = containerPids(context(), a.args[0]);
      if (a.flags.format === 'json') {
        process.stdout.write(psJson(pids));
      } else if (a.flags.format === 'table') {
        process.stdout.write(psTable(pids, a.args.slice(1)));
      } else {
        throw new RuntimeError('invalid format option');
      }
    },
  },
];
