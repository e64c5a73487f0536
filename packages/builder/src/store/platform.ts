/**
 * The platform this process runs on, in image-spec terms (GOOS/GOARCH names), and the choice
 * of one manifest out of a multi-platform index (image-index.md).
 */
import type { Descriptor, Platform } from '@tsrun/spec';

const ARCH: Record<string, string> = { x64: 'amd64', ia32: '386', arm64: 'arm64', arm: 'arm', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64', mips: 'mips', mipsel: 'mipsle', loong64: 'loong64' };

export function hostPlatform(): Platform {
  const architecture = ARCH[process.arch] ?? process.arch;
  const p: Platform = { os: 'linux', architecture };
  if (architecture === 'arm64') p.variant = 'v8';
  if (architecture === 'arm') {
    const v = (process.config.variables as Record<string, unknown>).arm_version;
    if (v) p.variant = `v${v}`;
  }
  return p;
}

export function formatPlatform(p: Platform): string {
  return `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ''}`;
}

/** Parses "os/arch[/variant]" as `--platform` takes it. */
export function parsePlatform(s: string): Platform {
  const [os, architecture, variant] = s.split('/');
  if (!os || !architecture) throw new Error(`invalid platform ${JSON.stringify(s)}: want os/arch[/variant]`);
  return variant ? { os, architecture, variant } : { os, architecture };
}

/** arm64 images often omit "v8"; the default variant matches no variant. */
function variantMatches(want: string | undefined, have: string | undefined): boolean {
  if (!want || !have) return !have || !want || (want === 'v8' && have === 'v8');
  return want === have;
}

export function platformMatches(want: Platform, have: Platform | undefined): boolean {
  if (!have) return false;
  return have.os === want.os && have.architecture === want.architecture && variantMatches(want.variant, have.variant);
}

/**
 * The manifest of an index for `want`: the first exact match (the spec orders by preference),
 * ignoring attestation manifests (buildkit's "unknown/unknown" entries); an index of one
 * manifest without a platform stands for every platform.
 */
export function chooseManifest(manifests: Descriptor[], want: Platform): Descriptor | undefined {
  const candidates = manifests.filter((d) => d.annotations?.['vnd.docker.reference.type'] !== 'attestation-manifest');
  const exact = candidates.find((d) => platformMatches(want, d.platform));
  if (exact) return exact;
  const unplatformed = candidates.filter((d) => !d.platform);
  return unplatformed.length === 1 ? unplatformed[0] : undefined;
}
