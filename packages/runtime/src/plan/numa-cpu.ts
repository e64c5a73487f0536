/**
 * linux.memoryPolicy (set_mempolicy(2) for the container's processes) and
 * process.execCPUAffinity (where an exec'd process runs before and after it enters the
 * container's cgroup), checked here so that a bad value is a one-line error at create/exec.
 */
import type { Process, Spec } from '@tsrun/spec';
import { RuntimeError } from '../errors';
import { idListMask } from './id-list';

/** The plan's fixed mask sizes: 1024 CPUs (cpu_set_t), 1024 memory nodes. */
export const MAX_CPUS = 1024;
export const MAX_NODES = 1024;

const MODES: Record<string, number> = {
  MPOL_DEFAULT: 0,
  MPOL_PREFERRED: 1,
  MPOL_BIND: 2,
  MPOL_INTERLEAVE: 3,
  MPOL_LOCAL: 4,
  MPOL_PREFERRED_MANY: 5,
  MPOL_WEIGHTED_INTERLEAVE: 6,
};

const FLAGS: Record<string, number> = {
  MPOL_F_NUMA_BALANCING: 1 << 13,
  MPOL_F_RELATIVE_NODES: 1 << 14,
  MPOL_F_STATIC_NODES: 1 << 15,
};

/** Modes that take no nodes, and those that need at least one (set_mempolicy(2)). */
const NO_NODES = new Set(['MPOL_DEFAULT', 'MPOL_LOCAL']);
const NEED_NODES = new Set(['MPOL_BIND', 'MPOL_INTERLEAVE', 'MPOL_PREFERRED_MANY', 'MPOL_WEIGHTED_INTERLEAVE']);

export interface MemoryPolicyPlan {
  /** mode | flags, as set_mempolicy takes them. */
  mode: number;
  nodes: number[];
}

export function memoryPolicyPlan(spec: Spec): { memoryPolicy?: MemoryPolicyPlan } {
  const p = spec.linux?.memoryPolicy;
  if (!p) return {};
  const mode = MODES[p.mode];
  if (mode === undefined) throw new RuntimeError(`linux.memoryPolicy: unknown mode ${JSON.stringify(p.mode)}`);
  let flags = 0;
  for (const f of p.flags ?? []) {
    if (FLAGS[f] === undefined) throw new RuntimeError(`linux.memoryPolicy: unknown flag ${JSON.stringify(f)}`);
    flags |= FLAGS[f];
  }
  const nodes = p.nodes ? idListMask(p.nodes, 'linux.memoryPolicy.nodes', MAX_NODES) : [];
  if (NO_NODES.has(p.mode) && nodes.length) throw new RuntimeError(`linux.memoryPolicy: ${p.mode} takes no nodes`);
  if (NEED_NODES.has(p.mode) && !nodes.length) throw new RuntimeError(`linux.memoryPolicy: ${p.mode} needs nodes`);
  return { memoryPolicy: { mode: mode | flags, nodes } };
}

export interface CpuAffinityPlan {
  /** Where the runtime's child runs before it enters the container's cgroup (empty: leave). */
  cpusInitial?: number[];
  /** Where the process runs once it is in the cgroup, right before its exec (empty: leave). */
  cpusFinal?: number[];
}

export function cpuAffinityPlan(proc: Process): CpuAffinityPlan {
  const a = proc.execCPUAffinity;
  if (!a) return {};
  const out: CpuAffinityPlan = {};
  if (a.initial) out.cpusInitial = idListMask(a.initial, 'process.execCPUAffinity.initial', MAX_CPUS);
  if (a.final) out.cpusFinal = idListMask(a.final, 'process.execCPUAffinity.final', MAX_CPUS);
  return out;
}
