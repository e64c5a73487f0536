/**
 * `exec --cgroup` values (the kernel's part is in test/integration/exec-cgroup.test.ts): runc's
 * syntax and messages, paths that must stay inside the container's cgroup, and which directory
 * of which hierarchy each value names.
 */
import { parseSubCgroupArgs, subCgroupRel, subCgroupTargets } from '../../packages/runtime/src/cgroups/sub-cgroups';
import type { CgroupManager } from '../../packages/runtime/src/cgroups/types';

/** Just enough of a manager: its mode, its dirs and the dirs a process enters. */
function manager(mode: CgroupManager['mode'], dirs: Record<string, string>): CgroupManager {
  return {
    mode,
    dirs,
    entryDirs: () => ({ v2: dirs[''], v1: Object.entries(dirs).filter(([k]) => k !== '').map(([, d]) => d) }),
  } as unknown as CgroupManager;
}

const hybrid = manager('hybrid', {
  'cpu,cpuacct': '/sys/fs/cgroup/cpu,cpuacct/ctr',
  memory: '/sys/fs/cgroup/memory/ctr',
  pids: '/sys/fs/cgroup/pids/ctr',
  'name=systemd': '/sys/fs/cgroup/systemd/ctr',
  '': '/sys/fs/cgroup/unified/ctr',
});
const v2 = manager('v2', { '': '/sys/fs/cgroup/ctr' });

describe('parseSubCgroupArgs', () => {
  test('none, one path, per-controller values', () => {
    expect(parseSubCgroupArgs(undefined)).toBeUndefined();
    expect(parseSubCgroupArgs([])).toBeUndefined();
    expect(parseSubCgroupArgs(['a/b'])).toEqual({ kind: 'all', path: 'a/b' });
    expect(parseSubCgroupArgs(['cpu,memory:sub', 'pids:other'])).toEqual({
      kind: 'controllers',
      paths: new Map([['cpu', 'sub'], ['memory', 'sub'], ['pids', 'other']]),
    });
    // Only the first colon separates: a cgroup name may hold one.
    expect(parseSubCgroupArgs(['cpu:a:b'])).toEqual({ kind: 'controllers', paths: new Map([['cpu', 'a:b']]) });
  });

  test('runc\'s refusals, in its words', () => {
    expect(() => parseSubCgroupArgs(['a', 'b'])).toThrow('invalid --cgroup argument: a (missing <controller>: prefix)');
    expect(() => parseSubCgroupArgs(['cpu:a', 'b'])).toThrow('invalid --cgroup argument: b (missing <controller>: prefix)');
    expect(() => parseSubCgroupArgs([':a'])).toThrow('invalid --cgroup argument: :a (empty <controller> prefix)');
    expect(() => parseSubCgroupArgs(['cpu,,memory:a'])).toThrow('(empty <controller> prefix)');
    expect(() => parseSubCgroupArgs(['cpu:a', 'cpu,memory:b'])).toThrow('invalid --cgroup argument(s): controller cpu specified multiple times');
    expect(() => parseSubCgroupArgs(['a\0b'])).toThrow('(a NUL byte)');
  });
});

describe('subCgroupRel', () => {
  test('relative to the container cgroup, however spelt', () => {
    for (const p of ['', '/', '.', './', '//']) expect(subCgroupRel(p)).toBe('');
    for (const p of ['sub', '/sub', 'sub/', './sub', 'x/../sub', '//sub//']) expect(subCgroupRel(p)).toBe('sub');
    expect(subCgroupRel('a/b/../c')).toBe('a/c');
  });

  test('never above it, not even on the way back', () => {
    for (const p of ['..', '/..', '../..', 'a/../..', '../ctr-sibling', '../ctr/sub']) {
      expect(() => subCgroupRel(p)).toThrow(`bad sub cgroup path: ${p}`);
    }
  });
});

describe('subCgroupTargets', () => {
  test('one path: every hierarchy, the cgroup2 one too', () => {
    const t = subCgroupTargets(hybrid, { kind: 'all', path: '/x/y' });
    expect(t.v2).toEqual({ base: '/sys/fs/cgroup/unified/ctr', rel: 'x/y' });
    expect(t.v1.map((e) => e.rel)).toEqual(['x/y', 'x/y', 'x/y', 'x/y']);
  });

  test('per controller: the named hierarchies; a comount by any of its names; the rest stay', () => {
    const t = subCgroupTargets(hybrid, parseSubCgroupArgs(['cpuacct,memory:sub', 'name=systemd:s'])!);
    expect(t.v2).toEqual({ base: '/sys/fs/cgroup/unified/ctr', rel: '' });
    expect(Object.fromEntries(t.v1.map((e) => [e.base, e.rel]))).toEqual({
      '/sys/fs/cgroup/cpu,cpuacct/ctr': 'sub',
      '/sys/fs/cgroup/memory/ctr': 'sub',
      '/sys/fs/cgroup/pids/ctr': '',
      '/sys/fs/cgroup/systemd/ctr': 's',
    });
    // Both names of one comount: one directory, so one sub-cgroup.
    expect(subCgroupTargets(hybrid, parseSubCgroupArgs(['cpu:a', 'cpuacct:./a'])!).v1[0]).toEqual({ base: '/sys/fs/cgroup/cpu,cpuacct/ctr', rel: 'a' });
    expect(() => subCgroupTargets(hybrid, parseSubCgroupArgs(['cpu:a', 'cpuacct:b'])!)).toThrow(
      'controllers cpu and cpuacct share one hierarchy (cpu,cpuacct) but were given different sub-cgroups',
    );
  });

  test('unknown controllers, escapes, v2', () => {
    expect(() => subCgroupTargets(hybrid, parseSubCgroupArgs(['whaaat:/'])!)).toThrow(
      "unknown controller whaaat (the container's cgroup controllers: cpu, cpuacct, memory, name=systemd, pids)",
    );
    expect(() => subCgroupTargets(hybrid, parseSubCgroupArgs(['pids:../x'])!)).toThrow('bad sub cgroup path: ../x');
    expect(subCgroupTargets(v2, { kind: 'all', path: 'sub' })).toEqual({ v2: { base: '/sys/fs/cgroup/ctr', rel: 'sub' }, v1: [] });
    expect(() => subCgroupTargets(v2, parseSubCgroupArgs(['memory:sub'])!)).toThrow(/^unknown controller memory: on cgroup v2/);
    expect(() => subCgroupTargets(manager('v2', {}), { kind: 'all', path: 'sub' })).toThrow('the container has no cgroup of its own');
  });
});
