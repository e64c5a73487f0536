/**
 * Mount points a RUN step needs that its image lacks (its --mount targets, /etc/resolv.conf
 * and /etc/hosts, /proc, /dev and /sys on a bare rootfs): the runtime makes them in the
 * snapshot, and they must not end up in the layer. As BuildKit's MountStubsCleaner, those
 * still empty afterwards are removed, deepest first.
 *
 * Making `/etc/hosts` where the image has `/etc` also copies `/etc` up into the upper dir: a
 * directory left there empty, with its mode and owner unchanged, is only that copy and is
 * removed too, so that a step that changes nothing still makes no layer.
 */
import * as fs from 'fs';
import * as path from 'path';
import { fsops } from '../layers/native';
import { lstatIf, resolveDirIn } from '../layers/walk';
import { OVERLAY_OPAQUE_XATTR } from '../layers/writer';

interface DirMeta {
  rel: string;
  mode: number;
  uid: number;
  gid: number;
}

export interface MountStubs {
  /** After the step: removes what only the mount points made from the upper dir. */
  remove(): void;
}

/** Records, before the step runs on `rootfs`, what making mount points for `targets` will add. */
export function mountStubs(rootfs: string, upper: string, targets: string[]): MountStubs {
  const stubs: string[] = [];
  const parents = new Map<string, DirMeta>();
  for (const target of targets) {
    const comps = target.split('/').filter((c) => c && c !== '.');
    for (let i = 1; i <= comps.length; i++) {
      const dir = resolveDirIn(rootfs, comps.slice(0, i - 1));
      if (!dir) break; // below a symlink that leads nowhere: the runtime refuses it anyway
      if (lstatIf(path.join(rootfs, ...dir, comps[i - 1]))) continue;
      // comps[i-1] is the first missing one: it and everything below it are stubs, and the
      // existing directories above it get copied up.
      for (let j = i; j <= comps.length; j++) stubs.push('/' + comps.slice(0, j).join('/'));
      for (let j = dir.length; j > 0; j--) {
        const rel = dir.slice(0, j).join('/');
        const st = lstatIf(path.join(rootfs, rel));
        if (st?.isDirectory()) parents.set(rel, { rel, mode: st.mode, uid: st.uid, gid: st.gid });
      }
      break;
    }
  }
  return {
    remove() {
      for (const s of [...new Set(stubs)].sort((a, b) => b.length - a.length)) removeIfEmpty(path.join(upper, s));
      for (const m of [...parents.values()].sort((a, b) => b.rel.length - a.rel.length)) removeCopyUp(upper, m);
    },
  };
}

function removeIfEmpty(p: string): void {
  const st = lstatIf(p);
  if (!st) return;
  try {
    if (st.isDirectory()) fs.rmdirSync(p);
    else if (st.isFile() && st.size === 0) fs.unlinkSync(p);
  } catch {
    /* the step put something there: it stays */
  }
}

/** An empty copied-up directory the step left as it was (not opaque, no xattrs of its own). */
function removeCopyUp(upper: string, m: DirMeta): void {
  const p = path.join(upper, m.rel);
  const st = lstatIf(p);
  if (!st?.isDirectory() || st.mode !== m.mode || st.uid !== m.uid || st.gid !== m.gid) return;
  try {
    if (fs.readdirSync(p).length) return;
    if (fsops().lgetxattr(p, OVERLAY_OPAQUE_XATTR)?.toString() === 'y') return;
    if (fsops().llistxattr(p).some((n) => !n.startsWith('trusted.overlay.'))) return;
    fs.rmdirSync(p);
  } catch {
    /* leave it: at worst the layer holds an unchanged directory */
  }
}
