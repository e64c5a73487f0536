/**
 * The command table, in runc's names and flags. Each `run` requires its implementation
 * when called, so parsing loads nothing heavy.
 */
import * as fs from 'fs';
import * as path from 'path';
import { RuntimeError } from '../errors';
import { CGROUP_COMMANDS } from './cgroup-commands';
import { CHECKPOINT_COMMANDS } from './checkpoint-commands';
import { context } from './main';
import { IMAGE_COMMANDS } from './image-commands';
import { PROCESS_COMMANDS } from './process-commands';
import type { CommandSpec, FlagSpec, Parsed } from './parse';

const CREATE_FLAGS: FlagSpec[] = [
  { name: 'bundle', alias: 'b', type: 'string', default: '', describe: 'path to the root of the bundle directory, defaults to the current directory' },
  { name: 'console-socket', type: 'string', describe: 'path to an AF_UNIX socket which will receive a file descriptor referencing the master end of the console\'s pseudoterminal' },
  { name: 'pid-file', type: 'string', describe: 'specify the file to write the process id to' },
  { name: 'pidfd-socket', type: 'string', describe: 'path to an AF_UNIX socket which will receive a file descriptor referencing the init process' },
  { name: 'no-pivot', type: 'boolean', default: false, describe: 'do not use pivot root to jail process inside rootfs' },
  { name: 'no-new-keyring', type: 'boolean', default: false, describe: 'do not create a new session keyring for the container' },
  { name: 'preserve-fds', type: 'number', default: 0, describe: 'pass N additional file descriptors to the container (stdio + $LISTEN_FDS + N in total)' },
];

function createOptions(a: Parsed) {
  const f = a.flags;
  // systemd socket activation (meant for us: LISTEN_PID is our pid): fds 3.. are passed on,
  // and the container's process is told so, as runc does.
  const listen = process.env.LISTEN_PID === String(process.pid) ? parseInt(process.env.LISTEN_FDS ?? '', 10) : 0;
  return {
    listenFds: listen > 0 ? listen : 0,
    id: a.args[0],
    bundle: f.bundle as string,
    consoleSocket: f.consoleSocket as string | undefined,
    pidFile: f.pidFile as string | undefined,
    pidfdSocket: (f.pidfdSocket as string | undefined) || undefined,
    noPivot: !!f.noPivot,
    noNewKeyring: !!f.noNewKeyring,
    preserveFds: (f.preserveFds as number) + (listen > 0 ? listen : 0),
  };
}

/** Go's text/tabwriter as runc sets it up for `list`: min width 12, padding 3, spaces. */
function table(rows: string[][]): string {
  const widths = rows[0].map((_, c) => Math.max(12, ...rows.map((r) => r[c].length + 3)));
  return rows.map((r) => r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]))).join('')).join('\n') + '\n';
}

export const COMMANDS: CommandSpec[] = [
  {
    name: 'create',
    args: ['container-id'],
    describe: 'create a container',
    flags: CREATE_FLAGS,
    run: (a) => {
      const { createContainer } = require('../container/create') as typeof import('../container/create');
      createContainer(context(), createOptions(a));
    },
  },
  {
    name: 'start',
    args: ['container-id'],
    describe: 'executes the user defined process in a created container',
    flags: [],
    run: (a) => {
      const { startContainer } = require('../container/start') as typeof import('../container/start');
      startContainer(context(), a.args[0]);
    },
  },
  {
    name: 'run',
    args: ['container-id'],
    describe: 'create and run a container',
    flags: [
      ...CREATE_FLAGS,
      { name: 'detach', alias: 'd', type: 'boolean', default: false, describe: 'detach from the container\'s process' },
      { name: 'keep', type: 'boolean', default: false, describe: 'do not delete the container after it exits' },
    ],
    run: (a) => {
      const { runContainer } = require('../container/run') as typeof import('../container/run');
      return runContainer(context(), { ...createOptions(a), detach: !!a.flags.detach, keep: !!a.flags.keep });
    },
  },
  {
    name: 'state',
    args: ['container-id'],
    describe: 'output the state of a container',
    flags: [],
    run: (a) => {
      const { currentStatus } = require('../container/query') as typeof import('../container/query');
      const { cliState } = require('../container/state-json') as typeof import('../container/state-json');
      const ctx = context();
      const rec = ctx.store.load(a.args[0]);
      // runc prints it 2-space indented, without a trailing newline.
      process.stdout.write(JSON.stringify(cliState(rec, currentStatus(ctx, rec)), null, 2));
    },
  },
  {
    name: 'kill',
    args: ['container-id', '[signal]'],
    describe: 'kill sends the specified signal (default: SIGTERM) to the container\'s init process',
    flags: [{ name: 'all', alias: 'a', type: 'boolean', default: false, describe: 'send the specified signal to all processes inside the container' }],
    run: (a) => {
      const { parseSignal } = require('../signals') as typeof import('../signals');
      const { killContainer } = require('../container/kill') as typeof import('../container/kill');
      killContainer(context(), a.args[0], parseSignal(a.args[1] ?? 'SIGTERM'), !!a.flags.all);
    },
  },
  {
    name: 'delete',
    args: ['container-id'],
    describe: 'delete any resources held by the container often used with detached container',
    flags: [{ name: 'force', alias: 'f', type: 'boolean', default: false, describe: 'forcibly delete the container if it is still running (uses SIGKILL)' }],
    run: (a) => {
      const { deleteContainer } = require('../container/delete') as typeof import('../container/delete');
      deleteContainer(context(), a.args[0], !!a.flags.force);
    },
  },
  ...CGROUP_COMMANDS,
  ...CHECKPOINT_COMMANDS,
  ...IMAGE_COMMANDS,
  ...PROCESS_COMMANDS,
  {
    name: 'list',
    aliases: ['ls'],
    args: [],
    describe: 'lists containers started by tsrun with the given root',
    flags: [
      { name: 'format', alias: 'f', type: 'string', default: 'table', describe: 'select one of: table or json' },
      { name: 'quiet', alias: 'q', type: 'boolean', default: false, describe: 'display only container IDs' },
    ],
    run: (a) => {
      const { listContainers } = require('../container/query') as typeof import('../container/query');
      const { cliState } = require('../container/state-json') as typeof import('../container/state-json');
      if (a.flags.format !== 'table' && a.flags.format !== 'json') throw new RuntimeError('invalid format option');
      const items = listContainers(context());
      if (a.flags.quiet) {
        process.stdout.write(items.map((i) => i.rec.id + '\n').join(''));
      } else if (a.flags.format === 'json') {
        process.stdout.write(JSON.stringify(items.length ? items.map((i) => cliState(i.rec, i.status)) : null) + '\n');
      } else {
        const rows = [['ID', 'PID', 'STATUS', 'BUNDLE', 'CREATED', 'OWNER']];
        for (const { rec, status } of items) {
          rows.push([rec.id, String(status === 'stopped' ? 0 : rec.pid), status, rec.bundle, rec.created, rec.owner]);
        }
        process.stdout.write(table(rows));
      }
    },
  },
  {
    name: 'spec',
    args: [],
    describe: 'create a new specification file',
    flags: [
      { name: 'bundle', alias: 'b', type: 'string', default: '', describe: 'path to the root of the bundle directory' },
      { name: 'rootless', type: 'boolean', default: false, describe: 'generate a configuration for a rootless container' },
    ],
    run: (a) => {
      const { defaultSpec, specJSON } = require('@tsrun/spec') as typeof import('@tsrun/spec');
      const file = path.join((a.flags.bundle as string) || '.', 'config.json');
      if (fs.existsSync(file)) throw new RuntimeError('File config.json exists. Remove it first.');
      fs.writeFileSync(file, specJSON(defaultSpec({ rootless: !!a.flags.rootless })), { mode: 0o666 });
    },
  },
  {
    name: 'features',
    args: [],
    describe: 'show the enabled features',
    flags: [],
    run: () => {
      const { features } = require('../features') as typeof import('../features');
      process.stdout.write(JSON.stringify(features(), null, 4) + '\n');
    },
  },
];
