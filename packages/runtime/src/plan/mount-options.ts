/**
 * Mount options (the strings of a config.json `mounts[].options`) → mount(2) flags, the
 * way runc reads them: known flags set or clear bits, propagation options become separate
 * mount(2) calls, anything else is passed to the filesystem as data.
 */
import { RuntimeError } from '../errors';
import * as K from './constants';

const FLAGS: Record<string, { clear: boolean; flag: number }> = {
  acl: { clear: false, flag: 0 },
  async: { clear: true, flag: K.MS_SYNCHRONOUS },
  atime: { clear: true, flag: K.MS_NOATIME },
  bind: { clear: false, flag: K.MS_BIND },
  defaults: { clear: false, flag: 0 },
  dev: { clear: true, flag: K.MS_NODEV },
  diratime: { clear: true, flag: K.MS_NODIRATIME },
  dirsync: { clear: false, flag: K.MS_DIRSYNC },
  exec: { clear: true, flag: K.MS_NOEXEC },
  lazytime: { clear: false, flag: K.MS_LAZYTIME },
  loud: { clear: true, flag: K.MS_SILENT },
  mand: { clear: false, flag: K.MS_MANDLOCK },
  noatime: { clear: false, flag: K.MS_NOATIME },
  nodev: { clear: false, flag: K.MS_NODEV },
  nodiratime: { clear: false, flag: K.MS_NODIRATIME },
  noexec: { clear: false, flag: K.MS_NOEXEC },
  nolazytime: { clear: true, flag: K.MS_LAZYTIME },
  nomand: { clear: true, flag: K.MS_MANDLOCK },
  norelatime: { clear: true, flag: K.MS_RELATIME },
  nostrictatime: { clear: true, flag: K.MS_STRICTATIME },
  nosuid: { clear: false, flag: K.MS_NOSUID },
  nosymfollow: { clear: false, flag: K.MS_NOSYMFOLLOW },
  rbind: { clear: false, flag: K.MS_BIND | K.MS_REC },
  relatime: { clear: false, flag: K.MS_RELATIME },
  remount: { clear: false, flag: K.MS_REMOUNT },
  ro: { clear: false, flag: K.MS_RDONLY },
  rw: { clear: true, flag: K.MS_RDONLY },
  silent: { clear: false, flag: K.MS_SILENT },
  strictatime: { clear: false, flag: K.MS_STRICTATIME },
  suid: { clear: true, flag: K.MS_NOSUID },
  sync: { clear: false, flag: K.MS_SYNCHRONOUS },
};

const PROPAGATION: Record<string, number> = {
  private: K.MS_PRIVATE,
  rprivate: K.MS_PRIVATE | K.MS_REC,
  slave: K.MS_SLAVE,
  rslave: K.MS_SLAVE | K.MS_REC,
  shared: K.MS_SHARED,
  rshared: K.MS_SHARED | K.MS_REC,
  unbindable: K.MS_UNBINDABLE,
  runbindable: K.MS_UNBINDABLE | K.MS_REC,
};

/** Options that runc and crun define beyond mount(8) and that we do not implement yet. */
const UNSUPPORTED = new Set(['rro', 'rrw', 'rnosuid', 'rsuid', 'rnodev', 'rdev',
  'rnoexec', 'rexec', 'rnodiratime', 'rdiratime', 'rrelatime', 'rnorelatime', 'rnoatime', 'ratime',
  'rstrictatime', 'rnostrictatime', 'rnosymfollow', 'rsymfollow', 'copy-symlink', 'src-nofollow']);

export interface ParsedOptions {
  flags: number;
  propagation: number[];
  data: string;
  /** tmpcopyup (runc's extension): fill a new tmpfs with what it covers. */
  copyUp: boolean;
  /** idmap / ridmap: an idmapped mount, of the top mount only or of every mount of an rbind. */
  idmap?: 'idmap' | 'ridmap';
}

export function parseMountOptions(options: string[] | undefined, destination: string): ParsedOptions {
  let flags = 0;
  const propagation: number[] = [];
  const data: string[] = [];
  let copyUp = false;
  let idmap: ParsedOptions['idmap'];
  for (const opt of options ?? []) {
    const f = FLAGS[opt];
    if (opt === 'tmpcopyup') {
      copyUp = true;
    } else if (opt === 'idmap' || opt === 'ridmap') {
      idmap = opt;
    } else if (f) {
      flags = f.clear ? flags & ~f.flag : flags | f.flag;
    } else if (opt in PROPAGATION) {
      propagation.push(PROPAGATION[opt]);
    } else if (UNSUPPORTED.has(opt)) {
      throw new RuntimeError(`mount option ${opt} on ${destination} is not supported by tsrun yet`);
    } else {
      data.push(opt);
    }
  }
  return { flags, propagation, data: data.join(','), copyUp, idmap };
}

/**
 * linux.rootfsPropagation, as init applies it: runc's semantics since it made shared and
 * unbindable take effect (runc#4724, 2025; runc 1.1.5 leaves a shared root private and fails
 * to bind the rootfs under an unbindable one).
 */
export interface RootPropagation {
  /** Applied recursively to "/" of the container's new mount namespace before anything is
   *  mounted; the rootfs bind inherits it. rslave by default, so that nothing the container
   *  mounts reaches the host. */
  before: number;
  /** shared: make the mount holding the rootfs private too, as pivot_root refuses a shared parent. */
  privateParent: boolean;
  /** Applied to the container's "/" once it is the root (after pivot_root), exactly as the value
   *  says (recursive only for the r- forms): shared and unbindable can only be set there, as an
   *  unbindable mount cannot be bound and a shared one cannot be pivoted into. 0: nothing. */
  after: number;
}

export function rootPropagation(value: string | undefined): RootPropagation {
  const rslave = K.MS_SLAVE | K.MS_REC;
  if (!value) return { before: rslave, privateParent: false, after: 0 };
  const p = PROPAGATION[value];
  if (p === undefined) throw new RuntimeError(`rootfsPropagation: unknown value ${JSON.stringify(value)}`);
  if (p & K.MS_SHARED) return { before: K.MS_SHARED | K.MS_REC, privateParent: true, after: p };
  if (p & K.MS_UNBINDABLE) return { before: rslave, privateParent: false, after: p };
  return { before: p | K.MS_REC, privateParent: false, after: 0 };
}
