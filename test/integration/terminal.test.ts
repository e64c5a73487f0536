/**
 * Terminals: `process.terminal` with a console socket (the pty master is sent over it with
 * SCM_RIGHTS, as conmon and the containerd shim expect), tsrun's own relay of a terminal in
 * foreground `run`/`exec`, consoleSize, runc's errors, and the fds passed with
 * --preserve-fds and systemd's LISTEN_FDS.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { isRunc, ok, RUNTIME, Spec, useSandbox, waitFor } from '../helpers/runtime';
import { startReceiver } from '../helpers/socket-receiver';

const sb = useSandbox();
const RECEIVER = path.join(__dirname, '../helpers/console-receiver.py');
const PTY_RUN = path.join(__dirname, '../helpers/pty-run.py');
let sockets = 0;

interface Received {
  /** What came with the fd: the payload, how many fds, whether it is a terminal. */
  meta: { name: string; fds: number; isatty: boolean };
  /** Everything the pty printed until its last slave closed (CR LF line ends). */
  output: string;
}

/** A console socket served by console-receiver.py, as conmon would serve it. */
async function consoleSocket(input?: string): Promise<{ sock: string; received: () => Promise<Received> }> {
  const r = await startReceiver(RECEIVER, sb.path(`console-${++sockets}.sock`), input !== undefined ? [input] : []);
  return {
    sock: r.sock,
    received: async () => {
      const lines = (await r.output()).split('\n');
      return { meta: JSON.parse(lines[1]), output: lines.slice(2).join('\n') };
    },
  };
}

/** Lines of pty output, without the CRs the terminal adds. */
function lines(output: string): string[] {
  return output.replace(/\r/g, '').split('\n').filter(Boolean);
}

/** session id and controlling tty number of the shell that prints them. */
const SESSION = 'read -r _ _ _ _ _ sess tty _ < /proc/$$/stat; echo "session=$sess self=$$ tty=$tty"';

function terminalBundle(script: string, edit?: (s: Spec) => void): string {
  return sb.bundle(['sh', '-c', script], (s) => {
    s.process.terminal = true;
    edit?.(s);
  });
}

describe('console socket', () => {
  it('create sends the pty master; it is init\'s stdio and controlling terminal, with consoleSize', async () => {
    const cs = await consoleSocket('hello\n');
    const id = sb.id('tty');
    const bundle = terminalBundle(`tty; stty size; ${SESSION}; read x; echo "got $x"`, (s) => {
      s.process.consoleSize = { height: 21, width: 55 };
    });
    ok(sb.create(id, bundle, { extra: ['--console-socket', cs.sock] }));
    ok(sb.rt(['start', id]));
    const got = await cs.received();
    // runc sends the master's file name along with it.
    expect(got.meta).toEqual({ name: '/dev/ptmx', fds: 1, isatty: true });
    const out = lines(got.output);
    expect(out).toContain('/dev/pts/0');
    expect(out).toContain('21 55');
    // pid 1 leads its session, and /dev/pts/0 (major 136, minor 0) is its terminal.
    expect(out).toContain(`session=1 self=1 tty=${136 << 8}`);
    expect(out).toContain('got hello');
    await sb.waitStatus(id, 'stopped');
    ok(sb.rt(['delete', id]));
  });

  it('run --detach with a console socket', async () => {
    const cs = await consoleSocket();
    const id = sb.id('tty');
    ok(sb.run(id, terminalBundle('tty; exit 3'), { extra: ['--detach', '--console-socket', cs.sock] }));
    const got = await cs.received();
    expect(lines(got.output)).toEqual(['/dev/pts/0']);
    await sb.waitStatus(id, 'stopped');
    ok(sb.rt(['delete', id]));
  });

  it('exec --tty --detach with a console socket: its own pty and session', async () => {
    const id = sb.id('exec');
    await sb.startDetached(id, sb.bundle(['sleep', '1000']));
    const cs = await consoleSocket('typed\n');
    const pidFile = sb.path('exec.pid');
    // The sleep keeps the process alive while its pid file is checked against /proc (the typed
    // input waits in the pty meanwhile).
    ok(sb.rt(['exec', '--tty', '--detach', '--console-socket', cs.sock, '--pid-file', pidFile, id,
      'sh', '-c', `tty; ${SESSION}; sleep 1; read x; echo "got $x"`]));
    const nspid = /^NSpid:\s+.*\s(\d+)$/m.exec(fs.readFileSync(`/proc/${fs.readFileSync(pidFile, 'utf8')}/status`, 'utf8'))?.[1];
    const got = await cs.received();
    expect(got.meta.isatty).toBe(true);
    const out = lines(got.output);
    expect(out).toContain('/dev/pts/0');
    expect(out).toContain(`session=${nspid} self=${nspid} tty=${136 << 8}`);
    expect(out).toContain('got typed');
  });

  it('exec -p with terminal and consoleSize', async () => {
    const id = sb.id('exec');
    await sb.startDetached(id, sb.bundle(['sleep', '1000']));
    const cs = await consoleSocket();
    const file = sb.writeFile('process.json', JSON.stringify({
      terminal: true,
      consoleSize: { height: 40, width: 100 },
      args: ['sh', '-c', 'stty size; tty'],
      env: ['PATH=/bin'],
      cwd: '/',
    }));
    ok(sb.rt(['exec', '-p', file, '--detach', '--console-socket', cs.sock, id]));
    expect(lines((await cs.received()).output)).toEqual(['40 100', '/dev/pts/0']);
  });
});

describe('foreground terminal (no console socket)', () => {
  /** The runtime run on a terminal of rows x cols, as from a user's shell (`when`: pty-run.py actions). */
  function onTerminal(rows: number, cols: number, args: string[], when: string[] = []) {
    return spawnSync('python3', [PTY_RUN, String(rows), String(cols), ...when, RUNTIME, '--root', sb.root, ...args], {
      encoding: 'utf8',
      timeout: 30000,
    });
  }

  it('run relays the container pty to our terminal, with our window size', () => {
    const id = sb.id('fg');
    // tsrun sizes the pty before the container starts; runc only after, so there the script
    // waits for the size to arrive.
    // (busybox's stty fails on a 0x0 terminal.)
    const wait = isRunc ? 'until stty size >/dev/null 2>&1; do sleep 0.01; done; ' : '';
    const r = onTerminal(33, 77, ['run', '--bundle', terminalBundle(`${wait}tty; stty size; exit 5`), id]);
    expect(lines(r.stdout)).toEqual(['/dev/pts/0', '33 77']);
    expect(r.status).toBe(5);
  });

  it('exec -t relays too', async () => {
    const id = sb.id('fg');
    await sb.startDetached(id, sb.bundle(['sleep', '1000']));
    const r = onTerminal(12, 34, ['exec', '-t', id, 'sh', '-c', 'tty; stty size; test -t 0 && echo stdin-is-tty']);
    expect(lines(r.stdout)).toEqual(['/dev/pts/0', '12 34', 'stdin-is-tty']);
    expect(r.status).toBe(0);
  });

  it('a change of our window size reaches the container (SIGWINCH)', () => {
    const id = sb.id('fg');
    const script = 'trap "stty size; exit 0" WINCH; echo ready; while :; do sleep 0.05; done';
    const r = onTerminal(10, 20, ['run', '--bundle', terminalBundle(script), id], ['--when', 'ready', '--resize', '44', '88']);
    expect(lines(r.stdout)).toEqual(['ready', '44 88']);
    expect(r.status).toBe(0);
  });

  it('our terminal is raw while the process runs: keys go through once, output unchanged', async () => {
    const id = sb.id('fg');
    await sb.startDetached(id, sb.bundle(['sleep', '1000']));
    const r = onTerminal(10, 20, ['exec', '-t', id, 'sh', '-c', 'echo ready; read x; echo "got $x"'], ['--when', 'ready', '--type', 'abc\n']);
    // Only the container's pty echoes "abc", and its CR LF line ends arrive as they are. (runc
    // makes our terminal raw only once the process runs: its first line may still get our
    // terminal's own CR, "ready\r\r\n"; the keys, typed after it, are what this is about.)
    // JSON: a difference in CRs shows in the failure.
    expect(JSON.stringify(r.stdout.replace(/^ready\r+\n/, 'ready\r\n'))).toBe(JSON.stringify('ready\r\nabc\r\ngot abc\r\n'));
    expect(r.status).toBe(0);
  });

  it('our terminal settings come back afterwards', async () => {
    const id = sb.id('fg');
    await sb.startDetached(id, sb.bundle(['sleep', '1000']));
    const r = spawnSync('python3', [PTY_RUN, '10', '20', 'sh', '-c', '"$0" --root "$1" exec -t "$2" true; stty -a', RUNTIME, sb.root, id], {
      encoding: 'utf8',
      timeout: 30000,
    });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/(^|\s)icanon(\s|$)/m);
    expect(r.stdout).toMatch(/(^|\s)echo(\s|$)/m);
  });
});

describe('errors', () => {
  // runc puts "runc create failed: " in front.
  const DETACH_TTY = /(^|: )cannot allocate tty if \w+ will detach without setting console socket$/;
  const NO_TTY = /(^|: )cannot use console socket if \w+ will not detach or allocate tty$/;

  /** One error line (logrus text form), status 1, and no container left. */
  function expectError(r: ReturnType<typeof sb.rt>, id: string, msg: RegExp): void {
    expect(r.code).toBe(1);
    const m = /^time="[^"]+" level=error msg="(.*)"\n$/.exec(r.stderr);
    expect(m?.[1]).toMatch(msg);
    expect(sb.rt(['state', id]).code).not.toBe(0);
  }

  it('a terminal without a console socket in create and run -d', () => {
    const bundle = terminalBundle('true');
    const a = sb.id('err');
    expectError(sb.create(a, bundle), a, DETACH_TTY);
    const b = sb.id('err');
    expectError(sb.run(b, bundle, { extra: ['-d'] }), b, DETACH_TTY);
  });

  it('a console socket without a terminal, or in the foreground', async () => {
    const sock = sb.path('never.sock');
    const a = sb.id('err');
    expectError(sb.create(a, sb.bundle(['true']), { extra: ['--console-socket', sock] }), a, NO_TTY);
    const b = sb.id('err');
    expectError(sb.run(b, terminalBundle('true'), { extra: ['--console-socket', sock] }), b, NO_TTY);
  });

  it('a console socket nobody listens on', () => {
    const id = sb.id('err');
    const r = sb.create(id, terminalBundle('true'), { extra: ['--console-socket', sb.path('nobody.sock')] });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/no such file or directory/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(sb.rt(['state', id]).code).not.toBe(0);
  });
});

describe('passed fds', () => {
  /** The runtime started by a shell with fd 3 open on `file` and the given environment. */
  function withFd3(file: string, env: string, args: string[]) {
    return spawnSync('sh', ['-c', `${env} exec "$@" 3<"${file}"`, 'sh', RUNTIME, '--root', sb.root, ...args], {
      encoding: 'utf8',
      timeout: 30000,
    });
  }

  it('run --preserve-fds 1 keeps fd 3 open for the container', () => {
    const file = sb.writeFile('data.txt', 'preserved\n');
    const r = withFd3(file, '', ['run', '--preserve-fds', '1', '--bundle', sb.bundle(['sh', '-c', 'cat <&3']), sb.id('fd')]);
    expect([r.status, r.stdout, r.stderr]).toEqual([0, 'preserved\n', '']);
  });

  it('without --preserve-fds the container gets only stdio', () => {
    const file = sb.writeFile('data.txt', 'preserved\n');
    const r = withFd3(file, '', ['run', '--bundle', sb.bundle(['sh', '-c', 'ls /proc/self/fd | sort -n | tr "\\n" " "']), sb.id('fd')]);
    expect([r.status, r.stdout]).toEqual([0, '0 1 2 3 ']);
  });

  it('LISTEN_FDS for this runtime (LISTEN_PID is its pid) passes the fds and tells the container', () => {
    const file = sb.writeFile('data.txt', 'socket-activated\n');
    // `exec` keeps the shell's pid: LISTEN_PID=$$ names the runtime.
    const r = withFd3(file, 'LISTEN_PID=$$ LISTEN_FDS=1', ['run', '--bundle', sb.bundle(['sh', '-c', 'cat <&3; echo "$LISTEN_FDS $LISTEN_PID"']), sb.id('fd')]);
    expect([r.status, r.stdout, r.stderr]).toEqual([0, 'socket-activated\n1 1\n', '']);
  });

  it('LISTEN_FDS meant for another process is ignored', () => {
    const file = sb.writeFile('data.txt', 'not for us\n');
    const r = withFd3(file, 'LISTEN_PID=1 LISTEN_FDS=1', ['run', '--bundle', sb.bundle(['sh', '-c', 'cat <&3 2>/dev/null || echo "no fd 3"; echo "[$LISTEN_FDS]"']), sb.id('fd')]);
    expect([r.status, r.stdout]).toEqual([0, 'no fd 3\n[]\n']);
  });
});
