/** The two JSON views of a container: the runtime-spec State (hooks) and runc's `state` output. */
import type { ContainerStatus, State } from '@tsrun/spec';
import type { ContainerRecord } from './record';

/** runtime-spec "State": what hooks read on stdin. */
export function specState(rec: ContainerRecord, status: ContainerStatus): State {
  // pid is REQUIRED only while the process exists (created, running); key order as runc's.
  const s = { ociVersion: rec.ociVersion, id: rec.id, status, pid: rec.pid as number | undefined, bundle: rec.bundle } as State;
  if (status === 'stopped') delete (s as { pid?: number }).pid;
  if (Object.keys(rec.annotations).length) s.annotations = rec.annotations;
  return s;
}

/** runc's containerState, field for field and in its order; pid is 0 once stopped. */
export function cliState(rec: ContainerRecord, status: ContainerStatus): Record<string, unknown> {
  const out: Record<string, unknown> = {
    ociVersion: rec.ociVersion,
    id: rec.id,
    pid: status === 'stopped' ? 0 : rec.pid,
    status,
    bundle: rec.bundle,
    rootfs: rec.rootfs,
    created: rec.created,
  };
  if (Object.keys(rec.annotations).length) out.annotations = rec.annotations;
  out.owner = rec.owner;
  return out;
}
