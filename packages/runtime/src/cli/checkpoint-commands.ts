/**
 * checkpoint and restore, with CRIU (runc's names, flags and messages). Implementations load
 * when the command runs.
 */
import { RuntimeError } from '../errors';
import { context, criuBinary } from './main';
import type { CommandSpec, FlagSpec, Parsed } from './parse';

const bool = (name: string, describe: string, alias?: string): FlagSpec => ({ name, alias, type: 'boolean', default: false, describe });
const str = (name: string, describe: string, alias?: string): FlagSpec => ({ name, alias, type: 'string', describe });

/** The flags both commands have. */
const COMMON: FlagSpec[] = [
  str('work-path', 'path for saving work files and logs'),
  bool('tcp-established', 'allow open tcp connections'),
  bool('ext-unix-sk', 'allow external unix sockets'),
  bool('shell-job', 'allow shell jobs'),
  bool('file-locks', 'handle file locks, for safety'),
  bool('lazy-pages', 'use userfaultfd to lazily restore memory pages'),
  str('manage-cgroups-mode', 'cgroups mode: soft|full|strict|ignore (default: soft)'),
  { name: 'empty-ns', type: 'strings', describe: "create a namespace, but don't restore its properties" },
  bool('auto-dedup', 'enable auto deduplication of memory images'),
];

function common(a: Parsed) {
  const f = a.flags;
  return {
    criu: criuBinary(),
    imagePath: (f.imagePath as string | undefined) || undefined,
    workPath: (f.workPath as string | undefined) || undefined,
    tcpEstablished: !!f.tcpEstablished,
    extUnixSk: !!f.extUnixSk,
    shellJob: !!f.shellJob,
    fileLocks: !!f.fileLocks,
    lazyPages: !!f.lazyPages,
    manageCgroupsMode: (f.manageCgroupsMode as string | undefined) ?? '',
    emptyNs: f.emptyNs as string[],
    autoDedup: !!f.autoDedup,
  };
}

/** urfave/cli's IntFlag: a signed integer. */
function intFlag(v: unknown, name: string, dflt: number): number {
  if (v === undefined || v === '') return dflt;
  if (!/^[+-]?\d+$/.test(String(v))) throw new RuntimeError(`invalid value "${v}" for flag -${name}: parse error`);
  return Number(v);
}

export const CHECKPOINT_COMMANDS: CommandSpec[] = [
  {
    name: 'checkpoint',
    args: ['container-id'],
    describe: 'checkpoint a running container',
    flags: [
      str('image-path', 'path for saving criu image files (default: ./checkpoint)'),
      str('parent-path', 'path for previous criu image files in pre-dump'),
      bool('leave-running', 'leave the process running after checkpointing'),
      str('status-fd', 'criu writes \\0 to this FD once lazy-pages is ready'),
      str('page-server', 'ADDRESS:PORT of the page server'),
      bool('pre-dump', "dump container's memory information only, leave the container running after this"),
      ...COMMON,
    ],
    run: (a) => {
      const { checkpointContainer } = require('../container/checkpoint') as typeof import('../container/checkpoint');
      const f = a.flags;
      return checkpointContainer(context(), {
        ...common(a),
        id: a.args[0],
        parentPath: (f.parentPath as string | undefined) || undefined,
        leaveRunning: !!f.leaveRunning,
        preDump: !!f.preDump,
        statusFd: intFlag(f.statusFd, 'status-fd', -1),
        pageServer: (f.pageServer as string | undefined) || undefined,
      });
    },
  },
  {
    name: 'restore',
    args: ['container-id'],
    describe: 'restore a container from a previous checkpoint',
    flags: [
      str('console-socket', "path to an AF_UNIX socket which will receive a file descriptor referencing the master end of the console's pseudoterminal"),
      str('image-path', 'path to criu image files for restoring (default: ./checkpoint)'),
      ...COMMON,
      str('bundle', 'path to the root of the bundle directory', 'b'),
      bool('detach', "detach from the container's process", 'd'),
      str('pid-file', 'specify the file to write the process id to'),
      bool('no-subreaper', 'disable the use of the subreaper used to reap reparented processes'),
      bool('no-pivot', 'do not use pivot root to jail process inside rootfs'),
      str('lsm-profile', 'Specify an LSM profile to be used during restore in the form of TYPE:NAME'),
      str('lsm-mount-context', 'Specify an LSM mount context to be used during restore'),
    ],
    run: (a) => {
      const { restoreContainer } = require('../container/restore') as typeof import('../container/restore');
      const f = a.flags;
      return restoreContainer(context(), {
        ...common(a),
        id: a.args[0],
        bundle: (f.bundle as string | undefined) || undefined,
        detach: !!f.detach,
        pidFile: (f.pidFile as string | undefined) || undefined,
        consoleSocket: (f.consoleSocket as string | undefined) || undefined,
        noSubreaper: !!f.noSubreaper,
        noPivot: !!f.noPivot,
        lsmProfile: (f.lsmProfile as string | undefined) || undefined,
        lsmMountContext: (f.lsmMountContext as string | undefined) || undefined,
      });
    },
  },
];
