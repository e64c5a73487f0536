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

/** The root's propagation from linux.rootfsPropagation (runc's default: rslave). */
export function rootPropagation(value: string | undefined): number {
  if (!value) return K.MS_SLAVE | K.MS_REC;
  const p = PROPAGATION[value.replace(/^r/, '')];
  if (p === undefined) throw new RuntimeError(`rootfsPropagation: unknown value ${JSON.stringify(value)}`);
  return p | K.MS_REC;
}
