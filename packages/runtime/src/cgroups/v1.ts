/**
 * The cgroup v1 driver, also used on hybrid hosts: limits go to the v1 controllers; on hybrid the
 * container also gets (and joins) a directory in the cgroup2 tree, as runc does, so tools that
 * look at 0::/ see it too. Directories are keyed like runc's cgroup_paths ('' = cgroup2).
 */
import * as fs from 'fs';
import * as path from 'path';
import { CgroupIO, fsIO, mkdirAll, PERMISSION_CODES, pidsUnder, tryRead } from './fsio';
import { freezeV1, isFrozenV1, thawV1 } from './freezer';
import { destroyDirs, signalAllFrozen } from './lifecycle';
import { CgroupLayout, V1Hierarchy } from './mountinfo';
import { applyV1 } from './resources-v1';
import type { Json } from './stats';
import { ApplyOptions, CgroupError, CgroupManager, CgroupMode, CgroupMountSource, LinuxResources, SavedCgroup } from './types';

export class V1Manager implements CgroupManager {
  /** Hierarchies a rootless container could not create; limits for them are an error. */
  private readonly skipped = new Set<string>();

  constructor(
    readonly mode: Extract<CgroupMode, 'v1' | 'hybrid'>,
    readonly path: string,
    readonly dirs: Readonly<Record<string, string>>,
    private readonly layout: CgroupLayout,
    private readonly rootless = false,
    private readonly io: CgroupIO = fsIO,
  ) {}

  private hierarchy(controller: string): V1Hierarchy | undefined {
    return this.layout.v1.find((h) => h.controllers.includes(controller) && this.dirs[h.key] !== undefined);
  }

  /** The dir for a controller's files; the error says what was asked for and why it cannot be. */
  private readonly dirFor = (controller: string, what: string): string => {
    const h = this.hierarchy(controller);
    if (!h) throw new CgroupError(`cgroup: cannot set ${what}: the ${controller} controller is not mounted on this host`);
    if (this.skipped.has(h.key)) throw new CgroupError(`cgroup: cannot set ${what}: container could not join or create the ${controller} cgroup`);
    return this.dirs[h.key];
  };

  /** The dir used to list pids and test existence: devices, like runc, else any v1 one. */
  private primary(): string | undefined {
    const h = this.hierarchy('devices') ?? this.layout.v1.find((x) => this.dirs[x.key] !== undefined);
    return h ? this.dirs[h.key] : this.dirs[''];
  }

  private freezerDir(): string | undefined {
    const h = this.hierarchy('freezer');
    return h && !this.skipped.has(h.key) ? this.dirs[h.key] : undefined;
  }

  create(): void {
    for (const [key, dir] of Object.entries(this.dirs)) {
      try {
        mkdirAll(dir);
        const h = this.layout.v1.find((x) => x.key === key);
        if (h?.controllers.includes('cpuset')) this.initCpuset(h.mountpoint, dir);
      } catch (e) {
        if (this.rootless && PERMISSION_CODES.has((e as CgroupError).code ?? '')) {
          this.skipped.add(key);
          continue;
        }
        throw e;
      }
    }
  }

  /**
   * A new v1 cpuset cgroup starts with empty cpus/mems and refuses tasks until they are set:
   * copy each level's parent values down to the container (runc's ensureParent).
   */
  private initCpuset(mountpoint: string, dir: string): void {
    const rel = path.relative(mountpoint, dir);
    if (rel.startsWith('..')) return;
    let parent = mountpoint;
    for (const part of rel.split('/').filter(Boolean)) {
      const cur = path.join(parent, part);
      for (const file of ['cpuset.cpus', 'cpuset.mems']) {
        if ((tryRead(cur, file) ?? '').trim() === '') {
          const v = (tryRead(parent, file) ?? '').trim();
          if (v) this.io.write(cur, file, v);
        }
      }
      parent = cur;
    }
  }

  apply(resources: LinuxResources | undefined, opts: ApplyOptions = {}): void {
    if (this.rootless && (opts.initial || resources?.devices !== undefined)) {
      // Device rules cannot work rootless (runc ignores their errors); do not let them fail the rest.
      try {
        applyV1({ devices: resources?.devices }, this.dirFor, this.io, opts);
      } catch {
        /* ignored, as runc */
      }
      applyV1(resources && { ...resources, devices: undefined }, this.dirFor, this.io, {});
      return;
    }
    applyV1(resources, this.dirFor, this.io, opts);
  }

  join(pid: number): void {
    for (const [key, dir] of Object.entries(this.dirs)) {
      if (this.skipped.has(key)) continue;
      try {
        this.io.write(dir, 'cgroup.procs', String(pid));
      } catch (e) {
        if (this.rootless && PERMISSION_CODES.has((e as CgroupError).code ?? '')) continue;
        throw e;
      }
    }
  }

  entryDirs(): { v2?: string; v1: string[] } {
    const out: { v2?: string; v1: string[] } = { v1: [] };
    for (const [key, dir] of Object.entries(this.dirs)) {
      if (this.skipped.has(key)) continue;
      if (key === '') out.v2 = dir;
      else out.v1.push(dir);
    }
    return out;
  }

  pids(): number[] {
    const d = this.primary();
    return d ? pidsUnder(d) : [];
  }

  signalAll(signal: number): void {
    signalAllFrozen(
      {
        pids: () => this.pids(),
        canFreeze: () => this.freezerDir() !== undefined && fs.existsSync(this.freezerDir()!),
        freeze: () => this.freeze(),
        thaw: () => this.thaw(),
        isFrozen: () => this.isFrozen(),
      },
      signal,
    );
  }

  private needFreezer(): string {
    const d = this.freezerDir();
    if (!d) throw new CgroupError('cgroup: cannot freeze: the freezer controller is not available for this container');
    return d;
  }

  freeze(): void {
    freezeV1(this.needFreezer(), this.io);
  }

  thaw(): void {
    thawV1(this.needFreezer(), this.io);
  }

  isFrozen(): boolean {
    const d = this.freezerDir();
    return d ? isFrozenV1(d) : false;
  }

  destroy(): void {
    destroyDirs(this, Object.values(this.dirs));
  }

  exists(): boolean {
    const d = this.primary();
    return d !== undefined && fs.existsSync(d);
  }

  /** runc's v1 view: one bind per hierarchy, named after the host mountpoint; comounts get symlinks. */
  mountSources(): CgroupMountSource[] {
    const out: CgroupMountSource[] = [];
    for (const h of this.layout.v1) {
      const dir = this.dirs[h.key];
      if (dir === undefined || this.skipped.has(h.key)) continue;
      const name = path.basename(h.mountpoint);
      const src: CgroupMountSource = { controller: name, hostPath: dir };
      if (name.includes(',')) src.symlinks = name.split(',');
      out.push(src);
    }
    return out;
  }

  stats(): Record<string, Json> {
    // Loaded here, as in v2.ts: only events and stats read them, not every create.
    const { statsV1 } = require('./stats') as typeof import('./stats');
    return statsV1((c) => this.controllerDir(c), this.mode === 'hybrid' ? this.dirs[''] : undefined);
  }

  controllerDir(controller: string): string | undefined {
    const h = this.hierarchy(controller);
    return h && !this.skipped.has(h.key) ? this.dirs[h.key] : undefined;
  }

  save(): SavedCgroup {
    // Hierarchies a rootless create skipped have no dir: a later process must not try them.
    const dirs = Object.fromEntries(Object.entries(this.dirs).filter(([k]) => !this.skipped.has(k)));
    const s: SavedCgroup = { mode: this.mode, path: this.path, dirs };
    if (this.rootless) s.rootless = true;
    return s;
  }
}
