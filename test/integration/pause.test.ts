/**
 * pause / resume: every process of the container is frozen (freezer cgroup), the status says
 * "paused", a counter the container keeps stops advancing, and resume lets it go on. Errors
 * when the container is not in the state the command needs, in runc's words.
 */
import * as fs from 'fs';
import { ok, readIf, useSandbox, waitFor } from '../helpers/runtime';

const sb = useSandbox();
const v1 = / - cgroup cgroup /.test(fs.readFileSync('/proc/self/mountinfo', 'utf8'));

/** A running container that counts in /dev/shm/count; returns its id and host pid. */
async function counter(): Promise<{ id: string; pid: number; count: () => number }> {
  const id = sb.id('pause');
  const b = sb.bundle(['sh', '-c', 'i=0; while true; do i=$((i+1)); echo $i > /dev/shm/count; sleep 0.01; done'], (s) => {
    s.linux.cgroupsPath = `/${id}`;
  });
  const pid = await sb.startDetached(id, b);
  const count = (): number => Number(readIf(`/proc/${pid}/root/dev/shm/count`) ?? '0');
  await waitFor(() => count() > 0, 'the counter to start');
  return { id, pid, count };
}

/** Host pids of the container's processes, from its freezer (v1) or unified cgroup. */
function containerPids(id: string): number[] {
  const file = v1 ? `/sys/fs/cgroup/freezer/${id}/cgroup.procs` : `/sys/fs/cgroup/${id}/cgroup.procs`;
  return fs.readFileSync(file, 'utf8').trim().split('\n').filter(Boolean).map(Number);
}

describe('pause and resume', () => {
  it('freezes every process: status paused, the counter stops, resume lets it go on', async () => {
    const { id, count } = await counter();
    ok(sb.rt(['pause', id]));
    expect(sb.state(id).status).toBe('paused');
    const listed = JSON.parse(ok(sb.rt(['list', '--format', 'json'])).stdout) as { id: string; status: string }[];
    expect(listed.find((c) => c.id === id)?.status).toBe('paused');
    if (v1) {
      expect(fs.readFileSync(`/sys/fs/cgroup/freezer/${id}/freezer.state`, 'utf8').trim()).toBe('FROZEN');
      // v1 frozen tasks wait in the freezer, uninterruptibly.
      for (const p of containerPids(id)) expect(readIf(`/proc/${p}/status`) ?? 'State:\tD').toMatch(/^State:\s+D/m);
    } else {
      expect(fs.readFileSync(`/sys/fs/cgroup/${id}/cgroup.events`, 'utf8')).toMatch(/^frozen 1$/m);
    }
    // Not a wait of so many milliseconds: a twin counter that is not frozen runs the same loop,
    // and while it advances ten steps the frozen one must not advance at all.
    const frozenAt = count();
    const twin = await counter();
    const from = twin.count();
    await waitFor(() => twin.count() >= from + 10, 'the twin counter to advance ten steps');
    expect(count()).toBe(frozenAt);

    ok(sb.rt(['resume', id]));
    expect(sb.state(id).status).toBe('running');
    await waitFor(() => count() > frozenAt, 'the counter to advance after resume');
    if (v1) expect(fs.readFileSync(`/sys/fs/cgroup/freezer/${id}/freezer.state`, 'utf8').trim()).toBe('THAWED');
  });

  it('errors: resume of a running container, pause of a paused or stopped one, unknown ids', async () => {
    const { id } = await counter();
    const resumeRunning = sb.rt(['resume', id]);
    expect(resumeRunning.code).toBe(1);
    expect(resumeRunning.stderr).toMatch(/container not paused/);

    ok(sb.rt(['pause', id]));
    const pauseTwice = sb.rt(['pause', id]);
    expect(pauseTwice.code).toBe(1);
    expect(pauseTwice.stderr).toMatch(/container not running/);
    expect(sb.state(id).status).toBe('paused');

    // A paused container can be killed and deleted (delete --force thaws it to let it die).
    ok(sb.rt(['delete', '--force', id]));
    expect(sb.rt(['state', id]).code).not.toBe(0);

    const stopped = sb.id('stopped');
    ok(sb.rt(['run', '-d', '--bundle', sb.bundle(['true']), stopped]));
    await sb.waitStatus(stopped, 'stopped');
    const pauseStopped = sb.rt(['pause', stopped]);
    expect(pauseStopped.code).toBe(1);
    expect(pauseStopped.stderr).toMatch(/container not running/);
    const resumeStopped = sb.rt(['resume', stopped]);
    expect(resumeStopped.code).toBe(1);
    expect(resumeStopped.stderr).toMatch(/container not paused/);

    for (const cmd of ['pause', 'resume']) {
      const r = sb.rt([cmd, sb.id('nope')]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/container does not exist/);
    }
  });
});
