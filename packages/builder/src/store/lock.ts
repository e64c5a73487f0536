/**
 * Store locks: flock(2) on lock files in the store root. The kernel drops a flock when its
 * holder dies (kill -9 included), so a crashed writer never leaves a stale lock behind, unlike
 * O_EXCL lock files.
 *
 * Two locks, always taken in this order:
 * - `gc.lock`: shared by every writer while it adds blobs that nothing references yet (between
 *   the first blob and the index.json update), exclusive for garbage collection, so that gc
 *   never deletes the blobs of an import in progress.
 * - `index.lock`: exclusive around each read-modify-write of index.json.
 */
import * as fs from 'fs';
import { native, LOCK_EX, LOCK_SH, LOCK_UN } from '@tsrun/runtime/dist/native';

export type LockMode = 'shared' | 'exclusive';

export class FileLock {
  private fd = -1;
  private mode: LockMode | undefined;
  private holders = 0;

  constructor(readonly file: string) {}

  /**
   * Takes the lock (blocking). Re-entrant within the process for the same mode; a shared
   * holder may not ask for exclusive (flock would convert non-atomically).
   */
  acquire(mode: LockMode): void {
    if (this.holders > 0) {
      if (mode === 'exclusive' && this.mode === 'shared') throw new Error(`lock ${this.file}: shared holder cannot take it exclusively`);
      this.holders++;
      return;
    }
    const fd = fs.openSync(this.file, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o600);
    try {
      native().flock(fd, mode === 'exclusive' ? LOCK_EX : LOCK_SH);
    } catch (e) {
      fs.closeSync(fd);
      throw e;
    }
    this.fd = fd;
    this.mode = mode;
    this.holders = 1;
  }

  release(): void {
    if (this.holders === 0) return;
    if (--this.holders > 0) return;
    try {
      native().flock(this.fd, LOCK_UN);
    } finally {
      fs.closeSync(this.fd);
      this.fd = -1;
      this.mode = undefined;
    }
  }

  async with<T>(mode: LockMode, fn: () => T | Promise<T>): Promise<T> {
    this.acquire(mode);
    try {
      return await fn();
    } finally {
      this.release();
    }
  }
}
