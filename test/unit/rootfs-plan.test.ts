/**
 * What init is told to do with the root (packages/runtime/src/plan): linux.rootfsPropagation
 * before and after pivot_root, and a config without a mount namespace (a bind of the rootfs in
 * the runtime's mount namespace and a chroot; exec chroots into init's root). The integration
 * tests (mounts.test.ts, no-mount-ns.test.ts) check the effects in real containers.
 */
import type { Spec } from '@tsrun/spec';
import { buildPlan } from '../../packages/runtime/src/plan/build';
import * as K from '../../packages/runtime/src/plan/constants';
import { buildExecPlan } from '../../packages/runtime/src/plan/exec-plan';
import { rootPropagation } from '../../packages/runtime/src/plan/mount-options';

function spec(namespaces: string[], linux: Record<string, unknown> = {}): Spec {
  return {
    ociVersion: '1.0.2',
    process: { args: ['true'], cwd: '/', user: { uid: 0, gid: 0 } },
    root: { path: 'rootfs' },
    mounts: [{ destination: '/proc', type: 'proc', source: 'proc' }],
    linux: { namespaces: namespaces.map((type) => ({ type })), ...linux },
  } as Spec;
}

const opts = { bundle: '/nonexistent/bundle', rootfs: '/nonexistent/bundle/rootfs' };

describe('rootPropagation', () => {
  const rslave = K.MS_SLAVE | K.MS_REC;
  it.each([
    [undefined, rslave, 0],
    ['slave', rslave, 0],
    ['rslave', rslave, 0],
    ['private', K.MS_PRIVATE | K.MS_REC, 0],
    ['rprivate', K.MS_PRIVATE | K.MS_REC, 0],
    // Set on / only once it is the root, exactly as asked (recursive for the r- forms).
    ['shared', K.MS_SHARED | K.MS_REC, K.MS_SHARED],
    ['rshared', K.MS_SHARED | K.MS_REC, K.MS_SHARED | K.MS_REC],
    // The rootfs must still be bound: rslave until then.
    ['unbindable', rslave, K.MS_UNBINDABLE],
    ['runbindable', rslave, K.MS_UNBINDABLE | K.MS_REC],
  ])('%s: before %d, after %d', (value, before, after) => {
    const p = rootPropagation(value);
    expect([p.before, p.after]).toEqual([before, after]);
    expect(p.privateParent).toBe(/shared/.test(value ?? ''));
  });

  it('an unknown value is an error', () => {
    expect(() => rootPropagation('rrshared')).toThrow(/rootfsPropagation: unknown value "rrshared"/);
  });
});

describe('a config without a mount namespace', () => {
  it('binds the rootfs at the directory given, leaves every propagation alone and never pivots', () => {
    const { plan } = buildPlan(spec(['pid']), { ...opts, rootMount: '/run/tsrun/c/rootfs', noPivot: true });
    expect(plan.rootMount).toBe('/run/tsrun/c/rootfs');
    expect([plan.rootPropagation, plan.finalRootPropagation, plan.privateParent, plan.noPivot]).toEqual([0, 0, undefined, false]);
  });

  it('needs that directory', () => {
    expect(() => buildPlan(spec(['pid']), opts)).toThrow(/needs a directory for its root/);
  });

  it.each([
    ['maskedPaths', { maskedPaths: ['/proc/kcore'] }, /unable to restrict sys entries without a private MNT namespace/],
    ['readonlyPaths', { readonlyPaths: ['/proc/sys'] }, /unable to restrict sys entries without a private MNT namespace/],
    ['rootfsPropagation', { rootfsPropagation: 'private' }, /rootfsPropagation is set but the config has no mount namespace/],
  ])('refuses %s', (_name, linux, message) => {
    expect(() => buildPlan(spec(['pid'], linux), { ...opts, rootMount: '/x' })).toThrow(message);
  });

  it('with a mount namespace, the same config pivots as before', () => {
    const { plan } = buildPlan(spec(['pid', 'mount'], { maskedPaths: ['/proc/kcore'] }), { ...opts, rootMount: '/x' });
    expect(plan.rootMount).toBeUndefined();
    expect(plan.rootPropagation).toBe(K.MS_SLAVE | K.MS_REC);
  });

  it("exec chroots into its init's root, and only then", () => {
    const proc = { args: ['sh'], cwd: '/' };
    expect(buildExecPlan(spec(['pid']), proc, { initPid: 42, rootfs: opts.rootfs }).chrootPath).toBe('/proc/42/root');
    expect(buildExecPlan(spec(['pid', 'mount']), proc, { initPid: 42, rootfs: opts.rootfs }).chrootPath).toBeUndefined();
  });
});
