/**
 * The state directory: <root>/<id>/ holds state.json (written to a temp file and renamed, so
 * a reader never sees half of it), exec.fifo while the container waits for `start`, and is
 * locked with flock(2) by every command that changes the container. A container without a
 * mount namespace also has rootfs/ there: where its root is bound in the runtime's mount
 * namespace, with everything it mounts below; removing the directory unmounts that first.
 */
import * as fs from 'fs';
import * as path from 'path';
import { NotExistError, RuntimeError } from '../errors';
import { LOCK_EX, LOCK_UN, MNT_DETACH, native, UMOUNT_NOFOLLOW } from '../native';
import type { ContainerRecord } from './record';

const ID_PATTERN = /^[\w+.-]+$/;
const ROOT_MOUNT = 'rootfs';
/** Where `restore` binds the rootfs for CRIU (container/restore.ts), for as long as it restores. */
const CRIU_ROOT = 'criu-root';

export function validateId(id: string | undefined): string {
  if (!id) throw new RuntimeError('container id cannot be empty');
  if (!ID_PATTERN.test(id) || id === '.' || id === '..') throw new RuntimeError(`invalid container id format: ${id}`);
  return id;
}

export class StateStore {
  constructor(readonly root: string) {}

  dir(id: string): string {
    return path.join(this.root, id);
  }

  fifoPath(id: string): string {
    return path.join(this.dir(id), 'exec.fifo');
  }

  /** Where the root of a container without a mount namespace is bound (plan/build.ts rootMount). */
  rootMountPath(id: string): string {
    return path.join(this.dir(id), ROOT_MOUNT);
  }

  /** Makes the container's directory; fails if the id is taken. Returns it locked. */
  claim(id: string): Lock {
    fs.mkdirSync(this.root, { recursive: true, mode: 0o711 });
    try {
      fs.mkdirSync(this.dir(id), { mode: 0o711 });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw new RuntimeError(`container with given ID already exists: ${id}`);
      throw e;
    }
    return Lock.take(this.dir(id));
  }

  /** Locks an existing container's directory (blocking while another command holds it). */
  lock(id: string): Lock {
    try {
      return Lock.take(this.dir(validateId(id)));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new NotExistError(id);
      throw e;
    }
  }

  load(id: string): ContainerRecord {
    let text: string;
    try {
      text = fs.readFileSync(path.join(this.dir(validateId(id)), 'state.json'), 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new NotExistError(id);
      throw e;
    }
    return JSON.parse(text) as ContainerRecord;
  }

  save(rec: ContainerRecord): void {
    const file = path.join(this.dir(rec.id), 'state.json');
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(rec), { mode: 0o600 });
    fs.renameSync(tmp, file);
  }

  remove(id: string): void {
    const dir = this.dir(id);
    // Never through a mount: the rm fallback below would empty the container's rootfs.
    releaseRootMount(path.join(dir, ROOT_MOUNT));
    releaseRootMount(path.join(dir, CRIU_ROOT));
    // The directory holds a few plain files: unlinking them and rmdir is several times cheaper
    // than rmSync (whose first use also loads Node's rimraf module, ~1 ms), which is kept for
    // anything unexpected inside.
    let names: string[];
    try {
      names = fs.readdirSync(dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw e;
    }
    try {
      for (const name of names) fs.unlinkSync(path.join(dir, name));
      fs.rmdirSync(dir);
    } catch {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }

  /** Ids of every container directory under the root. */
  ids(): string[] {
    try {
      return fs.readdirSync(this.root, { withFileTypes: true }).filter((d) => d.isDirectory() && ID_PATTERN.test(d.name)).map((d) => d.name).sort();
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
  }
}

/**
 * Unmount the root of a container without a mount namespace, with all the container mounted
 * below it (one lazy unmount of the tree; a mount the container stacked on its own root is
 * unmounted first), then remove the empty directory. Nothing to do when it does not exist.
 */
export function releaseRootMount(dir: string): void {
  if (!fs.statSync(dir, { throwIfNoEntry: false })) return;
  for (let i = 0; ; i++) {
    try {
      native().umount2(dir, MNT_DETACH | UMOUNT_NOFOLLOW);
    } catch (e) {
      const errno = (e as { errno?: number }).errno;
      if (errno === EINVAL) break; // not a mount point (any more)
      // Rootless: unmounting is not ours to do, and there is nothing to unmount unless listed.
      if (errno === EPERM && !isMountPoint(dir)) break;
      throw new RuntimeError(`unmount the container's root ${dir}: ${(e as Error).message}`);
    }
    if (i === 64) throw new RuntimeError(`unmount the container's root ${dir}: still mounted after ${i} unmounts`);
  }
  try {
    fs.rmdirSync(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new RuntimeError(`remove ${dir}: ${(e as Error).message}`);
  }
}

const EPERM = 1;
const EINVAL = 22;

function isMountPoint(p: string): boolean {
  const esc = p.replace(/[ \t\n\\]/g, (c) => '\\' + c.charCodeAt(0).toString(8).padStart(3, '0'));
  return fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((l) => l.split(' ')[4] === esc);
}

/** An flock(2) on a directory; released by release() or when the process exits. */
export class Lock {
  private constructor(private fd: number) {}

  static take(dir: string): Lock {
    const fd = fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
    try {
      native().flock(fd, LOCK_EX);
    } catch (e) {
      fs.closeSync(fd);
      throw e;
    }
    return new Lock(fd);
  }

  release(): void {
    if (this.fd < 0) return;
    try {
      native().flock(this.fd, LOCK_UN);
    } finally {
      fs.closeSync(this.fd);
      this.fd = -1;
    }
  }
}

/** Writes a file atomically (temp file + rename), like runc's --pid-file. */
export function writeFileAtomic(file: string, data: string): void {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}`);
  fs.writeFileSync(tmp, data);
  fs.renameSync(tmp, file);
}
