/**
 * fd hygiene: the container's process gets exactly fds 0–2, plus the fds passed with
 * --preserve-fds (or by socket activation, LISTEN_FDS). None of the runtime's own fds (Node's
 * epoll and eventfd, libuv's pipes, the state dir lock, cgroup dirs, the sync socket, the
 * exec fifo) may reach it: each of them could point at the host (CVE-2024-21626).
 *
 * The fd table is read from the host (/proc/PID/fd of the container's process) and from
 * inside (`ls -l /proc/self/fd`), for run, create+start and exec, with and without preserved
 * fds that the test really passes.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import { ok, pidAlive, readlinkIf, Result, RUNTIME, useSandbox, waitFor } from '../helpers/runtime';

const sb = useSandbox();

/** fd number -> link target, as the host sees the process's fd table. */
function hostFds(pid: number): Map<number, string> {
  const out = new Map<number, string>();
  for (const e of fs.readdirSync(`/proc/${pid}/fd`)) out.set(Number(e), readlinkIf(`/proc/${pid}/fd/${e}`) ?? '?');
  return out;
}

/**
 * fd number -> target from `ls -l /proc/self/fd` output, without the directory fd ls itself
 * opened to list /proc/self/fd.
 */
function lsFds(text: string): Map<number, string> {
  const out = new Map<number, string>();
  for (const line of text.split('\n')) {
    const m = / (\d+) -> (.*)$/.exec(line);
    if (!m) continue;
    if (/^\/proc\/\d+\/fd$/.test(m[2])) continue; // ls's own
    out.set(Number(m[1]), m[2]);
  }
  return out;
}

function keys(m: Map<number, string>): number[] {
  return [...m.keys()].sort((a, b) => a - b);
}

/** Host fds to pass: a file in the sandbox and the read end of a pipe. */
function extraFds(): { fds: number[]; file: string; close(): void } {
  const file = sb.writeFile(`passed-${Date.now()}.txt`, 'passed\n');
  const f = fs.openSync(file, 'r');
  // A fifo opened read-write stands in for a pipe (opening it does not block).
  const fifo = sb.path(`fifo-${Date.now()}`);
  spawnSync('mkfifo', [fifo]);
  const r = fs.openSync(fifo, fs.constants.O_RDWR);
  return {
    fds: [f, r],
    file,
    close: () => {
      fs.closeSync(f);
      fs.closeSync(r);
    },
  };
}

/** The runtime with `extra` host fds as its fds 3, 4, ... (stdout/stderr to files). */
function rtWithFds(args: string[], extra: number[], env: NodeJS.ProcessEnv = process.env): Result {
  const out = sb.path(`fdout-${Date.now()}-${Math.random()}`);
  const err = out + '.err';
  const fo = fs.openSync(out, 'w');
  const fe = fs.openSync(err, 'w');
  const argv = ['--root', sb.root, ...args];
  let r;
  try {
    r = spawnSync(RUNTIME, argv, { stdio: ['ignore', fo, fe, ...extra], timeout: 30000, killSignal: 'SIGKILL', env, cwd: sb.dir });
  } finally {
    fs.closeSync(fo);
    fs.closeSync(fe);
  }
  return {
    code: r.status ?? -1,
    signal: r.signal,
    stdout: fs.readFileSync(out, 'utf8'),
    stderr: fs.readFileSync(err, 'utf8'),
    timedOut: false,
    argv: [RUNTIME, ...argv],
  };
}

describe('the container process gets fds 0-2 only', () => {
  it('run: ls -l /proc/self/fd shows 0, 1, 2', () => {
    const r = ok(sb.run(sb.id('fdrun'), sb.bundle(['ls', '-l', '/proc/self/fd'])));
    expect(keys(lsFds(r.stdout))).toEqual([0, 1, 2]);
  });

  it('create + start: the host sees fds 0, 1, 2 in the running process, none of them into the state dir or a cgroup', async () => {
    const id = sb.id('fdstart');
    const pid = await sb.startDetached(id, sb.bundle(['sleep', '1000']));
    const fds = hostFds(pid);
    expect(keys(fds)).toEqual([0, 1, 2]);
    for (const t of fds.values()) {
      expect(t).not.toContain(sb.root);
      expect(t).not.toContain('cgroup');
    }
    ok(sb.rt(['delete', '--force', id]));
  });

  it('a host directory fd the runtime inherited (not close-on-exec) reaches neither the waiting init nor the process', async () => {
    // The CVE-2024-21626 setting: whoever starts the runtime leaks an fd of a host directory.
    const hostDir = fs.openSync(sb.dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
    const id = sb.id('fdstray');
    try {
      // fd 3 of the runtime, inherited without close-on-exec; not preserved.
      ok(rtWithFds(['create', '--bundle', sb.bundle(['sleep', '1000']), id], [hostDir]));
    } finally {
      fs.closeSync(hostDir);
    }
    const pid = sb.hostPid(id);
    // While init waits for start, every fd it holds but stdio is close-on-exec: nothing else
    // survives the exec, nor reaches a createContainer/startContainer hook it runs.
    for (const [fd, target] of hostFds(pid)) {
      if (fd <= 2) continue;
      const info = fs.readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8');
      const flags = parseInt(/flags:\s+(\d+)/.exec(info)![1], 8);
      expect({ fd, target, cloexec: (flags & 0o2000000) !== 0 }).toEqual({ fd, target, cloexec: true });
    }
    ok(sb.rt(['start', id]));
    await waitFor(() => !pidAlive(pid) || readlinkIf(`/proc/${pid}/exe`)?.endsWith('busybox'), 'sleep to run');
    expect(keys(hostFds(pid))).toEqual([0, 1, 2]);

    // The same leak into `exec`: the exec'd process cannot use it to reach the host.
    const leak = fs.openSync(sb.dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
    try {
      const r = ok(rtWithFds(['exec', id, 'sh', '-c', 'ls -l /proc/self/fd; if cd /proc/self/fd/3; then ls; fi'], [leak]));
      expect(keys(lsFds(r.stdout))).toEqual([0, 1, 2]);
      expect(r.stdout).not.toContain('state'); // the sandbox dir's listing
    } finally {
      fs.closeSync(leak);
    }
    ok(sb.rt(['delete', '--force', id]));
  });

  it('exec: the exec\'d process has fds 0, 1, 2 (host view and ls inside)', async () => {
    const id = sb.id('fdexec');
    await sb.startDetached(id, sb.bundle(['sleep', '1000']));
    const inside = ok(sb.rt(['exec', id, 'ls', '-l', '/proc/self/fd']));
    expect(keys(lsFds(inside.stdout))).toEqual([0, 1, 2]);

    const pidFile = sb.path(`exec-${id}.pid`);
    ok(sb.rt(['exec', '-d', '--pid-file', pidFile, id, 'sleep', '1000']));
    const pid = Number(fs.readFileSync(pidFile, 'utf8'));
    await waitFor(() => readlinkIf(`/proc/${pid}/exe`)?.endsWith('busybox'), 'exec\'d sleep to run');
    expect(keys(hostFds(pid))).toEqual([0, 1, 2]);
    ok(sb.rt(['delete', '--force', id]));
  });
});

describe('--preserve-fds passes exactly the fds asked for', () => {
  it('run --preserve-fds 2: fds 3 and 4 are the host file and pipe, nothing else', () => {
    const x = extraFds();
    try {
      const r = ok(rtWithFds(['run', '--preserve-fds', '2', '--bundle', sb.bundle(['ls', '-l', '/proc/self/fd']), sb.id('fdpres')], x.fds));
      const fds = lsFds(r.stdout);
      expect(keys(fds)).toEqual([0, 1, 2, 3, 4]);
      // The passed file is seen by its host path (it is not in the container's mount namespace).
      expect(fds.get(3)).toBe(x.file);
      expect(fds.get(4)).toMatch(/fifo-\d+$/);
    } finally {
      x.close();
    }
  });

  it('run --preserve-fds 1 passes fd 3 only, though the runtime got 3 and 4', () => {
    const x = extraFds();
    try {
      const r = ok(rtWithFds(['run', '--preserve-fds', '1', '--bundle', sb.bundle(['ls', '-l', '/proc/self/fd']), sb.id('fdpres1')], x.fds));
      expect(keys(lsFds(r.stdout))).toEqual([0, 1, 2, 3]);
    } finally {
      x.close();
    }
  });

  it('create --preserve-fds 2 + start: the running process holds 0-4, the passed fds by their host targets', async () => {
    const x = extraFds();
    const id = sb.id('fdcpres');
    try {
      ok(rtWithFds(['create', '--preserve-fds', '2', '--bundle', sb.bundle(['sleep', '1000']), id], x.fds));
    } finally {
      x.close();
    }
    const pid = sb.hostPid(id);
    ok(sb.rt(['start', id]));
    await waitFor(() => !pidAlive(pid) || readlinkIf(`/proc/${pid}/exe`)?.endsWith('busybox'), 'sleep to run');
    const fds = hostFds(pid);
    expect(keys(fds)).toEqual([0, 1, 2, 3, 4]);
    expect(fds.get(3)).toBe(x.file);
    expect(fds.get(4)).toMatch(/fifo-\d+$/);
    ok(sb.rt(['delete', '--force', id]));
  });

  it('exec --preserve-fds 2: the exec\'d process gets 0-4', async () => {
    const id = sb.id('fdepres');
    await sb.startDetached(id, sb.bundle(['sleep', '1000']));
    const x = extraFds();
    try {
      const r = ok(rtWithFds(['exec', '--preserve-fds', '2', id, 'ls', '-l', '/proc/self/fd'], x.fds));
      const fds = lsFds(r.stdout);
      expect(keys(fds)).toEqual([0, 1, 2, 3, 4]);
      expect(fds.get(3)).toBe(x.file);
    } finally {
      x.close();
    }
    ok(sb.rt(['delete', '--force', id]));
  });

  it('socket activation: LISTEN_FDS=1 for the runtime passes fd 3 and sets LISTEN_FDS/LISTEN_PID for the process', () => {
    const x = extraFds();
    try {
      // LISTEN_PID must name the runtime's own pid: a shell exports its $$ and execs the runtime.
      const script = `LISTEN_PID=$$ LISTEN_FDS=1 exec "$0" "$@"`;
      const bundle = sb.bundle(['sh', '-c', 'ls -l /proc/self/fd; echo "LISTEN_FDS=$LISTEN_FDS LISTEN_PID=$LISTEN_PID"']);
      const out = sb.path(`listen-${Date.now()}`);
      const fo = fs.openSync(out, 'w');
      let r;
      try {
        r = spawnSync('sh', ['-c', script, RUNTIME, '--root', sb.root, 'run', '--bundle', bundle, sb.id('fdlisten')], {
          stdio: ['ignore', fo, 'pipe', x.fds[0], x.fds[1]],
          encoding: 'utf8',
          timeout: 30000,
        });
      } finally {
        fs.closeSync(fo);
      }
      // ls cannot readlink the directory fd it has closed by then: its only complaint.
      expect(r.stderr.split('\n').filter((l) => l && !/cannot read link/.test(l))).toEqual([]);
      expect(r.status).toBe(0);
      const text = fs.readFileSync(out, 'utf8');
      // ls runs in a child of sh: its fds are sh's, i.e. the container process's.
      expect(keys(lsFds(text))).toEqual([0, 1, 2, 3]);
      expect(lsFds(text).get(3)).toBe(x.file);
      expect(text).toContain('LISTEN_FDS=1 LISTEN_PID=1');
    } finally {
      x.close();
    }
  });
});
