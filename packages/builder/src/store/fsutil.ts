/** Durable file operations: a crash leaves either the old or the new file, never a torn one. */
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
