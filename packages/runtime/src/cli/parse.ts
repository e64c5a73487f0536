/**
 * Command-line parsing in runc's style (urfave/cli): global flags, then a command, its flags
 * and its arguments. yargs-parser does the tokenising; the full yargs framework would cost
 * ~20 ms of start-up on every call, and managers call `tsrun state` many times a second.
 */
import parser from 'yargs-parser';
import { RuntimeError } from '../errors';

export interface FlagSpec {
  name: string;
  alias?: string;
  type: 'string' | 'boolean' | 'number';
  default?: string | boolean | number;
  describe: string;
  /** Allowed values (for string flags). */
  choices?: string[];
}

export interface CommandSpec {
  name: string;
  aliases?: string[];
  /** Positional argument names; "[x]" is optional. */
  args: string[];
  describe: string;
  flags: FlagSpec[];
  /** Loaded only when the command runs. */
  run(a: Parsed): number | void | Promise<number | void>;
}

export interface Parsed {
  flags: Record<string, string | boolean | number | undefined>;
  args: string[];
}

function camel(name: string): string {
  return name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

/** Parses `argv` against `flags`; unknown flags and bad values are one-line errors. */
export function parseFlags(argv: string[], flags: FlagSpec[], where: string): Parsed {
  const opts: parser.Options = {
    boolean: flags.filter((f) => f.type === 'boolean').map((f) => f.name),
    string: flags.filter((f) => f.type !== 'boolean').map((f) => f.name),
    alias: Object.fromEntries(flags.filter((f) => f.alias).map((f) => [f.name, [f.alias!]])),
    configuration: { 'boolean-negation': false, 'camel-case-expansion': false, 'strip-aliased': true, 'dot-notation': false, 'parse-numbers': false, 'parse-positional-numbers': false, 'duplicate-arguments-array': false },
  };
  const out = parser(argv, opts);
  const known = new Set(flags.flatMap((f) => (f.alias ? [f.name, f.alias] : [f.name])));
  for (const key of Object.keys(out)) {
    if (key === '_' || key === '--') continue;
    if (!known.has(key)) throw new RuntimeError(`${where}: flag provided but not defined: -${key}`);
  }
  const result: Parsed['flags'] = {};
  for (const f of flags) {
    let v = out[f.name] as string | boolean | undefined;
    if (v === undefined) v = f.default as string | boolean | undefined;
    if (f.type === 'number' && v !== undefined) {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 0) throw new RuntimeError(`${where}: invalid value ${JSON.stringify(v)} for flag -${f.name}`);
      result[camel(f.name)] = n;
      continue;
    }
    if (f.type === 'string' && typeof v === 'boolean') throw new RuntimeError(`${where}: flag needs an argument: -${f.name}`);
    if (f.choices && v !== undefined && !f.choices.includes(String(v))) {
      throw new RuntimeError(`${where}: invalid value ${JSON.stringify(v)} for flag -${f.name}: want one of ${f.choices.join(', ')}`);
    }
    result[camel(f.name)] = v;
  }
  return { flags: result, args: (out._ as (string | number)[]).map(String).concat((out['--'] as string[] | undefined) ?? []) };
}

/** Splits argv into [global part, command, rest]: global flags come before the command. */
export function splitGlobal(argv: string[], globals: FlagSpec[]): { global: string[]; command?: string; rest: string[] } {
  const takesValue = new Set(globals.filter((f) => f.type !== 'boolean').flatMap((f) => [`--${f.name}`, `-${f.name}`]));
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

/** runc's arity errors: `"state" requires exactly 1 argument(s)`. */
export function checkArgs(cmd: CommandSpec, args: string[]): void {
  const required = cmd.args.filter((a) => !a.startsWith('[')).length;
  if (args.length < required || args.length > cmd.args.length) {
    const how = required === cmd.args.length ? `exactly ${required}` : args.length < required ? `a minimum of ${required}` : `a maximum of ${cmd.args.length}`;
    throw new RuntimeError(`tsrun: "${cmd.name}" requires ${how} argument(s)`);
  }
}

export function usage(cmds: CommandSpec[], globals: FlagSpec[]): string {
  const flagLine = (f: FlagSpec) => {
    const names = `--${f.name}${f.alias ? `, -${f.alias}` : ''}${f.type === 'boolean' ? '' : ' value'}`;
    const def = f.default !== undefined && f.default !== '' && f.default !== false ? ` (default: ${f.default})` : '';
    return `   ${names.padEnd(28)} ${f.describe}${def}\n`;
  };
  let s = 'NAME:\n   tsrun - an OCI container runtime with runc\'s command line, in TypeScript\n\n';
  s += 'USAGE:\n   tsrun [global options] command [command options] [arguments...]\n\nCOMMANDS:\n';
  for (const c of cmds) s += `   ${c.name.padEnd(10)} ${c.describe}\n`;
  s += '\nGLOBAL OPTIONS:\n';
  for (const f of globals) s += flagLine(f);
  return s;
}

export function commandUsage(cmd: CommandSpec): string {
  let s = `NAME:\n   tsrun ${cmd.name} - ${cmd.describe}\n\nUSAGE:\n   tsrun ${cmd.name} [command options] ${cmd.args.map((a) => (a.startsWith('[') ? a : `<${a}>`)).join(' ')}\n`;
  if (cmd.flags.length) {
    s += '\nOPTIONS:\n';
    for (const f of cmd.flags) {
      const names = `--${f.name}${f.alias ? `, -${f.alias}` : ''}${f.type === 'boolean' ? '' : ' value'}`;
      s += `   ${names.padEnd(28)} ${f.describe}\n`;
    }
  }
  return s;
}
