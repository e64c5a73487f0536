/**
 * linux.namespaces → what the first child does: which namespaces it joins by path (setns) and
 * which it creates (unshare).
 */
import type { Spec } from '@tsrun/spec';
import { RuntimeError } from '../errors';
import { CLONE_NEWNS, CLONE_NEWUSER, NAMESPACE_FLAGS } from './constants';

export interface NamespacePlan {
  /** setns targets, the user namespace first (it grants the rights to join the others) and
   *  the mount namespace last (after it, other /proc paths may no longer resolve). */
  joins: { type: number; path: string }[];
  /** CLONE_NEW* flags to unshare, the user namespace excluded (handled first, on its own). */
  unshareFlags: number;
  newUser: boolean;
  /** Types present in the config, new or joined. */
  types: Set<string>;
  /** Types the container creates. */
  created: Set<string>;
}

export function planNamespaces(spec: Spec): NamespacePlan {
  const joins: { type: number; path: string }[] = [];
  const types = new Set<string>();
  const created = new Set<string>();
  let unshareFlags = 0;
  let newUser = false;
  for (const ns of spec.linux?.namespaces ?? []) {
    const flag = NAMESPACE_FLAGS[ns.type];
    if (flag === undefined) throw new RuntimeError(`namespace type ${JSON.stringify(ns.type)} is not supported`);
    if (types.has(ns.type)) throw new RuntimeError(`malformed spec file: duplicated ns "${ns.type}"`);
    types.add(ns.type);
    if (ns.path) {
      joins.push({ type: flag, path: ns.path });
    } else if (flag === CLONE_NEWUSER) {
      newUser = true;
      created.add(ns.type);
    } else {
      unshareFlags |= flag;
      created.add(ns.type);
    }
  }
  const rank = (t: number) => (t === CLONE_NEWUSER ? 0 : t === CLONE_NEWNS ? 2 : 1);
  joins.sort((a, b) => rank(a.type) - rank(b.type));
  return { joins, unshareFlags, newUser, types, created };
}

/** Checks runc makes before it starts anything, with runc's wording where it has one. */
export function checkNamespaceRules(spec: Spec, ns: NamespacePlan): void {
  const linux = spec.linux ?? {};
  // As runc: a UTS namespace in the config, new or joined by path, takes the names (a joined
  // one is the container's own as much as a new one); only the host's may not be renamed.
  if (spec.hostname && !ns.types.has('uts')) {
    throw new RuntimeError('unable to set hostname without a private UTS namespace');
  }
  if (spec.domainname && !ns.types.has('uts')) {
    throw new RuntimeError('unable to set domainname without a private UTS namespace');
  }
  // Without a mount namespace the container shares the runtime's mount table, as runc allows:
  // its mounts are made there, under a bind of the rootfs of its own that delete takes away
  // again (plan/build.ts). What would change mounts the host uses is refused instead.
  if (!ns.types.has('mount')) {
    if ((linux.maskedPaths?.length ?? 0) > 0 || (linux.readonlyPaths?.length ?? 0) > 0) {
      throw new RuntimeError('unable to restrict sys entries without a private MNT namespace');
    }
    // runc applies it to the host's / and makes the mount holding the rootfs private, both for
    // good: not something to do to a host behind a config's back.
    if (linux.rootfsPropagation) {
      throw new RuntimeError('rootfsPropagation is set but the config has no mount namespace: it would change the host\'s mounts');
    }
  }
  const hasMaps = (linux.uidMappings?.length ?? 0) > 0 || (linux.gidMappings?.length ?? 0) > 0;
  if (ns.newUser && !(linux.uidMappings?.length && linux.gidMappings?.length)) {
    throw new RuntimeError('user namespaces enabled, but no uid or gid mappings found');
  }
  if (hasMaps && !ns.newUser) {
    throw new RuntimeError(
      ns.types.has('user') ? 'uid/gid mappings cannot be set for a user namespace joined by path'
        : 'uid/gid mappings are set but the config has no user namespace');
  }
  if (linux.timeOffsets && !ns.created.has('time')) {
    throw new RuntimeError('time offsets are set but the config creates no time namespace');
  }
  for (const key of Object.keys(linux.sysctl ?? {})) {
    if (key.startsWith('net.') && !ns.types.has('network')) {
      throw new RuntimeError(`sysctl "${key}" is not allowed in the host's network namespace`);
    }
    if ((key.startsWith('kernel.msg') || key.startsWith('kernel.sem') || key.startsWith('kernel.shm') ||
         key.startsWith('fs.mqueue.')) && !ns.types.has('ipc')) {
      throw new RuntimeError(`sysctl "${key}" is not allowed in the host's ipc namespace`);
    }
    if ((key === 'kernel.hostname' || key === 'kernel.domainname') && !ns.types.has('uts')) {
      throw new RuntimeError(`sysctl "${key}" is not allowed in the host's uts namespace`);
    }
  }
}

/** /proc/PID/timens_offsets content for linux.timeOffsets. */
export function timeOffsets(spec: Spec): string | undefined {
  const offs = spec.linux?.timeOffsets;
  if (!offs) return undefined;
  return Object.entries(offs)
    .map(([clock, o]) => `${clock} ${o.secs ?? 0} ${o.nanosecs ?? 0}\n`)
    .join('');
}

/** The uid_map/gid_map text the parent writes for a new user namespace. */
export function idMapText(maps: { containerID: number; hostID: number; size: number }[] | undefined): string {
  return (maps ?? []).map((m) => `${m.containerID} ${m.hostID} ${m.size}\n`).join('');
}
