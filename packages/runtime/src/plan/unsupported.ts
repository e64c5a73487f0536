/**
 * Config fields tsrun does not implement yet. A manager that sets one expects it to take
 * effect, so create refuses with a one-line error naming the field instead of running the
 * container without it (runc 1.1 ignores some of these; a silent no-op is worse than a clear no).
 */
import type { Spec } from '@tsrun/spec';
import * as fs from 'fs';
import { RuntimeError } from '../errors';

const FIELDS: [string, (s: Spec) => unknown][] = [
  ['linux.intelRdt', (s) => s.linux?.intelRdt],
];

/** A resctrl filesystem is mounted (Intel RDT / AMD QoS): /proc/self/mountinfo says so. */
function resctrlMounted(): boolean {
  try {
    return / - resctrl /.test(fs.readFileSync('/proc/self/mountinfo', 'utf8'));
  } catch {
    return false;
  }
}

export function refuseUnsupported(spec: Spec): void {
  // runc's words where the host has no RDT at all.
  if (spec.linux?.intelRdt !== undefined && !resctrlMounted()) {
    throw new RuntimeError('intelRdt is specified in config, but Intel RDT is not supported or enabled (no resctrl filesystem is mounted)');
  }
  for (const [name, get] of FIELDS) {
    if (get(spec) !== undefined) throw new RuntimeError(`${name} is not supported by tsrun yet`);
  }
}
