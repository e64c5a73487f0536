/**
 * Config.User → process.user, resolved through the image's own /etc/passwd and /etc/group as
 * runc's libcontainer/user does for docker and umoci ("user", "uid", "user:group", "uid:gid"),
 * with the image-spec's rule for supplementary groups (conversion.md): they come from
 * /etc/group only for a user given by name without a group.
 *
 * The files are read from the unpacked rootfs with every symlink resolved inside it (walk.ts):
 * an image's /etc/passwd may be a symlink to a host path.
 */
import * as fs from 'fs';
import { resolveFileIn } from '../layers/walk';

export class UserError extends Error {}

export interface ProcessUser {
  uid: number;
  gid: number;
  additionalGids?: number[];
}

interface PasswdEntry { name: string; uid: number; gid: number }
interface GroupEntry { name: string; gid: number; members: string[] }

/** A file of the rootfs, or undefined when it does not exist; never read through a symlink out. */
function readRootfsFile(rootfs: string, file: string): string | undefined {
  const p = resolveFileIn(rootfs, file);
  if (!p) return undefined;
  let fd: number;
  try {
    fd = fs.openSync(p, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  try {
    if (!fs.fstatSync(fd).isFile()) return undefined; // a fifo or device: not a passwd file
    return fs.readFileSync(fd, 'utf8');
  } finally {
    fs.closeSync(fd);
  }
}

function numeric(s: string): number | undefined {
  return /^[0-9]+$/.test(s) && Number(s) <= 0xffffffff ? Number(s) : undefined;
}

function lines(text: string | undefined): string[][] {
  if (!text) return [];
  return text.split('\n').filter((l) => l.trim() && !l.startsWith('#')).map((l) => l.split(':'));
}

function parsePasswd(text: string | undefined): PasswdEntry[] {
  return lines(text)
    .filter((f) => f.length >= 4 && numeric(f[2]) !== undefined && numeric(f[3]) !== undefined)
    .map((f) => ({ name: f[0], uid: Number(f[2]), gid: Number(f[3]) }));
}

function parseGroup(text: string | undefined): GroupEntry[] {
  return lines(text)
    .filter((f) => f.length >= 3 && numeric(f[2]) !== undefined)
    .map((f) => ({ name: f[0], gid: Number(f[2]), members: (f[3] ?? '').split(',').map((m) => m.trim()).filter(Boolean) }));
}

export function resolveUser(spec: string | undefined, rootfs: string): ProcessUser {
  if (!spec) return { uid: 0, gid: 0 };
  const colon = spec.indexOf(':');
  const userPart = colon < 0 ? spec : spec.slice(0, colon);
  const groupPart = colon < 0 ? undefined : spec.slice(colon + 1);
  const passwd = parsePasswd(readRootfsFile(rootfs, '/etc/passwd'));
  let uid: number;
  let gid = 0;
  let name: string | undefined;
  const byName = passwd.find((p) => p.name === userPart);
  const uidNum = numeric(userPart);
  if (userPart === '') {
    uid = 0;
  } else if (byName && uidNum === undefined) {
    ({ uid, gid, name } = byName);
  } else if (uidNum !== undefined) {
    uid = uidNum;
    const entry = passwd.find((p) => p.uid === uidNum);
    if (entry) gid = entry.gid;
  } else {
    throw new UserError(`unable to find user ${userPart}: no matching entries in passwd file`);
  }
  if (groupPart !== undefined && groupPart !== '') {
    const gidNum = numeric(groupPart);
    if (gidNum !== undefined) return { uid, gid: gidNum };
    const g = parseGroup(readRootfsFile(rootfs, '/etc/group')).find((e) => e.name === groupPart);
    if (!g) throw new UserError(`unable to find group ${groupPart}: no matching entries in group file`);
    return { uid, gid: g.gid };
  }
  if (name === undefined) return { uid, gid };
  const extra = parseGroup(readRootfsFile(rootfs, '/etc/group'))
    .filter((g) => g.members.includes(name!) && g.gid !== gid)
    .map((g) => g.gid);
  const additionalGids = [...new Set(extra)];
  return additionalGids.length ? { uid, gid, additionalGids } : { uid, gid };
}
