/**
 * Device cgroup rules. On v1 they are written to devices.deny/devices.allow; on v2 the kernel
 * needs an eBPF program (BPF_CGROUP_DEVICE), generated from the same rule list in
 * bpf-devices.ts and loaded by the addon.
 */
import { CgroupError, LinuxDeviceCgroup, LinuxResources } from './types';

const wild = -1;

/**
 * runc 1.1's default allow-list (specconv.AllowedDevices), appended after the spec's rules for
 * every container. Checked against a runc container's devices.list on this host.
 */
export const DEFAULT_ALLOWED_DEVICES: readonly LinuxDeviceCgroup[] = Object.freeze([
  { allow: true, type: 'c', major: wild, minor: wild, access: 'm' },
  { allow: true, type: 'b', major: wild, minor: wild, access: 'm' },
  { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' }, // /dev/null
  { allow: true, type: 'c', major: 1, minor: 8, access: 'rwm' }, // /dev/random
  { allow: true, type: 'c', major: 1, minor: 7, access: 'rwm' }, // /dev/full
  { allow: true, type: 'c', major: 5, minor: 0, access: 'rwm' }, // /dev/tty
  { allow: true, type: 'c', major: 1, minor: 5, access: 'rwm' }, // /dev/zero
  { allow: true, type: 'c', major: 1, minor: 9, access: 'rwm' }, // /dev/urandom
  { allow: true, type: 'c', major: 136, minor: wild, access: 'rwm' }, // /dev/pts/*
  { allow: true, type: 'c', major: 5, minor: 2, access: 'rwm' }, // /dev/ptmx
  { allow: true, type: 'c', major: 10, minor: 200, access: 'rwm' }, // /dev/net/tun
]);

/** Allow rules for the nodes listed in linux.devices (runc allows them rwm). */
export function deviceRulesForNodes(nodes: { type: string; major: number; minor: number }[] | undefined): LinuxDeviceCgroup[] {
  return (nodes ?? []).map((n) => ({ allow: true, type: n.type === 'u' ? 'c' : n.type, major: n.major, minor: n.minor, access: 'rwm' }));
}

/** "c 1:3 rwm", or "a" for the all-devices rule, as devices.allow/deny expect. */
export function deviceRuleString(r: LinuxDeviceCgroup): string {
  const type = r.type ?? 'a';
  if (!['a', 'b', 'c'].includes(type)) throw new CgroupError(`cgroup: invalid device rule type "${type}" (want a, b or c)`);
  const access = r.access ?? 'rwm';
  if (access === '' || !/^[rwm]+$/.test(access)) throw new CgroupError(`cgroup: invalid device rule access "${access}" (want a combination of r, w, m)`);
  if (type === 'a') return 'a';
  const num = (n: number | undefined): string => (n === undefined || n === null || n < 0 ? '*' : String(n));
  return `${type} ${num(r.major)}:${num(r.minor)} ${access}`;
}

/**
 * The full ordered list a container gets: deny everything, then the spec's rules in order, then
 * extra allows (linux.devices nodes), then the defaults. runc reaches the same end state (its
 * emulator starts from deny-all).
 */
export function effectiveDeviceRules(spec: LinuxDeviceCgroup[] | undefined, extra: LinuxDeviceCgroup[] = []): LinuxDeviceCgroup[] {
  return [{ allow: false, access: 'rwm' }, ...(spec ?? []), ...extra, ...DEFAULT_ALLOWED_DEVICES];
}

/** v1 writes: [file, value] in order. */
export function v1DeviceWrites(rules: LinuxDeviceCgroup[]): [string, string][] {
  return rules.map((r) => [r.allow ? 'devices.allow' : 'devices.deny', deviceRuleString(r)]);
}

/**
 * True when `resources.devices` asks for a restriction (any deny rule): on v2 that needs the
 * eBPF device program, so a v2 host that cannot load one must refuse rather than allow all.
 */
export function v2DeviceRulesUnsupported(resources: LinuxResources | undefined): boolean {
  return (resources?.devices ?? []).some((r) => !r.allow);
}
