/**
 * --pidfd-socket on create, run and exec (runc 1.2): the socket receives a pidfd of the
 * container's init, or of the exec'd process, which the receiver (as a manager would) can
 * signal through. runc 1.1.5 has no such flag: tsrun only.
 */
import * as fs from 'fs';
import * as path from 'path';
import { itTsrun, ok, pidAlive, useSandbox, waitFor } from '../helpers/runtime';
import { startReceiver } from '../helpers/socket-receiver';

const sb = useSandbox();
const RECEIVER = path.join(__dirname, '../helpers/pidfd-receiver.py');
let sockets = 0;

interface Received {
  name: string;
  fds: number;
  pid: number | null;
}

/** A pidfd socket served by pidfd-receiver.py; `signal`: what it sends through the pidfd once go() is called. */
async function pidfdSocket(signal?: number): Promise<{ sock: string; go: () => void; received: () => Promise<{ meta: Received; sent: boolean }> }> {
  const sock = sb.path(`pidfd-${++sockets}.sock`);
  const goFile = `${sock}.go`;
  const r = await startReceiver(RECEIVER, sock, signal !== undefined ? [String(signal), goFile] : []);
  return {
    sock,
    go: () => fs.writeFileSync(goFile, ''),
    received: async () => {
      const lines = (await r.output()).trim().split('\n');
      return { meta: JSON.parse(lines[1]), sent: lines[2] === 'sent' };
    },
  };
}

describe('--pidfd-socket', () => {
  itTsrun('create: the socket gets a pidfd of init, and a signal through it stops the container', async () => {
    const s = await pidfdSocket(9);
    const id = sb.id('pidfd');
    ok(sb.create(id, sb.bundle(['sleep', '1000']), { extra: ['--pidfd-socket', s.sock] }));
    const pid = sb.hostPid(id);
    s.go();
    const got = await s.received();
    expect(got).toEqual({ meta: { name: 'pidfd', fds: 1, pid }, sent: true });
    await waitFor(() => !pidAlive(pid), 'init to die of the signal sent through its pidfd');
    expect((await sb.waitStatus(id, 'stopped')).status).toBe('stopped');
    ok(sb.rt(['delete', id]));
  });

  itTsrun('run -d: the pidfd is init\'s', async () => {
    const s = await pidfdSocket();
    const id = sb.id('pidfd-run');
    ok(sb.rt(['run', '-d', '--pidfd-socket', s.sock, '--bundle', sb.bundle(['sleep', '1000']), id]));
    expect((await s.received()).meta).toEqual({ name: 'pidfd', fds: 1, pid: sb.hostPid(id) });
    ok(sb.rt(['delete', '--force', id]));
  });

  itTsrun('exec: the pidfd is the exec\'d process\'s, not init\'s', async () => {
    const id = sb.id('pidfd-exec');
    const init = await sb.startDetached(id, sb.bundle(['sleep', '1000']));
    const s = await pidfdSocket(9);
    const pidFile = sb.path(`${id}.exec.pid`);
    ok(sb.rt(['exec', '-d', '--pid-file', pidFile, '--pidfd-socket', s.sock, id, 'sleep', '1000']));
    const execPid = Number(fs.readFileSync(pidFile, 'utf8'));
    s.go();
    expect(await s.received()).toEqual({ meta: { name: 'pidfd', fds: 1, pid: execPid }, sent: true });
    await waitFor(() => !pidAlive(execPid), 'the exec\'d process to die of the signal');
    expect(pidAlive(init)).toBe(true);
    ok(sb.rt(['delete', '--force', id]));
  });

  itTsrun('a socket nobody listens on: one line, nothing made', async () => {
    const id = sb.id('pidfd-bad');
    const r = sb.create(id, sb.bundle(['true']), { extra: ['--pidfd-socket', sb.path('nobody.sock')] });
    await sb.expectRefused(r, /--pidfd-socket: dial unix .*nobody\.sock: connect: no such file or directory/);
  });
});
