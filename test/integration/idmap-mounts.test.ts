/**
 * Idmapped bind mounts (mounts[].uidMappings/gidMappings, the idmap and ridmap options):
 * what the container sees of file owners through them, what lands on the host when it writes,
 * and the refusals. runc 1.1.5 has no idmapped mounts, so these run on tsrun only.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { itTsrun, ok, Spec, useSandbox } from '../helpers/runtime';

const sb = useSandbox();

const MAPS = {
  uidMappings: [{ containerID: 0, hostID: 1234, size: 1 }, { containerID: 5, hostID: 7, size: 1 }],
  gidMappings: [{ containerID: 0, hostID: 1234, size: 1 }, { containerID: 5, hostID: 7, size: 1 }],
};

/** A host directory owned by 5:5 holding a file owned by 0:0. */
function hostDir(name: string): string {
  const d = sb.mkdir(name);
  fs.writeFileSync(path.join(d, 'f'), 'x');
  fs.chownSync(d, 5, 5);
  return d;
}

function owners(out: string): Record<string, string> {
  return Object.fromEntries(out.trim().split('\n').map((l) => l.split(' ').reverse()));
}

describe('idmapped bind mounts', () => {
  itTsrun('uidMappings/gidMappings: files show the mapped owners; a file made by a mapped user lands with the unmapped ids', () => {
    const data = hostDir('idmap-data');
    const r = ok(sb.run(sb.id('idmap'), sb.bundle(['sh', '-c', 'stat -c "%u:%g %n" /data /data/f; touch /data/new; stat -c "%u:%g %n" /data/new'], (s: Spec) => {
      // A user the maps know: what it writes goes to disk as the ids it maps from.
      s.process.user = { uid: 1234, gid: 1234 };
      s.mounts.push({ destination: '/data', type: 'bind', source: data, options: ['bind', 'idmap'], ...MAPS });
      // The directory is 5:5 on the host, so 7:7 in the container: let 1234 write to it.
      fs.chmodSync(data, 0o777);
    })));
    expect(owners(r.stdout)).toEqual({ '/data': '7:7', '/data/f': '1234:1234', '/data/new': '1234:1234' });
    const st = fs.statSync(path.join(data, 'new'));
    expect([st.uid, st.gid]).toEqual([0, 0]);
    // The host's view of the source is untouched.
    expect([fs.statSync(data).uid, fs.statSync(path.join(data, 'f')).uid]).toEqual([5, 0]);
  });

  itTsrun('without a mapping for the writer the kernel refuses the write (EOVERFLOW), as idmapped mounts do', () => {
    const data = hostDir('idmap-unmapped');
    const r = sb.run(sb.id('idmap-w'), sb.bundle(['touch', '/data/new'], (s: Spec) => {
      s.mounts.push({ destination: '/data', type: 'bind', source: data, options: ['bind', 'idmap'], ...MAPS });
    }));
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/Value too large for defined data type/);
    expect(fs.existsSync(path.join(data, 'new'))).toBe(false);
  });

  itTsrun('idmap maps the top mount of an rbind only, ridmap every mount below it too', () => {
    const top = hostDir('idmap-top');
    const sub = hostDir('idmap-sub');
    fs.mkdirSync(path.join(top, 'sub'));
    // A submount inside the source, made and removed by the test.
    expect(spawnSync('mount', ['--bind', sub, path.join(top, 'sub')]).status).toBe(0);
    try {
      const look = (option: string) =>
        owners(ok(sb.run(sb.id(option), sb.bundle(['stat', '-c', '%u:%g %n', '/data/f', '/data/sub/f'], (s: Spec) => {
          s.mounts.push({ destination: '/data', type: 'bind', source: top, options: ['rbind', option], ...MAPS });
        }))).stdout);
      expect(look('idmap')).toEqual({ '/data/f': '1234:1234', '/data/sub/f': '0:0' });
      expect(look('ridmap')).toEqual({ '/data/f': '1234:1234', '/data/sub/f': '1234:1234' });
    } finally {
      spawnSync('umount', [path.join(top, 'sub')]);
    }
  });

  itTsrun('idmap without maps of its own takes the container\'s user namespace maps: host root\'s files are root\'s inside', () => {
    const data = hostDir('idmap-userns');
    // Mount points that exist in the rootfs: the namespace's root may not create any there.
    const r = ok(sb.run(sb.id('idmap-u'), sb.bundle(['stat', '-c', '%u:%g %n', '/mnt/f', '/var/f'], (s: Spec) => {
      s.linux.namespaces.push({ type: 'user' });
      s.linux.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
      s.linux.gidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
      s.mounts.push({ destination: '/mnt', type: 'bind', source: data, options: ['bind'] });
      s.mounts.push({ destination: '/var', type: 'bind', source: data, options: ['bind', 'idmap'] });
    })));
    // Unmapped host ids show as the overflow id; through the idmapping, host 0 is 100000: root inside.
    expect(owners(r.stdout)).toEqual({ '/mnt/f': '65534:65534', '/var/f': '0:0' });
  });

  describe('refused with one line, nothing left', () => {
    const cases: [string, (s: Spec, data: string) => void, RegExp][] = [
      ['uidMappings without gidMappings',
        (s, data) => s.mounts.push({ destination: '/data', type: 'bind', source: data, options: ['bind', 'idmap'], uidMappings: MAPS.uidMappings }),
        /mount \/data: uidMappings and gidMappings must be given together/],
      ['idmap with no maps and no user namespace',
        (s, data) => s.mounts.push({ destination: '/data', type: 'bind', source: data, options: ['bind', 'idmap'] }),
        /mount \/data: idmap without uidMappings and gidMappings needs the container's own user namespace/],
      ['an idmapped mount that is not a bind mount',
        (s) => s.mounts.push({ destination: '/data', type: 'tmpfs', source: 'tmpfs', options: ['idmap'], ...MAPS }),
        /mount \/data: idmapped mounts must be bind mounts/],
      ['a filesystem without idmapping (procfs): never a plain bind instead',
        (s) => s.mounts.push({ destination: '/data', type: 'bind', source: '/proc/sys/kernel', options: ['bind', 'idmap'], ...MAPS }),
        /idmap mount \/proc\/sys\/kernel: the filesystem or kernel does not support idmapped mounts: invalid argument/i],
    ];
    for (const [name, edit, message] of cases) {
      itTsrun(name, async () => {
        const data = hostDir(`idmap-bad-${name.length}`);
        const id = sb.id('idmap-bad');
        await sb.expectRefused(sb.run(id, sb.bundle(['true'], (s: Spec) => edit(s, data))), message);
      });
    }
  });
});
