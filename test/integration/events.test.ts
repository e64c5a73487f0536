/**
 * events: `--stats` prints one JSON object in runc's shape (what containerd parses), with values
 * that match the container's configuration and activity; the stream prints stats every interval
 * and an "oom" event when the kernel OOM-kills inside the container, and ends with it.
 */
import { spawn } from 'child_process';
import * as fs from 'fs';
import { isRunc, ok, readIf, RUNTIME, useSandbox, waitFor } from '../helpers/runtime';

const sb = useSandbox();
const MB = 1024 * 1024;

/* eslint-disable @typescript-eslint/no-explicit-any */
type Event = { type: string; id: string; data?: any };

function lines(text: string): Event[] {
  return text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Event);
}

describe('events', () => {
  it('--stats: one JSON event with runc\'s fields and plausible values', async () => {
    const id = sb.id('stats');
    // Some CPU work and a few processes, then wait.
    const b = sb.bundle(['sh', '-c', 'i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; sleep 1000 & sleep 1000 & touch /dev/shm/ready; wait'], (s) => {
      s.linux.cgroupsPath = `/${id}`;
      s.linux.resources.memory = { limit: 64 * MB };
      s.linux.resources.pids = { limit: 30 };
    });
    const pid = await sb.startDetached(id, b);
    await waitFor(() => fs.existsSync(`/proc/${pid}/root/dev/shm/ready`), 'the container to settle');
    const r = ok(sb.rt(['events', '--stats', id]));
    const evs = lines(r.stdout);
    expect(evs).toHaveLength(1);
    const [ev] = evs;
    expect(ev.type).toBe('stats');
    expect(ev.id).toBe(id);
    const d = ev.data;
    expect(Object.keys(d)).toEqual(expect.arrayContaining(['cpu', 'memory', 'pids', 'blkio', 'hugetlb']));
    expect(d.cpu.usage.total).toBeGreaterThan(0);
    expect(typeof d.cpu.usage.kernel).toBe('number');
    expect(typeof d.cpu.usage.user).toBe('number');
    expect(d.cpu.throttling).toBeDefined();
    expect(d.memory.usage.limit).toBe(64 * MB);
    expect(d.memory.usage.usage).toBeGreaterThan(0);
    expect(d.memory.usage.usage).toBeLessThan(64 * MB);
    expect(d.memory.usage.failcnt).toBe(0);
    expect(d.memory.swap).toBeDefined();
    expect(d.pids).toEqual({ current: 3, limit: 30 });
    // Debian's runc 1.1.5 reports cpuset stats from v1 files only (its v2 driver has none).
    const v2 = !/ - cgroup cgroup /.test(fs.readFileSync('/proc/self/mountinfo', 'utf8'));
    if (!(isRunc && v2)) {
      expect(Array.isArray(d.cpuset.cpus)).toBe(true);
      expect(d.cpuset.cpus.length).toBeGreaterThan(0);
    }
  });

  it('the stream: stats every interval, "oom" when the kernel kills at the limit, ends with the container', async () => {
    const id = sb.id('oom');
    // The hog volunteers as the OOM killer's victim (oom_score_adj 1000), so that the shell
    // that reports its end is never the one killed.
    const hog = '(echo 1000 > /proc/self/oom_score_adj; head -c 256m /dev/zero | tail)';
    const b = sb.bundle(['sh', '-c', `while [ ! -e /dev/shm/go ]; do sleep 0.05; done; ${hog}; echo "hog $?" > /dev/shm/done; sleep 1000`], (s) => {
      s.linux.cgroupsPath = `/${id}`;
      s.linux.resources.memory = { limit: 32 * MB, swap: 32 * MB };
    });
    const pid = await sb.startDetached(id, b);
    const child = spawn(RUNTIME, ['--root', sb.root, 'events', '--interval', '200ms', id], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (err += c));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      await waitFor(() => lines(out).filter((e) => e.type === 'stats').length >= 2, `two stats events (stderr: ${err})`);
      expect(lines(out).some((e) => e.type === 'oom')).toBe(false);
      fs.writeFileSync(`/proc/${pid}/root/dev/shm/go`, '');
      // Generous: on a loaded machine reclaim can take a while before the OOM killer acts.
      await waitFor(() => readIf(`/proc/${pid}/root/dev/shm/done`), 'the memory hog to die', 60_000).catch((e: Error) => {
        // What the kernel thinks, for a failure that is not the runtime's.
        const cg = `/sys/fs/cgroup/memory/${id}`;
        const diag = ['memory.limit_in_bytes', 'memory.memsw.limit_in_bytes', 'memory.usage_in_bytes', 'memory.failcnt', 'memory.oom_control', 'cgroup.procs']
          .map((f) => `${f}: ${(readIf(`${cg}/${f}`) ?? '-').trim().replace(/\n/g, ' ')}`)
          .join('; ');
        const procs = (readIf(`${cg}/cgroup.procs`) ?? '').trim().split('\n').filter(Boolean)
          .map((p) => `${p} ${(readIf(`/proc/${p}/cmdline`) ?? '').replace(/\0/g, ' ')} ${/^State:.*$/m.exec(readIf(`/proc/${p}/status`) ?? '')?.[0] ?? ''}`);
        throw new Error(`${e.message}\n${diag}\n${procs.join('\n')}\nevents: ${out.slice(-400)}\nstderr: ${err}`);
      });
      expect(readIf(`/proc/${pid}/root/dev/shm/done`)).toBe('hog 137\n');
      await waitFor(() => lines(out).some((e) => e.type === 'oom'), `an oom event (got: ${out.slice(-300)})`);
      const oom = lines(out).find((e) => e.type === 'oom')!;
      expect(oom).toEqual({ type: 'oom', id });
      for (const e of lines(out).filter((x) => x.type === 'stats')) expect(e.id).toBe(id);

      // runc's stream ends when the cgroup goes; tsrun's already when init dies.
      ok(sb.rt(['kill', id, 'KILL']));
      await sb.waitStatus(id, 'stopped');
      ok(sb.rt(['delete', id]));
      let timer: NodeJS.Timeout | undefined;
      const code = await Promise.race([exited, new Promise<string>((r) => (timer = setTimeout(() => r('still running'), 10000)))]);
      clearTimeout(timer); // a pending timer would keep jest from exiting
      expect(code).toBe(0);
    } finally {
      child.kill('SIGKILL');
    }
  }, 120_000);

  it('errors: a stopped container, an unknown id, a zero interval', async () => {
    const id = sb.id('evstop');
    ok(sb.rt(['run', '-d', '--bundle', sb.bundle(['true']), id]));
    await sb.waitStatus(id, 'stopped');
    for (const args of [['events', '--stats', id], ['events', id]]) {
      const r = sb.rt(args, { timeoutMs: 10000 });
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(new RegExp(`container with id ${id} is not running`));
    }
    const unknown = sb.rt(['events', '--stats', sb.id('nope')]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/container does not exist/);

    const running = sb.id('evrun');
    await sb.startDetached(running, sb.bundle(['sleep', '1000']));
    const zero = sb.rt(['events', '--interval', '0s', running], { timeoutMs: 10000 });
    expect(zero.code).toBe(1);
    expect(zero.stderr).toMatch(/duration interval must be greater than 0/);
  });
});
