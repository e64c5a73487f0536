/**
 * The cgroup v2 (unified) driver: one directory; controllers must be enabled in every ancestor's
 * cgroup.subtree_control before the container's dir has their files.
 */
import * as fs from 'fs';
import * as path from 'path';
import { CgroupIO, fsIO, mkdirAll, PERMISSION_CODES, pidsUnder, tryRead } from './fsio';
import { freezeV2, isFrozenV2, thawV2 } from './freezer';
import { destroyDirs, signalAllFrozen, SIGKILL } from './lifecycle';
import { applyV2 } from './resources-v2';
import { effectiveDeviceRules } from './devices';
import type { Json } from './stats';
import { ApplyOptions, CgroupError, CgroupManager, CgroupMountSource, LinuxResources, SavedCgroup } from './types';

/** Does anything in `r` need a controller (runc needAnyControllers)? Device rules do not (eBPF). */
function needsControllers(r: LinuxResources | undefined): boolean {
  if (!r) return false;
  const { devices: _ignored, ...rest } = r;
  return Object.values(rest).some((v) => v !== undefined && (typeof v !== 'object' || Object.keys(v).length > 0));
}

export class V2Manager implements CgroupManager {
  readonly mode = 'v2' as const;
  readonly dirs: Readonly<Record<string, string>>;
  /** Rootless and not allowed to create the dir: run without a cgroup unless limits are asked for. */
  private skipped: boolean;

  /** `skipped`: rebuilt from the state of a rootless container that had no cgroup. */
  constructor(
    readonly path: string,
    private readonly dir: string,
    private readonly mountpoint: string,
    private readonly rootless = false,
    skipped = false,
    private readonly io: CgroupIO = fsIO,
  ) {
    this.dirs = { '': dir };
    this.skipped = skipped;
  }

  create(): void {
    try {
      mkdirAll(this.dir);
    } catch (e) {
      if (this.rootless && PERMISSION_CODES.has((e as CgroupError).code ?? '')) {
        this.skipped = true;
        return;
      }
      throw e;
    }
    this.enableControllers();
  }

  /**
   * Enable every controller each ancestor offers in its subtree_control, from the mount root down
   * to the container's parent (runc's CreateCgroupPath). Writes that fail are ignored, as in runc:
   * an ancestor with processes of its own refuses (EBUSY, "no internal processes"), and a missing
   * controller surfaces later as a precise error from apply().
   */
  private enableControllers(): void {
    const rel = path.relative(this.mountpoint, this.dir);
    if (rel.startsWith('..') || rel === '') return;
    let cur = this.mountpoint;
    for (const part of rel.split('/').filter(Boolean)) {
      const available = (tryRead(cur, 'cgroup.controllers') ?? '').split(/\s+/).filter(Boolean);
      const enabled = new Set((tryRead(cur, 'cgroup.subtree_control') ?? '').split(/\s+/).filter(Boolean));
      const missing = available.filter((c) => !enabled.has(c));
      if (missing.length > 0) {
        try {
          this.io.write(cur, 'cgroup.subtree_control', missing.map((c) => '+' + c).join(' '));
        } catch {
          for (const c of missing) {
            try {
              this.io.write(cur, 'cgroup.subtree_control', '+' + c);
            } catch {
              /* see above */
            }
          }
        }
      }
      cur = path.join(cur, part);
    }
  }

  private controllers(): Set<string> {
    return new Set((tryRead(this.dir, 'cgroup.controllers') ?? '').split(/\s+/).filter(Boolean));
  }

  /** Device rules become an eBPF program on the cgroup (bpf-devices.ts), as runc does. */
  apply(resources: LinuxResources | undefined, opts: ApplyOptions = {}): void {
    if (this.skipped) {
      if (needsControllers(resources)) {
        // runc's words on a v2 host.
        throw new CgroupError(`rootless needs no limits + no cgrouppath when no permission is granted for cgroups: mkdir ${this.dir}: permission denied`);
      }
      return;
    }
    const controllers = this.controllers();
    applyV2(resources, this.dir, this.controllerAwareIO(controllers), controllers);
    if (opts.initial || resources?.devices !== undefined) {
      try {
        // The eBPF program generator and its syscalls: loaded on cgroup v2 hosts only.
        const { installDeviceFilter } = require('./bpf-devices') as typeof import('./bpf-devices');
        installDeviceFilter(this.dir, effectiveDeviceRules(resources?.devices, opts.extraDeviceRules));
      } catch (e) {
        // Rootless callers cannot load BPF programs; runc ignores that too.
        if (!(this.rootless && (e as CgroupError).code === 'EPERM')) throw e;
      }
    }
  }

  /**
   * A v2 control file is missing when its controller is not enabled for this cgroup (an ancestor
   * refused subtree_control, or the controller is bound to a v1 hierarchy): say that instead of
   * a bare ENOENT. The code stays ENOENT so callers that tolerate a missing file still can.
   */
  private controllerAwareIO(controllers: Set<string>): CgroupIO {
    const io = this.io;
    return {
      read: (d, f) => io.read(d, f),
      exists: (d, f) => io.exists(d, f),
      write: (d, f, v) => {
        try {
          io.write(d, f, v);
        } catch (e) {
          const ctrl = f.split('.')[0];
          if ((e as CgroupError).code !== 'ENOENT' || ctrl === 'cgroup' || controllers.has(ctrl)) throw e;
          const avail = [...controllers].join(' ') || 'none';
          throw new CgroupError(`cgroup: cannot write ${f}=${v}: the ${ctrl} controller is not enabled in ${d} (available: ${avail})`, 'ENOENT');
        }
      },
    };
  }

  join(pid: number): void {
    if (this.skipped) return;
    try {
      this.io.write(this.dir, 'cgroup.procs', String(pid));
    } catch (e) {
      if (this.rootless && PERMISSION_CODES.has((e as CgroupError).code ?? '')) return;
      throw e;
    }
  }

  entryDirs(): { v2?: string; v1: string[] } {
    return this.skipped ? { v1: [] } : { v2: this.dir, v1: [] };
  }

  pids(): number[] {
    return pidsUnder(this.dir);
  }

  signalAll(signal: number): void {
    // cgroup.kill (Linux 5.14+) kills the whole subtree atomically, no freezing needed.
    if (signal === SIGKILL && this.io.exists(this.dir, 'cgroup.kill')) {
      try {
        this.io.write(this.dir, 'cgroup.kill', '1');
        return;
      } catch {
        /* fall back to kill(2) */
      }
    }
    signalAllFrozen(
      {
        pids: () => this.pids(),
        canFreeze: () => this.io.exists(this.dir, 'cgroup.freeze'),
        freeze: () => this.freeze(),
        thaw: () => this.thaw(),
        isFrozen: () => this.isFrozen(),
      },
      signal,
    );
  }

  freeze(): void {
    freezeV2(this.dir, this.io);
  }

  thaw(): void {
    thawV2(this.dir, this.io);
  }

  isFrozen(): boolean {
    return isFrozenV2(this.dir);
  }

  destroy(): void {
    destroyDirs(this, [this.dir]);
  }

  exists(): boolean {
    return fs.existsSync(this.dir);
  }

  /** The one unified dir; '' means "mount it at /sys/fs/cgroup itself". */
  mountSources(): CgroupMountSource[] {
    return this.skipped ? [] : [{ controller: '', hostPath: this.dir }];
  }

  stats(): Record<string, Json> {
    // Loaded when used: only events and stats read them, not every create.
    const { statsV2 } = require('./stats') as typeof import('./stats');
    return statsV2(this.dir);
  }

  controllerDir(_controller: string): string | undefined {
    return this.skipped ? undefined : this.dir;
  }

  save(): SavedCgroup {
    const s: SavedCgroup = { mode: 'v2', path: this.path, dirs: this.skipped ? {} : { ...this.dirs } };
    if (this.rootless) s.rootless = true;
    return s;
  }
}
