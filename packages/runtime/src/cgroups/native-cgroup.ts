/** The addon's cgroup syscalls (addon/cgroup_sys.cc), typed; loaded only when used. */
import { native } from '../native';

export interface CgroupAddon {
  /** eventfd(2) with initval 0; flags as EFD_* (EFD_CLOEXEC by default). */
  eventfd(flags?: number): number;
  /** BPF_PROG_LOAD of a BPF_PROG_TYPE_CGROUP_DEVICE program; returns its fd. */
  bpfLoadCgroupDevice(insns: Buffer, license: string): number;
  /** BPF_PROG_QUERY: ids of the device programs attached directly to the cgroup. */
  bpfQueryCgroupDevice(cgroupFd: number): number[];
  bpfProgFdById(id: number): number;
  bpfAttachCgroupDevice(cgroupFd: number, progFd: number, flags: number): void;
  bpfDetachCgroupDevice(cgroupFd: number, progFd: number): void;
}

export const EFD_CLOEXEC = 0o2000000;
export const EFD_NONBLOCK = 0o4000;
export const BPF_F_ALLOW_MULTI = 1 << 1;

export function cgroupNative(): CgroupAddon {
  return native() as unknown as CgroupAddon;
}
