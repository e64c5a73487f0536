/**
 * Mounts as the container sees them in /proc/self/mountinfo, and their effects.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { DEFAULT_CAPS, itTsrun, MountInfo, ok, parseMountinfo, readIf, Sandbox, Spec, useSandbox } from '../helpers/runtime';

const sb = useSandbox();

/** Run `args` in a container built from `edit` and return stdout (asserting exit 0). */
function inside(args: string[], edit?: (s: Spec) => void, name = 'm'): string {
  return ok(sb.run(sb.id(name), sb.bundle(args, edit))).stdout;
}

function mountinfo(edit?: (s: Spec) => void): MountInfo[] {
  return parseMountinfo(inside(['cat', '/proc/self/mountinfo'], edit, 'mi'));
}

function at(mi: MountInfo[], mp: string): MountInfo {
  // The last mount at a point is the visible one.
  const m = mi.filter((x) => x.mountPoint === mp).pop();
  if (!m) throw new Error(`no mount at ${mp} in:\n${mi.map((x) => `${x.mountPoint} ${x.fsType}`).join('\n')}`);
  return m;
}

function hostMount(args: string[]): void {
  const r = spawnSync('mount', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`mount ${args.join(' ')}: ${r.stderr}`);
}

function hostUmount(p: string): void {
  spawnSync('umount', ['-l', p], { stdio: 'ignore' });
}

const hostCgroupV1 = parseMountinfo(fs.readFileSync('/proc/self/mountinfo', 'utf8')).filter(
  (m) => m.fsType === 'cgroup' && m.mountPoint.startsWith('/sys/fs/cgroup/'),
);

describe('default mounts', () => {
  let mi: MountInfo[];
  beforeAll(() => {
    mi = mountinfo();
  });

  it('root is the rootfs, read-only (root.readonly)', () => {
    const root = at(mi, '/');
    expect(root.root).toBe(sb.rootfs);
    expect(root.options).toContain('ro');
  });

  it('/proc is procfs', () => {
    const m = at(mi, '/proc');
    expect(m.fsType).toBe('proc');
    expect(m.options).toContain('rw');
  });

  it('/dev is a nosuid tmpfs with mode=755,size=65536k', () => {
    const m = at(mi, '/dev');
    expect(m.fsType).toBe('tmpfs');
    expect(m.options).toEqual(expect.arrayContaining(['rw', 'nosuid']));
    expect(m.options).not.toContain('relatime'); // strictatime
    expect(m.superOptions).toEqual(expect.arrayContaining(['mode=755', 'size=65536k']));
  });

  it('/dev/pts is a new devpts instance (nosuid,noexec; gid=5,mode=620,ptmxmode=666)', () => {
    const m = at(mi, '/dev/pts');
    expect(m.fsType).toBe('devpts');
    expect(m.options).toEqual(expect.arrayContaining(['nosuid', 'noexec']));
    expect(m.superOptions).toEqual(expect.arrayContaining(['gid=5', 'mode=620', 'ptmxmode=666']));
  });

  it('/dev/shm is a nosuid,nodev,noexec tmpfs', () => {
    const m = at(mi, '/dev/shm');
    expect(m.fsType).toBe('tmpfs');
    expect(m.source).toBe('shm');
    expect(m.options).toEqual(expect.arrayContaining(['nosuid', 'nodev', 'noexec']));
    expect(m.superOptions).toEqual(expect.arrayContaining(['size=65536k']));
  });

  it('/dev/mqueue is mqueue (nosuid,nodev,noexec)', () => {
    const m = at(mi, '/dev/mqueue');
    expect(m.fsType).toBe('mqueue');
    expect(m.options).toEqual(expect.arrayContaining(['nosuid', 'nodev', 'noexec']));
  });

  it('/sys is a read-only sysfs (ro,nosuid,nodev,noexec)', () => {
    const m = at(mi, '/sys');
    expect(m.fsType).toBe('sysfs');
    expect(m.options).toEqual(expect.arrayContaining(['ro', 'nosuid', 'nodev', 'noexec']));
  });

  it('/sys/fs/cgroup is mounted; with cgroup v1 each hierarchy is bound read-only at the container cgroup', () => {
    const m = at(mi, '/sys/fs/cgroup');
    if (hostCgroupV1.length) {
      expect(m.fsType).toBe('tmpfs');
      const subs = mi.filter((x) => x.mountPoint.startsWith('/sys/fs/cgroup/'));
      const names = subs.map((x) => path.basename(x.mountPoint)).sort();
      expect(names).toEqual(hostCgroupV1.map((x) => path.basename(x.mountPoint)).sort());
      for (const s of subs) {
        expect(s.fsType).toBe('cgroup');
        expect(s.options).toEqual(expect.arrayContaining(['ro', 'nosuid', 'nodev', 'noexec']));
        // No cgroup namespace: the bind's root is the container's own cgroup, named after its id.
        expect(s.root).toMatch(/\/mi-[0-9a-f]+-\d+$/);
      }
    } else {
      expect(m.fsType).toBe('cgroup2');
      expect(m.options).toContain('ro');
    }
  });

  it('masked files are bound to /dev/null and masked directories are read-only tmpfs', () => {
    // /proc/kcore is absent on some kernels; /proc/keys and /proc/timer_list are not.
    for (const p of ['/proc/keys', '/proc/timer_list']) {
      if (!fs.existsSync(p)) continue;
      const m = at(mi, p);
      expect(m.root).toBe('/null');
    }
    for (const p of ['/sys/firmware', '/proc/acpi']) {
      if (!fs.existsSync(p)) continue;
      const m = at(mi, p);
      expect(m.fsType).toBe('tmpfs');
      expect(m.options).toContain('ro');
    }
    // A masked path that does not exist is skipped, not created.
    expect(mi.find((x) => x.mountPoint === '/proc/scsi' && !fs.existsSync('/proc/scsi'))).toBeUndefined();
  });

  it('readonlyPaths are read-only bind mounts of themselves', () => {
    for (const p of ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger']) {
      if (!fs.existsSync(p)) continue;
      const m = at(mi, p);
      expect(m.options).toContain('ro');
      expect(m.fsType).toBe('proc');
      expect(m.root).toBe(p.replace(/^\/proc/, ''));
    }
  });

  it('nothing of the host mount table leaks in: every mount is below the rootfs or created for the container', () => {
    const points = mi.map((x) => x.mountPoint);
    expect(points).not.toContain('/work');
    expect(points.filter((p) => p.startsWith('/tmp'))).toEqual([]);
  });
});

describe('masked and read-only paths in effect', () => {
  it('masked files read empty, masked dirs are empty, /proc/sys is not writable', () => {
    const out = inside([
      'sh',
      '-c',
      'cat /proc/keys | wc -c; ls -A /sys/firmware | wc -l; echo 1 > /proc/sys/kernel/ns_last_pid && echo wrote; echo rc=$?',
    ]);
    expect(out).toBe('0\n0\nrc=1\n');
  });

  it('a custom masked file and directory', () => {
    const dir = sb.mkdir('masked-src');
    fs.writeFileSync(path.join(dir, 'secret'), 'secret\n');
    const out = inside(['sh', '-c', 'wc -c < /etc/passwd; ls -A /mnt | wc -l; ls -d /does 2>/dev/null || echo absent'], (s) => {
      s.mounts.push({ destination: '/mnt', type: 'bind', source: dir, options: ['rbind'] });
      s.linux.maskedPaths.push('/etc/passwd', '/mnt', '/does/not/exist');
    });
    // A masked path that does not exist is ignored (and not created).
    expect(out).toBe('0\n0\nabsent\n');
  });

  it('a custom read-only path makes a writable bind read-only', () => {
    const dir = sb.mkdir('rop');
    const r = sb.run(
      sb.id('rop'),
      sb.bundle(['sh', '-c', 'touch /mnt/x'], (s) => {
        s.mounts.push({ destination: '/mnt', type: 'bind', source: dir, options: ['rbind', 'rw'] });
        s.linux.readonlyPaths.push('/mnt');
      }),
    );
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/read-only file system/i);
    expect(fs.existsSync(path.join(dir, 'x'))).toBe(false);
  });
});

describe('bind mounts', () => {
  it('binds a host directory read-write', () => {
    const dir = sb.mkdir('bind-rw');
    fs.writeFileSync(path.join(dir, 'from-host'), 'host data\n');
    const out = inside(['sh', '-c', 'cat /mnt/from-host; echo container data > /mnt/from-container'], (s) =>
      s.mounts.push({ destination: '/mnt', type: 'bind', source: dir, options: ['rbind', 'rw'] }),
    );
    expect(out).toBe('host data\n');
    expect(fs.readFileSync(path.join(dir, 'from-container'), 'utf8')).toBe('container data\n');
  });

  it('binds a host file over a file of the rootfs', () => {
    const file = sb.writeFile('hostname-file', 'bound-file\n');
    const out = inside(['cat', '/etc/hostname'], (s) =>
      s.mounts.push({ destination: '/etc/hostname', type: 'bind', source: file, options: ['bind', 'ro'] }),
    );
    expect(out).toBe('bound-file\n');
  });

  it('a read-only bind cannot be written and the host file is unchanged', () => {
    const dir = sb.mkdir('bind-ro');
    fs.writeFileSync(path.join(dir, 'f'), 'orig\n');
    const r = sb.run(
      sb.id('ro'),
      sb.bundle(['sh', '-c', 'echo changed > /mnt/f'], (s) =>
        s.mounts.push({ destination: '/mnt', type: 'bind', source: dir, options: ['rbind', 'ro'] }),
      ),
    );
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/read-only file system/i);
    expect(fs.readFileSync(path.join(dir, 'f'), 'utf8')).toBe('orig\n');
    const mi = mountinfo((s) => s.mounts.push({ destination: '/mnt', type: 'bind', source: dir, options: ['rbind', 'ro'] }));
    expect(at(mi, '/mnt').options).toContain('ro');
  });

  it('rbind brings submounts along, bind does not', () => {
    const dir = sb.mkdir('rbind-src');
    const sub = sb.mkdir('rbind-src', 'sub');
    fs.writeFileSync(path.join(sub, 'under'), 'hidden by the submount\n');
    hostMount(['-t', 'tmpfs', 'tsrun-test-sub', sub]);
    try {
      fs.writeFileSync(path.join(sub, 'on-tmpfs'), 'submount\n');
      const r = inside(['sh', '-c', 'ls /mnt/sub'], (s) =>
        s.mounts.push({ destination: '/mnt', type: 'bind', source: dir, options: ['rbind'] }),
      );
      expect(r).toBe('on-tmpfs\n');
      const b = inside(['sh', '-c', 'ls /mnt/sub'], (s) =>
        s.mounts.push({ destination: '/mnt', type: 'bind', source: dir, options: ['bind'] }),
      );
      expect(b).toBe('under\n');
    } finally {
      hostUmount(sub);
    }
  });

  it('a nested mount lands on top of an earlier one', () => {
    const dir = sb.mkdir('nested');
    fs.writeFileSync(path.join(dir, 'n'), 'nested\n');
    // /mnt is a tmpfs; /mnt/inner is created on that tmpfs (not in the rootfs) and bound.
    const out = inside(['sh', '-c', 'cat /mnt/inner/n; grep -c " /mnt" /proc/self/mountinfo'], (s) => {
      s.mounts.push({ destination: '/mnt', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev'] });
      s.mounts.push({ destination: '/mnt/inner', type: 'bind', source: dir, options: ['rbind', 'ro'] });
    });
    expect(out).toBe('nested\n2\n');
  });
});

describe('rootfs', () => {
  it('root.readonly: writing to / fails, a tmpfs /tmp stays writable', () => {
    const out = inside(
      ['sh', '-c', 'touch /x 2>/dev/null; echo root=$?; touch /tmp/x; echo tmp=$?'],
      (s) => s.mounts.push({ destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'mode=1777'] }),
    );
    expect(out).toBe('root=1\ntmp=0\n');
    expect(fs.existsSync(path.join(sb.rootfs, 'x'))).toBe(false);
  });

  it('a writable rootfs (readonly false) receives the container writes', () => {
    const rootfs = sb.privateRootfs();
    inside(['sh', '-c', 'echo hi > /written'], (s) => {
      s.root = { path: rootfs, readonly: false };
    });
    expect(fs.readFileSync(path.join(rootfs, 'written'), 'utf8')).toBe('hi\n');
  });

  it('a relative root.path is resolved against the bundle', () => {
    const id = sb.id('relroot');
    const bundle = sb.bundle(['cat', '/etc/hostname'], (s) => (s.root.path = 'rootfs'));
    fs.cpSync(sb.rootfs, path.join(bundle, 'rootfs'), { recursive: true, verbatimSymlinks: true });
    expect(ok(sb.run(id, bundle)).stdout).toBe('rootfs\n');
    expect(sb.listIds()).not.toContain(id);
  });

  it('a missing mount destination is created, also several levels deep', () => {
    const rootfs = sb.privateRootfs();
    const dir = sb.mkdir('deep-src');
    fs.writeFileSync(path.join(dir, 'f'), 'deep\n');
    const out = inside(['sh', '-c', 'cat /new/deep/dir/f; stat -c %F /new/deep/file; stat -c %F /new/tmp'], (s) => {
      s.root.path = rootfs;
      s.mounts.push({ destination: '/new/deep/dir', type: 'bind', source: dir, options: ['rbind'] });
      s.mounts.push({ destination: '/new/deep/file', type: 'bind', source: path.join(dir, 'f'), options: ['bind'] });
      s.mounts.push({ destination: '/new/tmp', type: 'tmpfs', source: 'tmpfs', options: [] });
    });
    expect(out).toBe('deep\nregular file\ndirectory\n');
    // The mount points were made in the rootfs.
    expect(fs.statSync(path.join(rootfs, 'new/deep/dir')).isDirectory()).toBe(true);
    expect(fs.statSync(path.join(rootfs, 'new/deep/file')).isFile()).toBe(true);
  });

  it('tmpcopyup fills a tmpfs with what it covers (files, dirs, symlinks, modes, owners); the rootfs is untouched', () => {
    const rootfs = sb.privateRootfs();
    const etc = path.join(rootfs, 'opt/seed');
    fs.mkdirSync(path.join(etc, 'sub'), { recursive: true });
    fs.writeFileSync(path.join(etc, 'a'), 'alpha\n', { mode: 0o604 });
    fs.chownSync(path.join(etc, 'a'), 1234, 5678);
    fs.writeFileSync(path.join(etc, 'sub/b'), 'beta\n');
    fs.chmodSync(path.join(etc, 'sub'), 0o711);
    fs.symlinkSync('../a', path.join(etc, 'sub/link'));
    // A symlink pointing out of the rootfs is copied as a link, never followed.
    fs.symlinkSync('/etc/shadow', path.join(etc, 'escape'));
    const out = inside(
      ['sh', '-c', [
        'cat /opt/seed/a /opt/seed/sub/b /opt/seed/sub/link 2>&1',
        'stat -c "%a %u:%g" /opt/seed/a /opt/seed/sub',
        'readlink /opt/seed/escape; readlink /opt/seed/sub/link',
        'echo new > /opt/seed/sub/b && cat /opt/seed/sub/b',
        'grep " /opt/seed " /proc/self/mountinfo | cut -d" " -f9',
      ].join('; ')],
      (s) => {
        s.root = { path: rootfs, readonly: true };
        s.mounts.push({ destination: '/opt/seed', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'tmpcopyup'] });
      },
    );
    expect(out).toBe('alpha\nbeta\nalpha\n604 1234:5678\n711 0:0\n/etc/shadow\n../a\nnew\ntmpfs\n');
    // The copy went into the tmpfs: the rootfs keeps its own contents.
    expect(fs.readFileSync(path.join(etc, 'sub/b'), 'utf8')).toBe('beta\n');
  });

  itTsrun('tmpcopyup on a mount that is not tmpfs is refused with a one-line error', () => {
    const dir = sb.mkdir('copyup-src');
    const r = sb.run(sb.id('cu'), sb.bundle(['true'], (s) => {
      s.mounts.push({ destination: '/mnt', type: 'bind', source: dir, options: ['rbind', 'tmpcopyup'] });
    }));
    expect(r.code).not.toBe(0);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/tmpcopyup on \/mnt: only tmpfs mounts can copy up/);
  });

  it('tmpfs options (mode, size) are applied', () => {
    const rootfs = sb.privateRootfs();
    const out = inside(['sh', '-c', 'stat -c %a /fresh /mnt; grep -E " /(fresh|mnt) " /proc/self/mountinfo'], (s) => {
      s.root.path = rootfs;
      s.mounts.push({ destination: '/fresh', type: 'tmpfs', source: 'tmpfs', options: ['mode=700', 'size=1m', 'noexec'] });
      s.mounts.push({ destination: '/mnt', type: 'tmpfs', source: 'tmpfs', options: ['mode=700'] });
    });
    const [fresh, mnt, ...lines] = out.trim().split('\n');
    expect(fresh).toBe('700');
    // runc quirk: when the mount point already exists, its mode is copied onto the tmpfs root
    // (the rootfs' /mnt is 0755), whatever mode= says. The mount option itself is kept.
    expect(mnt).toBe('755');
    const mi = parseMountinfo(lines.join('\n'));
    const f = at(mi, '/fresh');
    expect(f.options).toContain('noexec');
    expect(f.superOptions).toEqual(expect.arrayContaining(['size=1024k', 'mode=700']));
    expect(at(mi, '/mnt').superOptions).toContain('mode=700');
  });
});

describe('rootfsPropagation', () => {
  /** A shared host mount holding a rootfs copy; returns its paths. Undone by the caller. */
  function sharedRootfs(s: Sandbox): { top: string; rootfs: string } {
    const top = s.mkdir('shared-top');
    hostMount(['--bind', top, top]);
    hostMount(['--make-shared', top]);
    const rootfs = path.join(top, 'rootfs');
    fs.cpSync(s.rootfs, rootfs, { recursive: true, verbatimSymlinks: true });
    s.addRootfs(rootfs);
    return { top, rootfs };
  }

  async function propagates(propagation: string | undefined): Promise<{ sees: boolean; rootLine: MountInfo }> {
    const { top, rootfs } = sharedRootfs(sb);
    const mnt = path.join(rootfs, 'mnt');
    try {
      const id = sb.id('prop');
      const pid = await sb.startDetached(
        id,
        sb.bundle(['sleep', '1000'], (s) => {
          s.root.path = rootfs;
          if (propagation) s.linux.rootfsPropagation = propagation;
        }),
      );
      // Mount on the host after the container started: does the container get it?
      hostMount(['-t', 'tmpfs', 'tsrun-test-prop', mnt]);
      const mi = parseMountinfo(readIf(`/proc/${pid}/mountinfo`) || '');
      ok(sb.rt(['delete', '--force', id]));
      return { sees: mi.some((m) => m.mountPoint === '/mnt'), rootLine: at(mi, '/') };
    } finally {
      hostUmount(mnt);
      hostUmount(top);
    }
  }

  it('defaults to rslave: host mounts under the rootfs propagate in', async () => {
    const r = await propagates(undefined);
    expect(r.sees).toBe(true);
    expect(r.rootLine.optional.some((o) => o.startsWith('master:'))).toBe(true);
  });

  it('rslave: host mounts under the rootfs propagate in', async () => {
    const r = await propagates('rslave');
    expect(r.sees).toBe(true);
  });

  it('private: host mounts do not propagate in', async () => {
    const r = await propagates('private');
    expect(r.sees).toBe(false);
    expect(r.rootLine.optional).toEqual([]);
  });

  it('rprivate: host mounts do not propagate in', async () => {
    const r = await propagates('rprivate');
    expect(r.sees).toBe(false);
  });

  it('the container mounts never propagate back to the host', async () => {
    const { top, rootfs } = sharedRootfs(sb);
    try {
      const r = sb.run(
        sb.id('back'),
        sb.bundle(['true'], (s) => {
          s.root.path = rootfs;
          s.linux.rootfsPropagation = 'rshared';
          s.mounts.push({ destination: '/mnt', type: 'tmpfs', source: 'tmpfs', options: [] });
        }),
      );
      ok(r);
      const hostMi = parseMountinfo(fs.readFileSync('/proc/self/mountinfo', 'utf8'));
      expect(hostMi.filter((m) => m.mountPoint.startsWith(rootfs))).toEqual([]);
    } finally {
      hostUmount(top);
    }
  });

  /**
   * runtime-tools' linux_rootfs_propagation check, run in the container (with CAP_SYS_ADMIN):
   * bind / recursively onto a directory, bind another directory onto one of /, and see whether
   * that mount shows through the first bind; an unbindable / refuses the first bind (EINVAL).
   */
  function runtimeToolsCheck(value: string): { result: string; root: MountInfo } {
    const rootfs = sb.privateRootfs();
    for (const d of ['rt-target', 'rt-mount', 'rt-test']) fs.mkdirSync(path.join(rootfs, d));
    fs.writeFileSync(path.join(rootfs, 'rt-test/example'), '');
    const caps = [...DEFAULT_CAPS, 'CAP_SYS_ADMIN'];
    const out = inside(
      ['sh', '-c', 'cat /proc/self/mountinfo; if mount -o rbind / /rt-target 2>/dev/null; then ' +
        'mount -o bind /rt-test /rt-mount; test -e /rt-target/rt-mount/example && echo propagates || echo isolated; ' +
        'else echo unbindable; fi'],
      (s) => {
        s.root.path = rootfs;
        s.linux.rootfsPropagation = value;
        s.process.capabilities = { bounding: caps, effective: caps, permitted: caps };
      },
      'rt',
    );
    const lines = out.trim().split('\n');
    return { result: lines.pop()!, root: at(parseMountinfo(lines.join('\n')), '/') };
  }

  it.each([['slave'], ['rslave'], ['private'], ['rprivate']])('runtime-tools: %s: a mount on / does not show through a bind of it', (value) => {
    const r = runtimeToolsCheck(value);
    expect(r.result).toBe('isolated');
    expect(r.root.optional.filter((o) => o.startsWith('shared:'))).toEqual([]);
  });

  // runc 1.1.5 leaves a shared root private, and cannot bind the rootfs under an unbindable /
  // (runc made both work in 2025, runc#4724): these are runc's semantics of today.
  itTsrun.each([['shared'], ['rshared']])('runtime-tools: %s: / is shared, a mount on it shows through a bind of it', (value) => {
    const r = runtimeToolsCheck(value);
    expect(r.result).toBe('propagates');
    expect(r.root.optional.some((o) => o.startsWith('shared:'))).toBe(true);
  });

  itTsrun.each([['unbindable'], ['runbindable']])('runtime-tools: %s: / cannot be bound', (value) => {
    const r = runtimeToolsCheck(value);
    expect(r.result).toBe('unbindable');
    expect(r.root.optional).toContain('unbindable');
  });
});
