/** Reading containers: status from the kernel, `state` and `list`. */
import type { ContainerStatus } from '@tsrun/spec';
import { loadCgroupManager } from '../cgroups';
import type { Context } from './context';
import type { ContainerRecord } from './record';
import { statusOf } from './status';

export function currentStatus(ctx: Context, rec: ContainerRecord): ContainerStatus {
  return statusOf(rec, () => frozen(rec), ctx.store.fifoPath(rec.id));
}

function frozen(rec: ContainerRecord): boolean {
  if (!rec.cgroup) return false;
  try {
    return loadCgroupManager(rec.cgroup).isFrozen();
  } catch {
    return false;
  }
}

export interface Listed {
  rec: ContainerRecord;
  status: ContainerStatus;
}

/** Every container under the root; directories without a readable state are skipped. */
export function listContainers(ctx: Context): Listed[] {
  const out: Listed[] = [];
  for (const id of ctx.store.ids()) {
    try {
      const rec = ctx.store.load(id);
      out.push({ rec, status: currentStatus(ctx, rec) });
    } catch {
      /* being created or removed right now */
    }
  }
  return out;
}
