/**
 * The command line as a user sees it: list, kill, delete, features, spec, --log.
 */
import * as fs from 'fs';
import * as path from 'path';
import { defaultSeccomp } from '../../packages/spec/src';
import { defaultSpec, isRunc, ok, pidAlive, Spec, useSandbox, waitFor } from '../helpers/runtime';

const sb = useSandbox();

/** runc's list table: text/tabwriter with minwidth 12, tabwidth 1, padding 3, padchar ' '. */
function tabwrite(rows: string[][]): string {
  const widths = rows[0].map((_, c) => Math.max(12, ...rows.map((r) => r[c].length + 3)));
  return rows
    .map((r) => r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]))).join(''))
    .map((l) => l + '\n')
    .join('');
}

describe('list', () => {
  it('prints only the header when there are no containers', () => {
    const r = ok(sb.rt(['list']));
    expect(r.stdout).toBe('ID          PID         STATUS      BUNDLE      CREATED     OWNER\n');
    expect(ok(sb.rt(['list', '-q'])).stdout).toBe('');
    // An empty list in JSON is `null`, as Go marshals a nil slice.
    expect(ok(sb.rt(['list', '-f', 'json'])).stdout).toBe('null\n');
  });

  it('prints a table, JSON and ids for existing containers', async () => {
    const a = sb.id('lista');
    const b = sb.id('listb');
    const ba = sb.bundle(['sleep', '1000']);
    const bb = sb.bundle(['sleep', '1000']);
    ok(sb.create(a, ba));
    await sb.startDetached(b, bb);
    const sa = sb.state(a);
    const sbb = sb.state(b);

    const q = ok(sb.rt(['list', '-q'])).stdout;
    expect(q.split('\n').filter(Boolean).sort()).toEqual([a, b].sort());
    expect(q.endsWith('\n')).toBe(true);

    const table = ok(sb.rt(['list'])).stdout;
    const lines = table.split('\n').filter(Boolean);
    expect(lines[0].split(/\s+/)).toEqual(['ID', 'PID', 'STATUS', 'BUNDLE', 'CREATED', 'OWNER']);
    const rowOf = (id: string) => lines.find((l) => l.startsWith(id + ' '))!.trim().split(/\s+/);
    // The table's owner column is the user name (`root`); state's owner is "".
    expect(rowOf(a)).toEqual([a, String(sa.pid), 'created', ba, sa.created, 'root']);
    expect(rowOf(b)).toEqual([b, String(sbb.pid), 'running', bb, sbb.created, 'root']);
    // Exact layout (rows in the runtime's order, which is directory order).
    const ordered = lines.slice(1).map((l) => l.split(/\s+/)[0]);
    const rows = [['ID', 'PID', 'STATUS', 'BUNDLE', 'CREATED', 'OWNER']];
    for (const id of ordered) {
      const s = id === a ? sa : sbb;
      rows.push([id, String(s.pid), s.status === 'created' ? 'created' : 'running', s.bundle, s.created, 'root']);
    }
    expect(table).toBe(tabwrite(rows));

    const jr = ok(sb.rt(['list', '--format', 'json'])).stdout;
    expect(jr.endsWith('\n')).toBe(true);
    expect(jr.split('\n').length).toBe(2); // one line, compact
    const arr = JSON.parse(jr);
    expect(Array.isArray(arr)).toBe(true);
    const ja = arr.find((x: Spec) => x.id === a);
    expect(Object.keys(ja)).toEqual(['ociVersion', 'id', 'pid', 'status', 'bundle', 'rootfs', 'created', 'owner']);
    expect(ja).toMatchObject({ id: a, pid: sa.pid, status: 'created', bundle: ba, rootfs: sb.rootfs, owner: 'root' });
    expect(arr.find((x: Spec) => x.id === b)).toMatchObject({ status: 'running', pid: sbb.pid });
  });

  it('rejects an unknown format', () => {
    const r = sb.rt(['list', '-f', 'yaml']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/invalid format option/);
  });
});

describe('kill', () => {
  it.each([['KILL'], ['SIGKILL'], ['9'], ['sigkill']])('accepts signal %s', async (sig) => {
    const id = sb.id('kill');
    const pid = await sb.startDetached(id, sb.bundle(['sleep', '1000']));
    ok(sb.rt(['kill', id, sig]));
    await sb.waitStatus(id, 'stopped');
    await waitFor(() => !pidAlive(pid), 'the container to die');
  });

  it('defaults to SIGTERM', async () => {
    const id = sb.id('term');
    const dir = sb.mkdir('term-out');
    const bundle = sb.bundle(
      ['sh', '-c', 'trap "echo got-term > /mnt/sig; exit 0" TERM; touch /mnt/ready; while :; do sleep 0.05; done'],
      (s) => s.mounts.push({ destination: '/mnt', type: 'bind', source: dir, options: ['rbind'] }),
    );
    await sb.startDetached(id, bundle);
    await waitFor(() => fs.existsSync(path.join(dir, 'ready')), 'the trap to be set');
    ok(sb.rt(['kill', id]));
    await sb.waitStatus(id, 'stopped');
    expect(fs.readFileSync(path.join(dir, 'sig'), 'utf8')).toBe('got-term\n');
  });

  it('rejects an unknown signal and leaves the container running', async () => {
    const id = sb.id('badsig');
    const pid = await sb.startDetached(id, sb.bundle(['sleep', '1000']));
    for (const sig of ['FOO', 'SIGFOO', 'sigkil']) {
      const r = sb.rt(['kill', id, sig]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/unknown signal/i);
    }
    // A number is not checked against the signal table; kill(2) rejects it (EINVAL).
    const big = sb.rt(['kill', id, '99999']);
    expect(big.code).toBe(1);
    expect(big.stderr).toMatch(/invalid argument|invalid signal/i);
    expect(sb.state(id).status).toBe('running');
    expect(pidAlive(pid)).toBe(true);
  });

  it('--all signals every process of the container', async () => {
    // pid 1 ignores TERM (no handler), its children do not: only --all brings the container down.
    const id = sb.id('all');
    const dir = sb.mkdir('all-out');
    const bundle = sb.bundle(['sh', '-c', 'sleep 1000 & sleep 1001 & touch /mnt/ready; wait'], (s) =>
      s.mounts.push({ destination: '/mnt', type: 'bind', source: dir, options: ['rbind'] }),
    );
    await sb.startDetached(id, bundle);
    await waitFor(() => fs.existsSync(path.join(dir, 'ready')), 'the children to start');
    ok(sb.rt(['kill', '--all', id, 'TERM']));
    await sb.waitStatus(id, 'stopped');
  });

  it('kill of a created container stops it', async () => {
    const id = sb.id('killc');
    ok(sb.create(id, sb.bundle(['sleep', '1000'])));
    ok(sb.rt(['kill', id, 'KILL']));
    await sb.waitStatus(id, 'stopped');
  });

  it('kill of a stopped container fails with "container not running"; of an unknown one with "does not exist"', async () => {
    const id = sb.id('killst');
    ok(sb.create(id, sb.bundle(['true'])));
    ok(sb.rt(['start', id]));
    await sb.waitStatus(id, 'stopped');
    const r = sb.rt(['kill', id, 'KILL']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/container not running/);
    // With --all runc signals whatever is left in the cgroup: nothing, and that is no error.
    expect(sb.rt(['kill', '--all', id, 'KILL']).code).toBe(0);
    const u = sb.rt(['kill', sb.id('nosuch'), 'KILL']);
    expect(u.code).toBe(1);
    expect(u.stderr).toMatch(/container does not exist/);
  });

  it('needs 1 or 2 arguments', () => {
    expect(sb.rt(['kill']).code).toBe(1);
    expect(sb.rt(['kill', 'a', 'b', 'c']).code).toBe(1);
  });
});

describe('delete', () => {
  it('refuses a running container without --force, deletes it with --force', async () => {
    const id = sb.id('delrun');
    const pid = await sb.startDetached(id, sb.bundle(['sleep', '1000']));
    const r = sb.rt(['delete', id]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/not stopped|running/i);
    expect(sb.state(id).status).toBe('running');
    ok(sb.rt(['delete', '--force', id]));
    expect(sb.listIds()).not.toContain(id);
    await waitFor(() => !pidAlive(pid), 'the container to die');
  });

  it('deletes a created container without --force (and kills its init)', async () => {
    const id = sb.id('delcr');
    ok(sb.create(id, sb.bundle(['sleep', '1000'])));
    const pid = sb.hostPid(id);
    ok(sb.rt(['delete', id]));
    expect(sb.listIds()).not.toContain(id);
    await waitFor(() => !pidAlive(pid), 'the init to die');
  });

  it('deletes a stopped container', async () => {
    const id = sb.id('delst');
    ok(sb.create(id, sb.bundle(['true'])));
    ok(sb.rt(['start', id]));
    await sb.waitStatus(id, 'stopped');
    ok(sb.rt(['delete', id]));
    expect(fs.existsSync(path.join(sb.root, id))).toBe(false);
  });

  it('of an unknown id: exit 1 without --force, exit 0 with --force', () => {
    const id = sb.id('nosuch');
    const r = sb.rt(['delete', id]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/container does not exist/);
    const f = sb.rt(['delete', '--force', id]);
    expect(f.code).toBe(0);
    expect(f.stderr).toBe('');
  });
});

describe('features', () => {
  it('prints the features JSON', () => {
    const r = ok(sb.rt(['features']));
    const f = JSON.parse(r.stdout);
    expect(f.ociVersionMin).toBe('1.0.0');
    expect(typeof f.ociVersionMax).toBe('string');
    expect(f.ociVersionMax).toMatch(/^1\.\d+\.\d+/);
    expect(f.hooks).toEqual(['prestart', 'createRuntime', 'createContainer', 'startContainer', 'poststart', 'poststop']);
    expect(f.mountOptions).toEqual(expect.arrayContaining(['bind', 'rbind', 'ro', 'nosuid', 'nodev', 'noexec', 'rprivate']));
    expect(f.linux.namespaces).toEqual(
      expect.arrayContaining(['cgroup', 'ipc', 'mount', 'network', 'pid', 'user', 'uts']),
    );
    expect(f.linux.capabilities).toEqual(expect.arrayContaining(['CAP_CHOWN', 'CAP_SYS_ADMIN', 'CAP_KILL']));
    // json.MarshalIndent(..., "", "    ") plus a newline.
    expect(r.stdout).toBe(JSON.stringify(f, null, 4) + '\n');
  });
});

describe('spec', () => {
  function expectedSpec(): Spec {
    const s = defaultSpec();
    s.process.terminal = true;
    s.root.path = 'rootfs';
    // Each runtime writes the spec version it implements: runc 1.1 "1.0.2-dev", tsrun "1.3.0".
    if (!isRunc) s.ociVersion = '1.3.0';
    // tsrun adds Docker's default seccomp profile, after namespaces (runc's key order).
    if (!isRunc) s.linux = withSeccomp(s.linux);
    return s;
  }

  function withSeccomp(linux: Spec): Spec {
    const out: Spec = {};
    for (const [k, v] of Object.entries(linux)) {
      if (k === 'maskedPaths') out.seccomp = defaultSeccomp();
      out[k] = v;
    }
    return out;
  }

  it('writes the default config.json (tab-indented, no trailing newline) and refuses to overwrite it', () => {
    const dir = sb.mkdir('spec1');
    ok(sb.rt(['spec'], { cwd: dir }));
    const text = fs.readFileSync(path.join(dir, 'config.json'), 'utf8');
    expect(JSON.parse(text)).toEqual(expectedSpec());
    expect(text).toBe(JSON.stringify(expectedSpec(), null, '\t'));

    fs.writeFileSync(path.join(dir, 'config.json'), 'keep');
    const again = sb.rt(['spec'], { cwd: dir });
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/config\.json exists/i);
    expect(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')).toBe('keep');
  });

  it('--bundle writes into the given directory', () => {
    const dir = sb.mkdir('spec2');
    ok(sb.rt(['spec', '--bundle', dir]));
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'))).toEqual(expectedSpec());
  });

  it('--rootless writes a user-namespaced spec', () => {
    const dir = sb.mkdir('spec3');
    ok(sb.rt(['spec', '--rootless'], { cwd: dir }));
    const got = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
    const want = expectedSpec();
    want.mounts = want.mounts.map((m: Spec) => {
      if (m.destination === '/dev/pts') return { ...m, options: m.options.filter((o: string) => o !== 'gid=5') };
      if (m.destination === '/sys') {
        return { destination: '/sys', type: 'none', source: '/sys', options: ['rbind', 'nosuid', 'noexec', 'nodev', 'ro'] };
      }
      return m;
    });
    const uid = process.geteuid!();
    const gid = process.getegid!();
    want.linux = {
      uidMappings: [{ containerID: 0, hostID: uid, size: 1 }],
      gidMappings: [{ containerID: 0, hostID: gid, size: 1 }],
      namespaces: [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }, { type: 'user' }],
      maskedPaths: want.linux.maskedPaths,
      readonlyPaths: want.linux.readonlyPaths,
    };
    if (!isRunc) want.linux = withSeccomp(want.linux);
    expect(got).toEqual(want);
    expect(JSON.stringify(got)).toBe(JSON.stringify(want)); // same key order
  });
});

describe('logging', () => {
  it('--log FILE --log-format json writes JSON lines with level, msg and time on an error', () => {
    const log = sb.path('runtime.log');
    const r = sb.rt(['--log', log, '--log-format', 'json', 'state', sb.id('nosuch')]);
    expect(r.code).toBe(1);
    const lines = fs.readFileSync(log, 'utf8').split('\n').filter(Boolean);
    expect(lines.length).toBeGreaterThan(0);
    const entries = lines.map((l) => JSON.parse(l));
    for (const e of entries) {
      expect(typeof e.level).toBe('string');
      expect(typeof e.msg).toBe('string');
      expect(e.time).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}/);
    }
    const err = entries.find((e) => e.level === 'error');
    expect(err).toBeDefined();
    expect(err.msg).toMatch(/container does not exist/);
    // logrus' JSONFormatter: keys sorted, one object per line.
    expect(Object.keys(err)).toEqual(['level', 'msg', 'time']);
    // With --log set, the error is still shown to the user on stderr.
    expect(r.stderr).toMatch(/container does not exist/);
  });

  it('errors go to stderr as a logfmt line by default and as JSON with --log-format json', () => {
    const id = sb.id('nosuch');
    const text = sb.rt(['state', id]);
    expect(text.stdout).toBe('');
    expect(text.stderr).toMatch(/^time="[^"]+" level=error msg="container does not exist"\n$/);
    const json = sb.rt(['--log-format', 'json', 'state', id]);
    const e = JSON.parse(json.stderr.trim().split('\n').pop()!);
    expect(e).toMatchObject({ level: 'error', msg: 'container does not exist' });
  });

  it('rejects an unknown log format', () => {
    const r = sb.rt(['--log-format', 'xml', 'list']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/invalid log-format: xml/);
  });
});

describe('create flags', () => {
  it('--no-pivot and --no-new-keyring are accepted as flags (not as negations) and the container runs', () => {
    const id = sb.id('flags');
    const r = sb.rt(['run', '--no-pivot', '--no-new-keyring', '--bundle', sb.bundle(['sh', '-c', 'echo ran; cat /proc/self/mountinfo | head -1']), id]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^ran\n/);
  });
});

describe('usage', () => {
  it('an unknown command exits 3; a wrong argument count exits 1', () => {
    expect(sb.rt(['no-such-command']).code).toBe(3);
    const r = sb.rt(['state']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/state.{0,3} requires exactly 1 argument/);
  });

  it('--version prints the spec version', () => {
    const r = ok(sb.rt(['--version']));
    expect(r.stdout).toMatch(isRunc ? /^spec: 1\.0\.2-dev$/m : /^spec: 1\.3\.0$/m);
  });
});
