/**
 * The known runtime escapes, each played for real: a hostile container (or image) attacks,
 * and the test checks from the host that nothing of the host changed (file hashes, mount
 * table, the runtime's binaries) and, where it can see them, the attacker's failures.
 *
 *   CVE-2019-5736  overwrite the runtime's binary through /proc/PID/exe of a process that
 *                  joins the container (`exec`) or of the waiting init
 *   CVE-2024-21626 a working directory reached through an fd of the runtime that points at
 *                  the host (/proc/self/fd/N)
 *   CVE-2021-30465 mount targets redirected to the host by symlinks in the rootfs, also
 *                  swapped while the container is set up
 *   masked paths, read-only paths and a process without capabilities
 */
import { spawn, spawnSync } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import {
  capMask,
  DEFAULT_CAPS,
  isRunc,
  itTsrun,
  ok,
  parseMountinfo,
  readIf,
  readlinkIf,
  RUNTIME,
  Spec,
  useSandbox,
  waitFor,
} from '../helpers/runtime';

const sb = useSandbox();

function sha256(file: string): string {
  return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

/** The files whose change would mean the container took over the runtime. */
function runtimeFiles(): string[] {
  if (isRunc) return [fs.realpathSync(RUNTIME)];
  const repo = path.resolve(__dirname, '../..');
  // What /proc/PID/exe and /proc/PID/map_files of a runtime process lead to: node (which runs
  // bin/tsrun) and the addon it loads.
  return [fs.realpathSync(process.execPath), path.join(repo, 'build/Release/tsrun_native.node')];
}

const hashesBefore = new Map<string, string>();
beforeAll(() => {
  for (const f of runtimeFiles()) hashesBefore.set(f, sha256(f));
});

function expectRuntimeUntouched(): void {
  for (const [f, h] of hashesBefore) expect({ file: f, sha256: sha256(f) }).toEqual({ file: f, sha256: h });
}

afterAll(() => expectRuntimeUntouched());

/** Mount points of the host at or below `dir`. */
function hostMountsUnder(dir: string): string[] {
  return parseMountinfo(fs.readFileSync('/proc/self/mountinfo', 'utf8'))
    .map((m) => m.mountPoint)
    .filter((mp) => mp === dir || mp.startsWith(dir + '/'));
}

/** name -> sha256 (or 'dir'/'link -> x') of everything below `dir`. */
function treeDigest(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string, rel: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      const r = path.join(rel, e.name);
      if (e.isSymbolicLink()) out[r] = `link -> ${fs.readlinkSync(p)}`;
      else if (e.isDirectory()) {
        out[r] = 'dir';
        walk(p, r);
      } else out[r] = sha256(p);
    }
  };
  walk(dir, '');
  return out;
}

/** A host directory the container must never reach, with a file in it. */
function victim(name: string): { dir: string; digest: () => Record<string, string> } {
  const dir = sb.mkdir(`victim-${name}`);
  fs.writeFileSync(path.join(dir, 'host-secret'), `host secret ${name}\n`);
  return { dir, digest: () => treeDigest(dir) };
}

function status(pid: number, field: string): string | undefined {
  const m = new RegExp(`^${field}:\\s*(.*)$`, 'm').exec(readIf(`/proc/${pid}/status`) ?? '');
  return m?.[1];
}

// ---------------------------------------------------------------------------------------

describe('CVE-2019-5736: the runtime binary through /proc/PID/exe', () => {
  /**
   * The container's init: waits for /out/go, then, for every process it can see, tries to
   * read the link /proc/PID/exe, open the binary behind it, and open it again for writing
   * through /proc/self/fd (the original exploit's trick), and reports each outcome.
   */
  const ATTACKER = [
    'while [ ! -e /out/go ]; do usleep 10000; done',
    'for d in /proc/[0-9]*; do',
    '  p=${d#/proc/}; [ "$p" = "$$" ] && continue',
    '  l=$(readlink $d/exe 2>/dev/null) || l=DENIED',
    '  if cat $d/exe >/dev/null 2>&1; then o=OPEN; else o=DENIED; fi',
    '  w=SKIPPED',
    '  if [ "$l" != /bin/busybox ]; then',
    '    if (exec 3<$d/exe && echo pwned >>/proc/self/fd/3) 2>/dev/null; then w=WROTE; else w=DENIED; fi',
    '  fi',
    '  echo "$p $l $o $w" >>/out/result.tmp',
    'done',
    'mv /out/result.tmp /out/result',
    'exec sleep 1000',
  ].join('\n');

  function attackerBundle(out: string): string {
    return sb.bundle(['sh', '-c', ATTACKER], (s: Spec) => {
      s.mounts.push({ destination: '/out', type: 'bind', source: out, options: ['rbind', 'rw'] });
    });
  }

  function readResult(out: string): Map<number, { link: string; open: string; write: string }> {
    const res = new Map<number, { link: string; open: string; write: string }>();
    for (const line of fs.readFileSync(path.join(out, 'result'), 'utf8').split('\n')) {
      const [p, link, open, write] = line.split(' ');
      if (p) res.set(Number(p), { link, open, write });
    }
    return res;
  }

  it('a process joining the container with exec cannot be opened while it sets up, before and after it drops its capabilities', async () => {
    const out = sb.mkdir('attack-exec');
    const id = sb.id('cve5736');
    const initPid = await sb.startDetached(id, attackerBundle(out));
    const pidns = readlinkIf(`/proc/${initPid}/ns/pid`);
    const containerCaps = capMask(DEFAULT_CAPS);

    // `exec` under strace, which holds each chdir(2) for 1.5 s: the exec'ing process then sits
    // in the container's pid namespace, still running the runtime's code. tsrun's second chdir
    // comes after the process took the container's user and capabilities (the state runc's
    // exec'd process was attacked in): only its non-dumpable flag keeps the container out.
    const tracer = spawn('strace', ['-f', '-qq', '-o', '/dev/null', '-e', 'trace=chdir', '-e', 'inject=chdir:delay_enter=1500000',
      RUNTIME, '--root', sb.root, 'exec', id, 'true'], { stdio: 'ignore' });
    const exited = new Promise<number | null>((resolve) => tracer.on('exit', (code) => resolve(code)));
    let nspid = 0;
    try {
      nspid = await waitFor(
        () => {
          for (const e of fs.readdirSync('/proc')) {
            const pid = Number(e);
            if (!pid || pid === initPid || readlinkIf(`/proc/${pid}/ns/pid`) !== pidns) continue;
            const exe = readlinkIf(`/proc/${pid}/exe`);
            if (!exe || exe.endsWith('/bin/busybox')) continue;
            // tsrun: wait for the window after the capabilities were dropped.
            if (!isRunc && status(pid, 'CapEff') !== containerCaps) continue;
            // Its pid as the container sees it.
            return Number(status(pid, 'NSpid')?.split(/\s+/).pop());
          }
          return 0;
        },
        'the exec\'ing process in the container',
        20000,
        5,
      );
      fs.writeFileSync(path.join(out, 'go'), '');
      await waitFor(() => fs.existsSync(path.join(out, 'result')), 'the attacker\'s report', 10000);
    } finally {
      expect(await exited).toBe(0); // the exec itself still works
    }
    const report = readResult(out);
    const seen = report.get(nspid);
    if (!seen) throw new Error(`the attacker did not see pid ${nspid}: ${JSON.stringify([...report])}`);
    expect(seen!.write).not.toBe('WROTE');
    if (!isRunc) expect(seen).toEqual({ link: 'DENIED', open: 'DENIED', write: 'DENIED' });
    expectRuntimeUntouched();
    ok(sb.rt(['delete', '--force', id]));
  });

  it('the init of a created container (still the runtime\'s code, pid 1) cannot be opened from a process exec\'d into it', () => {
    const id = sb.id('cve5736c');
    ok(sb.create(id, sb.bundle(['true'])));
    const script = [
      'l=$(readlink /proc/1/exe 2>/dev/null) || l=DENIED',
      'if cat /proc/1/exe >/dev/null 2>&1; then o=OPEN; else o=DENIED; fi',
      'if (exec 3</proc/1/exe && echo pwned >>/proc/self/fd/3) 2>/dev/null; then w=WROTE; else w=DENIED; fi',
      'echo "$l $o $w"',
    ].join('\n');
    const r = ok(sb.rt(['exec', id, 'sh', '-c', script]));
    if (isRunc) expect(r.stdout).not.toContain('WROTE');
    else expect(r.stdout).toBe('DENIED DENIED DENIED\n');
    expectRuntimeUntouched();
    ok(sb.rt(['delete', '--force', id]));
  });
});

// ---------------------------------------------------------------------------------------

describe('CVE-2024-21626: a working directory outside the rootfs', () => {
  /** Prints where the process is and tries to read the victim's file relative to the cwd. */
  function probe(v: string): string[] {
    const up = '../'.repeat(20);
    return ['sh', '-c', `pwd; cat ${up}${v.slice(1)}/host-secret 2>/dev/null || echo not-reached`];
  }

  // runc 1.1.5 is vulnerable (fixed in 1.1.12): its init leaks a directory fd of the host's
  // cgroupfs, which cwd /proc/self/fd/N reaches. Hence tsrun only.
  itTsrun('process.cwd = /proc/self/fd/N (every N the runtime may hold) never starts a process outside the rootfs', () => {
    const v = victim('cwd');
    for (let n = 3; n <= 12; n++) {
      const r = sb.run(sb.id('cwdfd'), sb.bundle(probe(v.dir), (s) => (s.process.cwd = `/proc/self/fd/${n}`)));
      // Either refused (one line, nothing left: the sandbox's leak checks) or inside the container.
      expect(r.stdout).not.toContain('host secret');
      if (r.code !== 0) expect(r.stderr.trim().split('\n')).toHaveLength(1);
    }
    expect(hostMountsUnder(v.dir)).toEqual([]);
  });

  it('a host directory fd leaked to the runtime and cwd /proc/self/fd/3: refused', () => {
    const v = victim('leak');
    const leaked = fs.openSync(v.dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
    let r;
    try {
      const bundle = sb.bundle(probe(v.dir), (s) => (s.process.cwd = '/proc/self/fd/3'));
      r = spawnSync(RUNTIME, ['--root', sb.root, 'run', '--bundle', bundle, sb.id('cwdleak')], {
        stdio: ['ignore', 'pipe', 'pipe', leaked],
        encoding: 'utf8',
        timeout: 30000,
      });
    } finally {
      fs.closeSync(leaked);
    }
    expect(r.stdout).not.toContain('host secret');
    expect(r.status).not.toBe(0);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });

  itTsrun('exec --cwd /proc/self/fd/N never runs outside the rootfs', async () => {
    const v = victim('execcwd');
    const id = sb.id('cwdexec');
    await sb.startDetached(id, sb.bundle(['sleep', '1000']));
    for (let n = 3; n <= 12; n++) {
      const r = sb.rt(['exec', '--cwd', `/proc/self/fd/${n}`, id, ...probe(v.dir)]);
      expect(r.stdout).not.toContain('host secret');
    }
    ok(sb.rt(['delete', '--force', id]));
  });

  it('cwd "/../../.." stays at the container\'s root', () => {
    const v = victim('dotdot');
    const r = ok(sb.run(sb.id('cwddot'), sb.bundle(probe(v.dir), (s) => (s.process.cwd = '/../../..'))));
    expect(r.stdout).toBe('/\nnot-reached\n');
  });
});

// ---------------------------------------------------------------------------------------

describe('CVE-2021-30465 and friends: mount targets through symlinks stay in the rootfs', () => {
  it('a mount target that is a symlink to an absolute host path, or a .. chain out of the rootfs, lands inside the rootfs', () => {
    const abs = victim('abs');
    const rel = victim('rel');
    const before = { abs: abs.digest(), rel: rel.digest() };
    const rootfs = sb.privateRootfs();
    fs.symlinkSync(abs.dir, path.join(rootfs, 'mnt/abs'));
    // From /mnt: enough .. to climb out of any rootfs, then the host path.
    fs.symlinkSync('../'.repeat(30) + rel.dir.slice(1), path.join(rootfs, 'mnt/rel'));
    const src = sb.mkdir('bind-src');
    const r = ok(
      sb.run(
        sb.id('symmnt'),
        sb.bundle(
          ['sh', '-c', `echo written > /mnt/abs/t/by-container; echo written > /mnt/rel/b/by-container; ls ${abs.dir}/t ${rel.dir}/b`],
          (s) => {
            s.root.path = rootfs;
            s.root.readonly = false;
            s.mounts.push({ destination: '/mnt/abs/t', type: 'tmpfs', source: 'tmpfs', options: ['size=1m'] });
            s.mounts.push({ destination: '/mnt/rel/b', type: 'bind', source: src, options: ['rbind', 'rw'] });
          },
        ),
      ),
    );
    // Inside, the links resolved within the container's root, where the host path was recreated.
    expect(r.stdout).toContain('by-container');
    expect(fs.readFileSync(path.join(src, 'by-container'), 'utf8')).toBe('written\n');
    // The host: no mount at or under the victims, no file changed or added.
    expect(hostMountsUnder(abs.dir)).toEqual([]);
    expect(hostMountsUnder(rel.dir)).toEqual([]);
    expect({ abs: abs.digest(), rel: rel.digest() }).toEqual(before);
    // What was made went into the rootfs.
    expect(fs.statSync(path.join(rootfs, abs.dir, 't')).isDirectory()).toBe(true);
    expect(fs.statSync(path.join(rootfs, rel.dir, 'b')).isDirectory()).toBe(true);
  });

  it('a mount target swapped between a directory and a symlink to the host while containers are set up', async () => {
    const v = victim('swap');
    const before = v.digest();
    const rootfs = sb.privateRootfs();
    const flip = path.join(rootfs, 'mnt/flip');
    fs.mkdirSync(flip);
    // A host process swaps /mnt/flip with a symlink to the victim, as fast as it can.
    const swapper = spawn(
      process.execPath,
      [
        '-e',
        `const fs = require('fs');
         const [flip, target] = process.argv.slice(1);
         for (;;) {
           try { fs.renameSync(flip, flip + '.d'); } catch {}
           try { fs.symlinkSync(target, flip); } catch {}
           try { fs.unlinkSync(flip); } catch {}
           try { fs.renameSync(flip + '.d', flip); } catch {}
         }`,
        flip,
        v.dir,
      ],
      { stdio: 'ignore' },
    );
    try {
      for (let i = 0; i < 15; i++) {
        const r = sb.run(
          sb.id('swap'),
          sb.bundle(['true'], (s) => {
            s.root.path = rootfs;
            s.root.readonly = false;
            s.mounts.push({ destination: '/mnt/flip/m', type: 'tmpfs', source: 'tmpfs', options: ['size=1m'] });
          }),
        );
        // Either way is fine for the container; the host is what must not change.
        if (r.code !== 0) expect(r.stderr.trim().split('\n')).toHaveLength(1);
        expect(hostMountsUnder(v.dir)).toEqual([]);
      }
    } finally {
      swapper.kill('SIGKILL');
      await new Promise((r) => swapper.once('exit', r));
    }
    // runc 1.1.5 mounts safely but makes missing targets with a MkdirAll that can follow the
    // swapped link and leave an empty directory on the host (runc 1.2's MkdirAllInRoot fixed
    // it); tsrun makes them through fds inside the rootfs: the host stays unchanged.
    const { m: made, ...rest } = v.digest();
    expect(rest).toEqual(before);
    if (!isRunc) expect(made).toBeUndefined();
    else if (made !== undefined) expect(made).toBe('dir');
  });
});

// ---------------------------------------------------------------------------------------

describe('masked paths, read-only paths, no capabilities', () => {
  it('masked paths read nothing and cannot be unmasked; read-only paths cannot be written or remounted', () => {
    // A host-wide (not namespaced) sysctl; writing its own value back would be harmless.
    const knob = '/proc/sys/kernel/panic';
    const value = fs.readFileSync(knob, 'utf8').trim();
    const script = [
      // masked: each reads as nothing
      'for f in /proc/kcore /proc/keys /proc/timer_list /proc/latency_stats /proc/sched_debug; do',
      '  [ -e $f ] || continue; echo "$f $(head -c 64 $f 2>/dev/null | wc -c)"',
      'done',
      'echo "/sys/firmware $(ls -A /sys/firmware | wc -l)"',
      'echo "/proc/acpi $(ls -A /proc/acpi 2>/dev/null | wc -l)"',
      // unmasking and remounting need CAP_SYS_ADMIN, which the default caps lack
      'umount /proc/keys 2>/dev/null && echo UNMASKED',
      'umount -l /sys/firmware 2>/dev/null && echo UNMASKED',
      'mount -o remount,rw /proc/sys 2>/dev/null && echo REMOUNTED',
      // read-only: writing the same value back must still fail
      `echo ${value} > ${knob} 2>/dev/null && echo WROTE`,
      'echo h > /proc/sysrq-trigger 2>/dev/null && echo WROTE',
      'true',
    ].join('\n');
    const r = ok(sb.run(sb.id('masked'), sb.bundle(['sh', '-c', script])));
    const lines = r.stdout.trim().split('\n');
    for (const l of lines) expect(l).toMatch(/ 0$/);
    expect(lines).toEqual(expect.arrayContaining(['/proc/keys 0', '/sys/firmware 0']));
    expect(fs.readFileSync(knob, 'utf8').trim()).toBe(value);
  });

  it('a root process without capabilities cannot remount, mount, unmount a mask or mknod', () => {
    const script = [
      'mount -o remount,rw / 2>/dev/null && echo REMOUNTED-ROOT',
      'mount -o remount,rw /proc/sys 2>/dev/null && echo REMOUNTED-PROCSYS',
      'mount -t tmpfs x /mnt 2>/dev/null && echo MOUNTED',
      'umount /proc/kcore 2>/dev/null && echo UNMASKED',
      'umount /proc/keys 2>/dev/null && echo UNMASKED',
      'mknod /dev/mem2 c 1 1 2>/dev/null && echo MKNOD',
      'mknod /dev/sda9 b 8 0 2>/dev/null && echo MKNOD',
      'grep Cap /proc/self/status',
    ].join('\n');
    const r = ok(
      sb.run(
        sb.id('nocaps'),
        sb.bundle(['sh', '-c', script], (s) => {
          s.process.capabilities = { bounding: [], effective: [], permitted: [], inheritable: [], ambient: [] };
        }),
      ),
    );
    expect(r.stdout).not.toMatch(/REMOUNTED|MOUNTED|UNMASKED|MKNOD/);
    expect(r.stdout).toMatch(/CapEff:\s+0000000000000000/);
    expect(r.stdout).toMatch(/CapBnd:\s+0000000000000000/);
  });
});


// ---------------------------------------------------------------------------------------

describe('CVE-2025-31133: a /dev/null that is not the null device never masks anything', () => {
  // runc 1.1.5 binds whatever /dev/null resolves to over the masked paths (it is vulnerable).
  itTsrun('an image whose /dev/null links to /proc/sys/kernel/core_pattern: refused at create, nothing left, the knob unchanged', async () => {
    const knob = '/proc/sys/kernel/core_pattern';
    const value = fs.readFileSync(knob, 'utf8');
    const rootfs = sb.privateRootfs();
    fs.mkdirSync(path.join(rootfs, 'dev'), { recursive: true });
    fs.symlinkSync('/proc/sys/kernel/core_pattern', path.join(rootfs, 'dev/null'));
    const id = sb.id('devnull');
    const r = sb.create(
      id,
      sb.bundle(['sh', '-c', `echo '|/tmp/pwned' > /proc/kcore`], (s: Spec) => {
        s.root.path = rootfs;
        // The image's own /dev, not a tmpfs the runtime fills.
        s.mounts = s.mounts.filter((m: { destination: string }) => m.destination !== '/dev' && !m.destination.startsWith('/dev/'));
        s.linux.devices = [];
      }),
    );
    await sb.expectRefused(r, /\/dev\/null is not the null device: cannot mask paths/);
    expect(fs.readFileSync(knob, 'utf8')).toBe(value);
  });
});
