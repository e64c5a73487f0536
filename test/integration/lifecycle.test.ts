/**
 * Container lifecycle: create → start → kill → delete, seen from the outside.
 */
import * as fs from 'fs';
import * as path from 'path';
import { ok, pidAlive, useSandbox, waitExec, waitFor } from '../helpers/runtime';

const sb = useSandbox();

/** RFC 3339 with nanoseconds in UTC, as Go's time.RFC3339Nano prints it (trailing zeros trimmed). */
const RFC3339NANO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/;

describe('lifecycle', () => {
  it('create → created with a live pid; start → running; kill → stopped; delete → gone', async () => {
    const id = sb.id('life');
    const bundle = sb.bundle(['sleep', '1000']);

    ok(sb.create(id, bundle));
    const created = sb.state(id);
    expect(created.status).toBe('created');
    expect(created.id).toBe(id);
    expect(typeof created.pid).toBe('number');
    expect(created.pid).toBeGreaterThan(0);
    expect(fs.existsSync(`/proc/${created.pid}`)).toBe(true);
    expect(created.bundle).toBe(bundle);
    expect(created.rootfs).toBe(sb.rootfs);

    ok(sb.rt(['start', id]));
    const running = await sb.waitStatus(id, 'running');
    expect(running.pid).toBe(created.pid);
    expect(pidAlive(running.pid)).toBe(true);
    // The container's init now runs the user process (it may take a moment to exec).
    await waitExec(running.pid, 'sleep');
    const cmdline = fs.readFileSync(`/proc/${running.pid}/cmdline`, 'utf8').split('\0');
    expect(cmdline.slice(0, 2)).toEqual(['sleep', '1000']);

    ok(sb.rt(['kill', id, 'KILL']));
    const stopped = await sb.waitStatus(id, 'stopped');
    expect(stopped.id).toBe(id);
    await waitFor(() => !pidAlive(created.pid), 'init to exit');

    ok(sb.rt(['delete', id]));
    const gone = sb.rt(['state', id]);
    expect(gone.code).not.toBe(0);
    expect(gone.stderr).toMatch(/does not exist|not found|no such/i);
    expect(fs.existsSync(path.join(sb.root, id))).toBe(false);
    expect(sb.listIds()).not.toContain(id);
  });

  it('does not exec the user process before start', async () => {
    const id = sb.id('late');
    const host = sb.mkdir('late-out');
    const bundle = sb.bundle(['sh', '-c', 'echo started > /mnt/marker'], (s) => {
      s.mounts.push({ destination: '/mnt', type: 'bind', source: host, options: ['rbind', 'rw'] });
    });
    ok(sb.create(id, bundle));
    expect(sb.state(id).status).toBe('created');
    expect(fs.existsSync(path.join(host, 'marker'))).toBe(false);
    ok(sb.rt(['start', id]));
    await waitFor(() => fs.existsSync(path.join(host, 'marker')), 'the marker written after start');
    await sb.waitStatus(id, 'stopped');
    expect(fs.readFileSync(path.join(host, 'marker'), 'utf8')).toBe('started\n');
    ok(sb.rt(['delete', id]));
  });

  it('state prints the exact key set, 2-space indented, RFC 3339 nano timestamp', () => {
    const id = sb.id('shape');
    const bundle = sb.bundle(['sleep', '1000']);
    ok(sb.create(id, bundle));
    const r = ok(sb.rt(['state', id]));
    const st = JSON.parse(r.stdout);
    expect(Object.keys(st)).toEqual(['ociVersion', 'id', 'pid', 'status', 'bundle', 'rootfs', 'created', 'owner']);
    expect(st.ociVersion).toBe('1.0.2-dev');
    expect(st.created).toMatch(RFC3339NANO);
    expect(typeof st.owner).toBe('string');
    // runc prints json.MarshalIndent(state, "", "  ") with no trailing newline.
    expect(r.stdout).toBe(JSON.stringify(st, null, 2));
    expect(r.stdout.split('\n')[1]).toBe(`  "ociVersion": "1.0.2-dev",`);
  });

  it('state of a stopped container has pid 0 and status stopped', async () => {
    const id = sb.id('stp');
    ok(sb.create(id, sb.bundle(['true'])));
    ok(sb.rt(['start', id]));
    const st = await sb.waitStatus(id, 'stopped');
    expect(st.pid).toBe(0);
    expect(Object.keys(st)).toEqual(['ociVersion', 'id', 'pid', 'status', 'bundle', 'rootfs', 'created', 'owner']);
  });

  it('annotations from config.json appear in state, between created and owner', () => {
    const id = sb.id('ann');
    ok(sb.create(id, sb.bundle(['sleep', '1000'], (s) => (s.annotations = { 'org.example.k': 'v' }))));
    const st = sb.state(id);
    expect(Object.keys(st)).toEqual([
      'ociVersion',
      'id',
      'pid',
      'status',
      'bundle',
      'rootfs',
      'created',
      'annotations',
      'owner',
    ]);
    expect(st.annotations).toEqual({ 'org.example.k': 'v' });
  });

  it('--pid-file receives the host pid of the container', () => {
    const id = sb.id('pidf');
    const pidFile = sb.path('pidfile');
    ok(sb.create(id, sb.bundle(['sleep', '1000']), { extra: ['--pid-file', pidFile] }));
    const text = fs.readFileSync(pidFile, 'utf8');
    // runc writes the bare number, no newline.
    expect(text).toMatch(/^\d+$/);
    expect(Number(text)).toBe(sb.hostPid(id));
  });

  it('create of a taken id fails and leaves the first container alone', () => {
    const id = sb.id('dup');
    const bundle = sb.bundle(['sleep', '1000']);
    ok(sb.create(id, bundle));
    const pid = sb.hostPid(id);
    const r = sb.create(id, bundle);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/already exists/i);
    expect(sb.state(id).status).toBe('created');
    expect(sb.hostPid(id)).toBe(pid);
  });

  it('start of a started or stopped container fails', async () => {
    const id = sb.id('twice');
    await sb.startDetached(id, sb.bundle(['sleep', '1000']));
    const again = sb.rt(['start', id]);
    expect(again.code).not.toBe(0);
    expect(again.stderr).toMatch(/not in created state|cannot start/i);
    ok(sb.rt(['kill', id, 'KILL']));
    await sb.waitStatus(id, 'stopped');
    const stopped = sb.rt(['start', id]);
    expect(stopped.code).not.toBe(0);
    expect(stopped.stderr).toMatch(/cannot start a container that has stopped/i);
  });
});

describe('run', () => {
  it('exits with the container process exit code', () => {
    const id = sb.id('exit3');
    const r = sb.run(id, sb.bundle(['sh', '-c', 'exit 3']));
    expect(r.code).toBe(3);
    // A finished `run` deletes the container.
    expect(sb.listIds()).not.toContain(id);
  });

  it('exits 0 and passes the container stdout/stderr through', () => {
    const r = ok(sb.run(sb.id('out'), sb.bundle(['sh', '-c', 'echo to-out; echo to-err >&2'])));
    expect(r.stdout).toBe('to-out\n');
    expect(r.stderr).toBe('to-err\n');
  });

  it('passes stdin through', () => {
    const r = ok(sb.run(sb.id('in'), sb.bundle(['sh', '-c', 'read x; echo "got $x"']), { input: 'hello\n' }));
    expect(r.stdout).toBe('got hello\n');
  });

  it('returns 128+9 when the container init is SIGKILLed from outside', async () => {
    const id = sb.id('sig');
    const run = sb.rtAsync(['run', '--bundle', sb.bundle(['sleep', '1000']), id]);
    await sb.waitStatus(id, 'running');
    ok(sb.rt(['kill', id, 'KILL']));
    const r = await run.result;
    expect(r.code).toBe(137);
    expect(sb.listIds()).not.toContain(id);
  });

  it('returns the exit code of a shell whose child was SIGKILLed (137, from the shell)', () => {
    // pid 1 of a pid namespace ignores its own signals; the shell reports its child's death as 128+9.
    const r = sb.run(sb.id('sigchild'), sb.bundle(['sh', '-c', 'sh -c "kill -9 \\$\\$"; exit $?']));
    expect(r.code).toBe(137);
  });

  it('pid 1 cannot kill itself with SIGKILL: run exits 0', () => {
    // The kernel drops signals a pid-namespace init sends itself without a handler.
    const r = sb.run(sb.id('sigself'), sb.bundle(['sh', '-c', 'kill -9 $$; echo alive']));
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('alive\n');
  });

  it('returns the code of a TERM trap when killed with TERM', async () => {
    const id = sb.id('trap');
    const run = sb.rtAsync([
      'run',
      '--bundle',
      sb.bundle(['sh', '-c', 'trap "exit 7" TERM; echo ready; while true; do sleep 0.05; done']),
      id,
    ]);
    await sb.waitStatus(id, 'running');
    // The trap is installed before "ready" is printed, but that output is only in run's files:
    // poll the kill until it takes effect instead.
    await waitFor(
      async () => {
        sb.rt(['kill', id, 'TERM']);
        return Promise.race([run.result.then(() => true), new Promise((r) => setTimeout(() => r(false), 100))]);
      },
      'the TERM trap to fire',
    );
    const r = await run.result;
    expect(r.code).toBe(7);
  });

  it('run -d detaches and the container keeps running', async () => {
    const id = sb.id('det');
    const r = ok(sb.rt(['run', '-d', '--bundle', sb.bundle(['sleep', '1000']), id]));
    expect(r.stdout).toBe('');
    const st = sb.state(id);
    expect(st.status).toBe('running');
    expect(pidAlive(st.pid)).toBe(true);
    ok(sb.rt(['delete', '--force', id]));
    await waitFor(() => !pidAlive(st.pid), 'the container to die');
  });

  it('run --pid-file writes the pid of a detached container', () => {
    const id = sb.id('detpid');
    const pidFile = sb.path('run-pidfile');
    ok(sb.rt(['run', '-d', '--pid-file', pidFile, '--bundle', sb.bundle(['sleep', '1000']), id]));
    expect(Number(fs.readFileSync(pidFile, 'utf8'))).toBe(sb.hostPid(id));
  });

  it('run with a relative --bundle and with the cwd as bundle', () => {
    const bundle = sb.bundle(['true']);
    ok(sb.rt(['run', '--bundle', path.relative(sb.dir, bundle), sb.id('rel')], { cwd: sb.dir }));
    ok(sb.rt(['run', sb.id('cwd')], { cwd: bundle }));
  });
});
