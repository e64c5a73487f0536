/** linux.seccomp → the filter and flags of the launch plan (create and exec alike). */
import type { Spec } from '@tsrun/spec';
import { RuntimeError } from '../errors';
import { compileSeccomp, SeccompError } from './compile';

export { compileSeccomp, SeccompError } from './compile';

export function seccompPlan(spec: Spec): { seccomp?: Buffer; seccompFlags?: number } {
  const profile = spec.linux?.seccomp;
  if (!profile) return {};
  try {
    const { filter, flags } = compileSeccomp(profile);
    return { seccomp: filter, seccompFlags: flags };
  } catch (e) {
    if (e instanceof SeccompError) throw new RuntimeError(e.message);
    throw e;
  }
}
