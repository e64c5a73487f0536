/**
 * Containers started by a non-root user (runc's "rootless EUID"): what such a user may ask for,
 * and how the id maps of the container's user namespace get written.
 *
 * The kernel lets an unprivileged process map exactly one id, its own, and a gid only once
 * setgroups(2) is denied in the namespace. Anything more goes through the setuid helpers
 * newuidmap/newgidmap (the uidmap package), which check the ranges in /etc/subuid and
 * /etc/subgid. Root writes any map itself. Checks and messages follow runc 1.1.
 */
import * as fs from 'fs';
import * as path from 'path';
import type { Spec } from '@tsrun/spec';
import { RuntimeError } from '../errors';
import { idMapText } from '../plan/namespaces';

export interface IdMap {
  containerID: number;
  hostID: number;
  size: number;
}

/** Who is starting the container. */
export interface Caller {
  euid: number;
  egid: number;
}

export function currentCaller(): Caller {
  return { euid: process.geteuid?.() ?? 0, egid: process.getegid?.() ?? 0 };
}

/** How each map is written: by the runtime itself, or by newuidmap/newgidmap. */
export interface MapPlan {
  uid: 'write' | 'helper';
  gid: 'write' | 'helper';
  /** Write "deny" to /proc/PID/setgroups before gid_map (the kernel requires it for an unprivileged gid_map). */
  denySetgroups: boolean;
}

/** The caller's own id alone: the one map an unprivileged process may write. */
function ownIdOnly(maps: IdMap[], id: number): boolean {
  return maps.length === 1 && maps[0].hostID === id && maps[0].size === 1;
}

export function planIdMaps(uidMaps: IdMap[], gidMaps: IdMap[], caller: Caller): MapPlan {
  if (caller.euid === 0) return { uid: 'write', gid: 'write', denySetgroups: false };
  const gid = ownIdOnly(gidMaps, caller.egid) ? 'write' : 'helper';
  return { uid: ownIdOnly(uidMaps, caller.euid) ? 'write' : 'helper', gid, denySetgroups: gid === 'write' };
}

/** newuidmap's arguments after the pid: "containerID hostID size" triples. */
export function helperArgs(maps: IdMap[]): string[] {
  return maps.flatMap((m) => [String(m.containerID), String(m.hostID), String(m.size)]);
}

/** An executable of this name on PATH (as Go's exec.LookPath, which runc uses). */
export function findOnPath(name: string, envPath = process.env.PATH ?? ''): string | undefined {
  for (const dir of envPath.split(':')) {
    if (!dir) continue;
    const p = path.join(dir, name);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      if (fs.statSync(p).isFile()) return p;
    } catch {
      /* keep looking */
    }
  }
  return undefined;
}

/** Writes uid_map and gid_map (and setgroups) of the user namespace process `pid` just made. */
export function writeIdMaps(pid: number, uidMaps: IdMap[], gidMaps: IdMap[], caller: Caller = currentCaller()): void {
  const plan = planIdMaps(uidMaps, gidMaps, caller);
  if (plan.uid === 'write') fs.writeFileSync(`/proc/${pid}/uid_map`, idMapText(uidMaps));
  else runHelper('newuidmap', 'uid', pid, uidMaps);
  if (plan.denySetgroups) fs.writeFileSync(`/proc/${pid}/setgroups`, 'deny');
  if (plan.gid === 'write') fs.writeFileSync(`/proc/${pid}/gid_map`, idMapText(gidMaps));
  else runHelper('newgidmap', 'gid', pid, gidMaps);
}

function runHelper(tool: 'newuidmap' | 'newgidmap', kind: 'uid' | 'gid', pid: number, maps: IdMap[]): void {
  const exe = findOnPath(tool);
  if (!exe) {
    // runc: "mapping tool not present".
    throw new RuntimeError(
      `mapping tool not present: ${tool} (package uidmap) is needed to map ${kind}s other than your own in a rootless container`,
    );
  }
  // Loaded here: only multi-id maps need the helpers, and child_process costs every create ~3 ms.
  const { spawnSync } = require('child_process') as typeof import('child_process');
  const r = spawnSync(exe, [String(pid), ...helperArgs(maps)], { encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'] });
  if (r.status !== 0) {
    const why = (r.stderr ?? '').trim().split('\n').pop() || (r.error ? r.error.message : `exit status ${r.status}`);
    // runc's words: "failed to use newuid map on PID".
    throw new RuntimeError(`failed to use new${kind} map on ${pid}: ${why}`);
  }
}

function mapped(id: number, maps: IdMap[]): boolean {
  return maps.some((m) => id >= m.containerID && id < m.containerID + m.size);
}

/**
 * runc's checks for a container with a user namespace it creates, and for a rootless caller
 * (validate/rootless.go, setupUser), made before anything is created.
 * `newUser`: the config creates a user namespace (mappings are then the config's).
 */
export function checkUserNamespace(spec: Spec, newUser: boolean, caller: Caller = currentCaller()): void {
  const linux = spec.linux ?? {};
  const rootless = caller.euid !== 0;
  const hasUserNs = (linux.namespaces ?? []).some((n) => n.type === 'user');
  // (A user namespace without mappings is reported by checkNamespaceRules, in runc's order.)
  if (rootless && !hasUserNs) throw new RuntimeError('rootless container requires user namespaces');
  const uids = linux.uidMappings ?? [];
  const gids = linux.gidMappings ?? [];
  if (!newUser || !uids.length || !gids.length) return;
  if (rootless) {
    // Mount options naming an id the namespace does not map would fail at mount time.
    for (const m of spec.mounts ?? []) {
      for (const o of m.options ?? []) {
        const id = /^(uid|gid)=(\d+)$/.exec(o);
        if (!id) continue;
        if (!mapped(Number(id[2]), id[1] === 'uid' ? uids : gids)) {
          throw new RuntimeError(`cannot specify ${id[1]}= mount options for unmapped ${id[1]} in rootless containers`);
        }
      }
    }
  }
  const user = spec.process?.user;
  if (user) {
    if (!mapped(user.uid ?? 0, uids)) throw new RuntimeError('cannot set uid to unmapped user in user namespace');
    if (!mapped(user.gid ?? 0, gids)) throw new RuntimeError('cannot set gid to unmapped user in user namespace');
    if (rootless && user.additionalGids?.length) {
      throw new RuntimeError('cannot set any additional groups in a rootless container');
    }
  }
}

/**
 * Whether the process may call setgroups(2): never for a rootless caller (runc leaves the
 * groups alone: setgroups is denied when the caller wrote gid_map itself, and /etc/group of
 * the image cannot be honoured anyway).
 */
export function setgroupsAllowed(caller: Caller = currentCaller()): boolean {
  return caller.euid === 0;
}
