/**
 * config.json `mounts` → the ordered rootfs operations init executes before pivot_root:
 * every mount in config order, then the /dev nodes and links runc provides.
 */
import * as fs from 'fs';
import * as path from 'path';
import type { IDMapping, LinuxDevice, Mount, Spec } from '@tsrun/spec';
import { RuntimeError } from '../errors';
import * as K from './constants';
import { parseMountOptions } from './mount-options';
import { IdmapPlan, MountOp, OpKind } from './native-plan';

/** The container's own cgroup directories, as the cgroup driver reports them. */
export interface CgroupView {
  /** v1: one entry per hierarchy; v2: a single entry with controller "". */
  sources: { controller: string; hostPath: string; symlinks?: string[] }[];
  unified: boolean;
}

export interface MountContext {
  bundle: string;
  /** The container lives in a user namespace (new or joined): device nodes are bound, not made. */
  inUserNs: boolean;
  newCgroupNs: boolean;
  cgroups?: CgroupView;
  /** The container's own user namespace maps, when it makes one (idmap without maps of its own). */
  userMaps?: { uid: IDMapping[]; gid: IDMapping[] };
}

const BIND_FLAGS = K.MS_BIND | K.MS_REC | K.MS_REMOUNT;

/** runc's default device nodes, made whenever /dev is not bind-mounted from the host. */
const DEFAULT_DEVICES = [
  { path: '/dev/null', major: 1, minor: 3 },
  { path: '/dev/zero', major: 1, minor: 5 },
  { path: '/dev/full', major: 1, minor: 7 },
  { path: '/dev/random', major: 1, minor: 8 },
  { path: '/dev/urandom', major: 1, minor: 9 },
  { path: '/dev/tty', major: 5, minor: 0 },
];

const S_IFIFO = 0o010000;
const S_IFCHR = 0o020000;
const S_IFBLK = 0o060000;

export function planMounts(spec: Spec, ctx: MountContext): MountOp[] {
  const ops: MountOp[] = [];
  for (const m of spec.mounts ?? []) ops.push(...mountOps(m, ctx));
  const devBound = (spec.mounts ?? []).some((m) => clean(m.destination) === '/dev' && isBind(m));
  if (!devBound) ops.push(...deviceOps(spec, ctx));
  else ops.push(...(spec.linux?.devices ?? []).map((d) => deviceOp(d, ctx)));
  return ops;
}

function clean(dest: string): string {
  return path.posix.resolve('/', dest);
}

function isBind(m: Mount): boolean {
  return m.type === 'bind' || (m.options ?? []).some((o) => o === 'bind' || o === 'rbind');
}

function mountOps(m: Mount, ctx: MountContext): MountOp[] {
  const target = clean(m.destination);
  const opts = parseMountOptions(m.options, m.destination);
  if (opts.copyUp && m.type !== 'tmpfs') throw new RuntimeError(`mount option tmpcopyup on ${m.destination}: only tmpfs mounts can copy up`);
  if (m.type === 'cgroup') return cgroupOps(target, opts.flags, ctx);
  if (isBind(m)) {
    if (!m.source) throw new RuntimeError(`mount ${m.destination}: bind mount without a source`);
    const source = path.resolve(ctx.bundle, m.source);
    let st: fs.Stats;
    try {
      st = fs.statSync(source);
    } catch {
      throw new RuntimeError(`mount source ${source} for ${m.destination}: no such file or directory`);
    }
    const extra = opts.flags & ~BIND_FLAGS;
    return [{
      kind: OpKind.Bind,
      source,
      target,
      flags: K.MS_BIND | (opts.flags & K.MS_REC),
      remount: extra || undefined,
      propagation: opts.propagation,
      fileTarget: !st.isDirectory(),
      idmap: idmapOf(m, opts.idmap, ctx),
    }];
  }
  if (opts.idmap || m.uidMappings || m.gidMappings) {
    throw new RuntimeError(`mount ${m.destination}: idmapped mounts must be bind mounts`);
  }
  return [{
    kind: OpKind.Mount,
    source: m.source ?? m.type ?? 'none',
    target,
    fstype: m.type ?? 'none',
    flags: opts.flags,
    data: opts.data,
    propagation: opts.propagation,
    copyMode: m.type === 'tmpfs',
    copyUp: opts.copyUp || undefined,
  }];
}

/**
 * The idmapping of a bind mount (runtime-spec: mounts[].uidMappings/gidMappings with the idmap
 * or ridmap option). Maps given without either option still apply, to the top mount: ignoring
 * them would show the host's ids where the config asked for others.
 */
function idmapOf(m: Mount, option: 'idmap' | 'ridmap' | undefined, ctx: MountContext): IdmapPlan | undefined {
  if (!option && !m.uidMappings && !m.gidMappings) return undefined;
  if (!m.uidMappings !== !m.gidMappings) {
    throw new RuntimeError(`mount ${m.destination}: uidMappings and gidMappings must be given together`);
  }
  const maps = m.uidMappings ? { uid: m.uidMappings, gid: m.gidMappings! } : ctx.userMaps;
  if (!maps) {
    throw new RuntimeError(`mount ${m.destination}: ${option} without uidMappings and gidMappings needs the container's own user namespace`);
  }
  if (maps.uid.length === 0 || maps.gid.length === 0) throw new RuntimeError(`mount ${m.destination}: empty uidMappings or gidMappings`);
  return { uidMap: mapText(maps.uid), gidMap: mapText(maps.gid), recursive: option === 'ridmap' };
}

function mapText(maps: IDMapping[]): string {
  return maps.map((x) => `${x.containerID} ${x.hostID} ${x.size}\n`).join('');
}

/**
 * A `cgroup` mount. With a cgroup namespace the kernel gives the right view directly; without
 * one, runc builds it from binds of the container's own cgroup directories (a tmpfs holding
 * one bind per v1 hierarchy, or one bind of the v2 directory).
 */
function cgroupOps(target: string, flags: number, ctx: MountContext): MountOp[] {
  const ro = flags & K.MS_RDONLY;
  const base = flags & (K.MS_NOSUID | K.MS_NODEV | K.MS_NOEXEC | K.MS_RELATIME);
  const view = ctx.cgroups;
  if (!view || view.sources.length === 0) {
    // No cgroup of our own (e.g. rootless without delegation): an empty read-only tmpfs.
    return [{ kind: OpKind.Mount, source: 'tmpfs', target, fstype: 'tmpfs', flags: base | K.MS_RDONLY, data: 'mode=755' }];
  }
  if (view.unified) {
    if (ctx.newCgroupNs) {
      return [{ kind: OpKind.Mount, source: 'cgroup2', target, fstype: 'cgroup2', flags: flags }];
    }
    return [{ kind: OpKind.Bind, source: view.sources[0].hostPath, target, flags: K.MS_BIND | K.MS_REC, remount: base | ro || undefined }];
  }
  const ops: MountOp[] = [
    { kind: OpKind.Mount, source: 'tmpfs', target, fstype: 'tmpfs', flags: base, data: 'mode=755' },
  ];
  for (const s of view.sources) {
    const dir = `${target}/${s.controller}`;
    ops.push({ kind: OpKind.Bind, source: s.hostPath, target: dir, flags: K.MS_BIND | K.MS_REC, remount: base | ro || undefined });
    // Co-mounted controllers ("cpu,cpuacct") are also reachable by each name, as on the host.
    for (const n of s.symlinks ?? []) ops.push({ kind: OpKind.Symlink, source: s.controller, target: `${target}/${n}` });
  }
  if (ro) {
    ops.push({ kind: OpKind.Mount, source: 'tmpfs', target, fstype: 'tmpfs', flags: K.MS_REMOUNT | base | K.MS_RDONLY, data: 'mode=755' });
  }
  return ops;
}

function deviceOps(spec: Spec, ctx: MountContext): MountOp[] {
  const ops: MountOp[] = [];
  const configured = new Set((spec.linux?.devices ?? []).map((d) => clean(d.path)));
  for (const d of DEFAULT_DEVICES) {
    if (configured.has(d.path)) continue;
    ops.push(deviceOp({ type: 'c', path: d.path, major: d.major, minor: d.minor, fileMode: 0o666, uid: 0, gid: 0 }, ctx));
  }
  for (const d of spec.linux?.devices ?? []) ops.push(deviceOp(d, ctx));
  ops.push({ kind: OpKind.Symlink, source: 'pts/ptmx', target: '/dev/ptmx' });
  const links: [string, string][] = [
    ['/proc/self/fd', '/dev/fd'],
    ['/proc/self/fd/0', '/dev/stdin'],
    ['/proc/self/fd/1', '/dev/stdout'],
    ['/proc/self/fd/2', '/dev/stderr'],
  ];
  if (fs.existsSync('/proc/kcore')) links.push(['/proc/kcore', '/dev/core']);
  for (const [src, dst] of links) ops.push({ kind: OpKind.Symlink, source: src, target: dst });
  return ops;
}

function deviceOp(d: LinuxDevice, ctx: MountContext): MountOp {
  const target = clean(d.path);
  if (!target.startsWith('/dev/')) throw new RuntimeError(`device ${d.path}: path must be under /dev`);
  const kind = d.type === 'b' ? S_IFBLK : d.type === 'p' ? S_IFIFO : S_IFCHR;
  const perm = d.fileMode ?? 0o666;
  if (ctx.inUserNs) {
    // mknod is not allowed in a user namespace: bind the host's node instead, as runc does.
    return { kind: OpKind.Mknod, source: target, target, bindDevice: true, fileTarget: true };
  }
  return {
    kind: OpKind.Mknod,
    target,
    mode: kind | (perm & 0o7777),
    major: d.major ?? 0,
    minor: d.minor ?? 0,
    uid: d.uid ?? 0,
    gid: d.gid ?? 0,
  };
}
