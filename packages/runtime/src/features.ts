/** `tsrun features`: what this runtime implements, in the runtime-spec's features.md shape. */
import type { Features } from '@tsrun/spec';
import { release } from 'os';
import { CAPABILITIES } from './plan/constants';

const MOUNT_OPTIONS = [
  'acl', 'async', 'atime', 'bind', 'defaults', 'dev', 'diratime', 'dirsync', 'exec', 'idmap', 'lazytime', 'loud',
  'mand', 'noatime', 'nodev', 'nodiratime', 'noexec', 'nolazytime', 'nomand', 'norelatime',
  'nostrictatime', 'nosuid', 'nosymfollow', 'private', 'rbind', 'relatime', 'remount', 'ridmap', 'ro',
  'rprivate', 'rshared', 'rslave', 'runbindable', 'rw', 'shared', 'silent', 'slave', 'strictatime',
  'suid', 'sync', 'tmpcopyup', 'unbindable',
];

export function features(): Features {
  const { OCI_VERSION } = require('@tsrun/spec') as typeof import('@tsrun/spec');
  return {
    ociVersionMin: '1.0.0',
    ociVersionMax: OCI_VERSION,
    hooks: ['prestart', 'createRuntime', 'createContainer', 'startContainer', 'poststart', 'poststop'],
    mountOptions: MOUNT_OPTIONS,
    linux: {
      namespaces: ['cgroup', 'ipc', 'mount', 'network', 'pid', 'time', 'user', 'uts'],
      capabilities: CAPABILITIES,
      cgroup: { v1: true, v2: true, systemd: true, systemdUser: false, rdma: false },
      seccomp: {
        enabled: true,
        actions: [
          'SCMP_ACT_ALLOW', 'SCMP_ACT_ERRNO', 'SCMP_ACT_KILL', 'SCMP_ACT_KILL_PROCESS', 'SCMP_ACT_KILL_THREAD',
          'SCMP_ACT_LOG', 'SCMP_ACT_NOTIFY', 'SCMP_ACT_TRACE', 'SCMP_ACT_TRAP',
        ],
        operators: ['SCMP_CMP_EQ', 'SCMP_CMP_GE', 'SCMP_CMP_GT', 'SCMP_CMP_LE', 'SCMP_CMP_LT', 'SCMP_CMP_MASKED_EQ', 'SCMP_CMP_NE'],
        archs: ['SCMP_ARCH_AARCH64', 'SCMP_ARCH_X32', 'SCMP_ARCH_X86', 'SCMP_ARCH_X86_64'],
        knownFlags: ['SECCOMP_FILTER_FLAG_LOG', 'SECCOMP_FILTER_FLAG_SPEC_ALLOW', 'SECCOMP_FILTER_FLAG_TSYNC', 'SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV'],
        // WAIT_KILLABLE_RECV is Linux 6.0's (an older kernel refuses the filter that asks for it).
        supportedFlags: [
          'SECCOMP_FILTER_FLAG_LOG', 'SECCOMP_FILTER_FLAG_SPEC_ALLOW', 'SECCOMP_FILTER_FLAG_TSYNC',
          ...(kernelAtLeast(6, 0) ? ['SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV'] : []),
        ],
      },
      // Supported, as runc reports it; applied where the host has the LSM (plan/lsm.ts).
      apparmor: { enabled: true },
      selinux: { enabled: true },
      intelRdt: { enabled: false },
      memoryPolicy: {
        modes: ['MPOL_DEFAULT', 'MPOL_BIND', 'MPOL_INTERLEAVE', 'MPOL_WEIGHTED_INTERLEAVE', 'MPOL_PREFERRED', 'MPOL_PREFERRED_MANY', 'MPOL_LOCAL'],
        flags: ['MPOL_F_NUMA_BALANCING', 'MPOL_F_RELATIVE_NODES', 'MPOL_F_STATIC_NODES'],
      },
      mountExtensions: { idmap: { enabled: true } },
      netDevices: { enabled: true },
    },
    annotations: {
      'org.opencontainers.runtime-spec.features.tsrun.version': '0.1.0',
      // checkpoint and restore (with CRIU), under runc's key, which managers read (crun sets it too).
      'org.opencontainers.runc.checkpoint.enabled': 'true',
    },
    // Config annotations that change what the runtime does: systemd unit properties, CRIU's config file.
    potentiallyUnsafeConfigAnnotations: ['org.systemd.property.', 'org.criu.config'],
  } as Features;
}

function kernelAtLeast(major: number, minor: number): boolean {
  const m = /^(\d+)\.(\d+)/.exec(release());
  return !!m && (Number(m[1]) > major || (Number(m[1]) === major && Number(m[2]) >= minor));
}
