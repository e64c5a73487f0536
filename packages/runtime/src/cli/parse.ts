/**
 * Command-line parsing in runc's style (urfave/cli over Go's flag package): global flags, then a
 * command, its flags and its arguments. Our own small parser: Go's rules are simple, a general
 * parser (yargs-parser, used before) needed workarounds to follow them and its first call cost
 * ~2 ms, which every tsrun call paid (managers call tsrun many times a second).
 */
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

/**
 * Parses `argv` against `flags` the way runc's urfave/cli (Go's flag package) does: `-name` and
 * `--name` alike, `=value` or the next argument as the value (whatever it looks like: `-r -`,
 * `--cpu-quota -1`), booleans as `--name` or `--name=true|false`, `--` ending the flags. Unlike
 * Go's package, flags may also follow arguments, except for commands whose first argument starts
 * another command line (exec, ps). Unknown flags and bad values are one-line errors.
 */
export function parseFlags(argv: string[], flags: FlagSpec[], where: string, stopAtFirstArg = false): Parsed {
  const byName = new Map<string, FlagSpec>();
  for (const f of flags) {
    byName.set(f.name, f);
    if (f.alias) byName.set(f.alias, f);
  }
  const given = new Map<FlagSpec, (string | boolean)[]>();
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') {
      args.push(...argv.slice(i + 1));
      break;
    }
    if (!a.startsWith('-') || a === '-') {
      args.push(a);
      if (stopAtFirstArg) {
        args.push(...argv.slice(i + 1));
        break;
      }
      continue;
    }
    const body = a.slice(a.startsWith('--') ? 2 : 1);
    const eq = body.indexOf('=');
    const name = eq < 0 ? body : body.slice(0, eq);
    const f = byName.get(name);
    if (!f) throw new RuntimeError(`${where}: flag provided but not defined: -${name}`);
    let value: string | boolean;
    if (f.type === 'boolean') {
      const text = eq < 0 ? 'true' : body.slice(eq + 1);
      if (text !== 'true' && text !== 'false') throw new RuntimeError(`${where}: invalid boolean value ${JSON.stringify(text)} for -${name}`);
      value = text === 'true';
    } else if (eq >= 0) {
      value = body.slice(eq + 1);
    } else if (i + 1 < argv.length) {
      value = argv[++i];
    } else {
      throw new RuntimeError(`${where}: flag needs an argument: -${name}`);
    }
    const list = given.get(f) ?? [];
    list.push(value);
    given.set(f, list);
  }
  const result: Parsed['flags'] = {};
  for (const f of flags) {
    const values = given.get(f);
    if (f.type === 'strings') {
      result[camel(f.name)] = (values ?? []) as string[];
      continue;
    }
    const v = values ? values[values.length - 1] : f.default;
    if (f.type === 'number' && v !== undefined) {
      const n = Number(v);
      if (v === '' || !Number.isInteger(n) || n < 0) throw new RuntimeError(`${where}: invalid value ${JSON.stringify(v)} for flag -${f.name}`);
      result[camel(f.name)] = n;
      continue;
    }
    if (f.choices && v !== undefined && !f.choices.includes(String(v))) {
      throw new RuntimeError(`${where}: invalid value ${JSON.stringify(v)} for flag -${f.name}: want one of ${f.choices.join(', ')}`);
    }
    result[camel(f.name)] = v;
  }
  return { flags: result, args };
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
