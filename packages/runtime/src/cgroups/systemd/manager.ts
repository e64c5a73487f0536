/**
 * The systemd cgroup driver (`--systemd-cgroup`, cgroupsPath "slice:prefix:name"), as runc's:
 * the container's cgroup is a transient scope unit (or a slice unit) that systemd creates over
 * D-Bus with the container's first process in it and the limits it knows by name; the files
 * are then written as with cgroupfs (systemd delegates the scope to us), through the same
 * v1/v2 manager, which also does what systemd does not (device rules, freezing, stats).
 */
import type { LinuxResources } from '@tsrun/spec';
import { CgroupError, CgroupManager, SavedCgroup, type ApplyOptions, type CgroupMountSource } from '../types';
import type { Json } from '../stats';
import { SystemdBus } from './bus';

export { SystemdBus };
import { annotationProperties, placementProperties, resourceProperties } from './properties';

export interface SystemdUnit {
  /** "<prefix>-<name>.scope", or "<name>.slice". */
  unit: string;
  slice: string;
}

export class SystemdManager implements CgroupManager {
  private readonly bus: SystemdBus;
  /** The unit is ours to stop: it was started by this manager, or belongs to a saved container. */
  private owned: boolean;

  constructor(
    private readonly u: SystemdUnit,
    private readonly fsm: CgroupManager,
    private readonly opts: { id: string; annotations?: Record<string, string>; rootless: boolean; owned: boolean; bus?: SystemdBus },
  ) {
    this.bus = opts.bus ?? new SystemdBus(opts.rootless);
    this.owned = opts.owned;
  }

  get mode() {
    return this.fsm.mode;
  }
  get path() {
    return this.fsm.path;
  }
  get dirs() {
    return this.fsm.dirs;
  }

  /** The unit comes into being with the container's first process: see attachFirst. */
  create(): void {}

  /**
   * Start the unit with `pid` (stage 1 of a new container) in it, with the limits systemd
   * knows, then join the hierarchies systemd does not manage (v1) as cgroupfs would.
   */
  attachFirst(pid: number, resources: LinuxResources | undefined): void {
    const unified = this.fsm.mode !== 'v1';
    const props = [
      ...placementProperties({ unit: this.u.unit, slice: this.u.slice, description: `tsrun container ${this.opts.id}`, pid, unified }),
      ...resourceProperties(resources, this.fsm.mode === 'v2'),
      ...annotationProperties(this.opts.annotations),
    ];
    this.bus.startUnit(this.u.unit, props);
    this.owned = true;
    if (this.fsm.mode !== 'v2') {
      // v1/hybrid: systemd made the dirs of the controllers it manages; make the others.
      this.fsm.create();
      this.fsm.join(pid);
    }
  }

  apply(resources: LinuxResources | undefined, opts: ApplyOptions = {}): void {
    // At creation the unit was started with these properties already.
    if (!opts.initial) this.bus.setProperties(this.u.unit, resourceProperties(resources, this.fsm.mode === 'v2'));
    this.fsm.apply(resources, opts);
  }

  join(pid: number): void {
    this.fsm.join(pid);
  }
  entryDirs() {
    return this.fsm.entryDirs();
  }
  pids(): number[] {
    return this.fsm.pids();
  }
  signalAll(signal: number): void {
    this.fsm.signalAll(signal);
  }
  freeze(): void {
    this.fsm.freeze();
  }
  thaw(): void {
    this.fsm.thaw();
  }
  isFrozen(): boolean {
    return this.fsm.isFrozen();
  }

  /**
   * Kill what is left, then stop the unit (systemd removes its cgroup) and forget its failure.
   * A unit this manager did not start (a failed create found the name taken) is another
   * owner's: its processes and cgroup are left alone.
   */
  destroy(): void {
    if (!this.owned) {
      this.bus.close();
      return;
    }
    let err: unknown;
    try {
      this.fsm.destroy();
    } catch (e) {
      err = e;
    }
    this.bus.stopUnit(this.u.unit);
    this.bus.resetFailed(this.u.unit);
    this.bus.close();
    if (err) throw err;
  }

  exists(): boolean {
    return this.fsm.exists();
  }
  mountSources(): CgroupMountSource[] {
    return this.fsm.mountSources();
  }
  stats(): Record<string, Json> {
    return this.fsm.stats();
  }
  controllerDir(controller: string): string | undefined {
    return this.fsm.controllerDir(controller);
  }
  save(): SavedCgroup {
    return { ...this.fsm.save(), systemd: { unit: this.u.unit, slice: this.u.slice } };
  }
}

/** systemd's rule for unit names (unit_name_is_valid): the characters it allows, a known suffix. */
export function checkUnitName(unit: string): void {
  if (unit.length > 255 || !/^[A-Za-z0-9:_.\\-]+\.(scope|slice)$/.test(unit) || unit.startsWith('.')) {
    throw new CgroupError(`cgroup: invalid systemd unit name "${unit}"`);
  }
}
