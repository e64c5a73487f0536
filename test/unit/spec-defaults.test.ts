/**
 * @tsrun/spec defaults: defaultSpec() must be what `runc spec` writes (apart from ociVersion
 * and linux.seccomp, which runc leaves out), and specJSON() must format it the way runc does,
 * byte for byte.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { defaultSpec, OCI_VERSION, Spec, specJSON, validateConfig } from '../../packages/spec/src';

/** runc on PATH, or in the sbin directories a non-root PATH often lacks; null if absent. */
function findRunc(): string | null {
  const dirs = [...(process.env.PATH ?? '').split(':'), '/usr/local/sbin', '/usr/sbin', '/sbin'];
  for (const dir of dirs) {
    const file = dir && path.join(dir, 'runc');
    if (file && fs.existsSync(file)) return file;
  }
  return null;
}
const RUNC = findRunc();

/** The raw bytes of `runc spec [--rootless]`. */
function runcSpec(rootless: boolean): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'runc-spec-'));
  try {
    const r = spawnSync(RUNC!, ['spec', ...(rootless ? ['--rootless'] : [])], { cwd: dir, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`runc spec failed: ${r.stderr}`);
    return fs.readFileSync(path.join(dir, 'config.json'), 'utf8');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** defaultSpec() without what runc does not write: its seccomp profile. */
function withoutSeccomp(opts: { rootless?: boolean }): Spec {
  const s = defaultSpec(opts);
  expect(s.linux?.seccomp?.defaultAction).toBe('SCMP_ACT_ERRNO');
  delete s.linux!.seccomp;
  return s;
}

/** Skipped (with the reason in its name) when runc is not installed. */
const withRunc = RUNC ? it : it.skip;
const needsRunc = (name: string) => (RUNC ? name : `${name} [SKIPPED: runc not found on PATH]`);

describe('defaultSpec', () => {
  it('is a valid config at our spec version', () => {
    expect(defaultSpec().ociVersion).toBe('1.3.0');
    expect(OCI_VERSION).toBe('1.3.0');
    expect(validateConfig(defaultSpec())).toEqual([]);
    expect(validateConfig(defaultSpec({ rootless: true }))).toEqual([]);
  });

  for (const rootless of [false, true]) {
    const flag = rootless ? ' --rootless' : '';

    withRunc(needsRunc(`deep-equals \`runc spec${flag}\` apart from ociVersion and linux.seccomp`), () => {
      const runc = JSON.parse(runcSpec(rootless));
      expect(withoutSeccomp({ rootless })).toEqual({ ...runc, ociVersion: '1.3.0' });
    });

    withRunc(needsRunc(`specJSON() writes the same bytes as \`runc spec${flag}\` apart from ociVersion and linux.seccomp`), () => {
      const raw = runcSpec(rootless);
      const version = JSON.parse(raw).ociVersion as string;
      expect(specJSON(withoutSeccomp({ rootless }))).toBe(raw.replace(`"ociVersion": "${version}"`, '"ociVersion": "1.3.0"'));
    });
  }

  it('has what runc puts in it even without runc to compare with', () => {
    const s = defaultSpec();
    expect(s.process?.args).toEqual(['sh']);
    expect(s.process?.terminal).toBe(true);
    expect(s.process?.capabilities?.inheritable).toBeUndefined();
    expect(s.linux?.namespaces?.map((n) => n.type)).toEqual(['pid', 'network', 'ipc', 'uts', 'mount']);
    expect(s.linux?.resources).toEqual({ devices: [{ allow: false, access: 'rwm' }] });
    expect(s.mounts?.find((m) => m.destination === '/dev/pts')?.options).toContain('gid=5');
  });

  it('--rootless: user namespace mapping the caller, no network namespace, no cgroup resources, /sys bound', () => {
    const s = defaultSpec({ rootless: true });
    expect(s.linux?.namespaces?.map((n) => n.type)).toEqual(['pid', 'ipc', 'uts', 'mount', 'user']);
    expect(s.linux?.uidMappings).toEqual([{ containerID: 0, hostID: process.geteuid!(), size: 1 }]);
    expect(s.linux?.gidMappings).toEqual([{ containerID: 0, hostID: process.getegid!(), size: 1 }]);
    expect(s.linux?.resources).toBeUndefined();
    expect(s.mounts?.find((m) => m.destination === '/sys')).toEqual({
      destination: '/sys',
      type: 'none',
      source: '/sys',
      options: ['rbind', 'nosuid', 'noexec', 'nodev', 'ro'],
    });
    expect(s.mounts?.find((m) => m.destination === '/dev/pts')?.options).not.toContain('gid=5');
  });

  it('returns a fresh object every time', () => {
    const a = defaultSpec();
    a.process!.args!.push('-c');
    a.mounts!.pop();
    expect(defaultSpec()).toEqual(defaultSpec());
    expect(defaultSpec().process?.args).toEqual(['sh']);
    expect(defaultSpec().mounts).toHaveLength(7);
  });
});

describe('specJSON', () => {
  it('is tab-indented with no trailing newline', () => {
    const text = specJSON(defaultSpec());
    expect(text.startsWith('{\n\t"ociVersion": "1.3.0",\n\t"process": {\n\t\t"terminal": true,')).toBe(true);
    expect(text.endsWith('\n\t}\n}')).toBe(true);
    expect(JSON.parse(text)).toEqual(defaultSpec());
  });

  it("escapes like Go's encoding/json", () => {
    const doc = { s: 'a<b>&c\u2028\b\f\\b\n' };
    const text = specJSON(doc);
    expect(text).toBe('{\n\t"s": "a\\u003cb\\u003e\\u0026c\\u2028\\u0008\\u000c\\\\b\\n"\n}');
    expect(JSON.parse(text)).toEqual(doc);
    expect(specJSON({ a: [], o: {} })).toBe('{\n\t"a": [],\n\t"o": {}\n}');
  });
});
