/**
 * /dev inside the container: default nodes, symlinks, linux.devices and the device cgroup.
 */
import * as fs from 'fs';
import { ok, Spec, useSandbox } from '../helpers/runtime';

const sb = useSandbox();

function inside(args: string[], edit?: (s: Spec) => void): string {
  return ok(sb.run(sb.id('dev'), sb.bundle(args, edit))).stdout;
}

/** `stat` lines "name type major:minor mode uid:gid" (major/minor in decimal). */
function statDev(paths: string[], edit?: (s: Spec) => void): Record<string, string> {
  const out = inside(['stat', '-c', '%n|%F|%t|%T|%a|%u:%g', ...paths], edit);
  const res: Record<string, string> = {};
  for (const line of out.trim().split('\n')) {
    const [n, type, maj, min, mode, owner] = line.split('|');
    res[n] = `${type} ${parseInt(maj, 16)}:${parseInt(min, 16)} ${mode} ${owner}`;
  }
  return res;
}

describe('default devices', () => {
  it('creates null, zero, full, random, urandom and tty with the right numbers and 0666', () => {
    const got = statDev(['/dev/null', '/dev/zero', '/dev/full', '/dev/random', '/dev/urandom', '/dev/tty']);
    expect(got).toEqual({
      '/dev/null': 'character special file 1:3 666 0:0',
      '/dev/zero': 'character special file 1:5 666 0:0',
      '/dev/full': 'character special file 1:7 666 0:0',
      '/dev/random': 'character special file 1:8 666 0:0',
      '/dev/urandom': 'character special file 1:9 666 0:0',
      '/dev/tty': 'character special file 5:0 666 0:0',
    });
  });

  it('ls -l /dev shows exactly the default entries', () => {
    const out = inside(['ls', '-l', '/dev']);
    const entries = out
      .trim()
      .split('\n')
      .filter((l) => !l.startsWith('total'))
      .map((l) => {
        const f = l.trim().split(/\s+/);
        const name = l.includes(' -> ') ? l.split(' -> ')[0].trim().split(/\s+/).pop()! : f[f.length - 1];
        return `${f[0]} ${name}`;
      })
      .sort();
    expect(entries).toEqual(
      [
        'lrwxrwxrwx fd',
        'crw-rw-rw- full',
        'drwxrwxrwt mqueue',
        'crw-rw-rw- null',
        'lrwxrwxrwx ptmx',
        'drwxr-xr-x pts',
        'crw-rw-rw- random',
        'drwxrwxrwt shm',
        'lrwxrwxrwx stderr',
        'lrwxrwxrwx stdin',
        'lrwxrwxrwx stdout',
        'crw-rw-rw- tty',
        'crw-rw-rw- urandom',
        'crw-rw-rw- zero',
        // runc links /dev/core to /proc/kcore where the kernel has one
        ...(fs.existsSync('/proc/kcore') ? ['lrwxrwxrwx core'] : []),
      ].sort(),
    );
  });

  it('creates the /dev symlinks fd, stdin, stdout, stderr and ptmx', () => {
    const out = inside(['sh', '-c', 'for l in fd stdin stdout stderr ptmx; do echo "$l $(readlink /dev/$l)"; done']);
    expect(out).toBe(
      'fd /proc/self/fd\nstdin /proc/self/fd/0\nstdout /proc/self/fd/1\nstderr /proc/self/fd/2\nptmx pts/ptmx\n',
    );
  });

  it('/dev/pts/ptmx is the devpts multiplexer (5:2, 0666 from ptmxmode)', () => {
    expect(statDev(['/dev/pts/ptmx'])['/dev/pts/ptmx']).toBe('character special file 5:2 666 0:0');
  });

  it('the default devices work and the device cgroup denies the rest', () => {
    const out = inside([
      'sh',
      '-c',
      'head -c 4 /dev/zero | wc -c; echo x > /dev/null && echo null-ok; echo x > /dev/full 2>/dev/null || echo full-enospc; head -c 8 /dev/urandom | wc -c',
    ]);
    expect(out).toBe('4\nnull-ok\nfull-enospc\n8\n');
  });

  it('without a terminal there is no /dev/console', () => {
    expect(inside(['sh', '-c', 'test -e /dev/console && echo yes || echo no'])).toBe('no\n');
  });
});

describe('linux.devices', () => {
  it('adds a character device node with the given numbers, mode and owner', () => {
    const got = statDev(['/dev/mydev', '/dev/sub/blk'], (s) => {
      s.linux.devices = [
        { path: '/dev/mydev', type: 'c', major: 10, minor: 229, fileMode: 0o620, uid: 0, gid: 5 },
        { path: '/dev/sub/blk', type: 'b', major: 7, minor: 200, fileMode: 0o600, uid: 1000, gid: 1000 },
      ];
    });
    expect(got['/dev/mydev']).toBe('character special file 10:229 620 0:5');
    expect(got['/dev/sub/blk']).toBe('block special file 7:200 600 1000:1000');
  });

  it('a device node is usable only when the device cgroup allows it', () => {
    // 10:229 (fuse) is not in the default allow list: the node exists but open() is refused.
    const fuse = sb.run(
      sb.id('devfuse'),
      sb.bundle(['sh', '-c', 'test -c /dev/myfuse && echo exists; cat /dev/myfuse'], (s) => {
        s.linux.devices = [{ path: '/dev/myfuse', type: 'c', major: 10, minor: 229, fileMode: 0o666 }];
      }),
    );
    expect(fuse.stdout).toBe('exists\n');
    expect(fuse.code).not.toBe(0);
    expect(fuse.stderr).toMatch(/can't open.*operation not permitted/i);

    // With an allow rule the open succeeds (reading an unmounted fuse device then fails in the driver).
    const allowed = sb.run(
      sb.id('devallow'),
      sb.bundle(['sh', '-c', 'cat /dev/myfuse'], (s) => {
        s.linux.devices = [{ path: '/dev/myfuse', type: 'c', major: 10, minor: 229, fileMode: 0o666 }];
        s.linux.resources.devices.push({ allow: true, type: 'c', major: 10, minor: 229, access: 'rwm' });
      }),
    );
    expect(allowed.stderr).not.toMatch(/can't open/i);
  });

  it('a node of an allowed device is usable under any name', () => {
    const r = sb.run(
      sb.id('mynull'),
      sb.bundle(['sh', '-c', 'echo x > /dev/mynull && echo ok'], (s) => {
        s.linux.devices = [{ path: '/dev/mynull', type: 'c', major: 1, minor: 3, fileMode: 0o666 }];
      }),
    );
    expect(ok(r).stdout).toBe('ok\n');
  });

  it('the default devices stay allowed even if resources.devices denies them', () => {
    // runc appends its default allow rules (null, zero, full, tty, random, urandom, pts, ptmx, ...)
    // after the config's rules, so a config rule cannot deny them.
    const r = sb.run(
      sb.id('denynull'),
      sb.bundle(['sh', '-c', 'echo x > /dev/null && echo ok'], (s) => {
        s.linux.resources.devices.push({ allow: false, type: 'c', major: 1, minor: 3, access: 'rwm' });
      }),
    );
    expect(ok(r).stdout).toBe('ok\n');
  });
});
