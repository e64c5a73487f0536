/**
 * OOM notifications for `events`. v1: an eventfd registered through cgroup.event_control on
 * memory.oom_control (the kernel signals it on every OOM in the cgroup, and once more when the
 * cgroup is removed). v2: inotify (fs.watch) on memory.events, reporting each rise of its
 * oom_kill counter.
 */
import * as fs from 'fs';
import * as path from 'path';
import { tryRead } from './fsio';
import { cgroupNative, EFD_CLOEXEC } from './native-cgroup';
import { keyValues } from './stats';
import { CgroupError, CgroupManager } from './types';

export interface OOMWatcher {
  close(): void;
}

function watchV1(dir: string, onOOM: () => void): OOMWatcher {
  const efd = cgroupNative().eventfd(EFD_CLOEXEC);
  let ocfd = -1;
  try {
    ocfd = fs.openSync(path.join(dir, 'memory.oom_control'), 'r');
    fs.writeFileSync(path.join(dir, 'cgroup.event_control'), `${efd} ${ocfd}`);
  } catch (e) {
    fs.closeSync(efd);
    if (ocfd >= 0) fs.closeSync(ocfd);
    throw new CgroupError(`cgroup: cannot register for OOM notifications in ${dir}: ${(e as Error).message}`);
  }
  let closed = false;
  const buf = Buffer.alloc(8);
  const finish = (): void => {
    fs.closeSync(efd);
    fs.closeSync(ocfd);
  };
  // The blocking read waits on libuv's thread pool; close() wakes it by adding to the counter.
  const next = (): void => {
    fs.read(efd, buf, 0, 8, null, (err) => {
      if (closed || err) return finish();
      // The kernel also signals when the cgroup goes away: that is not an OOM.
      if (!fs.existsSync(path.join(dir, 'cgroup.event_control'))) {
        closed = true;
        return finish();
      }
      onOOM();
      next();
    });
  };
  next();
  return {
    close: () => {
      if (closed) return;
      closed = true;
      const one = Buffer.alloc(8);
      one.writeBigUInt64LE(1n);
      try {
        fs.writeSync(efd, one);
      } catch {
        /* already woken */
      }
    },
  };
}

function watchV2(dir: string, onOOM: () => void): OOMWatcher {
  const count = (): bigint => keyValues(tryRead(dir, 'memory.events')).get('oom_kill') ?? 0n;
  let last = count();
  const w = fs.watch(path.join(dir, 'memory.events'), () => {
    const now = count();
    if (now > last) onOOM();
    last = now;
  });
  w.on('error', () => w.close()); // the cgroup was removed
  return { close: () => w.close() };
}

/** Calls onOOM for each OOM in the container's memory cgroup; undefined when it has none. */
export function watchOOM(cg: CgroupManager, onOOM: () => void): OOMWatcher | undefined {
  const dir = cg.controllerDir('memory');
  if (!dir) return undefined;
  if (cg.mode === 'v2') return fs.existsSync(path.join(dir, 'memory.events')) ? watchV2(dir, onOOM) : undefined;
  return watchV1(dir, onOOM);
}
