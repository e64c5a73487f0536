/** What every container operation needs: where state lives and how to report. */
import type { Logger } from '../log';
import { StateStore } from './store';

export interface Context {
  store: StateStore;
  log: Logger;
  /** --systemd-cgroup: cgroupsPath is "slice:prefix:name". */
  systemdCgroup: boolean;
  rootless: boolean;
}

export function makeContext(root: string, log: Logger, opts: { systemdCgroup?: boolean; rootless?: boolean } = {}): Context {
  return { store: new StateStore(root), log, systemdCgroup: !!opts.systemdCgroup, rootless: !!opts.rootless };
}
