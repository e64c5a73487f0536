/**
 * Idmapped bind mounts are made by the runtime before the launch, as detached copies of their
 * sources (the addon's idmappedTree: open_tree + mount_setattr(MOUNT_ATTR_IDMAP)): once init is
 * in a user namespace it no longer holds CAP_SYS_ADMIN over the source's filesystem, which
 * idmapping needs. Init moves each copy onto its mount point; the runtime closes its fds once
 * the child holds its own.
 */
import * as fs from 'fs';
import { native } from '../native';
import * as K from '../plan/constants';
import type { MountOp, NativePlan } from '../plan/native-plan';

export interface IdmappedTrees {
  plan: NativePlan;
  /** Closes the runtime's fds of the copies. */
  close(): void;
}

export function withIdmappedTrees(plan: NativePlan): IdmappedTrees {
  if (!plan.ops?.some((op) => op.idmap)) return { plan, close: () => {} };
  const fds: number[] = [];
  const close = () => {
    for (const fd of fds.splice(0)) fs.closeSync(fd);
  };
  try {
    const ops = plan.ops.map((op): MountOp => {
      if (!op.idmap || !op.source) return op;
      const rbind = ((op.flags ?? 0) & K.MS_REC) !== 0;
      const fd = native().idmappedTree(op.source, op.idmap.uidMap, op.idmap.gidMap, rbind, op.idmap.recursive);
      fds.push(fd);
      return { ...op, idmapTree: fd };
    });
    return { plan: { ...plan, ops }, close };
  } catch (e) {
    close();
    throw e;
  }
}
