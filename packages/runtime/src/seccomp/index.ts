/** linux.seccomp → the filter and flags of the launch plan (create and exec alike). */
import type { Spec } from '@tsrun/spec';
import { RuntimeError } from '../errors';
import { cachedCompile } from './cache';
import { compileSeccomp, SeccompError } from './compile';

export { compileSeccomp, SeccompError } from './compile';

/** cacheDir: where compiled filters are kept between calls (seccomp/cache.ts); none: compile. */
export function seccompPlan(spec: Spec, cacheDir?: string): { seccomp?: Buffer; seccompFlags?: number } {
  const profile = spec.linux?.seccomp;
  if (!profile) return {};
  try {
    const { filter, flags } = cachedCompile(JSON.stringify(profile), cacheDir, () => compileSeccomp(profile));
    return { seccomp: filter, seccompFlags: flags };
  } catch (e) {
    if (e instanceof SeccompError) throw new RuntimeError(e.message);
    throw e;
  }
}
