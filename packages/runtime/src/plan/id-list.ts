/**
 * "0-3,7"-style lists of CPUs or memory nodes (the kernel's list format, which the
 * runtime-spec uses for execCPUAffinity, memoryPolicy.nodes and cpuset) as bit masks: bit n of
 * byte n/8, the layout of cpu_set_t and of set_mempolicy's nodemask on little- and big-endian
 * machines alike when read a byte at a time.
 */
import { RuntimeError } from '../errors';

/** Bytes of the mask; `max` bounds the ids (the plan's fixed mask size). */
export function idListMask(list: string, what: string, max: number): number[] {
  const bytes: number[] = [];
  for (const part of list.split(',').map((s) => s.trim())) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) throw new RuntimeError(`${what}: invalid list "${list}"`);
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    if (hi < lo) throw new RuntimeError(`${what}: invalid range "${part}" in "${list}"`);
    if (hi >= max) throw new RuntimeError(`${what}: ${hi} is beyond the ${max} supported`);
    for (let i = lo; i <= hi; i++) {
      while (bytes.length <= i >> 3) bytes.push(0);
      bytes[i >> 3] |= 1 << (i & 7);
    }
  }
  return bytes;
}
