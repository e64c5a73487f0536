/**
 * @tsrun/spec validation: config.json, state, features and image-spec documents, the one-line
 * SpecError messages of readConfigFile, and the generated validators themselves (fresh, lazy,
 * free of ajv's compiler).
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import {
  defaultSpec,
  readConfigFile,
  SpecError,
  validateConfig,
  validateFeatures,
  validateImage,
  validateState,
  type Problem,
} from '../../packages/spec/src';

const SPEC_DIR = path.resolve(__dirname, '../../packages/spec');
const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const spec = (): any => clone(defaultSpec());

describe('validateConfig', () => {
  it('accepts the default specs', () => {
    expect(validateConfig(defaultSpec())).toEqual([]);
    expect(validateConfig(defaultSpec({ rootless: true }))).toEqual([]);
  });

  it('reports a missing process.cwd at /process, naming the property', () => {
    const s = spec();
    delete s.process.cwd;
    expect(validateConfig(s)).toEqual([{ path: '/process', message: 'missing required property "cwd"' }]);
  });

  it('reports the wrong type of process.args at its path', () => {
    const s = spec();
    s.process.args = 'sh -c true';
    expect(validateConfig(s)).toEqual([{ path: '/process/args', message: 'must be array' }]);
    s.process.args = ['sh', 1];
    expect(validateConfig(s)).toEqual([{ path: '/process/args/1', message: 'must be string' }]);
  });

  it('reports an unknown namespace type once, listing the valid ones (no anyOf noise)', () => {
    const s = spec();
    s.linux.namespaces.push({ type: 'net' });
    const problems = validateConfig(s);
    expect(problems).toHaveLength(1);
    expect(problems[0].path).toBe('/linux/namespaces/5/type');
    expect(problems[0].message).toMatch(/^must be one of /);
    for (const ns of ['pid', 'network', 'mount', 'ipc', 'uts', 'user', 'cgroup', 'time']) {
      expect(problems[0].message).toContain(ns);
    }
  });

  it('accepts every 1.x.y ociVersion, including pre-release ones', () => {
    for (const v of ['1.0.0', '1.0.2-dev', '1.1.0', '1.2.1', '1.3.0', '1.0.0-rc5+dev']) {
      expect(validateConfig({ ...spec(), ociVersion: v })).toEqual([]);
    }
  });

  it('rejects other majors and non-versions at /ociVersion', () => {
    expect(validateConfig({ ...spec(), ociVersion: '2.0.0' })).toEqual([
      { path: '/ociVersion', message: 'unsupported runtime-spec version "2.0.0" (supported: 1.x.y)' },
    ]);
    expect(validateConfig({ ...spec(), ociVersion: '0.6.0' })[0].path).toBe('/ociVersion');
    expect(validateConfig({ ...spec(), ociVersion: 'latest' })).toEqual([
      { path: '/ociVersion', message: 'must be a version of the form 1.x.y, got "latest"' },
    ]);
    expect(validateConfig({ ...spec(), ociVersion: 1 })).toEqual([{ path: '/ociVersion', message: 'must be string' }]);
    const s = spec();
    delete s.ociVersion;
    expect(validateConfig(s)).toEqual([{ path: '/', message: 'missing required property "ociVersion"' }]);
  });

  it('reports every problem at once (allErrors), with the root as "/"', () => {
    expect(validateConfig([])).toEqual([{ path: '/', message: 'must be object' }]);
    const s = spec();
    delete s.process.cwd;
    s.root.readonly = 'yes';
    s.process.rlimits[0].type = 'NOFILE';
    s.linux.resources.devices[0].major = 1.5;
    s.mounts.push({ source: 'x' });
    const paths = validateConfig(s).map((p) => p.path);
    expect(paths.sort()).toEqual(
      ['/linux/resources/devices/0/major', '/mounts/7', '/process', '/process/rlimits/0/type', '/root/readonly'].sort(),
    );
  });

  it('checks the linux section deeply (seccomp, resources, uid mappings, time offsets)', () => {
    const s = spec();
    s.linux.seccomp = { defaultAction: 'SCMP_ACT_ERRNO', syscalls: [{ names: [], action: 'SCMP_ACT_ALLOW' }] };
    s.linux.uidMappings = [{ containerID: 0, hostID: -1, size: 1 }];
    s.linux.timeOffsets = { monotonic: { secs: 1, nanosecs: 'x' } };
    s.linux.resources.memory = { limit: '1G' };
    expect(validateConfig(s)).toEqual<Problem[]>([
      { path: '/linux/uidMappings/0/hostID', message: 'must be >= 0' },
      { path: '/linux/resources/memory/limit', message: 'must be integer' },
      { path: '/linux/seccomp/syscalls/0/names', message: 'must NOT have fewer than 1 items' },
      { path: '/linux/timeOffsets/monotonic/nanosecs', message: 'must be integer' },
    ]);
  });

  it('accepts a config using the v1.3.0 additions', () => {
    const s = spec();
    s.process.ioPriority = { class: 'IOPRIO_CLASS_BE', priority: 4 };
    s.process.scheduler = { policy: 'SCHED_BATCH', nice: 5 };
    s.process.execCPUAffinity = { initial: '0', final: '0-3,7' };
    s.linux.namespaces.push({ type: 'time' });
    s.linux.timeOffsets = { boottime: { secs: 10, nanosecs: 0 } };
    s.linux.netDevices = { eth1: { name: 'eth%d' } };
    s.linux.memoryPolicy = { mode: 'MPOL_BIND', nodes: '0', flags: ['MPOL_F_STATIC_NODES'] };
    s.linux.intelRdt = { schemata: ['L3:0=ff'], enableMonitoring: true };
    s.linux.personality = { domain: 'LINUX32' };
    s.linux.resources.unified = { 'memory.high': '1G' };
    s.mounts.push({ destination: '/data', type: 'bind', source: '/srv', options: ['rbind'], uidMappings: [{ containerID: 0, hostID: 1000, size: 1 }] });
    expect(validateConfig(s)).toEqual([]);
  });
});

describe('readConfigFile', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spec-validate-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const thrown = (fn: () => unknown): SpecError => {
    try {
      fn();
    } catch (e) {
      expect(e).toBeInstanceOf(SpecError);
      expect((e as Error).message).not.toContain('\n');
      return e as SpecError;
    }
    throw new Error('did not throw');
  };

  it('returns a valid config', () => {
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(defaultSpec()));
    expect(readConfigFile(path.join(dir, 'config.json'))).toEqual(defaultSpec());
  });

  it('says which bundle has no config.json', () => {
    const file = path.join(dir, 'config.json');
    const e = thrown(() => readConfigFile(file));
    expect(e.kind).toBe('not-found');
    expect(e.message).toBe(`config.json not found in bundle ${dir}: ${file} does not exist`);
    expect(thrown(() => readConfigFile(path.join(dir, 'nope', 'config.json'))).message).toBe(
      `config.json not found in bundle ${path.join(dir, 'nope')}: the bundle directory does not exist`,
    );
  });

  it('gives a line and column for invalid JSON', () => {
    const file = path.join(dir, 'config.json');
    fs.writeFileSync(file, '{\n  "ociVersion": "1.3.0",\n  "process": {"cwd": "/",}\n}\n');
    const e = thrown(() => readConfigFile(file));
    expect(e.kind).toBe('invalid-json');
    expect(e.message).toBe(`invalid JSON in ${file}: line 3 column 26: trailing comma before '}'`);
    fs.writeFileSync(file, '');
    expect(thrown(() => readConfigFile(file)).message).toMatch(/^invalid JSON in .*: line 1 column 1: unexpected end of input/);
    fs.writeFileSync(file, '{"a": }');
    expect(thrown(() => readConfigFile(file)).message).toBe(`invalid JSON in ${file}: line 1 column 7: unexpected '}', expected a value`);
  });

  it('lists every schema problem on one line', () => {
    const file = path.join(dir, 'config.json');
    const s = spec();
    delete s.process.cwd;
    s.process.args = 'sh';
    s.ociVersion = '2.0.0';
    fs.writeFileSync(file, JSON.stringify(s, null, 2));
    const e = thrown(() => readConfigFile(file));
    expect(e.kind).toBe('invalid-config');
    expect(e.problems).toHaveLength(3);
    expect(e.message).toBe(
      `invalid config ${file}: /ociVersion: unsupported runtime-spec version "2.0.0" (supported: 1.x.y); ` +
        '/process: missing required property "cwd"; /process/args: must be array',
    );
  });
});

describe('validateState / validateFeatures', () => {
  const state = { ociVersion: '1.3.0', id: 'c1', status: 'running', pid: 42, bundle: '/b', annotations: {} };

  it('accepts states, including runc\'s "paused"', () => {
    expect(validateState(state)).toEqual([]);
    expect(validateState({ ...state, status: 'paused' })).toEqual([]);
    expect(validateState({ ...state, status: 'gone' })[0].path).toBe('/status');
    expect(validateState({ ...state, bundle: undefined })).toEqual([{ path: '/', message: 'missing required property "bundle"' }]);
  });

  it('accepts a features document', () => {
    const features = {
      ociVersionMin: '1.0.0',
      ociVersionMax: '1.3.0',
      hooks: ['prestart', 'createRuntime'],
      mountOptions: ['ro', 'rbind'],
      linux: {
        namespaces: ['pid', 'time'],
        capabilities: ['CAP_KILL'],
        cgroup: { v1: true, v2: true },
        seccomp: { enabled: true, actions: ['SCMP_ACT_ALLOW'] },
        mountExtensions: { idmap: { enabled: true } },
      },
    };
    expect(validateFeatures(features)).toEqual([]);
    expect(validateFeatures({ ...features, linux: { namespaces: ['bogus'] } })[0].path).toBe('/linux/namespaces/0');
  });
});

describe('validateImage', () => {
  const hex = (n: number) => 'a'.repeat(n);
  const desc = (mediaType: string, digest = `sha256:${hex(64)}`) => ({ mediaType, digest, size: 1234 });
  const manifest = () => ({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: desc('application/vnd.oci.image.config.v1+json'),
    layers: [desc('application/vnd.oci.image.layer.v1.tar+gzip')],
    annotations: { 'org.opencontainers.image.created': '2024-01-01T00:00:00Z' },
  });

  it('accepts a valid manifest, index, config, layout and descriptor', () => {
    expect(validateImage('manifest', manifest())).toEqual([]);
    const index = {
      schemaVersion: 2,
      manifests: [{ ...desc('application/vnd.oci.image.manifest.v1+json'), platform: { architecture: 'amd64', os: 'linux' } }],
    };
    expect(validateImage('index', index)).toEqual([]);
    const config = {
      created: '2024-05-01T10:20:30.123456789Z',
      architecture: 'amd64',
      os: 'linux',
      config: { Env: ['PATH=/bin'], Cmd: ['sh'], Entrypoint: null, Labels: null, ExposedPorts: { '80/tcp': {} } },
      rootfs: { type: 'layers', diff_ids: [`sha256:${hex(64)}`] },
      history: [{ created_by: 'ADD rootfs.tar /', empty_layer: false }],
    };
    expect(validateImage('config', config)).toEqual([]);
    expect(validateImage('layout', { imageLayoutVersion: '1.0.0' })).toEqual([]);
    expect(validateImage('descriptor', desc('application/vnd.oci.image.manifest.v1+json', `sha512:${hex(128)}`))).toEqual([]);
  });

  it('rejects digests of the wrong length for their algorithm', () => {
    const m = manifest();
    m.layers[0].digest = `sha256:${hex(63)}`;
    expect(validateImage('manifest', m)).toEqual([
      { path: '/layers/0/digest', message: 'sha256 digest must have 64 hex characters, got 63' },
    ]);
    expect(validateImage('descriptor', desc('a/b', `sha512:${hex(64)}`))).toEqual([
      { path: '/digest', message: 'sha512 digest must have 128 hex characters, got 64' },
    ]);
    expect(validateImage('descriptor', desc('a/b', `sha256:${'A'.repeat(64)}`))).toEqual([
      { path: '/digest', message: 'sha256 digest must be lowercase hex' },
    ]);
    // Unregistered algorithms are not length-checked; a malformed digest is the schema's problem.
    expect(validateImage('descriptor', desc('a/b', 'blake3:abc'))).toEqual([]);
    expect(validateImage('descriptor', desc('a/b', 'nocolon'))[0].path).toBe('/digest');
  });

  it('checks diff_ids and collapses nullable fields into readable problems', () => {
    const config = {
      architecture: 'amd64',
      os: 'linux',
      config: { Cmd: 'sh', Entrypoint: ['sh', 1] },
      rootfs: { type: 'layers', diff_ids: ['sha256:abc'] },
    };
    expect(validateImage('config', config)).toEqual([
      { path: '/config/Entrypoint/1', message: 'must be string' },
      { path: '/config/Cmd', message: 'must be array or null' },
      { path: '/rootfs/diff_ids/0', message: 'sha256 digest must have 64 hex characters, got 3' },
    ]);
  });

  it('reports missing fields of a manifest', () => {
    expect(validateImage('manifest', { schemaVersion: 2, config: desc('a/b'), layers: [] })).toEqual([
      { path: '/layers', message: 'must NOT have fewer than 1 items' },
    ]);
    expect(validateImage('manifest', { schemaVersion: 1 })).toEqual([
      { path: '/', message: 'missing required property "config"' },
      { path: '/', message: 'missing required property "layers"' },
      { path: '/schemaVersion', message: 'must be >= 2' },
    ]);
  });
});

describe('generated validators', () => {
  it('are up to date with the schemas and the generator (else run: npm run gen -w @tsrun/spec)', () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const gen = require(path.join(SPEC_DIR, 'scripts/gen-validators.js')) as { expectedHashes(): Record<string, string> };
    for (const [file, hash] of Object.entries(gen.expectedHashes())) {
      const text = fs.readFileSync(path.join(SPEC_DIR, 'generated', file), 'utf8');
      expect(`${file}: ${/inputs-hash: (\w+)/.exec(text)?.[1]}`).toBe(`${file}: ${hash}`);
    }
  });

  it('need nothing from ajv at run time but its small runtime helpers', () => {
    for (const file of fs.readdirSync(path.join(SPEC_DIR, 'generated'))) {
      const text = fs.readFileSync(path.join(SPEC_DIR, 'generated', file), 'utf8');
      for (const [, mod] of text.matchAll(/require\(\s*["']([^"']+)["']\s*\)/g)) {
        expect(mod).toMatch(/^ajv\/dist\/runtime\//);
      }
    }
  });

  it('are loaded only when a validate function is first called, and never load ajv', () => {
    jest.isolateModules(() => {
      const loaded: string[] = [];
      const spy = (name: string, actual: () => unknown) => () => {
        loaded.push(name);
        return actual();
      };
      const gen = path.join(SPEC_DIR, 'generated/runtime-config.js');
      jest.doMock(gen, spy('runtime-config', () => jest.requireActual(gen)));
      jest.doMock('ajv', spy('ajv', () => jest.requireActual('ajv')));
      jest.doMock('ajv-draft-04', spy('ajv-draft-04', () => jest.requireActual('ajv-draft-04')));
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const index = require('../../packages/spec/src') as typeof import('../../packages/spec/src');
      index.defaultSpec();
      expect(loaded).toEqual([]);
      expect(index.validateConfig(index.defaultSpec())).toEqual([]);
      expect(loaded).toEqual(['runtime-config']);
    });
  });
});
