/**
 * The tsbuild command line. Global flags: --root (the image store; default $TSBUILD_ROOT or
 * /var/lib/tsbuild). Errors are one line on stderr ("Error: ...") and a non-zero exit.
 */
import { ImageStore, defaultRoot } from '../store/store';
import { StoreError } from '../store/errors';
import { checkArgs, commandUsage, parseFlags, splitGlobal, usage, type FlagSpec } from './parse';
import { COMMANDS, setContext } from './commands';

export const VERSION = '0.1.0';

const GLOBAL_FLAGS: FlagSpec[] = [
  { name: 'root', type: 'string', describe: 'Image store directory ($TSBUILD_ROOT, else /var/lib/tsbuild)' },
  { name: 'help', alias: 'h', type: 'boolean', default: false, describe: 'Print usage' },
  { name: 'version', alias: 'v', type: 'boolean', default: false, describe: 'Print version information and quit' },
];

/** `tsbuild -t app .` is `tsbuild build -t app .`: a first word that is no command means build. */
function implicitBuild(argv: string[]): string[] {
  let i = 0;
  while (i < argv.length) {
    const a = argv[i];
    if (a === '--root') i += 2;
    else if (a.startsWith('--root=') || ['-h', '--help', '-v', '--version'].includes(a)) i++;
    else break;
  }
  if (i >= argv.length) return argv;
  const word = argv[i];
  if (word === 'help' || COMMANDS.some((c) => c.name === word)) return argv;
  if (!word.startsWith('-') && !argv.slice(i + 1).some((a) => a.startsWith('-')) && argv.length - i === 1 && !fsExists(word)) return argv;
  return [...argv.slice(0, i), 'build', ...argv.slice(i)];
}

function fsExists(p: string): boolean {
  return p === '-' || require('fs').existsSync(p);
}

async function dispatch(argvIn: string[]): Promise<number> {
  const argv = implicitBuild(argvIn);
  const split = splitGlobal(argv, GLOBAL_FLAGS);
  const globals = parseFlags(split.global, GLOBAL_FLAGS, 'tsbuild').flags;
  if (globals.version) {
    process.stdout.write(`tsbuild version ${VERSION}\n`);
    return 0;
  }
  if (!split.command || globals.help || split.command === 'help') {
    process.stdout.write(usage(COMMANDS, GLOBAL_FLAGS));
    return split.command || globals.help ? 0 : 1;
  }
  const cmd = COMMANDS.find((c) => c.name === split.command);
  if (!cmd) throw new StoreError(`unknown command "${split.command}" for "tsbuild"\nRun 'tsbuild --help' for usage.`, 125);
  if (split.rest.includes('--help') || split.rest.includes('-h')) {
    process.stdout.write(commandUsage(cmd));
    return 0;
  }
  const parsed = parseFlags(split.rest, cmd.flags, `tsbuild ${cmd.name}`);
  checkArgs(cmd, parsed.args);
  const root = typeof globals.root === 'string' && globals.root !== '' ? globals.root : defaultRoot();
  let store: ImageStore | undefined;
  setContext({
    store: () => (store ??= ImageStore.open(root)),
    out: (s) => process.stdout.write(s),
    err: (s) => process.stderr.write(s),
  });
  const code = await cmd.run(parsed.flags, parsed.args);
  return typeof code === 'number' ? code : 0;
}

function report(e: unknown): number {
  const err = e as Error & { exitCode?: number; code?: string };
  if (err?.code === 'EPIPE') return 0;
  process.stderr.write(`Error: ${err?.message ?? String(e)}\n`);
  if (process.env.TSBUILD_DEBUG_STACK) process.stderr.write(`${err?.stack}\n`);
  return e instanceof StoreError ? e.exitCode : 1;
}

export function main(argv: string[]): void {
  dispatch(argv).then(
    (code) => (process.exitCode = code),
    (e) => (process.exitCode = report(e)),
  );
}
