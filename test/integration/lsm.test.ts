/**
 * AppArmor and SELinux settings: process.apparmorProfile, process.selinuxLabel and
 * linux.mountLabel, for create, run and exec. What is checked depends on the host: where the
 * LSM is enabled, the process runs under the profile or label (/proc/self/attr/current);
 * where it is not, asking for one fails before anything is made (tsrun: one line naming the
 * setting; runc 1.1.5 fails too, later and in its own words).
 * The plan itself, for every kind of host, is unit-tested in test/unit/lsm-plan.test.ts.
 */
import * as fs from 'fs';
import { isRunc, ok, readIf, Result, useSandbox } from '../helpers/runtime';

const sb = useSandbox();

const apparmor = readIf('/sys/module/apparmor/parameters/enabled')?.trim() === 'Y' && fs.existsSync('/sys/kernel/security/apparmor');
const selinux = fs.existsSync('/sys/fs/selinux/enforce');
/** A profile loaded on this host ("name (mode)"), if any. */
const loadedProfile = (readIf('/sys/kernel/security/apparmor/profiles') ?? '').split('\n').find((l) => / \((enforce|complain)\)$/.test(l));

function expectRefused(r: Result, tsrunMessage: RegExp, runcMessage: RegExp): void {
  expect(r.code).not.toBe(0);
  if (isRunc) {
    expect(r.stderr).toMatch(runcMessage);
  } else {
    expect(r.stderr).toMatch(tsrunMessage);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  }
  // Nothing left behind: the sandbox's leak checks (state, cgroups, processes, mounts) run after each test.
}

(apparmor ? describe.skip : describe)('a host without AppArmor', () => {
  it.each([['create'], ['run']])('%s with process.apparmorProfile is refused', (cmd) => {
    const id = sb.id('aa');
    const r = sb.rt([cmd, '--bundle', sb.bundle(['true'], (s) => (s.process.apparmorProfile = 'docker-default')), id]);
    expectRefused(r, /apparmor: config provided but apparmor not supported/, /apparmor/);
  });

  it('exec --apparmor is refused, the container goes on', async () => {
    const id = sb.id('aaexec');
    await sb.startDetached(id, sb.bundle(['sleep', '1000']));
    const r = sb.rt(['exec', '--apparmor', 'docker-default', id, 'true']);
    expectRefused(r, /apparmor: config provided but apparmor not supported/, /apparmor/);
    expect(sb.state(id).status).toBe('running');
    ok(sb.rt(['delete', '--force', id]));
  });
});

(apparmor && loadedProfile ? describe : describe.skip)('a host with AppArmor', () => {
  const [name, mode] = (loadedProfile ?? ' ()').split(' ');

  it('the process runs under process.apparmorProfile', () => {
    const r = ok(sb.run(sb.id('aaon'), sb.bundle(['cat', '/proc/self/attr/current'], (s) => (s.process.apparmorProfile = name))));
    expect(r.stdout.trim()).toBe(`${name} ${mode}`);
  });

  it('an exec\'d process gets --apparmor', async () => {
    const id = sb.id('aaonexec');
    await sb.startDetached(id, sb.bundle(['sleep', '1000']));
    const r = ok(sb.rt(['exec', '--apparmor', name, id, 'cat', '/proc/self/attr/current']));
    expect(r.stdout.trim()).toBe(`${name} ${mode}`);
    ok(sb.rt(['delete', '--force', id]));
  });
});

(selinux ? describe.skip : describe)('a host without SELinux', () => {
  it.each([['create'], ['run']])('%s with process.selinuxLabel is refused', (cmd) => {
    const id = sb.id('se');
    const r = sb.rt([cmd, '--bundle', sb.bundle(['true'], (s) => (s.process.selinuxLabel = 'system_u:system_r:container_t:s0')), id]);
    // runc 1.1.5 has the same words.
    expectRefused(r, /selinux label is specified in config, but selinux is disabled or not supported/, /selinux label is specified in config, but selinux is disabled or not supported/);
  });

  it.each([['create'], ['run']])('%s with linux.mountLabel is refused', (cmd) => {
    const id = sb.id('ml');
    const r = sb.rt([cmd, '--bundle', sb.bundle(['true'], (s) => (s.linux.mountLabel = 'system_u:object_r:container_file_t:s0')), id]);
    // runc 1.1.5 adds context= to the mounts anyway and fails on the first with EINVAL.
    expectRefused(r, /mountLabel is specified in config, but selinux is disabled or not supported/, /context=.*invalid argument/);
  });
});

(selinux ? describe : describe.skip)('a host with SELinux', () => {
  // The label a container process gets by default with container-selinux's policy.
  const label = 'system_u:system_r:container_t:s0:c1,c2';
  it('the process runs under process.selinuxLabel, with linux.mountLabel on its mounts', () => {
    const r = ok(
      sb.run(
        sb.id('seon'),
        sb.bundle(['sh', '-c', 'cat /proc/self/attr/current; echo; grep " /dev " /proc/self/mountinfo'], (s) => {
          s.process.selinuxLabel = label;
          s.linux.mountLabel = 'system_u:object_r:container_file_t:s0:c1,c2';
        }),
      ),
    );
    expect(r.stdout.split('\n')[0].replace(/\0/g, '')).toBe(label);
  });
});
