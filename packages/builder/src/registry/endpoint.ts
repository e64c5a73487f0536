/**
 * Where a registry named in a reference lives, and whether plain HTTP may be used for it.
 *
 * docker.io is served at registry-1.docker.io (docker's default registry). HTTPS is always
 * tried first; plain HTTP (and HTTPS without certificate checks) is allowed only for loopback
 * registries (localhost, 127.0.0.0/8, ::1: docker treats them as insecure by default) and for
 * registries the user lists as insecure (`--tls-verify=false`, or `insecureRegistries`).
 */
import { DEFAULT_DOMAIN } from '../store/reference';

export const DOCKER_HUB_HOST = 'registry-1.docker.io';

/** The host[:port] to connect to for a reference's domain. */
export function registryHost(domain: string): string {
  return domain === DEFAULT_DOMAIN || domain === 'index.docker.io' ? DOCKER_HUB_HOST : domain;
}

/** The host part of host[:port] (brackets of an IPv6 literal removed). */
export function hostname(hostPort: string): string {
  const m = /^\[([^\]]+)\](?::\d+)?$/.exec(hostPort);
  if (m) return m[1];
  const colon = hostPort.lastIndexOf(':');
  return colon > 0 && hostPort.indexOf(':') === colon ? hostPort.slice(0, colon) : hostPort;
}

export function isLoopback(hostPort: string): boolean {
  const h = hostname(hostPort).toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h);
}

export interface TlsPolicy {
  /** false: plain HTTP allowed and certificates not checked, for every registry. */
  tlsVerify?: boolean;
  /** Registries (host[:port], as in references) treated as with tlsVerify false. */
  insecureRegistries?: string[];
}

/** Whether `domain` may be reached over plain HTTP (after HTTPS failed). */
export function allowsInsecure(domain: string, policy: TlsPolicy): boolean {
  if (policy.tlsVerify === false) return true;
  if (isLoopback(domain)) return true;
  return (policy.insecureRegistries ?? []).some((r) => r === domain || r === registryHost(domain));
}
