/**
 * Writes the entries of one layer tarball into a directory, the only place this code writes.
 *
 * Two modes:
 * - 'overlay': the directory is the layer's own (empty at the start, a lower dir of an overlay
 *   mount later). Whiteouts become overlayfs whiteouts: `.wh.NAME` a 0:0 character device,
 *   `.wh..wh..opq` the trusted.overlay.opaque=y xattr on its directory. The unpacked lower
 *   layers (`lowers`, topmost first) are consulted, never written, for what the tar expects to
 *   be there already: parent directories (made here as copies of the lower one: owner, mode,
 *   xattrs, mtime) and symlinks on the way, and hard-link targets. A hard link to a lower
 *   layer's file is copied up, as overlayfs does on link(2), and so is every other name of that
 *   file the lower layers still show, linked to the copy: the merged view then has the one
 *   inode under all its names, as when the layer is applied to a plain rootfs (umoci, and the
 *   'apply' mode below). Whether the result depended on the lowers is reported (usedLowers),
 *   for the layer cache to key such a layer by what it was unpacked over.
 * - 'apply': the directory is a whole rootfs the layers are applied to in order (the
 *   copy-based fallback, and umoci's way). Whiteouts remove from it.
 *
 * Every path is resolved by walk.ts inside the directory, so nothing an entry names — an
 * absolute path, `..`, a symlink of this or a lower layer on the way, a hard-link target — can
 * reach outside it. The final component is never followed: whatever is there is replaced (a
 * directory over a directory is kept and updated), and files are created with O_EXCL |
 * O_NOFOLLOW, so an entry never writes through a symlink.
 *
 * A directory entry over an existing directory replaces its attributes, xattrs included (the
 * image-spec's "changeset over existing files"). File content is written with its holes
 * (fileops.ts), so a sparse file stays sparse.
 */
import * as fs from 'fs';
import * as path from 'path';
import { copyFileSparse, readXattrs, replaceXattrs, SparseWriter } from './fileops';
import { fsops, S_IFBLK, S_IFCHR, S_IFIFO } from './native';
import { TarHeader, TarSink } from './tar-reader';
import { cleanName, lstatIf, PathError, resolveDirIn } from './walk';

export type UnpackMode = 'overlay' | 'apply';

export const WHITEOUT_PREFIX = '.wh.';
export const OPAQUE_MARKER = '.wh..wh..opq';
export const OVERLAY_OPAQUE_XATTR = 'trusted.overlay.opaque';

export class LayerError extends Error {}

function isOverlayWhiteout(st: fs.Stats): boolean {
  return st.isCharacterDevice() && st.rdev === 0;
}

export class LayerWriter implements TarSink {
  private file?: { fd: number; h: TarHeader; host: string; out: SparseWriter };
  /** Paths (joined components) this layer wrote, and their ancestors: whiteouts spare them. */
  private readonly written = new Set<string>();
  private readonly ancestors = new Set<string>();
  /** Directories' times are set last: writing their contents changes them. */
  private readonly dirTimes: { host: string; mtime: number }[] = [];
  private readonly lowers: string[];
  /** Directories this layer made opaque: nothing of the lowers shows below them. */
  private readonly opaqueDirs = new Set<string>();
  /** Per lower dir: its non-directories by inode, found when a copy-up needs every name of one. */
  private readonly inodeNames = new Map<string, Map<number, string[][]>>();
  /** True once the result depends on what the lower layers hold (overlay mode). */
  usedLowers = false;

  constructor(
    private readonly root: string,
    private readonly mode: UnpackMode,
    lowers: string[] = [],
    /** A directory that is there already keeps the xattrs its entry does not name (ADD's extraction, as docker's untar). */
    private readonly mergeDirXattrs = false,
  ) {
    this.lowers = mode === 'overlay' ? lowers : [];
  }

  entry(h: TarHeader): void {
    try {
      this.write(h);
    } catch (e) {
      if (e instanceof PathError) throw new LayerError(`entry ${JSON.stringify(h.name)}: ${e.message}`);
      throw e;
    }
  }

  data(chunk: Buffer): void {
    this.file?.out.write(chunk);
  }

  end(): void {
    const f = this.file;
    if (!f) return;
    this.file = undefined;
    try {
      f.out.finish();
      fs.fchownSync(f.fd, f.h.uid, f.h.gid);
      fs.fchmodSync(f.fd, f.h.mode); // after chown, which clears setuid/setgid
    } finally {
      fs.closeSync(f.fd);
    }
    this.setXattrs(f.host, f.h, false);
    fs.lutimesSync(f.host, f.h.mtime, f.h.mtime);
  }

  /** Called after the last entry: directory times, innermost first. */
  finish(): void {
    if (this.file) throw new LayerError('truncated layer: last file incomplete');
    for (let i = this.dirTimes.length - 1; i >= 0; i--) {
      const { host, mtime } = this.dirTimes[i];
      if (lstatIf(host)?.isDirectory()) fs.utimesSync(host, mtime, mtime);
    }
  }

  /** Closes a file left open by an error. */
  abort(): void {
    if (this.file) {
      try {
        fs.closeSync(this.file.fd);
      } catch {
        /* already closed */
      }
      this.file = undefined;
    }
  }

  private host(rel: string[]): string {
    return path.join(this.root, ...rel);
  }

  private note(rel: string[]): void {
    this.written.add(rel.join('/'));
    for (let i = 1; i < rel.length; i++) this.ancestors.add(rel.slice(0, i).join('/'));
  }

  /**
   * What the lower layers show at `rel` (overlay mode): the topmost entry, unless a whiteout,
   * an opaque directory or a non-directory on the way hides it.
   */
  private lower(rel: string[]): { host: string; st: fs.Stats } | undefined {
    for (const dir of this.lowers) {
      let hidden = false; // an opaque ancestor: nothing below this layer shows
      let absent = false;
      for (let i = 1; i < rel.length && !absent; i++) {
        const p = path.join(dir, ...rel.slice(0, i));
        const st = lstatIf(p);
        if (!st) absent = true;
        else if (!st.isDirectory()) return undefined; // a whiteout or file covers what is below
        else if (fsops().lgetxattr(p, OVERLAY_OPAQUE_XATTR)?.toString() === 'y') hidden = true;
      }
      if (!absent) {
        const p = path.join(dir, ...rel);
        const st = lstatIf(p);
        if (st) return isOverlayWhiteout(st) ? undefined : { host: p, st };
      }
      if (hidden) return undefined;
    }
    return undefined;
  }

  /** The parent directory of an entry, made as needed, resolved inside the root. */
  private parentOf(comps: string[]): string[] {
    const resolved = resolveDirIn(this.root, comps, {
      missing: (rel) => {
        if (this.mode === 'overlay') this.usedLowers = true;
        const low = this.lower(rel);
        if (low?.st.isSymbolicLink()) return fs.readlinkSync(low.host);
        if (low && !low.st.isDirectory()) throw new PathError(`/${rel.join('/')} is not a directory`);
        const p = this.host(rel);
        fs.mkdirSync(p);
        if (low) {
          // A copy of the lower directory, as overlayfs's copy-up makes it.
          fs.lchownSync(p, low.st.uid, low.st.gid);
          fs.chmodSync(p, low.st.mode & 0o7777);
          replaceXattrs(p, readXattrs(low.host));
          this.dirTimes.push({ host: p, mtime: low.st.mtimeMs / 1000 });
        } else {
          fs.chmodSync(p, 0o755);
        }
        return 'dir';
      },
      notDir: (rel, st) => {
        // A whiteout of this layer where a later entry needs a directory: the directory
        // replaces it, opaque so that what the whiteout hid stays hidden.
        if (this.mode !== 'overlay' || !isOverlayWhiteout(st)) return undefined;
        const p = this.host(rel);
        fs.unlinkSync(p);
        fs.mkdirSync(p);
        fs.chmodSync(p, 0o755);
        fsops().lsetxattr(p, OVERLAY_OPAQUE_XATTR, Buffer.from('y'));
        return 'dir';
      },
    });
    return resolved!;
  }

  private write(h: TarHeader): void {
    const comps = cleanName(h.name);
    if (comps.length === 0) {
      // "./": the root directory itself.
      if (h.type !== 'dir') throw new LayerError(`entry ${JSON.stringify(h.name)}: the root must be a directory`);
      this.dirMeta(this.root, h);
      return;
    }
    const name = comps[comps.length - 1];
    const parent = this.parentOf(comps.slice(0, -1));
    if (name === OPAQUE_MARKER) return this.opaque(parent);
    if (name.startsWith(WHITEOUT_PREFIX)) {
      const target = name.slice(WHITEOUT_PREFIX.length);
      if (target === '' || target === '.' || target === '..') throw new LayerError(`entry ${JSON.stringify(h.name)}: invalid whiteout`);
      return this.whiteout([...parent, target], h);
    }
    const rel = [...parent, name];
    const p = this.host(rel);

    let linkTarget: LinkTarget | undefined;
    if (h.type === 'link') {
      linkTarget = this.linkTarget(h);
      if (linkTarget.host === p) {
        this.note(rel);
        return; // a link to itself: nothing to do
      }
    }

    const old = lstatIf(p);
    if (old && !(old.isDirectory() && h.type === 'dir')) fs.rmSync(p, { recursive: true, force: true });

    switch (h.type) {
      case 'file': {
        const fd = fs.openSync(p, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, 0o600);
        this.file = { fd, h, host: p, out: new SparseWriter(fd) };
        break;
      }
      case 'dir':
        if (!old?.isDirectory()) fs.mkdirSync(p);
        this.dirMeta(p, h);
        break;
      case 'symlink':
        fs.symlinkSync(h.linkname, p);
        fs.lchownSync(p, h.uid, h.gid);
        this.setXattrs(p, h, true);
        fs.lutimesSync(p, h.mtime, h.mtime);
        break;
      case 'link':
        this.hardlink(linkTarget!, rel);
        break;
      case 'char':
      case 'block':
      case 'fifo': {
        const type = h.type === 'char' ? S_IFCHR : h.type === 'block' ? S_IFBLK : S_IFIFO;
        fsops().mknod(p, type | (h.mode & 0o777), h.devmajor, h.devminor);
        fs.lchownSync(p, h.uid, h.gid);
        fs.chmodSync(p, h.mode); // mknod's mode is cut by the umask and has no special bits
        this.setXattrs(p, h, true);
        fs.lutimesSync(p, h.mtime, h.mtime);
        break;
      }
    }
    this.note(rel);
  }

  private dirMeta(p: string, h: TarHeader): void {
    fs.lchownSync(p, h.uid, h.gid);
    fs.chmodSync(p, h.mode);
    this.setXattrs(p, h, false, this.mergeDirXattrs);
    this.dirTimes.push({ host: p, mtime: h.mtime });
  }

  /**
   * The inode a hard link entry names: in this layer, else (overlay mode) in a lower one.
   * The name is cleaned and resolved inside the root like any entry's; its last component is
   * not followed (link(2) links a symlink itself).
   */
  private linkTarget(h: TarHeader): LinkTarget {
    let comps: string[];
    try {
      comps = cleanName(h.linkname);
    } catch (e) {
      throw new LayerError(`entry ${JSON.stringify(h.name)}: hard link target ${(e as Error).message}`);
    }
    const missing = () => new LayerError(`entry ${JSON.stringify(h.name)}: hard link target ${JSON.stringify(h.linkname)} does not exist`);
    if (comps.length === 0) throw new LayerError(`entry ${JSON.stringify(h.name)}: hard link to the root directory`);
    const parent = resolveDirIn(this.root, comps.slice(0, -1), {
      missing: (rel) => {
        const low = this.lower(rel);
        if (low && this.mode === 'overlay') this.usedLowers = true;
        if (low?.st.isSymbolicLink()) return fs.readlinkSync(low.host);
        return low?.st.isDirectory() ? 'dir' : undefined;
      },
    });
    if (!parent) throw missing();
    const rel = [...parent, comps[comps.length - 1]];
    const host = this.host(rel);
    const st = lstatIf(host);
    const found = st && !(this.mode === 'overlay' && isOverlayWhiteout(st)) ? { host, st } : this.lower(rel);
    if (!found) throw missing();
    if (found.st.isDirectory()) throw new LayerError(`entry ${JSON.stringify(h.name)}: hard link to a directory`);
    return { ...found, rel, shadowed: !!st };
  }

  private hardlink(target: LinkTarget, rel: string[]): void {
    const p = this.host(rel);
    if (target.host.startsWith(this.root + '/')) {
      fs.linkSync(target.host, p);
      return;
    }
    // In a lower layer (overlay mode): a layer's directory cannot link to another's inode, so
    // the file is copied up under the names the lowers show it by, and `p` links to the copy.
    this.usedLowers = true;
    if (target.shadowed) {
      // This layer whited the target out before linking to it: only the new name gets a copy.
      this.copyInode(target, p);
      return;
    }
    const key = target.rel.join('/');
    const self = rel.join('/');
    const others: string[][] = [];
    if (target.st.nlink > 1) {
      for (const n of this.lowerNamesOf(target)) {
        const k = n.join('/');
        if (k !== key && k !== self && this.showsThrough(n, target.st)) others.push(n);
      }
    }
    const first = this.host([...this.parentOf(target.rel.slice(0, -1)), target.rel[target.rel.length - 1]]);
    this.copyInode(target, first);
    for (const n of others) fs.linkSync(first, this.host([...this.parentOf(n.slice(0, -1)), n[n.length - 1]]));
    if (self !== key) fs.linkSync(first, p); // else the entry names the lower file itself: the copy is it
  }

  /** A copy of a lower layer's non-directory at `p`: content (holes kept), owner, mode, xattrs, times. */
  private copyInode(from: { host: string; st: fs.Stats }, p: string): void {
    const st = from.st;
    if (st.isSymbolicLink()) {
      fs.symlinkSync(fs.readlinkSync(from.host), p);
    } else if (st.isFile()) {
      copyFileSparse(from.host, p);
    } else {
      const type = st.isCharacterDevice() ? S_IFCHR : st.isBlockDevice() ? S_IFBLK : S_IFIFO;
      const { major, minor } = devNumbers(st.rdev);
      fsops().mknod(p, type | 0o600, major, minor);
    }
    fs.lchownSync(p, st.uid, st.gid);
    if (!st.isSymbolicLink()) fs.chmodSync(p, st.mode & 0o7777); // after chown, which clears setuid
    replaceXattrs(p, readXattrs(from.host), { special: !st.isFile() }); // after chown, which clears file caps
    fs.lutimesSync(p, st.atime, st.mtime);
  }

  /** Every name the lower dir holding `target` has for its inode (found by one walk of that dir, kept). */
  private lowerNamesOf(target: LinkTarget): string[][] {
    const dir = this.lowers.find((d) => target.host.startsWith(d + '/'));
    if (!dir) return [];
    let index = this.inodeNames.get(dir);
    if (!index) {
      index = new Map();
      const walk = (rel: string[]) => {
        for (const name of fs.readdirSync(path.join(dir, ...rel))) {
          const r = [...rel, name];
          const st = fs.lstatSync(path.join(dir, ...r));
          if (st.isDirectory()) walk(r);
          else if (st.nlink > 1) index!.set(st.ino, [...(index!.get(st.ino) ?? []), r]);
        }
      };
      walk([]);
      this.inodeNames.set(dir, index);
    }
    return index.get(target.st.ino) ?? [];
  }

  /**
   * True when the merged view below this layer shows the inode `st` at `rel`, and this layer
   * hides nothing on the way (no entry there yet, no whiteout, file or opaque directory above).
   */
  private showsThrough(rel: string[], st: fs.Stats): boolean {
    for (let i = 0; i < rel.length; i++) {
      if (this.opaqueDirs.has(rel.slice(0, i).join('/'))) return false;
      const here = lstatIf(this.host(rel.slice(0, i + 1)));
      if (i === rel.length - 1) {
        if (here) return false;
      } else if (here && !here.isDirectory()) {
        return false;
      }
    }
    const low = this.lower(rel);
    return !!low && low.st.ino === st.ino && low.st.dev === st.dev;
  }

  private whiteout(rel: string[], h: TarHeader): void {
    const key = rel.join('/');
    // A whiteout hides what lower layers have; this layer's own entries stay.
    if (this.written.has(key) || this.ancestors.has(key)) return;
    const p = this.host(rel);
    if (this.mode === 'apply') {
      fs.rmSync(p, { recursive: true, force: true });
      return;
    }
    if (lstatIf(p)) fs.rmSync(p, { recursive: true, force: true });
    fsops().mknod(p, S_IFCHR, 0, 0);
    // The entry's time, so that the layer's dir diffs back to the same tar (engine/difftar.ts).
    fs.lutimesSync(p, h.mtime, h.mtime);
  }

  private opaque(dir: string[]): void {
    if (this.mode === 'overlay') {
      fsops().lsetxattr(this.host(dir), OVERLAY_OPAQUE_XATTR, Buffer.from('y'));
      this.opaqueDirs.add(dir.join('/'));
    }
    // Whatever this layer holds below `dir` that is not its own entry goes: in apply mode the
    // lower layers' files, in overlay mode what was copied up from them.
    this.prune(dir);
  }

  /** An opaque directory: everything below `dir` this layer did not write goes. */
  private prune(dir: string[]): void {
    const host = this.host(dir);
    for (const name of fs.readdirSync(host)) {
      const rel = [...dir, name];
      const key = rel.join('/');
      if (!this.written.has(key) && !this.ancestors.has(key)) {
        fs.rmSync(path.join(host, name), { recursive: true, force: true });
      } else if (lstatIf(path.join(host, name))?.isDirectory()) {
        this.prune(rel);
      }
    }
  }

  /**
   * The entry's xattrs on `p`. A directory that was there already gets exactly the entry's
   * (others removed); a new file has none to remove.
   */
  private setXattrs(p: string, h: TarHeader, special: boolean, merge = false): void {
    // overlayfs's own attributes from a tarball could redirect or hide lower files: replaceXattrs skips them.
    try {
      replaceXattrs(p, h.xattrs, { special, merge });
    } catch (e) {
      throw new LayerError(`entry ${JSON.stringify(h.name)}: xattrs: ${(e as Error).message}`);
    }
  }
}

interface LinkTarget {
  host: string;
  st: fs.Stats;
  /** Its components from the root, symlinks resolved. */
  rel: string[];
  /** This layer has something at `rel` already (a whiteout: the lower file is hidden). */
  shadowed: boolean;
}

/** Linux's dev_t encoding (new_encode_dev), as stat reports it. */
function devNumbers(rdev: number): { major: number; minor: number } {
  const hi = Math.floor(rdev / 2 ** 32);
  const lo = rdev >>> 0;
  return { major: ((lo >>> 8) & 0xfff) | ((hi & 0xfffff000) >>> 0), minor: (lo & 0xff) | ((lo >>> 12) & 0xfff00) };
}
