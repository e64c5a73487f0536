/**
 * Image references normalised as docker and podman do (distribution/reference's
 * ParseNormalizedNamed), and the choice of a platform's manifest from an image index.
 */
import { familiarReference, formatReference, parseReference } from '../../packages/builder/src/store/reference';
import { chooseManifest } from '../../packages/builder/src/store/platform';

const D = `sha256:${'a'.repeat(64)}`;

describe('parseReference', () => {
  it.each([
    ['busybox', 'docker.io/library/busybox:latest', 'busybox:latest'],
    ['busybox:1.36', 'docker.io/library/busybox:1.36', 'busybox:1.36'],
    ['library/busybox', 'docker.io/library/busybox:latest', 'busybox:latest'],
    ['docker.io/library/busybox', 'docker.io/library/busybox:latest', 'busybox:latest'],
    ['index.docker.io/busybox', 'docker.io/library/busybox:latest', 'busybox:latest'],
    ['me/app:v1', 'docker.io/me/app:v1', 'me/app:v1'],
    ['localhost/app', 'localhost/app:latest', 'localhost/app:latest'],
    ['localhost:5000/a/b:c', 'localhost:5000/a/b:c', 'localhost:5000/a/b:c'],
    ['quay.io/podman/stable', 'quay.io/podman/stable:latest', 'quay.io/podman/stable:latest'],
    [`busybox@${D}`, `docker.io/library/busybox@${D}`, `busybox@${D}`],
    [`busybox:1@${D}`, `docker.io/library/busybox:1@${D}`, `busybox:1@${D}`],
    ['a_b-c__d/f.g', 'docker.io/a_b-c__d/f.g:latest', 'a_b-c__d/f.g:latest'],
  ])('%s is %s', (input, full, familiar) => {
    const r = parseReference(input);
    expect(formatReference(r)).toBe(full);
    expect(familiarReference(r)).toBe(familiar);
  });

  it.each([
    ['', /invalid reference format/],
    ['Busybox', /repository name must be lowercase/],
    ['busybox:', /bad tag/],
    ['busybox:-x', /bad tag/],
    ['busybox@sha256:abc', /bad digest/],
    ['a//b', /invalid reference format/],
    ['/busybox', /invalid reference format/],
    ['bad_host:5000/x', /bad registry host/],
  ])('%j is refused', (input, why) => {
    expect(() => parseReference(input)).toThrow(why);
  });
});

describe('chooseManifest', () => {
  const m = (n: number, platform?: { os: string; architecture: string; variant?: string }, annotations?: Record<string, string>) => ({
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    digest: `sha256:${String(n).repeat(64)}`,
    size: 1,
    ...(platform ? { platform } : {}),
    ...(annotations ? { annotations } : {}),
  });

  it('takes the first exact platform match', () => {
    const list = [m(1, { os: 'linux', architecture: 'arm64', variant: 'v8' }), m(2, { os: 'linux', architecture: 'amd64' }), m(3, { os: 'linux', architecture: 'amd64' })];
    expect(chooseManifest(list, { os: 'linux', architecture: 'amd64' })?.digest).toBe(list[1].digest);
    expect(chooseManifest(list, { os: 'linux', architecture: 'arm64', variant: 'v8' })?.digest).toBe(list[0].digest);
    expect(chooseManifest(list, { os: 'linux', architecture: 's390x' })).toBeUndefined();
  });

  it('arm64 matches with or without the v8 variant; arm variants must match', () => {
    expect(chooseManifest([m(1, { os: 'linux', architecture: 'arm64' })], { os: 'linux', architecture: 'arm64', variant: 'v8' })).toBeDefined();
    expect(chooseManifest([m(1, { os: 'linux', architecture: 'arm', variant: 'v6' })], { os: 'linux', architecture: 'arm', variant: 'v7' })).toBeUndefined();
  });

  it('skips attestation manifests and takes a lone manifest without a platform', () => {
    const att = m(4, { os: 'unknown', architecture: 'unknown' }, { 'vnd.docker.reference.type': 'attestation-manifest' });
    expect(chooseManifest([att, m(5)], { os: 'linux', architecture: 'amd64' })?.digest).toBe(m(5).digest);
    expect(chooseManifest([m(5), m(6)], { os: 'linux', architecture: 'amd64' })).toBeUndefined();
  });
});
