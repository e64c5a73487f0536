/**
 * The commands that work on a running container's cgroup: pause, resume, update, events
 * (runc's names, flags and messages). Implementations load when the command runs.
 */
import { RuntimeError } from '../errors';
import { context } from './main';
import type { CommandSpec, Parsed } from './parse';
import type { ResourceUpdate } from '../container/update';

/** urfave/cli's IntFlag parse error, for the flags runc declares as integers. */
function intFlag(a: Parsed, name: string): number | undefined {
  const v = a.flags[name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase())];
  if (v === undefined || v === '') return undefined;
  if (!/^[+-]?\d+$/.test(String(v))) throw new RuntimeError(`invalid value "${v}" for flag -${name}: parse error`);
  return Number(v);
}

/** A flag runc parses with strconv.Parse(U)Int: "invalid value for cpu-quota: ...". */
function numFlag(a: Parsed, name: string, signed: boolean): number | undefined {
  const v = a.flags[name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase())];
  if (v === undefined || v === '') return undefined;
  const s = String(v);
  if (!(signed ? /^[+-]?\d+$/ : /^\+?\d+$/).test(s)) {
    throw new RuntimeError(`invalid value for ${name}: strconv.Parse${signed ? 'Int' : 'Uint'}: parsing ${JSON.stringify(s)}: invalid syntax`);
  }
  return Number(s);
}

function updateFromFlags(a: Parsed, warn: (m: string) => void): ResourceUpdate {
  const { ramInBytes } = require('../container/update') as typeof import('../container/update');
  const f = a.flags;
  const mem = (name: string, key: string): number | undefined => {
    const v = f[key];
    if (v === undefined || v === '') return undefined;
    if (v === '-1') return -1;
    try {
      return ramInBytes(String(v));
    } catch (e) {
      throw new RuntimeError(`invalid value for ${name}: ${(e as Error).message}`);
    }
  };
  for (const [flag, key] of [['kernel-memory', 'kernelMemory'], ['kernel-memory-tcp', 'kernelMemoryTcp']]) {
    if (f[key] !== undefined && f[key] !== '') warn(`Setting --${flag} is ignored and will be removed (kernel memory settings are ignored)`);
  }
  for (const [flag, key, what] of [['l3-cache-schema', 'l3CacheSchema', 'Intel RDT/CAT: l3 cache schema is not enabled'], ['mem-bw-schema', 'memBwSchema', 'Intel RDT/MBA: memory bandwidth schema is not enabled']]) {
    if (f[key] !== undefined && f[key] !== '') throw new RuntimeError(what + ` (--${flag})`);
  }
  const u: ResourceUpdate = { memory: {}, cpu: {}, blockIO: {} };
  const weight = intFlag(a, 'blkio-weight');
  if (weight) u.blockIO!.weight = weight;
  if (f.cpusetCpus) u.cpu!.cpus = String(f.cpusetCpus);
  if (f.cpusetMems) u.cpu!.mems = String(f.cpusetMems);
  u.cpu!.period = numFlag(a, 'cpu-period', false);
  u.cpu!.realtimePeriod = numFlag(a, 'cpu-rt-period', false);
  u.cpu!.shares = numFlag(a, 'cpu-share', false) ?? numFlag(a, 'cpu-shares', false);
  u.cpu!.quota = numFlag(a, 'cpu-quota', true);
  u.cpu!.realtimeRuntime = numFlag(a, 'cpu-rt-runtime', true);
  u.memory!.limit = mem('memory', 'memory');
  u.memory!.swap = mem('memory-swap', 'memorySwap');
  u.memory!.reservation = mem('memory-reservation', 'memoryReservation');
  const pids = intFlag(a, 'pids-limit');
  if (pids) u.pids = { limit: pids };
  return u;
}

const str = (name: string, describe: string, alias?: string) => ({ name, alias, type: 'string' as const, describe });

export const CGROUP_COMMANDS: CommandSpec[] = [
  {
    name: 'pause',
    args: ['container-id'],
    describe: 'pause suspends all processes inside the container',
    flags: [],
    run: (a) => {
      const { pauseContainer } = require('../container/pause') as typeof import('../container/pause');
      pauseContainer(context(), a.args[0]);
    },
  },
  {
    name: 'resume',
    args: ['container-id'],
    describe: 'resumes all processes that have been previously paused',
    flags: [],
    run: (a) => {
      const { resumeContainer } = require('../container/pause') as typeof import('../container/pause');
      resumeContainer(context(), a.args[0]);
    },
  },
  {
    name: 'update',
    args: ['container-id'],
    describe: 'update container resource constraints',
    flags: [
      str('resources', "path to the file containing the resources to update or '-' to read from the standard input (then every other option is ignored)", 'r'),
      str('blkio-weight', 'Specifies per cgroup weight, range is from 10 to 1000'),
      str('cpu-period', 'CPU CFS period to be used for hardcapping (in usecs). 0 to use system default'),
      str('cpu-quota', 'CPU CFS hardcap limit (in usecs). Allowed cpu time in a given period'),
      str('cpu-share', 'CPU shares (relative weight vs. other containers)'),
      str('cpu-shares', 'same as --cpu-share'),
      str('cpu-rt-period', 'CPU realtime period to be used for hardcapping (in usecs). 0 to use system default'),
      str('cpu-rt-runtime', 'CPU realtime hardcap limit (in usecs). Allowed cpu time in a given period'),
      str('cpuset-cpus', 'CPU(s) to use'),
      str('cpuset-mems', 'Memory node(s) to use'),
      str('kernel-memory', '(obsoleted; ignored)'),
      str('kernel-memory-tcp', '(obsoleted; ignored)'),
      str('memory', 'Memory limit (in bytes)'),
      str('memory-reservation', 'Memory reservation or soft_limit (in bytes)'),
      str('memory-swap', "Total memory usage (memory + swap); set '-1' to enable unlimited swap"),
      str('pids-limit', 'Maximum number of pids allowed in the container'),
      str('l3-cache-schema', 'The string of Intel RDT/CAT L3 cache schema'),
      str('mem-bw-schema', 'The string of Intel RDT/MBA memory bandwidth schema'),
    ],
    run: (a) => {
      const { readResourcesFile, updateContainer } = require('../container/update') as typeof import('../container/update');
      const ctx = context();
      const file = a.flags.resources as string | undefined;
      const u = file ? readResourcesFile(file) : updateFromFlags(a, (m) => ctx.log.warn(m));
      updateContainer(ctx, a.args[0], u);
    },
  },
  {
    name: 'events',
    args: ['container-id'],
    describe: 'display container events such as OOM notifications, cpu, memory, and IO usage statistics',
    flags: [
      { name: 'interval', type: 'string', default: '5s', describe: 'set the stats collection interval' },
      { name: 'stats', type: 'boolean', default: false, describe: "display the container's stats then exit" },
    ],
    run: (a) => {
      const { containerEvents, parseDuration } = require('../container/events') as typeof import('../container/events');
      return containerEvents(context(), a.args[0], { stats: !!a.flags.stats, intervalMs: parseDuration(String(a.flags.interval)) });
    },
  },
];
