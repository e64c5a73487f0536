/**
 * The cgroup v2 device filter (an eBPF BPF_PROG_TYPE_CGROUP_DEVICE program generated in
 * TypeScript, loaded and attached by the addon) against the real kernel. It runs wherever a
 * cgroup2 hierarchy is mounted: on a pure v2 host that is the container's own cgroup; on a
 * hybrid host the v2 driver is pointed at a test cgroup in the cgroup2 tree, where the kernel
 * runs attached device programs just the same (the v1 devices controller keeps this process's
 * root cgroup, which allows everything, so only the program decides).
 *
 * A shell is moved into the cgroup, then told to open devices; the opens the filter refuses fail
 * with EPERM ("Operation not permitted").
 */
import { ChildProcess, spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { hostCgroups } from '../../packages/runtime/src/cgroups/host';
import { V2Manager } from '../../packages/runtime/src/cgroups/v2';
import type { LinuxDeviceCgroup } from '../../packages/runtime/src/cgroups';
import { BUSYBOX } from '../helpers/runtime';

const unified = fs.existsSync('/proc/self/mountinfo') ? hostCgroups().layout.unified?.mountpoint : undefined;
const maybe = process.getuid?.() === 0 && unified ? describe : describe.skip;

maybe('cgroup v2 device filter (eBPF)', () => {
  let manager: V2Manager | undefined;
  let child: ChildProcess | undefined;
  const rel = `tsrun-test-bpfdev-${process.pid}-${Date.now().toString(36)}`;

  afterEach(() => {
    child?.kill('SIGKILL');
    child = undefined;
    try {
      manager?.destroy();
    } catch {
      try {
        fs.rmdirSync(path.join(unified!, rel));
      } catch {
        /* already gone */
      }
    }
    manager = undefined;
  });

  /** Runs `script` in a shell that is inside the filtered cgroup before it opens anything. */
  async function inCgroup(script: string): Promise<string> {
    child = spawn(BUSYBOX, ['sh', '-c', `read go; ${script}`], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout!.on('data', (c) => (out += c));
    child.stderr!.on('data', (c) => (out += c));
    // 'close', not 'exit': the exit can come before the last of its output has been read.
    const done = new Promise<void>((resolve) => child!.on('close', () => resolve()));
    manager!.join(child.pid!);
    child.stdin!.end('go\n');
    await done;
    return out;
  }

  function filtered(devices: LinuxDeviceCgroup[] | undefined): V2Manager {
    manager = new V2Manager(`/${rel}`, path.join(unified!, rel), unified!);
    manager.create();
    manager.apply({ devices }, { initial: true });
    return manager;
  }

  const probe = [
    'echo x > /dev/null && echo null-ok',
    'head -c 1 /dev/zero >/dev/null && echo zero-ok',
    '{ true > /dev/kmsg; } 2>/dev/null && echo kmsg-w-ok || echo kmsg-w-denied',
    '{ true < /dev/kmsg; } 2>/dev/null && echo kmsg-r-ok || echo kmsg-r-denied',
    '{ true < /dev/loop0; } 2>/dev/null && echo loop0-ok || echo loop0-denied',
  ].join('; ');

  test('deny-all plus the default allow-list: null and zero open, kmsg and loop0 are refused', async () => {
    filtered([{ allow: false, access: 'rwm' }]);
    expect(await inCgroup(probe)).toBe('null-ok\nzero-ok\nkmsg-w-denied\nkmsg-r-denied\nloop0-denied\n');
  });

  test('the refusal is EPERM, as the v1 controller gives', async () => {
    filtered(undefined);
    expect(await inCgroup('echo x > /dev/kmsg')).toMatch(/can't create \/dev\/kmsg: Operation not permitted/);
  });

  test('allow rules match on type, major, minor and access (a subset of the rule\'s)', async () => {
    filtered([
      { allow: false, access: 'rwm' },
      { allow: true, type: 'c', major: 1, minor: 11, access: 'w' },
      { allow: true, type: 'b', major: 7, access: 'r' },
    ]);
    expect(await inCgroup(probe)).toBe('null-ok\nzero-ok\nkmsg-w-ok\nkmsg-r-denied\nloop0-ok\n');
  });

  test('a later deny overrides an earlier allow; re-applying replaces the program', async () => {
    const m = filtered([
      { allow: false, access: 'rwm' },
      { allow: true, type: 'c', major: 1, minor: 11, access: 'rw' },
      { allow: false, type: 'c', major: 1, minor: 11, access: 'w' },
    ]);
    expect(await inCgroup(probe)).toBe('null-ok\nzero-ok\nkmsg-w-denied\nkmsg-r-ok\nloop0-denied\n');
    // An update with new rules: if the old program stayed attached (BPF_F_ALLOW_MULTI runs all),
    // its deny would still win.
    m.apply({ devices: [{ allow: false, access: 'rwm' }, { allow: true, type: 'c', major: 1, minor: 11, access: 'rw' }] });
    expect(await inCgroup(probe)).toBe('null-ok\nzero-ok\nkmsg-w-ok\nkmsg-r-ok\nloop0-denied\n');
  });

  test('an allow-all rule list lets everything through', async () => {
    filtered([{ allow: true, access: 'rwm' }]);
    expect(await inCgroup(probe)).toBe('null-ok\nzero-ok\nkmsg-w-ok\nkmsg-r-ok\nloop0-ok\n');
  });
});
