/**
 * The tsrun command line: runc's global flags and commands. This file only parses; each
 * command's work is loaded when it runs, so that a `state` pays for nothing else.
 */
import yargs from 'yargs';
import { RuntimeError } from '../errors';
import { Logger, LogFormat } from '../log';
import type { Context } from '../container/context';
import { COMMANDS } from './commands';

export const VERSION = '0.1.0';

export interface GlobalArgs {
  root: string;
  log?: string;
  logFormat: LogFormat;
  debug: boolean;
  systemdCgroup: boolean;
  rootless?: string;
}

/** The default state root: /run/tsrun, or $XDG_RUNTIME_DIR/tsrun for a non-root user. */
function defaultRoot(): string {
  const uid = process.getuid?.() ?? 0;
  if (uid !== 0 && process.env.XDG_RUNTIME_DIR) return `${process.env.XDG_RUNTIME_DIR}/tsrun`;
  return '/run/tsrun';
}

let logger = new Logger();

export function contextOf(argv: GlobalArgs): Context {
  const { makeContext } = require('../container/context') as typeof import('../container/context');
  const uid = process.getuid?.() ?? 0;
  const mode = String(argv.rootless ?? 'auto');
  if (!['true', 'false', 'auto'].includes(mode)) throw new RuntimeError(`invalid --rootless value ${JSON.stringify(mode)}: want true, false or auto`);
  const rootless = mode === 'true' || (mode === 'auto' && uid !== 0);
  return makeContext(argv.root, logger, { systemdCgroup: argv.systemdCgroup, rootless });
}

/** Runs a command handler and turns its failure into runc's one-line error and exit 1. */
export async function guard(fn: () => number | void | Promise<number | void>): Promise<void> {
  try {
    const code = await fn();
    if (typeof code === 'number') process.exitCode = code;
  } catch (e) {
    fail(e);
  }
}

function fail(e: unknown): void {
  if (e instanceof RuntimeError) {
    logger.error(e.message);
    process.exitCode = e.exitCode;
  } else {
    const err = e as Error;
    logger.error(err?.message ?? String(e));
    if (process.env.TSRUN_DEBUG_STACK) process.stderr.write(`${err?.stack}\n`);
    process.exitCode = 1;
  }
}

export function main(args: string[]): void {
  if (args.length === 1 && (args[0] === '--version' || args[0] === '-v')) {
    process.stdout.write(`tsrun version ${VERSION}\nspec: ${require('@tsrun/spec').OCI_VERSION}\nnode: ${process.version}\n`);
    return;
  }
  let cli = yargs(args)
    .scriptName('tsrun')
    .usage('tsrun [global options] command [command options] [arguments...]')
    .option('root', { type: 'string', default: defaultRoot(), describe: 'root directory for storage of container state' })
    .option('log', { type: 'string', describe: 'set the log file to write tsrun logs to (default is stderr)' })
    .option('log-format', { choices: ['text', 'json'] as const, default: 'text' as LogFormat, describe: 'log format' })
    .option('debug', { type: 'boolean', default: false, describe: 'enable debug logging' })
    .option('systemd-cgroup', { type: 'boolean', default: false, describe: 'use systemd for cgroups (cgroupsPath is slice:prefix:name)' })
    .option('rootless', { type: 'string', describe: 'ignore cgroup permission errors (true, false or auto)' })
    .option('criu', { type: 'string', hidden: true })
    .middleware((argv) => {
      logger = new Logger(argv.log as string | undefined, argv.logFormat as LogFormat, argv.debug as boolean);
    })
    .version(false)
    .help('help')
    .alias('help', 'h')
    .strict()
    .demandCommand(1, 'no command given')
    .parserConfiguration({ 'populate--': false })
    .fail((msg, err) => {
      if (err) throw err;
      logger.error(`tsrun: ${msg}`);
      process.exit(1);
    });
  for (const c of COMMANDS) cli = cli.command(c);
  cli.parseAsync().catch((e) => fail(e));
}
