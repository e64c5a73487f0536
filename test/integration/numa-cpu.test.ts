/**
 * linux.memoryPolicy (the container's NUMA policy, as /proc/PID/numa_maps shows it) and
 * process.execCPUAffinity (where an exec'd process runs: Cpus_allowed_list), with their bad
 * values. runc 1.1.5 has neither: tsrun only.
 */
import * as fs from 'fs';
import { itTsrun, ok, Spec, useSandbox } from '../helpers/runtime';

const sb = useSandbox();
const numa = fs.existsSync('/proc/self/numa_maps');
const itNuma = numa ? itTsrun : it.skip;
const noNuma = numa ? '' : ' [SKIPPED: the kernel has no NUMA support]';

/** The policy of the first mapping in the process's numa_maps ("default", "bind:0", ...). */
const POLICY = ['sh', '-c', 'read -r _ policy _ < /proc/self/numa_maps; echo "$policy"'];

async function refusedAtCreate(edit: (s: Spec) => void, message: RegExp): Promise<void> {
  await sb.expectRefused(sb.create(sb.id('bad'), sb.bundle(['true'], edit)), message);
}

describe('linux.memoryPolicy', () => {
  for (const [mode, shown] of [['MPOL_BIND', 'bind:0'], ['MPOL_INTERLEAVE', 'interleave:0'], ['MPOL_PREFERRED', 'prefer:0']]) {
    itNuma(`${mode} on node 0: init's memory policy is ${shown}${noNuma}`, () => {
      const r = ok(sb.run(sb.id('mpol'), sb.bundle(POLICY, (s: Spec) => {
        s.linux.memoryPolicy = { mode, nodes: '0' };
      })));
      expect(r.stdout.trim()).toBe(shown);
    });
  }

  itNuma(`a process exec'd into the container has the container's policy too${noNuma}`, async () => {
    const id = sb.id('mpol-exec');
    await sb.startDetached(id, sb.bundle(['sleep', '1000'], (s: Spec) => {
      s.linux.memoryPolicy = { mode: 'MPOL_BIND', nodes: '0', flags: ['MPOL_F_STATIC_NODES'] };
    }));
    expect(ok(sb.rt(['exec', id, ...POLICY])).stdout.trim()).toBe('bind=static:0');
    ok(sb.rt(['delete', '--force', id]));
  });

  itNuma(`without one, the policy stays the default${noNuma}`, () => {
    expect(ok(sb.run(sb.id('mpol-none'), sb.bundle(POLICY))).stdout.trim()).toBe('default');
  });

  describe('refused at create with one line, nothing left', () => {
    itTsrun('an unknown mode (the schema knows the modes)', () => refusedAtCreate((s) => {
      s.linux.memoryPolicy = { mode: 'MPOL_SOMETIMES', nodes: '0' };
    }, /\/linux\/memoryPolicy\/mode: must be one of MPOL_DEFAULT, .* \(got .*MPOL_SOMETIMES/));
    itTsrun('a mode that needs nodes, without', () => refusedAtCreate((s) => {
      s.linux.memoryPolicy = { mode: 'MPOL_BIND' };
    }, /linux\.memoryPolicy: MPOL_BIND needs nodes/));
    itTsrun('a malformed node list', () => refusedAtCreate((s) => {
      s.linux.memoryPolicy = { mode: 'MPOL_INTERLEAVE', nodes: '0-x' };
    }, /linux\.memoryPolicy\.nodes: invalid list .{0,2}0-x/));
    itNuma(`a node the machine does not have: the kernel's refusal, at create${noNuma}`, () => refusedAtCreate((s) => {
      s.linux.memoryPolicy = { mode: 'MPOL_BIND', nodes: '1000' };
    }, /set memory policy \(linux\.memoryPolicy\): invalid argument/i));
  });
});

describe('process.execCPUAffinity (exec only)', () => {
  const cpus = fs.readFileSync('/sys/devices/system/cpu/online', 'utf8').trim();
  const twoCpus = /^0-([1-9]\d*)$/.test(cpus);
  const itTwo = twoCpus ? itTsrun : it.skip;
  const one = twoCpus ? '' : ' [SKIPPED: needs CPUs 0 and 1]';
  const ALLOWED = ['sh', '-c', 'grep Cpus_allowed_list /proc/self/status | cut -f2'];

  async function execWith(affinity: { initial?: string; final?: string }): Promise<string> {
    const id = sb.id('aff');
    await sb.startDetached(id, sb.bundle(['sleep', '1000']));
    const proc = JSON.parse(fs.readFileSync(`${sb.state(id).bundle}/config.json`, 'utf8')).process;
    const file = sb.writeFile(`${id}.process.json`, JSON.stringify({ ...proc, args: ALLOWED, execCPUAffinity: affinity }));
    const out = ok(sb.rt(['exec', '--process', file, id])).stdout.trim();
    ok(sb.rt(['delete', '--force', id]));
    return out;
  }

  itTwo(`final: the process runs where it says${one}`, async () => {
    expect(await execWith({ final: '0' })).toBe('0');
  });
  itTwo(`initial alone: the process keeps the CPUs it was cloned on, as the kernel leaves them${one}`, async () => {
    expect(await execWith({ initial: '1' })).toBe('1');
  });
  itTwo(`initial, then final once in the cgroup${one}`, async () => {
    expect(await execWith({ initial: '1', final: '0-1' })).toBe('0-1');
  });
  itTsrun('the container\'s init is not affected (the spec: not applicable to init)', () => {
    const r = ok(sb.run(sb.id('aff-init'), sb.bundle(ALLOWED, (s: Spec) => {
      s.process.execCPUAffinity = { final: '0' };
    })));
    expect(r.stdout.trim()).toBe(cpus);
  });
  itTsrun('a malformed list: exec fails with one line', async () => {
    const id = sb.id('aff-bad');
    await sb.startDetached(id, sb.bundle(['sleep', '1000']));
    const proc = JSON.parse(fs.readFileSync(`${sb.state(id).bundle}/config.json`, 'utf8')).process;
    const file = sb.writeFile(`${id}.bad.json`, JSON.stringify({ ...proc, args: ['true'], execCPUAffinity: { final: '1-0' } }));
    const r = sb.rt(['exec', '--process', file, id]);
    expect(r.code).toBe(255);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/exec failed: process\.execCPUAffinity\.final: invalid range .{0,2}1-0/);
    ok(sb.rt(['delete', '--force', id]));
  });
});
