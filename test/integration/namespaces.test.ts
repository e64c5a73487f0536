/**
 * Namespaces: what the container sees inside and what the host sees in /proc/PID/ns.
 */
import * as fs from 'fs';
import { isRunc, itTsrun, nsLinks, ok, readIf, Spec, useSandbox, waitFor } from '../helpers/runtime';

const sb = useSandbox();
const host = nsLinks(process.pid);

function withNs(spec: Spec, types: string[]): void {
  spec.linux.namespaces = types.map((type) => ({ type }));
}

describe('namespaces', () => {
  it('pid: the container process is pid 1 and sees only its own processes', () => {
    const r = ok(sb.run(sb.id('pid'), sb.bundle(['sh', '-c', 'echo $$; ls -d /proc/[0-9]* | wc -l; grep NSpid /proc/$$/status'])));
    const [pid, count, nspid] = r.stdout.trim().split('\n');
    expect(pid).toBe('1');
    // sh (1) and the pipeline's processes: nothing of the host.
    expect(Number(count)).toBeLessThan(5);
    // The container's /proc belongs to its pid namespace: NSpid has that level only.
    const ids = nspid.split(/\s+/).slice(1).map(Number);
    expect(ids).toEqual([1]);
  });

  it('creates every namespace in the config, and only those, from the host view', async () => {
    const id = sb.id('nsall');
    const pid = await sb.startDetached(
      id,
      sb.bundle(['sleep', '1000'], (s) => withNs(s, ['pid', 'network', 'ipc', 'uts', 'mount', 'cgroup'])),
    );
    const ns = nsLinks(pid);
    for (const t of ['pid', 'net', 'ipc', 'uts', 'mnt', 'cgroup']) {
      expect([t, ns[t]]).not.toEqual([t, host[t]]);
      expect(ns[t]).toMatch(new RegExp(`^${t}:\\[\\d+\\]$`));
    }
    expect(ns.user).toBe(host.user);
    if (host.time) expect(ns.time).toBe(host.time);
  });

  it('a namespace left out of the config is shared with the host', async () => {
    const id = sb.id('nsnone');
    const pid = await sb.startDetached(
      id,
      sb.bundle(['sleep', '1000'], (s) => {
        withNs(s, ['pid', 'mount']);
        delete s.hostname; // a hostname needs a UTS namespace
      }),
    );
    const ns = nsLinks(pid);
    expect(ns.net).toBe(host.net);
    expect(ns.ipc).toBe(host.ipc);
    expect(ns.uts).toBe(host.uts);
    expect(ns.cgroup).toBe(host.cgroup);
    expect(ns.pid).not.toBe(host.pid);
    expect(ns.mnt).not.toBe(host.mnt);
  });

  it('uts: the hostname and domainname come from the config', () => {
    const r = ok(
      sb.run(
        sb.id('uts'),
        sb.bundle(['sh', '-c', 'hostname; cat /proc/sys/kernel/domainname'], (s) => {
          s.hostname = 'tsrun-box';
          s.domainname = 'example.org';
        }),
      ),
    );
    const [hn, dn] = r.stdout.split('\n');
    expect(hn).toBe('tsrun-box');
    // runc 1.1.5 ignores `domainname` (support came in runc 1.2): it stays "(none)".
    expect(dn).toBe(isRunc ? '(none)' : 'example.org');
  });

  it('uts: the default spec names the host "runc"', () => {
    expect(ok(sb.run(sb.id('uts2'), sb.bundle(['hostname']))).stdout).toBe('runc\n');
  });

  it('a hostname without a UTS namespace is rejected', () => {
    const id = sb.id('nouts');
    const r = sb.create(id, sb.bundle(['true'], (s) => withNs(s, ['pid', 'mount'])));
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/hostname/i);
    expect(sb.listIds()).not.toContain(id);
  });

  it('net: a new network namespace has only lo, and the runtime brings lo up', () => {
    const r = ok(sb.run(sb.id('net'), sb.bundle(['sh', '-c', 'ls /sys/class/net; cat /sys/class/net/lo/flags'])));
    const [names, flags] = r.stdout.trim().split('\n');
    expect(names).toBe('lo');
    expect(Number(flags) & 1).toBe(1); // IFF_UP: runc configures the loopback interface
    const dev = ok(sb.run(sb.id('net2'), sb.bundle(['cat', '/proc/net/dev']))).stdout;
    const ifaces = dev
      .split('\n')
      .slice(2)
      .filter(Boolean)
      .map((l) => l.split(':')[0].trim());
    expect(ifaces).toEqual(['lo']);
  });

  it('ipc: a new IPC namespace has its own SysV namespace (host-created queues are invisible)', () => {
    // /proc/sysvipc lists the namespace's objects; a fresh namespace has none.
    const r = ok(sb.run(sb.id('ipc'), sb.bundle(['sh', '-c', 'cat /proc/sysvipc/msg | wc -l; readlink /proc/self/ns/ipc'])));
    const [lines, link] = r.stdout.trim().split('\n');
    expect(lines).toBe('1'); // only the header
    expect(link).not.toBe(host.ipc);
  });

  it('mount: the container has its own mount table', () => {
    const r = ok(sb.run(sb.id('mnt'), sb.bundle(['sh', '-c', 'readlink /proc/self/ns/mnt; cat /proc/self/mountinfo'])));
    const [link, ...mi] = r.stdout.split('\n');
    expect(link).not.toBe(host.mnt);
    // The root of the container is the rootfs, not the host's /.
    const root = mi.map((l) => l.split(' ')).find((p) => p[4] === '/');
    expect(root).toBeDefined();
    expect(root![3]).toBe(sb.rootfs);
  });

  it('cgroup: in a cgroup namespace every hierarchy is rooted at /', () => {
    const r = ok(
      sb.run(
        sb.id('cgns'),
        sb.bundle(['cat', '/proc/self/cgroup'], (s) => s.linux.namespaces.push({ type: 'cgroup' })),
      ),
    );
    const lines = r.stdout.trim().split('\n');
    expect(lines.length).toBeGreaterThan(0);
    for (const l of lines) expect(l).toMatch(/^\d+:[^:]*:\/$/);
  });

  it('without a cgroup namespace the container sees its host cgroup path (named after the id)', () => {
    const id = sb.id('cgpath');
    const r = ok(sb.run(id, sb.bundle(['cat', '/proc/self/cgroup'])));
    const lines = r.stdout.trim().split('\n');
    expect(lines.some((l) => l.endsWith(`/${id}`))).toBe(true);
  });

  it('user: uidMappings/gidMappings are applied and the process is root inside', () => {
    const r = ok(
      sb.run(
        sb.id('user'),
        sb.bundle(['sh', '-c', 'cat /proc/self/uid_map /proc/self/gid_map; id -u; id -g; stat -c %u /bin/busybox'], (s) => {
          s.linux.namespaces.push({ type: 'user' });
          s.linux.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
          s.linux.gidMappings = [{ containerID: 0, hostID: 200000, size: 1000 }];
        }),
      ),
    );
    const lines = r.stdout.trim().split('\n').map((l) => l.trim().split(/\s+/).join(' '));
    expect(lines).toEqual(['0 100000 65536', '0 200000 1000', '0', '0', '65534']);
  });

  it('user: the host sees the container process under the mapped host uid', async () => {
    const id = sb.id('user2');
    const pid = await sb.startDetached(
      id,
      sb.bundle(['sleep', '1000'], (s) => {
        s.linux.namespaces.push({ type: 'user' });
        s.linux.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
        s.linux.gidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
      }),
    );
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    expect(status).toMatch(/^Uid:\s+100000\s+100000\s+100000\s+100000$/m);
    expect(status).toMatch(/^Gid:\s+100000\s+100000\s+100000\s+100000$/m);
    expect(nsLinks(pid).user).not.toBe(host.user);
  });

  // runc 1.1.5 has no time namespace support: it fails with `namespace {"time" ""} does not exist`.
  itTsrun('time: timeOffsets shift the monotonic and boottime clocks', () => {
    const r = ok(
      sb.run(
        sb.id('time'),
        sb.bundle(['cat', '/proc/self/timens_offsets'], (s) => {
          s.linux.namespaces.push({ type: 'time' });
          s.linux.timeOffsets = { monotonic: { secs: 86400, nanosecs: 0 }, boottime: { secs: 3600, nanosecs: 5 } };
        }),
      ),
    );
    const offs = Object.fromEntries(
      r.stdout
        .trim()
        .split('\n')
        .map((l) => l.trim().split(/\s+/))
        .map(([k, s, n]) => [k, `${s} ${n}`]),
    );
    expect(offs).toEqual({ monotonic: '86400 0', boottime: '3600 5' });
  });

  // runc only: tsrun supports it (the test above).
  (isRunc ? it : it.skip)('runc 1.1.5 rejects a time namespace', () => {
    const id = sb.id('notime');
    const r = sb.create(id, sb.bundle(['true'], (s) => s.linux.namespaces.push({ type: 'time' })));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/time.*does not exist/);
    expect(sb.listIds()).not.toContain(id);
  });

  it('joins the namespaces of another container by path', async () => {
    const a = sb.id('nsa');
    const pidA = await sb.startDetached(a, sb.bundle(['sleep', '1000'], (s) => (s.hostname = 'shared-a')));
    const nsA = nsLinks(pidA);
    const out = sb.mkdir('join-out');
    const b = sb.id('nsb');
    const pidB = await sb.startDetached(
      b,
      sb.bundle(['sh', '-c', 'hostname > /mnt/hostname; ls /sys/class/net > /mnt/net; exec sleep 1000'], (s) => {
        delete s.hostname; // keep A's
        s.linux.namespaces = [
          { type: 'pid', path: `/proc/${pidA}/ns/pid` },
          { type: 'network', path: `/proc/${pidA}/ns/net` },
          { type: 'ipc', path: `/proc/${pidA}/ns/ipc` },
          { type: 'uts', path: `/proc/${pidA}/ns/uts` },
          { type: 'mount' },
        ];
        s.mounts.push({ destination: '/mnt', type: 'bind', source: out, options: ['rbind'] });
      }),
    );
    const nsB = nsLinks(pidB);
    expect(nsB.net).toBe(nsA.net);
    expect(nsB.uts).toBe(nsA.uts);
    expect(nsB.ipc).toBe(nsA.ipc);
    expect(nsB.pid).toBe(nsA.pid);
    expect(nsB.mnt).not.toBe(nsA.mnt);
    expect(nsB.net).not.toBe(host.net);
    // B is not pid 1 in A's pid namespace.
    const nspid = fs.readFileSync(`/proc/${pidB}/status`, 'utf8').match(/^NSpid:\s+(.*)$/m)![1].split(/\s+/);
    expect(nspid.length).toBe(2);
    expect(Number(nspid[1])).toBeGreaterThan(1);
    await waitFor(() => readIf(`${out}/net`), 'B to report its view');
    expect(fs.readFileSync(`${out}/hostname`, 'utf8')).toBe('shared-a\n');
    expect(fs.readFileSync(`${out}/net`, 'utf8')).toBe('lo\n');
  });

  it('joining a namespace path that does not exist fails and leaves nothing behind', () => {
    const id = sb.id('nsbad');
    const r = sb.create(
      id,
      sb.bundle(['true'], (s) => {
        s.linux.namespaces = s.linux.namespaces.map((n: Spec) =>
          n.type === 'network' ? { type: 'network', path: '/proc/999999999/ns/net' } : n,
        );
      }),
    );
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/no such file|not exist|not found/i);
    expect(sb.listIds()).not.toContain(id);
  });
});
