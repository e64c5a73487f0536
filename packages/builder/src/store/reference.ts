/**
 * Image references as docker and podman read them (distribution/reference's grammar and its
 * "normalized" form): `busybox` is `docker.io/library/busybox:latest`, `me/app:1` is
 * `docker.io/me/app:1`, `localhost:5000/app` keeps its registry, and `name@sha256:...` pins
 * a digest.
 */
import { StoreError } from './errors';
import { isDigest } from './digest';

export const DEFAULT_DOMAIN = 'docker.io';
export const DEFAULT_TAG = 'latest';

export interface Reference {
  /** Registry host[:port], e.g. "docker.io". */
  domain: string;
  /** Repository path in the registry, e.g. "library/busybox". */
  path: string;
  tag?: string;
  digest?: string;
}

const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
// host names, IPv4 and bracketed IPv6 literals ("[::1]:5000"), each with an optional port
const DOMAIN = new RegExp(`^(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[a-fA-F0-9:]+\\])(?::[0-9]+)?$`);
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;

function invalid(s: string, why = ''): StoreError {
  return new StoreError(`invalid reference format${why ? `: ${why}` : ''}: ${JSON.stringify(s)}`);
}

/** Parses and normalises a reference; a missing tag (and digest) becomes `latest`. */
export function parseReference(s: string): Reference {
  if (!s || s.length > 255 + 200) throw invalid(s);
  let rest = s;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!isDigest(digest)) throw invalid(s, 'bad digest');
  }
  let tag: string | undefined;
  const lastColon = rest.lastIndexOf(':');
  if (lastColon > rest.lastIndexOf('/')) {
    tag = rest.slice(lastColon + 1);
    rest = rest.slice(0, lastColon);
    if (!TAG.test(tag)) throw invalid(s, 'bad tag');
  }
  let domain = DEFAULT_DOMAIN;
  let path = rest;
  const slash = rest.indexOf('/');
  const first = slash < 0 ? '' : rest.slice(0, slash);
  if (slash >= 0 && (first.includes('.') || first.includes(':') || first.startsWith('[') || first === 'localhost' || first !== first.toLowerCase())) {
    domain = first;
    path = rest.slice(slash + 1);
    if (!DOMAIN.test(domain)) throw invalid(s, 'bad registry host');
  }
  if (domain === 'index.docker.io') domain = DEFAULT_DOMAIN;
  if (path !== path.toLowerCase()) throw invalid(s, 'repository name must be lowercase');
  if (!path || !path.split('/').every((c) => PATH_COMPONENT.test(c))) throw invalid(s);
  if (domain === DEFAULT_DOMAIN && !path.includes('/')) path = `library/${path}`;
  if (tag === undefined && digest === undefined) tag = DEFAULT_TAG;
  return { domain, path, tag, digest };
}

/** The repository name: "docker.io/library/busybox". */
export function repository(r: Reference): string {
  return `${r.domain}/${r.path}`;
}

/** The full normalised form: "docker.io/library/busybox:latest" (tag and/or @digest). */
export function formatReference(r: Reference): string {
  return `${repository(r)}${r.tag ? `:${r.tag}` : ''}${r.digest ? `@${r.digest}` : ''}`;
}

/** Docker's short form for display: "busybox", "me/app", "localhost:5000/app". */
export function familiarRepository(r: Reference): string {
  if (r.domain !== DEFAULT_DOMAIN) return repository(r);
  return r.path.startsWith('library/') && r.path.split('/').length === 2 ? r.path.slice(8) : r.path;
}

/** "busybox:latest" for docker.io names, else the full name. */
export function familiarReference(r: Reference): string {
  return `${familiarRepository(r)}${r.tag ? `:${r.tag}` : ''}${r.digest ? `@${r.digest}` : ''}`;
}

/** Parses a reference if it is one; undefined for anything else (e.g. a bare digest). */
export function tryParseReference(s: string): Reference | undefined {
  try {
    return parseReference(s);
  } catch {
    return undefined;
  }
}
