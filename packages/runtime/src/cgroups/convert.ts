/**
 * The spec speaks cgroup v1; these turn its values into v2 ones, with runc's formulas so that a
 * container gets the same limits under tsrun as under runc.
 */
import { CgroupError } from './types';

/**
 * cpu.shares [2, 262144] -> cpu.weight [1, 10000], linearly (runc ConvertCPUSharesToCgroupV2Value):
 * 2 -> 1, 1024 -> 39, 262144 -> 10000. 0 means unset.
 */
export function sharesToWeight(shares: number): number {
  if (shares === 0) return 0;
  return 1 + Math.floor(((shares - 2) * 9999) / 262142);
}

/** blkio.weight [10, 1000] -> io.weight [1, 10000] (runc ConvertBlkIOToIOWeightValue). 0 means unset. */
export function blkioWeightToIoWeight(weight: number): number {
  if (weight === 0) return 0;
  return 1 + Math.floor(((weight - 10) * 9999) / 990);
}

/**
 * The spec's swap is memory+swap (v1's memsw); v2's memory.swap.max is swap alone
 * (runc ConvertMemorySwapToCgroupV2Value). Returns -1 for "max", 0 for unset/none.
 */
export function swapToV2(memorySwap: number, memory: number): number {
  // v1 compatibility: "memory unlimited, swap unset" means both unlimited.
  if (memory === -1 && memorySwap === 0) return -1;
  if (memorySwap === -1 || memorySwap === 0) return memorySwap;
  if (memory === 0 || memory === -1) throw new CgroupError('cgroup: unable to set swap limit without memory limit');
  if (memory < 0) throw new CgroupError(`cgroup: invalid memory value: ${memory}`);
  if (memorySwap < memory) throw new CgroupError('cgroup: memory+swap limit should be >= memory limit');
  return memorySwap - memory;
}

/** Value for a v2 *.max / *.low file: 0 -> '' (leave alone), -1 -> 'max'. */
export function v2Limit(value: number): string {
  if (value === 0) return '';
  if (value === -1) return 'max';
  return String(value);
}
