/**
 * BuildKit's entitlements: the privileges a Dockerfile may ask for only when the person
 * running the build grants them with `--allow`. `RUN --network=host` needs `network.host`
 * (the step would share the host's network, its loopback services included) and `RUN
 * --security=insecure` needs `security.insecure` (every capability, no seccomp filter).
 *
 * The messages are BuildKit's (util/entitlements: "network.host is not allowed"), and the
 * check is made before anything runs, as BuildKit checks every exec op when it loads the
 * build graph, cached steps included.
 */
export type Entitlement = 'network.host' | 'security.insecure';

const ALL: readonly Entitlement[] = ['network.host', 'security.insecure'];

export class EntitlementError extends Error {}

/** `--allow` values (repeatable, or comma-separated as buildx takes them). */
export function parseEntitlements(values: string[]): Set<Entitlement> {
  const out = new Set<Entitlement>();
  for (const v of values.flatMap((s) => s.split(',')).map((s) => s.trim()).filter(Boolean)) {
    if (!(ALL as readonly string[]).includes(v)) throw new EntitlementError(`invalid entitlement: ${v}`);
    out.add(v as Entitlement);
  }
  return out;
}

/** What a RUN step with these modes needs and `allowed` lacks: BuildKit's message, or undefined. */
export function refusal(allowed: ReadonlySet<Entitlement>, step: { network: string; security: string }): string | undefined {
  if (step.network === 'host' && !allowed.has('network.host')) return 'network.host is not allowed';
  if (step.security === 'insecure' && !allowed.has('security.insecure')) return 'security.insecure is not allowed';
  return undefined;
}
