/**
 * Freezing, for `pause`/`resume` and to stop fork races while signalling every process.
 * v1: freezer.state; v2: cgroup.freeze + cgroup.events. Both wait until the kernel says FROZEN.
 */
import { CgroupIO, sleepMs, tryRead } from './fsio';
import { CgroupError } from './types';

/**
 * cgroup v1 can stay in FREEZING while processes keep forking or being added. runc's answer,
 * copied: retry the write, with an occasional thaw+sleep to let new tasks settle; give up (and
 * thaw, since half-frozen is worse) after 1000 tries.
 */
export function freezeV1(dir: string, io: CgroupIO): void {
  for (let i = 0; i < 1000; i++) {
    if (i % 50 === 49) {
      io.write(dir, 'freezer.state', 'THAWED');
      sleepMs(10);
    }
    io.write(dir, 'freezer.state', 'FROZEN');
    if (i % 25 === 24) sleepMs(1);
    const state = io.read(dir, 'freezer.state').trim();
    if (state === 'FROZEN') return;
    if (state !== 'FREEZING') throw new CgroupError(`cgroup: unexpected freezer state ${state} after writing FROZEN in ${dir}`);
  }
  try {
    io.write(dir, 'freezer.state', 'THAWED');
  } catch {
    /* already reporting the real failure */
  }
  throw new CgroupError(`cgroup: unable to freeze ${dir} (stuck in FREEZING)`);
}

export function thawV1(dir: string, io: CgroupIO): void {
  io.write(dir, 'freezer.state', 'THAWED');
}

/** FROZEN by itself (freezer.self_freezing), not merely because an ancestor is frozen. */
export function isFrozenV1(dir: string): boolean {
  for (let i = 0; i < 1000; i++) {
    const state = tryRead(dir, 'freezer.state')?.trim();
    if (state === undefined || state === 'THAWED') return false;
    if (state === 'FROZEN') return tryRead(dir, 'freezer.self_freezing')?.trim() !== '0';
    sleepMs(1); // FREEZING: transient, wait for a stable answer
  }
  return true;
}

function v2Events(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const l of (tryRead(dir, 'cgroup.events') ?? '').split('\n')) {
    const [k, v] = l.split(' ');
    if (k) out.set(k, v);
  }
  return out;
}

function writeFreeze(dir: string, io: CgroupIO, v: '0' | '1'): void {
  try {
    io.write(dir, 'cgroup.freeze', v);
  } catch (e) {
    if ((e as CgroupError).code === 'ENOENT' && io.exists(dir, 'cgroup.procs')) {
      throw new CgroupError(`cgroup: the cgroup v2 freezer is not supported by this kernel (no cgroup.freeze in ${dir}; needs Linux 5.2+)`, 'ENOENT');
    }
    throw e;
  }
}

/** Waits up to ~5 s for cgroup.events to report "frozen 1" (tasks stop at their next return to user space). */
export function freezeV2(dir: string, io: CgroupIO): void {
  writeFreeze(dir, io, '1');
  for (let i = 0; i < 500; i++) {
    if (v2Events(dir).get('frozen') === '1') return;
    sleepMs(i < 10 ? 1 : 10);
  }
  throw new CgroupError(`cgroup: timed out waiting for ${dir} to freeze`);
}

export function thawV2(dir: string, io: CgroupIO): void {
  writeFreeze(dir, io, '0');
}

export function isFrozenV2(dir: string): boolean {
  return tryRead(dir, 'cgroup.freeze')?.trim() === '1';
}
