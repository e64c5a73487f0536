/**
 * The state directory: <root>/<id>/ holds state.json (written to a temp file and renamed, so
 * a reader never sees half of it), exec.fifo while the container waits for `start`, and is
 * locked with flock(2) by every command that changes the container.
 */
import * as fs from 'fs';
import * as path from 'path';
import { NotExistError, RuntimeError } from '../errors';
import { LOCK_EX, LOCK_UN, native } from '../native';
import type { ContainerRecord } from './record';

const ID_PATTERN = /^[\w+.-]+$/;

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
