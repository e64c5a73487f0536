/**
 * File operations of the store: durable writes (a crash leaves either the old or the new file,
 * never a torn one), and the names of temporary files and scratch directories.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as crypto from 'crypto';

/** fsync a directory, so that a rename or create inside it survives a power cut. */
export function fsyncDir(dir: string): void {
  const fd = fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * A scratch directory's name that says which process owns it ("<pid>-[tag-]<random>"), so that
 * a later process can tell the leftovers of one that died (leftByDeadProcess).
 */
export function processOwnedName(tag?: string): string {
  return `${process.pid}-${tag ? `${tag}-` : ''}${crypto.randomBytes(6).toString('hex')}`;
}

/** True for a processOwnedName whose process is gone: what it left may be swept. */
export function leftByDeadProcess(name: string): boolean {
  const pid = Number(name.split('-')[0]);
  if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return false;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code !== 'EPERM';
  }
}

/** A unique name for a temporary file next to its destination. */
export function tempName(prefix: string): string {
  return `${prefix}.tmp-${process.pid}-${crypto.randomBytes(4).toString('hex')}`;
}

/** Writes `data` to `file` through a temporary file, fsync and rename. */
export function writeFileAtomic(file: string, data: string | Buffer, mode = 0o644): void {
  const tmp = path.join(path.dirname(file), tempName(`.${path.basename(file)}`));
  const fd = fs.openSync(tmp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, mode);
  try {
    fs.writeFileSync(fd, data);
    fs.fsyncSync(fd);
  } catch (e) {
    fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  fs.closeSync(fd);
  try {
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  fsyncDir(path.dirname(file));
}
