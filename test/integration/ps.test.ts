/**
 * `ps`: the processes of a container (found through its cgroup), as a JSON array of host
 * pids or as the host's `ps` output cut down to them.
 */
import * as fs from 'fs';
import { ok, pidAlive, useSandbox, waitFor } from '../helpers/runtime';

const sb = useSandbox();

/** Host pids of a running container whose init has started `n` background sleeps. */
async function withChildren(n: number): Promise<{ id: string; pid: number; all: number[] }> {
  const id = sb.id('ps');
  const script = `${'sleep 1001 & '.repeat(n)}exec sleep 1000`;
  const pid = await sb.startDetached(id, sb.bundle(['sh', '-c', script]));
  // The children are the host processes whose parent is init.
  const children = (): number[] =>
    fs.readdirSync('/proc').filter((e) => /^\d+$/.test(e)).map(Number).filter((p) => {
      try {
        const st = fs.readFileSync(`/proc/${p}/stat`, 'utf8');
        return Number(st.slice(st.lastIndexOf(')') + 2).split(' ')[1]) === pid;
      } catch {
        return false;
      }
    });
  const kids: number[] = (await waitFor(() => (children().length === n ? children() : undefined), `${n} children of ${pid}`))!;
  return { id, pid, all: [pid, ...kids].sort((a, b) => a - b) };
}

describe('ps', () => {
  it('-f json prints the host pids of every process in the container', async () => {
    const { id, all } = await withChildren(2);
    const r = ok(sb.rt(['ps', '-f', 'json', id]));
    expect(r.stdout.endsWith('\n')).toBe(true);
    expect((JSON.parse(r.stdout) as number[]).sort((a, b) => a - b)).toEqual(all);
    expect(ok(sb.rt(['ps', '--format', 'json', id])).stdout).toBe(r.stdout);
  });

  it('the table is the host\'s ps -ef, only the container\'s lines', async () => {
    const { id, all } = await withChildren(1);
    const out = ok(sb.rt(['ps', id])).stdout.trimEnd().split('\n');
    expect(out[0]).toMatch(/^UID\s+PID\s+PPID\s+C\s+STIME\s+TTY\s+TIME\s+CMD$/);
    const rows = out.slice(1).map((l) => l.trim().split(/\s+/));
    expect(rows.map((r) => Number(r[1])).sort((a, b) => a - b)).toEqual(all);
    expect(rows.map((r) => r.slice(7).join(' ')).sort()).toEqual(['sleep 1000', 'sleep 1001']);
  });

  it('arguments after the id go to ps', async () => {
    const { id, pid } = await withChildren(0);
    const out = ok(sb.rt(['ps', id, '-o', 'pid,comm'])).stdout;
    expect(out.trimEnd().split('\n').map((l) => l.trim().split(/\s+/))).toEqual([['PID', 'COMMAND'], [String(pid), 'sleep']]);
  });

  it('a stopped container has no processes', async () => {
    const id = sb.id('ps');
    ok(sb.create(id, sb.bundle(['true'])));
    ok(sb.rt(['start', id]));
    await sb.waitStatus(id, 'stopped');
    expect(ok(sb.rt(['ps', '-f', 'json', id])).stdout).toBe('null\n');
    ok(sb.rt(['delete', id]));
  });

  it('errors: a missing container, a bad format, ps output without PID', async () => {
    const missing = sb.rt(['ps', sb.id('missing')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/container does not exist/);
    const { id } = await withChildren(0);
    const bad = sb.rt(['ps', '-f', 'yaml', id]);
    expect([bad.code, bad.stdout]).toEqual([1, '']);
    expect(bad.stderr).toMatch(/invalid format option/);
    const nopid = sb.rt(['ps', id, '-o', 'comm']);
    expect(nopid.code).toBe(1);
    expect(nopid.stderr).toMatch(/couldn't find PID field in ps output/);
    const failing = sb.rt(['ps', id, '--no-such-ps-option']);
    expect(failing.code).toBe(1);
    expect(failing.stderr).toMatch(/exit status 1/);
  });

  it('the pids disappear with the processes', async () => {
    const { id, pid, all } = await withChildren(1);
    const child = all.find((p) => p !== pid)!;
    process.kill(child, 'SIGKILL');
    await waitFor(() => !pidAlive(child), 'the child to die');
    await waitFor(() => JSON.stringify(JSON.parse(sb.rt(['ps', '-f', 'json', id]).stdout)) === JSON.stringify([pid]), 'ps to list init only');
  });
});
