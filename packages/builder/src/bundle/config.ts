/**
 * Image config → runtime config.json, as image-spec conversion.md describes and umoci does:
 * starting from the project's default spec (what `tsrun spec` writes), process.args is
 * Entrypoint + Cmd, process.env is Env (PATH added when the image has none, as docker does),
 * process.cwd is WorkingDir, process.user is User resolved in the image's own files, and the
 * image's facts become annotations (conversion.md's names; Labels take precedence).
 *
 * Choices where the spec leaves them to us: terminal is off (a bundle is made to be run by
 * a script, like `docker run` without -t: a terminal needs a console socket); the rootfs is
 * writable (the overlay's upper dir, or a private copy); volumes are recorded in the
 * annotation io.tsrun.image.volumes (conversion.md names none, and org.opencontainers.* keys
 * are reserved to the OCI; comma-separated like exposedPorts) and not mounted.
 */
import { defaultSpec, type ImageConfig, type Spec } from '@tsrun/spec';
import { resolveUser } from './user';

export const VOLUMES_ANNOTATION = 'io.tsrun.image.volumes';

export function runtimeConfig(image: ImageConfig, rootfs: string): Spec {
  const spec = defaultSpec();
  const c = image.config ?? {};
  const proc = spec.process!;
  proc.terminal = false;
  const args = [...(c.Entrypoint ?? []), ...(c.Cmd ?? [])];
  if (args.length) proc.args = args;
  if (c.Env) {
    const env = [...c.Env];
    if (!env.some((e) => e.startsWith('PATH='))) env.unshift(proc.env!.find((e) => e.startsWith('PATH='))!);
    proc.env = env;
  } else {
    proc.env = proc.env!.filter((e) => e.startsWith('PATH='));
  }
  proc.cwd = c.WorkingDir || '/';
  proc.user = resolveUser(c.User, rootfs);
  spec.root = { path: 'rootfs', readonly: false };

  const a: Record<string, string> = {};
  const set = (k: string, v: string | undefined) => {
    if (v !== undefined && v !== '') a[k] = v;
  };
  const img = image as ImageConfig & { variant?: string; 'os.version'?: string; 'os.features'?: string[] };
  set('org.opencontainers.image.os', img.os);
  set('org.opencontainers.image.architecture', img.architecture);
  set('org.opencontainers.image.variant', img.variant);
  set('org.opencontainers.image.os.version', img['os.version']);
  set('org.opencontainers.image.os.features', img['os.features']?.join(','));
  set('org.opencontainers.image.author', img.author);
  set('org.opencontainers.image.created', img.created);
  set('org.opencontainers.image.stopSignal', c.StopSignal);
  set('org.opencontainers.image.exposedPorts', c.ExposedPorts ? Object.keys(c.ExposedPorts).join(',') : undefined);
  set(VOLUMES_ANNOTATION, c.Volumes ? Object.keys(c.Volumes).join(',') : undefined);
  for (const [k, v] of Object.entries(c.Labels ?? {})) a[k] = v;
  if (Object.keys(a).length) spec.annotations = a;
  return spec;
}
