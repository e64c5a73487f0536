/**
 * Stage two of parsing: a line-parser Node (./nodes.ts) into a typed Instruction, with each
 * instruction's flags and argument rules as BuildKit's instructions package applies them.
 */
import type {
  AddInstruction, CommandLine, CopyInstruction, Heredoc, Instruction, InstructionBase, KeyValue,
  Location,
} from './ast';
import { DockerfileError } from './errors';
import { FlagError, Flags } from './flags';
import { parseMount } from './mount';
import { goQuote, parseHeredocWord, type Node } from './nodes';

const STAGE_NAME = /^[a-z][a-z0-9-_.]*$/;

/** Converts one node; throws DockerfileError at the node (or at the offending flag). */
export function toInstruction(node: Node, file: string): Instruction {
  const location: Location = { file, line: node.startLine, column: node.column, endLine: node.endLine };
  const fail = (reason: string, offset?: number): never => {
    const where = offset === undefined ? location : { file, ...node.at(offset) };
    throw new DockerfileError(where, reason);
  };
  const flags = new Flags(node.flags);
  const parseFlags = (decl: (f: Flags) => Flags): Flags => {
    try {
      return decl(flags).parse();
    } catch (e) {
      if (!(e instanceof FlagError)) throw e;
      const off = e.flag ? node.original.indexOf(e.flag.split('=')[0]) : -1;
      return fail(e.message, off >= 0 ? off : undefined);
    }
  };
  const base = <K extends string>(kind: K): InstructionBase<K> => ({
    kind, location, original: node.original.trim(), flags: node.flags,
  });
  const args = node.args;
  const exactlyOne = (name: string): string => (args.length === 1 ? args[0] : fail(`${name} requires exactly one argument`));
  const atLeastOne = (name: string): void => {
    if (args.length === 0) fail(`${name} requires at least one argument`);
  };

  switch (node.cmd.toLowerCase()) {
    case 'from': {
      let stageName: string | undefined;
      if (args.length === 3 && args[1].toLowerCase() === 'as') {
        stageName = args[2].toLowerCase();
        if (!STAGE_NAME.test(stageName)) {
          fail(`invalid name for build stage: ${goQuote(args[2])}, name can't start with a number or contain symbols`);
        }
      } else if (args.length !== 1) fail('FROM requires either one or three arguments');
      const f = parseFlags((x) => x.string('platform'));
      return { ...base('FROM'), image: args[0], platform: f.getString('platform'), stageName };
    }
    case 'run': {
      const f = parseFlags((x) => x.strings('mount').string('network').string('security'));
      const mounts = f.getStrings('mount').map((raw) => {
        try {
          return parseMount(raw);
        } catch (e) {
          const off = node.original.indexOf(raw);
          return fail((e as Error).message, off >= 0 ? off : undefined);
        }
      });
      const network = f.getString('network');
      if (network !== undefined && !network.includes('$') && !['default', 'none', 'host'].includes(network)) {
        fail(`unsupported network mode ${goQuote(network)}`);
      }
      const security = f.getString('security');
      if (security !== undefined && !security.includes('$') && !['sandbox', 'insecure'].includes(security)) {
        fail(`unsupported security mode ${goQuote(security)}`);
      }
      return { ...base('RUN'), cmd: commandLine(node), heredocs: node.heredocs, mounts, network, security };
    }
    case 'cmd':
      parseFlags((x) => x);
      return { ...base('CMD'), cmd: commandLine(node) };
    case 'entrypoint':
      parseFlags((x) => x);
      return { ...base('ENTRYPOINT'), cmd: commandLine(node) };
    case 'copy':
    case 'add': {
      const isAdd = node.cmd.toLowerCase() === 'add';
      const name = isAdd ? 'ADD' : 'COPY';
      if (args.length < 2) fail(`${name} requires at least two arguments, but only one was provided. Destination could not be determined`);
      const f = parseFlags((x) => {
        x.string('chown').string('chmod').bool('link').strings('exclude');
        return isAdd ? x.bool('keep-git-dir').string('checksum').bool('unpack') : x.string('from').bool('parents');
      });
      const dest = args[args.length - 1];
      if (!node.json && parseHeredocWord(dest)) fail(`${name} cannot accept a heredoc as a destination`);
      const sources: string[] = [];
      const heredocs: Heredoc[] = [];
      for (const src of args.slice(0, -1)) {
        const h = node.json ? undefined : parseHeredocWord(src);
        if (!h) sources.push(src);
        else {
          const body = node.heredocs.find((x) => x.name === h.name);
          heredocs.push({ ...h, content: body?.content ?? '' });
        }
      }
      const common = {
        json: node.json, sources, dest, heredocs, chown: f.getString('chown'), chmod: f.getString('chmod'),
        link: f.getBool('link'), exclude: f.getStrings('exclude'),
      };
      if (isAdd) {
        const add: AddInstruction = {
          ...base('ADD'), ...common, parents: false, checksum: f.getString('checksum'),
          keepGitDir: f.getBool('keep-git-dir'), unpack: f.getOptionalBool('unpack'),
        };
        return add;
      }
      const copy: CopyInstruction = { ...base('COPY'), ...common, parents: f.getBool('parents'), from: f.getString('from') };
      return copy;
    }
    case 'env':
    case 'label': {
      const name = node.cmd.toUpperCase() === 'ENV' ? 'ENV' : 'LABEL';
      parseFlags((x) => x);
      if (args.length === 0) fail(`${name} requires at least one argument`);
      const pairs: KeyValue[] = [];
      for (let i = 0; i < args.length; i += 3) {
        if (args[i] === '') fail(`${name} names can not be blank`);
        pairs.push({ key: args[i], value: args[i + 1] });
      }
      return name === 'ENV' ? { ...base('ENV'), pairs } : { ...base('LABEL'), pairs };
    }
    case 'arg': {
      atLeastOne('ARG');
      const decls = args.map((a) => {
        const eq = a.indexOf('=');
        if (eq < 0) return { key: a };
        if (eq === 0) fail('ARG names can not be blank');
        return { key: a.slice(0, eq), value: a.slice(eq + 1) };
      });
      return { ...base('ARG'), args: decls };
    }
    case 'workdir': {
      const path = exactlyOne('WORKDIR');
      parseFlags((x) => x);
      return { ...base('WORKDIR'), path };
    }
    case 'user': {
      const user = exactlyOne('USER');
      parseFlags((x) => x);
      return { ...base('USER'), user };
    }
    case 'expose':
      atLeastOne('EXPOSE');
      parseFlags((x) => x);
      return { ...base('EXPOSE'), ports: args };
    case 'volume': {
      atLeastOne('VOLUME');
      parseFlags((x) => x);
      const paths = args.map((v) => v.trim());
      if (paths.includes('')) fail('VOLUME specified can not be an empty string');
      return { ...base('VOLUME'), json: node.json, paths };
    }
    case 'shell':
      parseFlags((x) => x);
      atLeastOne('SHELL');
      if (!node.json) fail('SHELL requires the arguments to be in JSON form');
      return { ...base('SHELL'), shell: args };
    case 'stopsignal':
      return { ...base('STOPSIGNAL'), signal: exactlyOne('STOPSIGNAL') };
    case 'maintainer': {
      const maintainer = exactlyOne('MAINTAINER');
      parseFlags((x) => x);
      return { ...base('MAINTAINER'), maintainer };
    }
    case 'healthcheck':
      return healthcheck(node, base('HEALTHCHECK'), parseFlags, fail);
    case 'onbuild': {
      if (!node.child) return fail('ONBUILD requires at least one argument');
      parseFlags((x) => x);
      const trigger = node.child.cmd.toUpperCase();
      if (trigger === 'ONBUILD') fail('Chaining ONBUILD via `ONBUILD ONBUILD` isn\'t allowed');
      if (trigger === 'MAINTAINER' || trigger === 'FROM') fail(`${trigger} isn't allowed as an ONBUILD trigger`);
      let expression = node.original.replace(/^\s*ONBUILD\s*/i, '');
      for (const h of node.child.heredocs) expression += '\n' + h.content + h.name;
      return { ...base('ONBUILD'), expression, instruction: toInstruction(node.child, file) };
    }
    default:
      return fail(`unknown instruction: ${node.cmd}`);
  }
}

function commandLine(node: Node): CommandLine {
  return node.json ? { json: true, args: node.args } : { json: false, command: node.args.join(' ') };
}

function healthcheck(
  node: Node,
  base: InstructionBase<'HEALTHCHECK'>,
  parseFlags: (d: (f: Flags) => Flags) => Flags,
  fail: (reason: string) => never,
): Instruction {
  if (node.args.length === 0) fail('HEALTHCHECK requires at least one argument');
  const type = node.args[0].toUpperCase();
  const rest = node.args.slice(1);
  if (type === 'NONE') {
    if (rest.length) fail('HEALTHCHECK NONE takes no arguments');
    return { ...base, test: ['NONE'] };
  }
  const f = parseFlags((x) => x.string('interval').string('timeout').string('start-period').string('start-interval').string('retries'));
  if (type !== 'CMD') fail(`Unknown type ${goQuote(type)} in HEALTHCHECK (try CMD)`);
  if (rest.length === 0) fail('Missing command after HEALTHCHECK CMD');
  const test = node.json ? ['CMD', ...rest] : ['CMD-SHELL', rest.join(' ')];
  const interval = (name: string): number | undefined => {
    const v = f.getString(name);
    if (v === undefined || v === '') return undefined;
    let ns: number;
    try {
      ns = parseGoDuration(v);
    } catch (e) {
      return fail((e as Error).message);
    }
    if (ns === 0) return 0;
    if (ns < 1e6) fail(`Interval ${goQuote(name)} cannot be less than 1ms`);
    return ns;
  };
  let retries: number | undefined;
  const r = f.getString('retries');
  if (r !== undefined && r !== '') {
    if (!/^[+-]?\d+$/.test(r) || Math.abs(Number(r)) > 2 ** 31 - 1) fail(`strconv.ParseInt: parsing ${goQuote(r)}: invalid syntax`);
    retries = Number(r);
    if (retries < 0) fail(`--retries cannot be negative (${retries})`);
  }
  return {
    ...base, test, interval: interval('interval'), timeout: interval('timeout'),
    startPeriod: interval('start-period'), startInterval: interval('start-interval'), retries,
  };
}

const UNIT_NS: Record<string, number> = { ns: 1, us: 1e3, 'µs': 1e3, 'μs': 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };

/** Go's time.ParseDuration ("1m30s", "1.5h", "300ms") in nanoseconds. */
export function parseGoDuration(s: string): number {
  const bad = (): never => {
    throw new Error(`time: invalid duration ${goQuote(s)}`);
  };
  let rest = s;
  let sign = 1;
  if (rest[0] === '-' || rest[0] === '+') {
    if (rest[0] === '-') sign = -1;
    rest = rest.slice(1);
  }
  if (rest === '0') return 0;
  if (rest === '') bad();
  let total = 0;
  while (rest !== '') {
    const m = /^(\d*)(?:\.(\d*))?(ns|us|µs|μs|ms|s|m|h)/.exec(rest);
    if (!m || (m[1] === '' && (m[2] === undefined || m[2] === ''))) {
      if (m === null && /^[\d.]+$/.test(rest)) throw new Error(`time: missing unit in duration ${goQuote(s)}`);
      return bad();
    }
    total += Number(`${m[1] || '0'}.${m[2] || '0'}`) * UNIT_NS[m[3]];
    rest = rest.slice(m[0].length);
  }
  return sign * Math.round(total);
}
