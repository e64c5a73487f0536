/**
 * Config fields tsrun does not implement yet. A manager that sets one expects it to take
 * effect, so create refuses with a one-line error naming the field instead of running the
 * container without it (runc 1.1 ignores some of these; a silent no-op is worse than a clear no).
 */
import type { Spec } from '@tsrun/spec';
import { RuntimeError } from '../errors';

const FIELDS: [string, (s: Spec) => unknown][] = [
  ['linux.intelRdt', (s) => s.linux?.intelRdt],
];

export function refuseUnsupported(spec: Spec): void {
  for (const [name, get] of FIELDS) {
    if (get(spec) !== undefined) throw new RuntimeError(`${name} is not supported by tsrun yet`);
  }
}
