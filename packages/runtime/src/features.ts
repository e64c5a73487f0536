/** `tsrun features`: what this runtime implements, in the runtime-spec's features.md shape. */
import type { Features } from '@tsrun/spec';
import { CAPABILITIES } from './plan/constants';

const MOUNT_OPTIONS = [
  'acl', 'async', 'atime', 'bind', 'defaults', 'dev', 'diratime', 'dirsync', 'exec', 'lazytime', 'loud',
  'mand', 'noatime', 'nodev', 'nodiratime', 'noexec', 'nolazytime', 'nomand', 'norelatime',
  'nostrictatime', 'nosuid', 'nosymfollow', 'private', 'rbind', 'relatime', 'remount', 'ro',
  'rprivate', 'rshared', 'rslave', 'runbindable', 'rw', 'shared', 'silent', 'slave', 'strictatime',
  'suid', 'sync', 'unbindable',
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
      cgroup: { v1: true, v2: true, systemd: false, systemdUser: false, rdma: false },
      seccomp: { enabled: false },
      apparmor: { enabled: false },
      selinux: { enabled: false },
      intelRdt: { enabled: false },
      mountExtensions: { idmap: { enabled: false } },
    },
    annotations: {
      'org.opencontainers.runtime-spec.features.tsrun.version': '0.1.0',
    },
  } as Features;
}
