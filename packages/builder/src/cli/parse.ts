/**
 * tsbuild's command-line parsing, docker-style: global flags, a command, its flags and
 * arguments. yargs-parser tokenises, as in tsrun's CLI; unknown flags and missing arguments
 * are one-line errors.
 */
import parser from 'yargs-parser';
import { StoreError } from '../store/errors';

export interface FlagSpec {
  name: string;
  alias?: string;
  /** 'strings' may be given several times (e.g. --change). */
  type: 'string' | 'boolean' | 'strings';
  default?: string | boolean;
  describe: string;
  choices?: string[];
}

export type FlagValues = Record<string, string | boolean | string[] | undefined>;

export interface CommandSpec {
  name: string;
  /** Positional names: "X" required, "[X]" optional, "X..." one or more. */
  args: string[];
  describe: string;
  flags: FlagSpec[];
  run(flags: FlagValues, args: string[]): Promise<number | void> | number | void;
}

const camel = (name: string) => name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

export function parseFlags(argv: string[], flags: FlagSpec[], where: string): { flags: FlagValues; args: string[] } {
  const out = parser(argv, {
    boolean: flags.filter((f) => f.type === 'boolean').map((f) => f.name),
    string: flags.filter((f) => f.type !== 'boolean').map((f) => f.name),
    array: flags.filter((f) => f.type === 'strings').map((f) => f.name),
    alias: Object.fromEntries(flags.filter((f) => f.alias).map((f) => [f.name, [f.alias!]])),
    configuration: { 'boolean-negation': false, 'camel-case-expansion': false, 'strip-aliased': true, 'dot-notation': false, 'parse-numbers': false, 'parse-positional-numbers': false, 'duplicate-arguments-array': true, 'greedy-arrays': false },
  });
  const known = new Set(flags.flatMap((f) => (f.alias ? [f.name, f.alias] : [f.name])));
  for (const key of Object.keys(out)) {
    if (key === '_' || key === '--') continue;
    if (!known.has(key)) throw new StoreError(`${where}: unknown flag: ${key.length === 1 ? '-' : '--'}${key}`, 125);
  }
  const values: FlagValues = {};
  for (const f of flags) {
    let v = out[f.name] as string | boolean | string[] | undefined;
    if (v === undefined) v = f.default;
    if (f.type === 'strings') v = v === undefined ? [] : ([] as unknown[]).concat(v).map(String);
    else if (Array.isArray(v)) v = v[v.length - 1]; // a repeated single-valued flag: the last wins
    if (f.type === 'string' && typeof v === 'boolean') throw new StoreError(`${where}: flag needs an argument: --${f.name}`, 125);
    if (f.choices && typeof v === 'string' && !f.choices.includes(v)) {
      throw new StoreError(`${where}: invalid value ${JSON.stringify(v)} for --${f.name}: want one of ${f.choices.join(', ')}`, 125);
    }
    values[camel(f.name)] = v;
  }
  return { flags: values, args: (out._ as (string | number)[]).map(String).concat((out['--'] as string[] | undefined) ?? []) };
}

/** Splits argv at the command: global flags come before it. */
export function splitGlobal(argv: string[], globals: FlagSpec[]): { global: string[]; command?: string; rest: string[] } {
  const takesValue = new Set(globals.filter((f) => f.type !== 'boolean').flatMap((f) => [`--${f.name}`, ...(f.alias ? [`-${f.alias}`] : [])]));
  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('-') || a === '-') break;
    if (a === '--') {
      i++;
      break;
    }
    if (!a.includes('=') && takesValue.has(a)) i++;
  }
  return { global: argv.slice(0, i), command: argv[i], rest: argv.slice(i + 1) };
}

/** Docker's arity errors: `"tsbuild rmi" requires at least 1 argument.` */
export function checkArgs(cmd: CommandSpec, args: string[]): void {
  const many = cmd.args.some((a) => a.endsWith('...'));
  const required = cmd.args.filter((a) => !a.startsWith('[')).length;
  const max = many ? Infinity : cmd.args.length;
  if (args.length >= required && args.length <= max) return;
  const n = (k: number) => `${k} argument${k === 1 ? '' : 's'}`;
  const how = required === max ? `exactly ${n(required)}` : args.length < required ? `at least ${n(required)}` : `at most ${n(max)}`;
  throw new StoreError(`"tsbuild ${cmd.name}" requires ${how}.\nSee 'tsbuild ${cmd.name} --help'.`, 125);
}

function flagLine(f: FlagSpec): string {
  const names = `${f.alias ? `-${f.alias}, ` : '    '}--${f.name}${f.type === 'boolean' ? '' : ' value'}`;
  const def = typeof f.default === 'string' && f.default !== '' ? ` (default "${f.default}")` : '';
  return `  ${names.padEnd(26)} ${f.describe}${def}\n`;
}

export function usage(cmds: CommandSpec[], globals: FlagSpec[]): string {
  let s = 'Usage:  tsbuild [OPTIONS] COMMAND\n\nA Dockerfile builder and OCI image store\n\nOptions:\n';
  for (const f of globals) s += flagLine(f);
  s += '\nCommands:\n';
  for (const c of cmds) s += `  ${c.name.padEnd(10)} ${c.describe}\n`;
  s += "\nRun 'tsbuild COMMAND --help' for more information on a command.\n";
  return s;
}

export function commandUsage(cmd: CommandSpec): string {
  let s = `Usage:  tsbuild ${cmd.name}${cmd.flags.length ? ' [OPTIONS]' : ''} ${cmd.args.join(' ')}\n\n${cmd.describe}\n`;
  if (cmd.flags.length) {
    s += '\nOptions:\n';
    for (const f of cmd.flags) s += flagLine(f);
  }
  return s;
}
