/**
 * Pure cgroup path logic: cgroupsPath forms (runc 1.1 semantics) and mountinfo parsing for v1,
 * v2 and hybrid hosts, from sample text. No root, no /sys access.
 */
import { cgroupLayout, modeOf, ownCgroupIn, parseMountinfo, parseProcCgroup } from '../../packages/runtime/src/cgroups/mountinfo';
import { cleanPath, expandSlice, parseCgroupsPath, resolveDirs, systemdCgroupPath } from '../../packages/runtime/src/cgroups/paths';
import { cgroupManagerFor, CgroupError } from '../../packages/runtime/src/cgroups';
import type { HostCgroups } from '../../packages/runtime/src/cgroups/host';

// This very host (Debian 12 userland, systemd-less VM): v1 controllers + cgroup2 at .../unified.
const HYBRID = `
21 1 254:0 / / rw,relatime - ext4 /dev/vda rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`;
const HYBRID_SELF = `9:name=systemd:/
8:pids:/
7:blkio:/
6:freezer:/
5:devices:/
4:memory:/process_api/aeebe02bb8c7bd21d1a6b3f9b8fc5e52
3:cpuset:/
2:cpuacct:/
1:cpu:/
0::/cgcaller/inner
`;

// A classic systemd v1 host: comounted cpu,cpuacct and net_cls,net_prio, optional fields present.
const V1 = `
25 18 0:22 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
26 25 0:23 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:10 - cgroup cgroup rw,xattr,release_agent=/lib/systemd/systemd-cgroups-agent,name=systemd
29 25 0:26 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:13 - cgroup cgroup rw,cpu,cpuacct
30 25 0:27 / /sys/fs/cgroup/net_cls,net_prio rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup rw,net_cls,net_prio
31 25 0:28 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,memory
32 25 0:29 / /sys/fs/cgroup/devices rw,nosuid,nodev,noexec,relatime shared:16 - cgroup cgroup rw,devices
33 25 0:30 / /sys/fs/cgroup/cpuset rw,nosuid,nodev,noexec,relatime shared:17 - cgroup cgroup rw,cpuset,clone_children
`;
const V1_SELF = `11:cpuset:/
10:devices:/user.slice
9:memory:/user.slice/user-0.slice/session-1.scope
8:net_cls,net_prio:/
7:cpu,cpuacct:/user.slice
1:name=systemd:/user.slice/user-0.slice/session-1.scope
`;

const V2 = `
22 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw
35 24 0:30 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
`;
const V2_SELF = '0::/user.slice/user-1000.slice/session-2.scope\n';

function host(mountinfo: string, self: string): HostCgroups {
  const layout = cgroupLayout(parseMountinfo(mountinfo));
  return { mode: modeOf(layout), layout, own: parseProcCgroup(self) };
}

describe('cleanPath (runc utils.CleanPath)', () => {
  test.each([
    ['', ''],
    ['/a/b/', '/a/b'],
    ['a//b/./c', 'a/b/c'],
    ['../../x', 'x'],
    ['a/../../b', 'b'],
    ['/../x', '/x'],
    ['/', '/'],
  ])('%j -> %j', (input, want) => expect(cleanPath(input)).toBe(want));
});

describe('parseCgroupsPath', () => {
  test('the root cgroup is refused (kill --all would signal the whole host)', () => {
    expect(() => parseCgroupsPath('/', 'x', false)).toThrow('root cgroup');
    expect(() => parseCgroupsPath('/a/..', 'x', false)).toThrow('root cgroup');
  });
  test('empty path defaults to the relative path <id>, as runc 1.1 (checked: runc puts it at /<id>)', () => {
    expect(parseCgroupsPath(undefined, 'ctr1', false)).toEqual({ kind: 'fs', inner: 'ctr1' });
    expect(parseCgroupsPath('', 'ctr1', false)).toEqual({ kind: 'fs', inner: 'ctr1' });
  });
  test('absolute and relative paths are cleaned and kept', () => {
    expect(parseCgroupsPath('/libpod_parent/libpod-abc', 'x', false)).toEqual({ kind: 'fs', inner: '/libpod_parent/libpod-abc' });
    expect(parseCgroupsPath('default/x/', 'x', false)).toEqual({ kind: 'fs', inner: 'default/x' });
    expect(parseCgroupsPath('../../etc', 'x', false)).toEqual({ kind: 'fs', inner: 'etc' });
  });
  test('slice:prefix:name without systemd is a literal relative path (runc 1.1.5 does this)', () => {
    expect(parseCgroupsPath('system.slice:foo:bar', 'x', false)).toEqual({ kind: 'fs', inner: 'system.slice:foo:bar' });
  });
  test('systemd forms', () => {
    expect(parseCgroupsPath('machine.slice:libpod:abc', 'abc', true)).toEqual({ kind: 'systemd', unit: { slice: 'machine.slice', prefix: 'libpod', name: 'abc' } });
    expect(parseCgroupsPath('', 'abc', true)).toEqual({ kind: 'systemd', unit: { slice: '', prefix: 'runc', name: 'abc' } });
    expect(() => parseCgroupsPath('/abs/x', 'x', true)).toThrow('expected cgroupsPath to be of format "slice:prefix:name" for systemd cgroups, got "/abs/x" instead');
  });
  test('systemd slice expansion', () => {
    expect(expandSlice('system.slice')).toBe('/system.slice');
    expect(expandSlice('a-b-c.slice')).toBe('/a.slice/a-b.slice/a-b-c.slice');
    expect(expandSlice('-.slice')).toBe('/');
    expect(() => expandSlice('a--b.slice')).toThrow(CgroupError);
    expect(() => expandSlice('nope')).toThrow(CgroupError);
    expect(systemdCgroupPath({ slice: 'machine.slice', prefix: 'libpod', name: 'abc' })).toBe('/machine.slice/libpod-abc.scope');
    expect(systemdCgroupPath({ slice: '', prefix: 'runc', name: 'abc' })).toBe('/system.slice/runc-abc.scope');
    expect(systemdCgroupPath({ slice: '', prefix: 'runc', name: 'abc' }, true)).toBe('/user.slice/runc-abc.scope');
  });
});

describe('mountinfo and /proc/self/cgroup', () => {
  test('hybrid host', () => {
    const layout = cgroupLayout(parseMountinfo(HYBRID));
    expect(modeOf(layout)).toBe('hybrid');
    expect(layout.v1.map((h) => h.key)).toEqual(['cpu', 'cpuacct', 'cpuset', 'memory', 'devices', 'freezer', 'blkio', 'pids', 'name=systemd']);
    expect(layout.unified).toEqual({ mountpoint: '/sys/fs/cgroup/unified', root: '/' });
  });
  test('v1 host with comounts, flags and optional fields', () => {
    const layout = cgroupLayout(parseMountinfo(V1));
    expect(modeOf(layout)).toBe('v1');
    expect(layout.unified).toBeUndefined();
    const keys = layout.v1.map((h) => h.key);
    expect(keys).toEqual(['name=systemd', 'cpu,cpuacct', 'net_cls,net_prio', 'memory', 'devices', 'cpuset']);
    expect(layout.v1[1]).toEqual({ key: 'cpu,cpuacct', controllers: ['cpu', 'cpuacct'], mountpoint: '/sys/fs/cgroup/cpu,cpuacct', root: '/' });
  });
  test('v2 host, also with a leftover named v1 hierarchy', () => {
    expect(modeOf(cgroupLayout(parseMountinfo(V2)))).toBe('v2');
    const withNamed = V2 + '50 35 0:40 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,name=systemd\n';
    expect(modeOf(cgroupLayout(parseMountinfo(withNamed)))).toBe('v2');
  });
  test('no cgroup at all is an error', () => {
    expect(() => modeOf(cgroupLayout(parseMountinfo('22 1 254:1 / / rw - ext4 /dev/vda1 rw\n')))).toThrow(CgroupError);
  });
  test('bind mounts of one hierarchy: the one showing the whole tree wins; hidden mounts are skipped; octal escapes', () => {
    const text = `
70 60 0:32 /some/ctr /run/x/memory rw - cgroup cgroup rw,memory
71 60 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
80 60 0:38 / /mnt/old\\040v2 rw - cgroup2 cgroup2 rw
81 80 0:39 / /mnt/old\\040v2 rw - cgroup2 cgroup2 rw
`;
    const layout = cgroupLayout(parseMountinfo(text));
    expect(layout.v1).toEqual([{ key: 'memory', controllers: ['memory'], mountpoint: '/sys/fs/cgroup/memory', root: '/' }]);
    expect(layout.unified).toEqual({ mountpoint: '/mnt/old v2', root: '/' });
  });
  test('parseProcCgroup and lookups by controller set', () => {
    const own = parseProcCgroup(V1_SELF);
    expect(own.get('cpu,cpuacct')).toBe('/user.slice');
    expect(ownCgroupIn(own, ['cpuacct', 'cpu'])).toBe('/user.slice');
    expect(ownCgroupIn(own, ['name=systemd'])).toBe('/user.slice/user-0.slice/session-1.scope');
    expect(ownCgroupIn(parseProcCgroup(V2_SELF), null)).toBe('/user.slice/user-1000.slice/session-2.scope');
    expect(ownCgroupIn(own, ['pids'])).toBeUndefined();
  });
});

describe('resolveDirs', () => {
  test('hybrid, default path: v1 dirs relative to our own cgroup, cgroup2 dir off the mountpoint (as runc 1.1.5 did here)', () => {
    const h = host(HYBRID, HYBRID_SELF);
    const dirs = resolveDirs(h.mode, h.layout, 'cgt1', h.own);
    expect(dirs).toEqual({
      cpu: '/sys/fs/cgroup/cpu/cgt1',
      cpuacct: '/sys/fs/cgroup/cpuacct/cgt1',
      cpuset: '/sys/fs/cgroup/cpuset/cgt1',
      memory: '/sys/fs/cgroup/memory/process_api/aeebe02bb8c7bd21d1a6b3f9b8fc5e52/cgt1',
      devices: '/sys/fs/cgroup/devices/cgt1',
      freezer: '/sys/fs/cgroup/freezer/cgt1',
      blkio: '/sys/fs/cgroup/blkio/cgt1',
      pids: '/sys/fs/cgroup/pids/cgt1',
      'name=systemd': '/sys/fs/cgroup/systemd/cgt1',
      '': '/sys/fs/cgroup/unified/cgt1',
    });
  });
  test('absolute path is used as is under every mountpoint', () => {
    const h = host(HYBRID, HYBRID_SELF);
    const dirs = resolveDirs(h.mode, h.layout, '/libpod_parent/libpod-abc', h.own);
    expect(dirs.memory).toBe('/sys/fs/cgroup/memory/libpod_parent/libpod-abc');
    expect(dirs['']).toBe('/sys/fs/cgroup/unified/libpod_parent/libpod-abc');
    expect(dirs['name=systemd']).toBe('/sys/fs/cgroup/systemd/libpod_parent/libpod-abc');
  });
  test('v1 with comounts: one dir per hierarchy', () => {
    const h = host(V1, V1_SELF);
    const dirs = resolveDirs(h.mode, h.layout, 'rel/ctr', h.own);
    expect(dirs['cpu,cpuacct']).toBe('/sys/fs/cgroup/cpu,cpuacct/user.slice/rel/ctr');
    expect(dirs['name=systemd']).toBe('/sys/fs/cgroup/systemd/user.slice/user-0.slice/session-1.scope/rel/ctr');
    expect(dirs['']).toBeUndefined();
  });
  test('v2: relative paths hang off the PARENT of our cgroup, absolute ones off the mountpoint', () => {
    const h = host(V2, V2_SELF);
    expect(resolveDirs('v2', h.layout, 'ctr', h.own)).toEqual({ '': '/sys/fs/cgroup/user.slice/user-1000.slice/ctr' });
    expect(resolveDirs('v2', h.layout, '/tsrun/ctr', h.own)).toEqual({ '': '/sys/fs/cgroup/tsrun/ctr' });
  });
  test('inside a container without a cgroup namespace: own path is made relative to the mount root', () => {
    const text = '90 80 0:32 /docker/abc /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n';
    const h = host(text, '4:memory:/docker/abc/sub\n');
    expect(resolveDirs('v1', h.layout, 'ctr', h.own).memory).toBe('/sys/fs/cgroup/memory/sub/ctr');
  });
});

describe('cgroupManagerFor', () => {
  const h = host(HYBRID, HYBRID_SELF);
  test('builds a hybrid manager with runc-like dirs and mount sources', () => {
    const m = cgroupManagerFor({ id: 'abc', cgroupsPath: '/tsrun/abc', host: h });
    expect(m.mode).toBe('hybrid');
    expect(m.path).toBe('/tsrun/abc');
    expect(m.dirs.cpu).toBe('/sys/fs/cgroup/cpu/tsrun/abc');
    expect(m.save()).toEqual({ mode: 'hybrid', path: '/tsrun/abc', dirs: { ...m.dirs } });
    const sources = m.mountSources();
    expect(sources.map((s) => s.controller)).toEqual(['cpu', 'cpuacct', 'cpuset', 'memory', 'devices', 'freezer', 'blkio', 'pids', 'systemd']);
    expect(sources.find((s) => s.controller === 'systemd')!.hostPath).toBe('/sys/fs/cgroup/systemd/tsrun/abc');
  });
  test('comounted hierarchies appear once, with symlinks for each controller', () => {
    const m = cgroupManagerFor({ id: 'abc', cgroupsPath: '/x', host: host(V1, V1_SELF) });
    expect(m.mountSources()).toContainEqual({ controller: 'cpu,cpuacct', hostPath: '/sys/fs/cgroup/cpu,cpuacct/x', symlinks: ['cpu', 'cpuacct'] });
  });
  test('v2 manager has the one unified dir', () => {
    const m = cgroupManagerFor({ id: 'abc', host: host(V2, V2_SELF) });
    expect(m.mode).toBe('v2');
    expect(m.mountSources()).toEqual([{ controller: '', hostPath: '/sys/fs/cgroup/user.slice/user-1000.slice/abc' }]);
  });
  test('systemd driver: format checked first, then systemd presence', () => {
    expect(() => cgroupManagerFor({ id: 'a', cgroupsPath: '/abs', systemd: true, host: h })).toThrow('slice:prefix:name');
    // There is no systemd on the machines this suite runs on; guard in case there is.
    if (!require('fs').existsSync('/run/systemd/system')) {
      expect(() => cgroupManagerFor({ id: 'a', systemd: true, host: h })).toThrow('systemd cgroup driver requested but systemd is not running');
    }
  });
});
