/**
 * `events`: runc's event stream. `--stats` prints one {"type":"stats","id":...,"data":{...}} line
 * and exits; otherwise stats are printed every --interval and {"type":"oom","id":...} whenever
 * the kernel reports an OOM in the container, until the container stops.
 */
import { CgroupManager, Json, loadCgroupManager } from '../cgroups';
import { encodeGoJSON } from '../cgroups/stats';
import { watchOOM } from '../cgroups/oom';
import { RuntimeError } from '../errors';
import type { Context } from './context';
import { currentStatus } from './query';
import type { ContainerRecord } from './record';
import { isAlive } from './status';

const UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, '\u00b5s': 1e-3, ms: 1, s: 1000, m: 60000, h: 3600000 };

/** Go's time.ParseDuration ("5s", "1m30s", "250ms", "1.5h"), in milliseconds. */
export function parseDuration(s: string): number {
  const bad = (): never => {
    throw new RuntimeError(`invalid value "${s}" for flag -interval: time: invalid duration "${s}"`);
  };
  if (s === '0') return 0;
  const re = /(\d+(?:\.\d*)?|\.\d+)(ns|us|\u00b5s|ms|s|m|h)/gy;
  let rest = s.startsWith('-') || s.startsWith('+') ? s.slice(1) : s;
  if (!rest) bad();
  let total = 0;
  re.lastIndex = 0;
  while (re.lastIndex < rest.length) {
    const m = re.exec(rest);
    if (!m) bad();
    total += parseFloat(m![1]) * UNIT_MS[m![2]];
  }
  rest = '';
  return s.startsWith('-') ? -total : total;
}

function event(type: string, id: string, data?: Json): string {
  const e: Record<string, Json> = { type, id };
  if (data !== undefined) e.data = data;
  return encodeGoJSON(e) + '\n';
}

function load(ctx: Context, id: string): { rec: ContainerRecord; cg: CgroupManager } {
  const rec = ctx.store.load(id);
  if (currentStatus(ctx, rec) === 'stopped') throw new RuntimeError(`container with id ${id} is not running`);
  if (!rec.cgroup) throw new RuntimeError(`container with id ${id} has no cgroup`);
  return { rec, cg: loadCgroupManager(rec.cgroup) };
}

export async function containerEvents(ctx: Context, id: string, opts: { stats: boolean; intervalMs: number }): Promise<void> {
  if (opts.intervalMs <= 0) throw new RuntimeError('duration interval must be greater than 0');
  const { rec, cg } = load(ctx, id);
  const write = (line: string): Promise<void> => new Promise((resolve) => process.stdout.write(line, () => resolve()));
  if (opts.stats) {
    await write(event('stats', id, cg.stats()));
    return;
  }
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      clearInterval(statsTimer);
      clearInterval(aliveTimer);
      oom?.close();
      resolve();
    };
    const oom = watchOOM(cg, () => process.stdout.write(event('oom', id)));
    const statsTimer = setInterval(() => {
      if (!cg.exists()) return stop();
      try {
        process.stdout.write(event('stats', id, cg.stats()));
      } catch (e) {
        ctx.log.error((e as Error).message);
      }
    }, opts.intervalMs);
    // The stream ends with the container: its init gone, or its cgroup removed.
    const aliveTimer = setInterval(() => {
      if (isAlive(rec.pid, rec.pidStartTime) && cg.exists()) return;
      clearInterval(aliveTimer);
      setTimeout(stop, 200); // let a last OOM notification arrive
    }, 250);
  });
}
