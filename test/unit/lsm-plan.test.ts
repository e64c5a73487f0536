/**
 * The AppArmor/SELinux plan (packages/runtime/src/plan/lsm.ts) for each kind of host: which
 * attribute file gets which value before execve, which mounts get context=, and the errors
 * when the host has no such LSM. The integration test (lsm.test.ts) runs what this host has.
 */
import { applyLsm, labelMount, LsmHost, planLsm } from '../../packages/runtime/src/plan/lsm';
import { MountOp, NativePlan, OpKind } from '../../packages/runtime/src/plan/native-plan';

const NONE: LsmHost = { apparmor: false, apparmorAttrDir: false, selinux: false };
const APPARMOR: LsmHost = { apparmor: true, apparmorAttrDir: true, selinux: false };
const APPARMOR_OLD: LsmHost = { apparmor: true, apparmorAttrDir: false, selinux: false };
const SELINUX: LsmHost = { apparmor: false, apparmorAttrDir: false, selinux: true };

describe('planLsm', () => {
  it('asks for nothing when the config asks for nothing, on any host', () => {
    for (const host of [NONE, APPARMOR, SELINUX]) expect(planLsm({}, undefined, host)).toEqual({ execAttrs: [], mountLabel: undefined });
  });

  it('AppArmor: "exec PROFILE" into attr/apparmor/exec, or attr/exec on kernels without the per-LSM directory', () => {
    expect(planLsm({ apparmorProfile: 'docker-default' }, undefined, APPARMOR).execAttrs).toEqual([
      { path: '/proc/self/attr/apparmor/exec', value: 'exec docker-default', what: 'apply apparmor profile: write ' },
    ]);
    expect(planLsm({ apparmorProfile: 'docker-default' }, undefined, APPARMOR_OLD).execAttrs[0].path).toBe('/proc/self/attr/exec');
  });

  it('SELinux: the process label into attr/exec; the mount label is kept for the mounts', () => {
    const label = 'system_u:system_r:container_t:s0:c1,c2';
    const mount = 'system_u:object_r:container_file_t:s0:c1,c2';
    expect(planLsm({ selinuxLabel: label }, mount, SELINUX)).toEqual({
      execAttrs: [{ path: '/proc/self/attr/exec', value: label, what: 'set selinux process label: write ' }],
      mountLabel: mount,
    });
  });

  it('a host without the LSM: one clear error for each setting', () => {
    expect(() => planLsm({ apparmorProfile: 'p' }, undefined, SELINUX)).toThrow('apparmor: config provided but apparmor not supported');
    expect(() => planLsm({ selinuxLabel: 'l' }, undefined, APPARMOR)).toThrow(
      'selinux label is specified in config, but selinux is disabled or not supported',
    );
    expect(() => planLsm({}, 'l', NONE)).toThrow('mountLabel is specified in config, but selinux is disabled or not supported');
  });
});

describe('mount labels', () => {
  const op = (fstype: string, data?: string): MountOp => ({ kind: OpKind.Mount, target: '/x', fstype, data });

  it('context="LABEL" is appended to the data of tmpfs, devpts and other labelled filesystems', () => {
    expect(labelMount(op('tmpfs', 'mode=755,size=65536k'), 'L').data).toBe('mode=755,size=65536k,context="L"');
    expect(labelMount(op('devpts'), 'L').data).toBe('context="L"');
  });

  it('proc, sysfs, cgroup, mqueue, binds and non-mount steps are left alone (runc)', () => {
    for (const fs of ['proc', 'sysfs', 'cgroup', 'cgroup2', 'mqueue']) expect(labelMount(op(fs, 'a'), 'L').data).toBe('a');
    const bind: MountOp = { kind: OpKind.Bind, target: '/y', source: '/h' };
    expect(labelMount(bind, 'L')).toBe(bind);
  });

  it('applyLsm puts the attribute writes into the plan and labels its mounts', () => {
    const plan = { ops: [op('tmpfs'), op('proc')] } as unknown as NativePlan;
    const out = applyLsm(plan, { execAttrs: [{ path: '/p', value: 'v', what: 'w' }], mountLabel: 'L' });
    expect(out.execAttrs).toEqual([{ path: '/p', value: 'v', what: 'w' }]);
    expect(out.ops.map((o) => o.data)).toEqual(['context="L"', undefined]);
  });
});
