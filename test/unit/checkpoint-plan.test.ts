/**
 * What checkpoint and restore tell CRIU about a config, without CRIU: the external mounts (binds,
 * cgroup binds, device nodes) by their real mount points inside the rootfs, the empty_ns mask and
 * cgroup modes in runc's words, CRIU's config file from the annotation.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import {
  cgroupMode, criuConfigFile, emptyNsMask, externalMounts, secureJoin,
} from '../../packages/runtime/src/container/checkpoint';

const DEVICES = ['/dev/null', '/dev/zero', '/dev/full', '/dev/random', '/dev/urandom', '/dev/tty'].map((d) => ({ dest: d, source: d }));

describe('secureJoin', () => {
  let root: string;
  beforeAll(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-securejoin-'));
    fs.mkdirSync(path.join(root, 'real/conf'), { recursive: true });
    fs.symlinkSync('/real/conf', path.join(root, 'conf')); // absolute: inside the root
    fs.symlinkSync('../../../../etc', path.join(root, 'up')); // climbs: stops at the root
    fs.symlinkSync('loop', path.join(root, 'loop'));
  });
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

  it('resolves links inside the root, never above it', () => {
    expect(secureJoin(root, '/conf')).toBe('/real/conf');
    expect(secureJoin(root, 'conf/x/../y')).toBe('/real/conf/y');
    expect(secureJoin(root, '/up/passwd')).toBe('/etc/passwd');
    expect(secureJoin(root, '/../../data')).toBe('/data');
    expect(secureJoin(root, '/missing/dir')).toBe('/missing/dir');
    expect(() => secureJoin(root, '/loop')).toThrow(/too many levels of symbolic links/);
  });
});

describe('externalMounts', () => {
  const rootfs = '/nonexistent-rootfs';
  const spec = (extra: Record<string, unknown> = {}) => ({
    ociVersion: '1.0.2',
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc' },
      { destination: '/data', type: 'bind', source: 'data', options: ['rbind', 'rw'] },
      { destination: '/etc/hosts', source: '/srv/hosts', options: ['bind', 'ro'] },
      { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup' },
    ],
    linux: { namespaces: [{ type: 'mount' }], devices: [{ path: '/dev/fuse', type: 'c', major: 10, minor: 229 }] },
    ...extra,
  });

  it('lists the binds (sources from the bundle), the cgroup binds and the device nodes', () => {
    const v1 = [{ controller: 'memory', hostPath: '/sys/fs/cgroup/memory/c' }, { controller: 'cpu,cpuacct', hostPath: '/sys/fs/cgroup/cpu,cpuacct/c' }];
    expect(externalMounts(spec() as never, rootfs, '/b', v1, false)).toEqual([
      { dest: '/data', source: '/b/data' },
      { dest: '/etc/hosts', source: '/srv/hosts' },
      { dest: '/sys/fs/cgroup/memory', source: '/sys/fs/cgroup/memory/c' },
      { dest: '/sys/fs/cgroup/cpu,cpuacct', source: '/sys/fs/cgroup/cpu,cpuacct/c' },
      ...DEVICES,
      { dest: '/dev/fuse', source: '/dev/fuse' },
    ]);
  });

  it('on cgroup v2: one bind, or none with a cgroup namespace (a real cgroup2 mount)', () => {
    const v2 = [{ controller: '', hostPath: '/sys/fs/cgroup/c' }];
    expect(externalMounts(spec() as never, rootfs, '/b', v2, true)).toContainEqual({ dest: '/sys/fs/cgroup', source: '/sys/fs/cgroup/c' });
    const withNs = spec({ linux: { namespaces: [{ type: 'mount' }, { type: 'cgroup' }] } });
    expect(externalMounts(withNs as never, rootfs, '/b', v2, true).map((m) => m.dest)).not.toContain('/sys/fs/cgroup');
  });

  it('a bound /dev brings no default device nodes', () => {
    const s = spec({ mounts: [{ destination: '/dev', type: 'bind', source: '/dev', options: ['rbind'] }], linux: { namespaces: [{ type: 'mount' }] } });
    expect(externalMounts(s as never, rootfs, '/b', [], true)).toEqual([{ dest: '/dev', source: '/dev' }]);
  });
});

describe('runc\'s options', () => {
  it('empty_ns always holds the network namespace; --empty-ns takes only "network"', () => {
    expect(emptyNsMask(undefined)).toBe(0x40000000);
    expect(emptyNsMask(['network'])).toBe(0x40000000);
    expect(() => emptyNsMask(['pid'])).toThrow('namespace "pid" is not supported');
  });

  it('--manage-cgroups-mode', () => {
    expect(cgroupMode('')).toBe(6); // CRIU's default (soft)
    expect(cgroupMode(undefined)).toBe(6);
    expect([cgroupMode('ignore'), cgroupMode('soft'), cgroupMode('full'), cgroupMode('strict')]).toEqual([0, 3, 4, 5]);
    expect(() => cgroupMode('hard')).toThrow('Invalid manage-cgroups-mode value');
  });

  it('CRIU\'s config file: the org.criu.config annotation, empty for none, else runc\'s', () => {
    expect(criuConfigFile({ ociVersion: '1' } as never)).toBe('/etc/criu/runc.conf');
    expect(criuConfigFile({ ociVersion: '1', annotations: { 'org.criu.config': '/x.conf' } } as never)).toBe('/x.conf');
    expect(criuConfigFile({ ociVersion: '1', annotations: { 'org.criu.config': '' } } as never)).toBeUndefined();
  });
});
