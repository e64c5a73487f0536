/**
 * `ps`: the processes of a container, found through its cgroup. `-f json` prints their host
 * pids; the table is the host's `ps` (with `-ef` or the given arguments) cut down to the
 * lines of those pids, as runc does.
 */
import { spawnSync } from 'child_process';
import { loadCgroupManager } from '../cgroups';
import { RuntimeError } from '../errors';
import type { Context } from './context';

export function containerPids(ctx: Context, id: string): number[] {
  const rec = ctx.store.load(id);
  if (!rec.cgroup) return [];
  return loadCgroupManager(rec.cgroup).pids();
}

export function psJson(pids: number[]): string {
  // runc encodes a Go nil slice: an empty container prints null.
  return (pids.length ? JSON.stringify(pids) : 'null') + '\n';
}

export function psTable(pids: number[], psArgs: string[]): string {
  const r = spawnSync('ps', psArgs.length ? psArgs : ['-ef'], { encoding: 'utf8' });
  if (r.error) throw new RuntimeError(`exec: "ps": ${(r.error as NodeJS.ErrnoException).code === 'ENOENT' ? 'executable file not found in $PATH' : r.error.message}`);
  const output = (r.stdout ?? '') + (r.stderr ?? '');
  if (r.status !== 0) throw new RuntimeError(`exit status ${r.status ?? `signal ${r.signal}`}: ${output}`);
  const lines = r.stdout.split('\n');
  const pidIndex = lines[0].trim().split(/\s+/).indexOf('PID');
  if (pidIndex < 0) throw new RuntimeError("couldn't find PID field in ps output");
  const wanted = new Set(pids);
  let out = lines[0] + '\n';
  for (const line of lines.slice(1)) {
    if (!line) continue;
    const field = line.trim().split(/\s+/)[pidIndex];
    if (!/^\d+$/.test(field ?? '')) throw new RuntimeError(`unable to parse pid: ${JSON.stringify(field ?? '')}`);
    if (wanted.has(Number(field))) out += line + '\n';
  }
  return out;
}
