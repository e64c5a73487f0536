/**
 * The lifecycle-level requirements of the runtime-spec that the OCI conformance suite
 * (opencontainers/runtime-tools, validation/) checks from outside the container, where the
 * other files do not check them already: operations without an id, operations on a container
 * in the wrong state having no effect, signals by bare name, the state hooks read on stdin,
 * failing poststart/poststop hooks, unknown config properties, config.json edited after
 * create, resources the runtime did not create, and namespace paths.
 *
 * Where runc 1.1.5 itself does not meet a requirement the case runs only against tsrun.
 */
import * as fs from 'fs';
import * as path from 'path';
import { isRunc, itTsrun, ok, readIf, Spec, useSandbox, waitFor } from '../helpers/runtime';

const sb = useSandbox();

/** A directory bound read-write at /mnt in the container, for what it reports. */
function outDir(name: string): string {
  return sb.mkdir(`out-${sb.id(name)}`);
}

function bindMnt(s: Spec, dir: string): void {
  s.mounts.push({ destination: '/mnt', type: 'bind', source: dir, options: ['rbind'] });
}

/** A host hook script that saves its stdin to DIR/NAME (and appends NAME to DIR/order). */
function saveStdinHook(dir: string, name: string): { path: string; args: string[] } {
  const script = path.join(dir, 'save.sh');
  if (!fs.existsSync(script)) {
    fs.writeFileSync(script, '#!/bin/sh\ncat > "$1/$2"\necho "$2" >> "$1/order"\n', { mode: 0o755 });
  }
  return { path: script, args: ['save.sh', dir, name] };
}

function failingHook(dir: string): { path: string; args: string[] } {
  const script = path.join(dir, 'fail.sh');
  fs.writeFileSync(script, '#!/bin/sh\nexit 3\n', { mode: 0o755 });
  return { path: script, args: ['fail.sh'] };
}

const lines = (file: string) => (readIf(file) ?? '').split('\n').filter(Boolean);

describe('operations need an id', () => {
  it.each([['create'], ['start'], ['state'], ['kill'], ['delete']])('%s without an id fails', (cmd) => {
    const bundle = sb.bundle(['true']);
    const r = sb.rt(cmd === 'create' ? ['create', '--bundle', bundle] : [cmd]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/argument/);
    expect(sb.listIds()).toEqual([]);
  });
});

describe('operations on a container in the wrong state have no effect', () => {
  it('kill of a stopped container fails and its state stays exactly the same', async () => {
    const id = sb.id('killstopped');
    ok(sb.create(id, sb.bundle(['true'])));
    ok(sb.rt(['start', id]));
    await sb.waitStatus(id, 'stopped');
    const before = ok(sb.rt(['state', id])).stdout;
    const r = sb.rt(['kill', id, 'KILL']);
    expect(r.code).not.toBe(0);
    expect(ok(sb.rt(['state', id])).stdout).toBe(before);
    ok(sb.rt(['delete', id]));
  });

  it('start of a stopped container fails and does not run the process again', async () => {
    const id = sb.id('startstopped');
    const out = outDir('startstopped');
    ok(sb.create(id, sb.bundle(['sh', '-c', 'echo ran >> /mnt/log'], (s) => bindMnt(s, out))));
    expect(lines(path.join(out, 'log'))).toEqual([]);
    ok(sb.rt(['start', id]));
    await sb.waitStatus(id, 'stopped');
    expect(lines(path.join(out, 'log'))).toEqual(['ran']);
    const again = sb.rt(['start', id]);
    expect(again.code).not.toBe(0);
    expect(sb.state(id).status).toBe('stopped');
    ok(sb.rt(['delete', id]));
    expect(lines(path.join(out, 'log'))).toEqual(['ran']);
  });
});

describe('kill', () => {
  it.each([['TERM'], ['USR1'], ['USR2']])('delivers %s, given by bare name, to the container process', async (sig) => {
    const id = sb.id(`sig${sig.toLowerCase()}`);
    const out = outDir(`sig${sig.toLowerCase()}`);
    const script = `trap 'echo ${sig} > /mnt/got; exit 0' ${sig}; touch /mnt/ready; while :; do sleep 0.05; done`;
    await sb.startDetached(id, sb.bundle(['sh', '-c', script], (s) => bindMnt(s, out)));
    await waitFor(() => fs.existsSync(path.join(out, 'ready')), 'the trap to be set');
    ok(sb.rt(['kill', id, sig]));
    await sb.waitStatus(id, 'stopped');
    expect(lines(path.join(out, 'got'))).toEqual([sig]);
    ok(sb.rt(['delete', id]));
  });
});

describe('hooks', () => {
  it('prestart, poststart and poststop read the id, bundle, pid and annotations on stdin', async () => {
    const id = sb.id('hkstdin');
    const dir = sb.mkdir(`hooks-${id}`);
    const annotations = { 'org.opencontainers.conformance': 'hook stdin', 'org.example.empty': '' };
    const bundle = sb.bundle(['true'], (s) => {
      s.annotations = annotations;
      s.hooks = {
        prestart: [saveStdinHook(dir, 'prestart')],
        poststart: [saveStdinHook(dir, 'poststart')],
        poststop: [saveStdinHook(dir, 'poststop')],
      };
    });
    ok(sb.create(id, bundle));
    const pid = sb.hostPid(id);
    ok(sb.rt(['start', id]));
    await sb.waitStatus(id, 'stopped');
    ok(sb.rt(['delete', id]));
    expect(lines(path.join(dir, 'order'))).toEqual(['prestart', 'poststart', 'poststop']);
    for (const name of ['prestart', 'poststart', 'poststop']) {
      const st = JSON.parse(fs.readFileSync(path.join(dir, name), 'utf8'));
      expect([name, st.id, st.bundle, st.annotations]).toEqual([name, id, bundle, annotations]);
      expect(typeof st.status).toBe('string');
      expect(st.status).not.toBe('');
      if (name !== 'poststop') expect([name, st.pid]).toEqual([name, pid]);
    }
    // runc 1.1.5 runs poststart during create, before the process runs ("created").
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'poststart'), 'utf8')).status).toBe(isRunc ? 'created' : 'running');
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'poststop'), 'utf8')).status).toBe('stopped');
  });

  // runc 1.1.5 fails `create` when a poststart hook fails (and runs poststart during create).
  itTsrun('a failing poststart hook is a warning: start succeeds, the next poststart hook and the process run', async () => {
    const id = sb.id('hkpoststart');
    const dir = sb.mkdir(`hooks-${id}`);
    const out = outDir('hkpoststart');
    const bundle = sb.bundle(['sh', '-c', 'echo ran > /mnt/log'], (s) => {
      bindMnt(s, out);
      s.hooks = { poststart: [failingHook(dir), saveStdinHook(dir, 'second')] };
    });
    ok(sb.create(id, bundle));
    const r = sb.rt(['start', id]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/level=warning.*poststart.*exit status 3/);
    await sb.waitStatus(id, 'stopped');
    expect(lines(path.join(dir, 'order'))).toEqual(['second']);
    expect(lines(path.join(out, 'log'))).toEqual(['ran']);
    ok(sb.rt(['delete', id]));
  });

  // runc 1.1.5 stops at the first failing poststop hook.
  itTsrun('a failing poststop hook does not keep the next poststop hook from running', async () => {
    const id = sb.id('hkpoststop');
    const dir = sb.mkdir(`hooks-${id}`);
    ok(sb.create(id, sb.bundle(['true'], (s) => (s.hooks = { poststop: [failingHook(dir), saveStdinHook(dir, 'second')] }))));
    ok(sb.rt(['start', id]));
    await sb.waitStatus(id, 'stopped');
    const r = sb.rt(['delete', id]);
    expect(r.code).toBe(0);
    expect(lines(path.join(dir, 'order'))).toEqual(['second']);
    expect(sb.listIds()).not.toContain(id);
  });

  it('a failing prestart hook fails create: the process never runs and the container is gone', async () => {
    const id = sb.id('hkprestart');
    const dir = sb.mkdir(`hooks-${id}`);
    const out = outDir('hkprestart');
    const bundle = sb.bundle(['sh', '-c', 'echo ran > /mnt/log'], (s) => {
      bindMnt(s, out);
      s.hooks = { prestart: [failingHook(dir)] };
    });
    const r = sb.create(id, bundle);
    expect(r.code).not.toBe(0);
    expect(sb.rt(['state', id]).code).not.toBe(0);
    expect(sb.rt(['start', id]).code).not.toBe(0);
    expect(await sb.settledLeftovers()).toEqual([]);
    expect(fs.existsSync(path.join(out, 'log'))).toBe(false);
  });
});

describe('config.json', () => {
  it('an unknown annotation key and an unknown property are accepted', () => {
    const annotated = sb.bundle(['true'], (s) => (s.annotations = { [`org.${sb.token}.unknown`]: '' }));
    ok(sb.run(sb.id('unkann'), annotated));
    const extended = sb.bundle(['true'], (s) => {
      s.unknown = 'unknown';
      s.linux.unknownLinuxProperty = { nested: true };
    });
    ok(sb.run(sb.id('unkprop'), extended));
  });

  // runc 1.1.5 does not check ociVersion.
  itTsrun('an ociVersion that is not a version is rejected before anything is made', async () => {
    const id = sb.id('badver');
    const r = sb.create(id, sb.bundle(['true'], (s) => (s.ociVersion = 'invalid')));
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/ociVersion/);
    expect(await sb.settledLeftovers()).toEqual([]);
  });

  it('replacing config.json after create changes nothing: the process and the poststop hooks are the created ones', async () => {
    const id = sb.id('cfgedit');
    const dir = sb.mkdir(`hooks-${id}`);
    const out = outDir('cfgedit');
    const bundle = sb.bundle(['sh', '-c', 'echo ran > /mnt/log'], (s) => {
      bindMnt(s, out);
      s.hooks = { poststop: [saveStdinHook(dir, 'poststop')] };
    });
    ok(sb.create(id, bundle));
    fs.writeFileSync(path.join(bundle, 'config.json'), JSON.stringify({ ociVersion: '1.0.0' }));
    ok(sb.rt(['start', id]));
    await sb.waitStatus(id, 'stopped');
    ok(sb.rt(['delete', id]));
    expect(lines(path.join(out, 'log'))).toEqual(['ran']);
    expect(lines(path.join(dir, 'order'))).toEqual(['poststop']);
  });
});

const PIDS_V1 = '/sys/fs/cgroup/pids';
const itPidsV1 = fs.existsSync(path.join(PIDS_V1, 'tasks')) ? it : it.skip;

describe('delete', () => {
  itPidsV1('leaves alone a cgroup the container was moved into but the runtime did not create', async () => {
    const id = sb.id('foreigncg');
    const foreign = path.join(PIDS_V1, sb.id('foreign'));
    fs.mkdirSync(foreign);
    try {
      ok(sb.create(id, sb.bundle(['true'])));
      fs.writeFileSync(path.join(foreign, 'tasks'), String(sb.hostPid(id)));
      ok(sb.rt(['start', id]));
      await sb.waitStatus(id, 'stopped');
      ok(sb.rt(['delete', id]));
      expect(fs.existsSync(foreign)).toBe(true);
    } finally {
      sb.rt(['delete', '--force', id]);
      await waitFor(() => {
        try {
          fs.rmdirSync(foreign);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'ENOENT') return false;
        }
        return true;
      }, `${foreign} to be removed`);
    }
  });
});

describe('namespaces', () => {
  // Each namespace given the path of a namespace of another type (the runtime's own).
  it.each([
    ['cgroup', 'ipc'],
    ['ipc', 'mnt'],
    ['mount', 'net'],
    ['network', 'pid'],
    ['pid', 'user'],
    ['user', 'uts'],
    ['uts', 'cgroup'],
  ])('%s: a path to a %s namespace fails create and leaves nothing', async (type, wrong) => {
    const id = sb.id('nswrong');
    const bundle = sb.bundle(['true'], (s) => {
      s.linux.namespaces = s.linux.namespaces.filter((n: Spec) => n.type !== type);
      s.linux.namespaces.push({ type, path: `/proc/self/ns/${wrong}` });
    });
    const r = sb.create(id, bundle);
    expect(r.code).not.toBe(0);
    expect(await sb.settledLeftovers()).toEqual([]);
  });

  it('a UTS namespace joined by path takes the configured hostname', async () => {
    const a = sb.id('utsa');
    await sb.startDetached(a, sb.bundle(['sleep', '1000'], (s) => (s.hostname = 'first')));
    const pidA = sb.hostPid(a);
    const name = `joined-${sb.token}`;
    const b = sb.id('utsb');
    const r = ok(
      sb.run(
        b,
        sb.bundle(['hostname'], (s) => {
          s.hostname = name;
          s.linux.namespaces = s.linux.namespaces.map((n: Spec) =>
            n.type === 'uts' ? { type: 'uts', path: `/proc/${pidA}/ns/uts` } : n,
          );
        }),
      ),
    );
    expect(r.stdout).toBe(`${name}\n`);
    // The name was set in the joined namespace, so the first container has it too.
    expect(ok(sb.rt(['exec', a, 'hostname'])).stdout).toBe(`${name}\n`);
  });
});
