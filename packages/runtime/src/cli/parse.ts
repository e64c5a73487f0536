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
  /** 'strings': a string flag that may be repeated (-e A=1 -e B=2); its value is string[]. */
  type: 'string' | 'boolean' | 'number' | 'strings';
  default?: string | boolean | number;
  describe: string;
  /** Allowed values (for string flags). */
  choices?: string[];
}

export interface CommandSpec {
  name: string;
  aliases?: string[];
  /** Positional argument names; "[x]" is optional, "[x...]" takes any number. */
  args: string[];
  /** Flags end at the first argument: what follows is a command line of its own (exec, ps). */
  stopAtFirstArg?: boolean;
  describe: string;
  flags: FlagSpec[];
  /** Loaded only when the command runs. */
  run(a: Parsed): number | void | Promise<number | void>;
}

export interface Parsed {
  flags: Record<string, string | boolean | number | string[] | undefined>;
  args: string[];
}

function camel(name: string): string {
  return name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

/** Parses `argv` against `flags`; unknown flags and bad values are one-line errors. */
export function parseFlags(argv: string[], flags: FlagSpec[], where: string, stopAtFirstArg = false): Parsed {
  const opts: parser.Options = {
    boolean: flags.filter((f) => f.type === 'boolean').map((f) => f.name),
    string: flags.filter((f) => f.type !== 'boolean').map((f) => f.name),
    alias: Object.fromEntries(flags.filter((f) => f.alias).map((f) => [f.name, [f.alias!]])),
    // Repeated flags become arrays: 'strings' flags keep them all, the others the last one.
    configuration: { 'boolean-negation': false, 'camel-case-expansion': false, 'strip-aliased': true, 'dot-notation': false, 'parse-numbers': false, 'parse-positional-numbers': false, 'duplicate-arguments-array': true, 'halt-at-non-option': stopAtFirstArg },
  };
  const out = parser(joinValues(argv, flags, stopAtFirstArg), opts);
  const known = new Set(flags.flatMap((f) => (f.alias ? [f.name, f.alias] : [f.name])));
  for (const key of Object.keys(out)) {
    if (key === '_' || key === '--') continue;
    if (!known.has(key)) throw new RuntimeError(`${where}: flag provided but not defined: -${key}`);
  }
  const result: Parsed['flags'] = {};
  for (const f of flags) {
    const raw = out[f.name] as string | boolean | (string | boolean)[] | undefined;
    if (f.type === 'strings') {
      const all = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw];
      if (all.some((x) => typeof x !== 'string')) throw new RuntimeError(`${where}: flag needs an argument: -${f.name}`);
      (result as Record<string, unknown>)[camel(f.name)] = all;
      continue;
    }
    let v = Array.isArray(raw) ? raw[raw.length - 1] : raw;
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

/**
 * Go's flag package (runc's command line) gives a value flag the next argument whatever it
 * looks like: `update --resources - ID` (stdin, as containerd's shim calls it), `--cpu-quota
 * -1`. yargs-parser would read those as flags, so each is joined to its flag as --flag=value.
 */
function joinValues(argv: string[], flags: FlagSpec[], stopAtFirstArg: boolean): string[] {
  const takesValue = new Set(flags.filter((f) => f.type !== 'boolean').flatMap((f) => [f.name, ...(f.alias ? [f.alias] : [])]));
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') return out.concat(argv.slice(i));
    const name = /^--?([^=]+)$/.exec(a)?.[1];
    if (name !== undefined && takesValue.has(name) && i + 1 < argv.length) {
      const value = argv[++i];
      if (value.startsWith('-')) out.push(`${name.length === 1 ? '-' : '--'}${name}=${value}`);
      else out.push(a, value);
      continue;
    }
    out.push(a);
    // exec and ps: the first argument ends our flags; what follows is another command line.
    if (stopAtFirstArg && !a.startsWith('-')) return out.concat(argv.slice(i + 1));
  }
  return out;
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
  const unlimited = cmd.args.some((a) => a.endsWith('...]'));
  if (args.length < required || (!unlimited && args.length > cmd.args.length)) {
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
