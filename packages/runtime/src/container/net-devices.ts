/**
 * linux.netDevices: host network interfaces moved into the container's new network namespace
 * at create, renamed as asked, with their permanent global addresses and up (runtime-spec
 * 1.3). The mechanism is iproute2's `ip` (moving a link flushes its addresses, so they are
 * read first and added back inside). What happens to them afterwards is the kernel's: a
 * physical device returns to the host when the namespace goes, a virtual one goes with it.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import type { Spec } from '@tsrun/spec';
import { RuntimeError } from '../errors';

export interface NetDeviceMove {
  host: string;
  /** The name inside; a trailing %d lets the kernel pick a free one. */
  name: string;
  /** "ADDR/PREFIX" of the permanent, global-scope addresses, to add back inside. */
  addresses: string[];
  /** The link-layer address, which the move keeps: how a %d-named device is found inside. */
  mac: string;
}

const NAME = /^[^/\s:]{1,15}$/;

function ip(args: string[], what: string): string {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  if (r.error) throw new RuntimeError(`netDevices: ${what}: ${(r.error as NodeJS.ErrnoException).code === 'ENOENT' ? 'the ip command (iproute2) is not installed' : r.error.message}`);
  if (r.status !== 0) throw new RuntimeError(`netDevices: ${what}: ${(r.stderr || r.stdout).trim().split('\n')[0]}`);
  return r.stdout;
}

/** Checks the config and reads what must move, before anything is created. */
export function planNetDevices(spec: Spec): NetDeviceMove[] {
  const devices = Object.entries(spec.linux?.netDevices ?? {});
  if (devices.length === 0) return [];
  const ns = (spec.linux?.namespaces ?? []).find((n) => n.type === 'network');
  if (!ns || ns.path) throw new RuntimeError('netDevices: moving network devices needs a new network namespace of the container\'s own');
  const names = new Set<string>();
  return devices.map(([host, d]) => {
    const name = d?.name || host;
    if (!NAME.test(host) || !NAME.test(name)) throw new RuntimeError(`netDevices: invalid interface name "${!NAME.test(host) ? host : name}"`);
    if (!name.includes('%d')) {
      if (name === 'lo' || names.has(name)) throw new RuntimeError(`netDevices: "${name}" already exists in the container's network namespace`);
      names.add(name);
    }
    if (!fs.existsSync(`/sys/class/net/${host}`)) throw new RuntimeError(`netDevices: host interface "${host}" does not exist`);
    const info = JSON.parse(ip(['-j', 'addr', 'show', 'dev', host], `read the addresses of ${host}`)) as {
      address?: string;
      addr_info?: { local: string; prefixlen: number; scope: string; dynamic?: boolean }[];
    }[];
    const addresses = (info[0]?.addr_info ?? []).filter((a) => a.scope === 'global' && !a.dynamic).map((a) => `${a.local}/${a.prefixlen}`);
    return { host, name, addresses, mac: info[0]?.address ?? '' };
  });
}

/** Moves each device into the network namespace of `pid` (init, set up but not yet running). */
export function moveNetDevices(moves: NetDeviceMove[], pid: number): void {
  for (const m of moves) {
    ip(['link', 'set', 'dev', m.host, 'netns', String(pid), 'name', m.name], `move ${m.host} into the container as ${m.name}`);
    const inside = (args: string[], what: string) => {
      const r = spawnSync('nsenter', [`--net=/proc/${pid}/ns/net`, 'ip', ...args], { encoding: 'utf8' });
      if (r.status !== 0) throw new RuntimeError(`netDevices: ${what}: ${(r.stderr || String(r.error ?? '')).trim().split('\n')[0]}`);
      return r.stdout;
    };
    // A %d template: the kernel picked the name; find the device by its link-layer address.
    let name = m.name;
    if (name.includes('%d')) {
      const links = JSON.parse(inside(['-j', 'link', 'show'], 'list links')) as { ifname: string; address?: string }[];
      name = links.find((l) => l.address === m.mac && l.ifname !== 'lo')?.ifname ?? name;
    }
    for (const a of m.addresses) inside(['addr', 'add', a, 'dev', name], `add ${a} to ${name}`);
    inside(['link', 'set', 'dev', name, 'up'], `bring ${name} up`);
  }
}
