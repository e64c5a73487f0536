/**
 * `update`: change the resources of a live container. The new values are merged into the saved
 * config's linux.resources (so `state`, a later update and exec see them), the merged set is
 * written to the cgroup as runc does (some knobs depend on each other: memory vs memory+swap,
 * quota vs period), and only then saved. Device rules are left alone, as runc does.
 */
import * as fs from 'fs';
import type { LinuxResources } from '@tsrun/spec';
import { loadCgroupManager } from '../cgroups';
import { RuntimeError } from '../errors';
import type { Context } from './context';
import { currentStatus } from './query';

/** What `update` was asked to change; undefined fields keep their saved value. */
export type ResourceUpdate = LinuxResources;

/** docker/go-units RAMInBytes: "64m", "1g", "512KiB", "1024" (binary multiples). */
export function ramInBytes(s: string): number {
  const m = /^(\d+(?:\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$/.exec(s);
  if (!m) throw new Error(`invalid size: '${s}'`);
  const mult = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4, p: 1024 ** 5 }[(m[2] ?? '').toLowerCase()] as number;
  const v = Math.trunc(parseFloat(m[1]) * mult);
  if (!Number.isSafeInteger(v)) throw new Error(`invalid size: '${s}'`);
  return v;
}

/** Merge `u` into `base` the way runc's update does (runc 1.1 update.go). */
export function mergeResources(base: LinuxResources | undefined, u: ResourceUpdate): LinuxResources {
  const r: LinuxResources = JSON.parse(JSON.stringify(base ?? {}));
  const mem = u.memory ?? {};
  const cpu = u.cpu ?? {};
  if (u.blockIO?.weight !== undefined && u.blockIO.weight !== null) r.blockIO = { ...r.blockIO, weight: u.blockIO.weight };
  const setCpu = <K extends keyof NonNullable<LinuxResources['cpu']>>(k: K, v: NonNullable<LinuxResources['cpu']>[K] | undefined | null): void => {
    if (v === undefined || v === null || v === '') return;
    r.cpu = { ...r.cpu, [k]: v };
  };
  setCpu('period', cpu.period);
  setCpu('quota', cpu.quota);
  setCpu('burst', cpu.burst);
  setCpu('shares', cpu.shares);
  setCpu('realtimePeriod', cpu.realtimePeriod);
  setCpu('realtimeRuntime', cpu.realtimeRuntime);
  setCpu('cpus', cpu.cpus);
  setCpu('mems', cpu.mems);
  setCpu('idle', cpu.idle);
  let swap = mem.swap;
  // v1 compatibility: "memory unlimited, swap not given" lifts both limits.
  if (mem.limit === -1 && (swap === undefined || swap === null)) swap = -1;
  const setMem = <K extends keyof NonNullable<LinuxResources['memory']>>(k: K, v: NonNullable<LinuxResources['memory']>[K] | undefined | null): void => {
    if (v === undefined || v === null) return;
    r.memory = { ...r.memory, [k]: v };
  };
  setMem('limit', mem.limit);
  setMem('reservation', mem.reservation);
  setMem('swap', swap);
  setMem('checkBeforeUpdate', mem.checkBeforeUpdate);
  if (u.pids?.limit !== undefined && u.pids.limit !== null && u.pids.limit !== 0) r.pids = { limit: u.pids.limit };
  if (u.unified !== undefined) r.unified = u.unified;
  return r;
}

/** Reads -r FILE or -r - (stdin) as runc does: a LinuxResources JSON object. */
export function readResourcesFile(file: string): ResourceUpdate {
  let text: string;
  try {
    text = fs.readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new RuntimeError(`open ${file}: ${err.code === 'ENOENT' ? 'no such file or directory' : err.message}`);
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new RuntimeError(`invalid resources JSON in ${file === '-' ? 'standard input' : file}: ${(e as Error).message}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new RuntimeError('invalid resources JSON: want an object (the OCI linux.resources)');
  return v as ResourceUpdate;
}

export function updateContainer(ctx: Context, id: string, u: ResourceUpdate): void {
  const lock = ctx.store.lock(id);
  try {
    const rec = ctx.store.load(id);
    const status = currentStatus(ctx, rec);
    if (status === 'stopped' || status === 'creating') throw new RuntimeError('container not running');
    if (!rec.cgroup) throw new RuntimeError('container has no cgroup to update');
    const cg = loadCgroupManager(rec.cgroup);
    const old = rec.config.linux?.resources;
    const merged = mergeResources(old, u);
    // Devices are not changed by update (runc skips them too), so no rule is rewritten.
    const { devices: _keep, ...toApply } = merged;
    try {
      cg.apply(toApply);
    } catch (e) {
      // Half of the new values may be in; put the old ones back so cgroup and state agree.
      try {
        if (old) {
          const { devices: _d, ...prev } = old;
          cg.apply(prev);
        }
      } catch (e2) {
        ctx.log.warn(`setting back cgroup configs failed due to error: ${(e2 as Error).message}, your state and actual configs might be inconsistent`);
      }
      throw e;
    }
    rec.config.linux = { ...rec.config.linux, resources: merged };
    ctx.store.save(rec);
  } finally {
    lock.release();
  }
}
