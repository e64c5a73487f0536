/** What tsrun keeps about a container in <root>/<id>/state.json. */
import type { Spec } from '@tsrun/spec';
import type { SavedCgroup } from '../cgroups';

export interface ContainerRecord {
  ociVersion: string;
  id: string;
  /** Host pid of the container's init; 0 while it is being created. */
  pid: number;
  /** Start time of init in clock ticks (field 22 of /proc/PID/stat): guards against pid reuse. */
  pidStartTime: string;
  bundle: string;
  rootfs: string;
  /** RFC 3339 with nanoseconds, UTC, as runc prints it. */
  created: string;
  owner: string;
  annotations: Record<string, string>;
  /** The process that is creating the container (to tell an abandoned creation). */
  creatorPid: number;
  cgroup: SavedCgroup | null;
  /** The config the container was created from: hooks, namespaces and defaults for exec. */
  config: Spec;
  rootless: boolean;
}
