/**
 * The /etc/resolv.conf and /etc/hosts a RUN step sees, as BuildKit gives them (executor/oci:
 * resolvconf.go, hosts.go): files of the builder's, bind-mounted read-only over the image's,
 * so that what the step finds does not depend on the image and never ends up in a layer.
 *
 * resolv.conf: with the host's network, the host's file as it is. In a namespace of the step's
 * own, the host's loopback nameservers mean nothing (BuildKit filters them out): with slirp4netns
 * (the default network) the nameserver is slirp's forwarder, which asks the host's resolvers;
 * with none, the host's other nameservers are kept (there is nothing to reach them anyway).
 * The host's search and options lines stay in every case.
 */
import * as fs from 'fs';
import { SLIRP_DNS } from './slirp';

export type RunNetwork = 'default' | 'none' | 'host';

function hostResolvConf(): string {
  try {
    return fs.readFileSync('/etc/resolv.conf', 'utf8');
  } catch {
    return '';
  }
}

function isLoopback(addr: string): boolean {
  return /^127\./.test(addr) || addr === '::1' || addr.toLowerCase() === '0:0:0:0:0:0:0:1';
}

export function resolvConf(network: RunNetwork, host = hostResolvConf()): string {
  if (network === 'host') return host;
  const lines = host.split('\n');
  const nameserver = (l: string) => /^\s*nameserver\s/.exec(l) !== null;
  const others = lines.filter((l) => !nameserver(l) && l.trim() !== '');
  const servers =
    network === 'default'
      ? [SLIRP_DNS]
      : lines.filter(nameserver).map((l) => l.trim().split(/\s+/)[1]).filter((a) => a && !isLoopback(a));
  return [...servers.map((s) => `nameserver ${s}`), ...others].join('\n') + '\n';
}

/** BuildKit's hosts file, with the step's hostname. */
export function hostsFile(hostname: string): string {
  return `127.0.0.1\tlocalhost ${hostname}\n::1\tlocalhost ip6-localhost ip6-loopback\n`;
}
