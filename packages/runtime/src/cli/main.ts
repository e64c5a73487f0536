/**
 * The tsrun command line: runc's global flags and commands. This file only parses; each
 * command's work is loaded when it runs, so that a `state` pays for nothing else.
 */
import { RuntimeError } from '../errors';
import { Logger, LogFormat } from '../log';
import type { Context } from '../container/context';
import { checkArgs, commandUsage, FlagSpec, Parsed, parseFlags, splitGlobal, usage } from './parse';
import { COMMANDS } from './commands';

export const VERSION = '0.1.0';

/** The default state root: /run/tsrun, or $XDG_RUNTIME_DIR/tsrun for a non-root user. */
function defaultRoot(): string {
  const uid = process.getuid?.() ?? 0;
  if (uid !== 0 && process.env.XDG_RUNTIME_DIR) return `${process.env.XDG_RUNTIME_DIR}/tsrun`;
  return '/run/tsrun';
}

const GLOBAL_FLAGS: FlagSpec[] = [
  { name: 'debug', type: 'boolean', default: false, describe: 'enable debug logging' },
  { name: 'log', type: 'string', describe: 'set the log file to write tsrun logs to (default is stderr)' },
  { name: 'log-format', type: 'string', default: 'text', choices: ['text', 'json'], describe: 'set the log format (text or json)' },
  { name: 'root', type: 'string', default: defaultRoot(), describe: 'root directory for storage of container state' },
  { name: 'systemd-cgroup', type: 'boolean', default: false, describe: 'use systemd for cgroups (cgroupsPath is slice:prefix:name)' },
  { name: 'rootless', type: 'string', default: 'auto', choices: ['true', 'false', 'auto'], describe: 'ignore cgroup permission errors (true, false or auto)' },
  { name: 'criu', type: 'string', default: 'criu', describe: 'path to the criu binary used for checkpoint and restore' },
  { name: 'help', alias: 'h', type: 'boolean', default: false, describe: 'show help' },
  { name: 'version', alias: 'v', type: 'boolean', default: false, describe: 'print the version' },
];

let logger = new Logger();
let globals: Parsed['flags'] = {};

/** The state root and reporting every container operation works with. */
export function context(): Context {
  const { makeContext } = require('../container/context') as typeof import('../container/context');
  const uid = process.getuid?.() ?? 0;
  const mode = String(globals.rootless);
  const rootless = mode === 'true' || (mode === 'auto' && uid !== 0);
  return makeContext(String(globals.root), logger, { systemdCgroup: !!globals.systemdCgroup, rootless });
}

/** --criu: the criu binary checkpoint and restore run (a name is looked up on PATH). */
export function criuBinary(): string {
  return String(globals.criu || 'criu');
}

function report(e: unknown): number {
  if (e instanceof RuntimeError) {
    logger.error(e.message);
    return e.exitCode;
  }
  const err = e as Error;
  logger.error(err?.message ?? String(e));
  if (process.env.TSRUN_DEBUG_STACK) process.stderr.write(`${err?.stack}\n`);
  return 1;
}

async function dispatch(argv: string[]): Promise<number> {
  const split = splitGlobal(argv, GLOBAL_FLAGS);
  const fmt = split.global.find((a, i) => split.global[i - 1] === '--log-format') ?? split.global.find((a) => a.startsWith('--log-format='))?.slice(13);
  if (fmt !== undefined && fmt !== 'text' && fmt !== 'json') throw new RuntimeError(`invalid log-format: ${fmt}`);
  globals = parseFlags(split.global, GLOBAL_FLAGS, 'tsrun').flags;
  logger = new Logger(globals.log as string | undefined, globals.logFormat as LogFormat, !!globals.debug);
  if (globals.version) {
    process.stdout.write(`tsrun version ${VERSION}\nspec: ${require('@tsrun/spec').OCI_VERSION}\nnode: ${process.version}\n`);
    return 0;
  }
  if (!split.command || globals.help || split.command === 'help') {
    process.stdout.write(usage(COMMANDS, GLOBAL_FLAGS));
    return split.command || globals.help ? 0 : 1;
  }
  const cmd = COMMANDS.find((c) => c.name === split.command || c.aliases?.includes(split.command!));
  // urfave/cli exits 3 for an unknown command.
  if (!cmd) throw new RuntimeError(`No help topic for '${split.command}'`, 3);
  // For exec and ps, what follows the first argument is another program's command line.
  const ownFlags = cmd.stopAtFirstArg ? split.rest.slice(0, firstArg(split.rest, cmd.flags)) : split.rest;
  if (ownFlags.includes('--help') || ownFlags.includes('-h')) {
    process.stdout.write(commandUsage(cmd));
    return 0;
  }
  const parsed = parseFlags(split.rest, cmd.flags, `tsrun ${cmd.name}`, !!cmd.stopAtFirstArg);
  checkArgs(cmd, parsed.args);
  logger.debug(`${cmd.name} ${parsed.args.join(' ')}`);
  const code = await cmd.run(parsed);
  return typeof code === 'number' ? code : 0;
}

/** Index of the first positional argument (a flag's value is not one). */
function firstArg(argv: string[], flags: FlagSpec[]): number {
  const takesValue = new Set(flags.filter((f) => f.type !== 'boolean').flatMap((f) => [`--${f.name}`, `-${f.name}`, ...(f.alias ? [`-${f.alias}`, `--${f.alias}`] : [])]));
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') return i;
    if (!a.startsWith('-') || a === '-') return i;
    if (!a.includes('=') && takesValue.has(a)) i++;
  }
  return argv.length;
}

export function main(argv: string[]): void {
  dispatch(argv).then(
    (code) => (process.exitCode = code),
    (e) => (process.exitCode = report(e)),
  );
}
