/**
 * The Dockerfile builder: stages, instructions, the build cache, the resulting image.
 *
 * Each stage is a promise; every stage the target needs is started at once and a stage waits
 * only for the stages it uses (FROM, COPY --from, RUN --mount from=), so independent stages
 * build in parallel and stages the target does not need are skipped. Each instruction has a
 * cache key (cache.ts) chained from the one before; a hit restores the state after it without
 * running anything. RUN, COPY, ADD and WORKDIR work on an overlay snapshot of the parent
 * (snapshot.ts) and commit its upper dir as the new layer (layers.ts); the others only change
 * the config. History entries are written as BuildKit writes them (`RUN /bin/sh -c ... #
 * buildkit`, `|2 A=1 B=2 /bin/sh -c ...` with build args, empty_layer for metadata steps).
 */
import * as fs from 'fs';
import * as path from 'path';
import { MediaType, type Descriptor, type History, type ImageConfig, type Manifest, type Mount } from '@tsrun/spec';
import { resolveUser } from '../bundle/user';
import {
  DockerfileError,
  IgnoreMatcher,
  expandWord,
  expandWords,
  parseDockerfile,
  parseMount,
  type AddInstruction,
  type CopyInstruction,
  type Dockerfile,
  type Instruction,
  type RunInstruction,
  type RunMount,
  type Stage,
} from '../dockerfile';
import { formatPlatform, hostPlatform } from '../store/platform';
import type { ImageStore } from '../store/store';
import { BuildCache, cacheKey, type BuildState, type LayerRef } from './cache';
import { BuildContext, cleanRel, ContextError, hasWildcards, hashTree } from './context';
import { archiveKind, CopyError, copyTree, destHost, ensureDir, extractArchive, isDirIn, writeFileEntry, writeFileFrom, type CopyOptions, type Owner } from './copy';
import { refusal, type Entitlement } from './entitlements';
import { commitLayer, isEmptyDir, lowerDirs } from './layers';
import type { Progress } from './progress';
import { RunError, runStep, stopStep, type RunningStep } from './run';
import { findSlirp, SLIRP_MISSING } from './slirp';
import { readonlySnapshot, scratchDir, SnapshotError, sweepSnapshots, writableSnapshot, type Snapshot } from './snapshot';
import { UrlSources, type UrlContent } from './urls';

export const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const PROXY_ARGS = ['HTTP_PROXY', 'HTTPS_PROXY', 'FTP_PROXY', 'NO_PROXY', 'ALL_PROXY'].flatMap((a) => [a, a.toLowerCase()]);

export class BuildError extends Error {}

export interface BuildOptions {
  store: ImageStore;
  dockerfile: { text: string; name: string };
  context: BuildContext;
  buildArgs: Record<string, string>;
  target?: string;
  noCache: boolean;
  labels: Record<string, string>;
  /** --network: the default for RUN steps without their own --network. */
  network?: 'default' | 'none' | 'host';
  /** --allow: what RUN --network=host and --security=insecure need (none when absent). */
  allow?: ReadonlySet<Entitlement>;
  /** --secret id=..,src=..|env=..: what RUN --mount=type=secret can use. */
  secrets: Record<string, { src?: string; env?: string }>;
  /** --ssh id=socket. */
  ssh: Record<string, string>;
  progress: Progress;
  /** SOURCE_DATE_EPOCH: history times and layer mtimes are clamped to it. */
  epoch?: number;
  /**
   * Images FROM and --from name that the store lacks are pulled ('missing', docker build's
   * default); 'always' (--pull) asks the registry for a newer one first.
   */
  pull?: 'missing' | 'always';
}

export interface BuildResult {
  manifest: Descriptor;
  config: ImageConfig;
  /** The image ID: the config digest. */
  id: string;
  state: BuildState;
}

interface StageResult {
  state: BuildState;
  key: string;
}

/** Instructions and their fields as a stage sees them while it runs. */
class StageVars {
  env = new Map<string, string>();
  /** ARGs declared in this stage and their values (undefined: declared without any value). */
  args = new Map<string, string | undefined>();
  constructor(readonly escape: '\\' | '`') {}
  lookup = (name: string): string | undefined => (this.env.has(name) ? this.env.get(name) : this.args.has(name) ? this.args.get(name) : undefined);
  expand(word: string): string {
    return expandWord(word, this.lookup, { escape: this.escape });
  }
  words(word: string): string[] {
    return expandWords(word, this.lookup, { escape: this.escape });
  }
}

function envMap(env: string[] | undefined): Map<string, string> {
  const m = new Map<string, string>();
  for (const e of env ?? []) {
    const i = e.indexOf('=');
    if (i > 0) m.set(e.slice(0, i), e.slice(i + 1));
    else m.set(e, '');
  }
  return m;
}

/** Go's %q of a []string: ["a" "b"]. */
function goList(a: string[]): string {
  return `[${a.map((s) => JSON.stringify(s)).join(' ')}]`;
}

function platformArgs(): Record<string, string> {
  const p = hostPlatform();
  const plat = formatPlatform(p);
  const out: Record<string, string> = {};
  for (const pre of ['BUILD', 'TARGET']) {
    out[`${pre}PLATFORM`] = plat;
    out[`${pre}OS`] = p.os;
    out[`${pre}ARCH`] = p.architecture;
    out[`${pre}VARIANT`] = p.variant ?? '';
  }
  return out;
}

function clone<T>(v: T): T {
  return JSON.parse(JSON.stringify(v)) as T;
}

export class Builder {
  private readonly cache: BuildCache;
  private readonly urls: UrlSources;
  private readonly df: Dockerfile;
  private readonly stageRuns = new Map<number, Promise<StageResult>>();
  private readonly running = new Set<RunningStep>();
  private readonly usedArgs = new Set<string>();
  private readonly globalArgs = new Map<string, string | undefined>();
  private readonly autoArgs = platformArgs();
  private failed = false;

  constructor(private readonly o: BuildOptions) {
    this.cache = new BuildCache(o.store.root);
    this.urls = new UrlSources(o.store);
    this.df = parseDockerfile(o.dockerfile.text, { file: o.dockerfile.name });
    if (this.df.stages.length === 0) throw new BuildError(`${o.dockerfile.name}: the Dockerfile has no FROM instruction`);
    // Global scope: platform args, then ARGs before the first FROM with their --build-arg values.
    for (const [k, v] of Object.entries(this.autoArgs)) this.globalArgs.set(k, v);
    const vars = new StageVars(this.df.directives.escape);
    vars.args = this.globalArgs;
    for (const ins of this.df.globalArgs) {
      for (const a of ins.args) {
        const given = o.buildArgs[a.key];
        if (given !== undefined) this.usedArgs.add(a.key);
        this.globalArgs.set(a.key, given ?? (a.value !== undefined ? this.at(ins, () => vars.expand(a.value!)) : undefined));
      }
    }
  }

  /** Runs `fn`, turning its error into one naming the instruction's file:line. */
  private at<T>(ins: { location: { file: string; line: number; column: number } }, fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      throw this.located(ins, e);
    }
  }

  private located(ins: { location: { file: string; line: number; column: number } }, e: unknown): Error {
    if (e instanceof DockerfileError) return e;
    const l = ins.location;
    return new BuildError(`${l.file}:${l.line}: ${(e as Error).message}`);
  }

  private stageIndex(name: string): number | undefined {
    const lower = name.toLowerCase();
    const byName = this.df.stages.find((s) => s.name === lower);
    if (byName) return byName.index;
    return undefined;
  }

  /** The image FROM names, expanded with the global args. */
  private fromImage(st: Stage): string {
    const vars = new StageVars(this.df.directives.escape);
    vars.args = this.globalArgs;
    return this.at(st.from, () => vars.expand(st.from.image));
  }

  /** Stages `st` uses (by FROM, COPY --from, RUN --mount from=), as far as can be told before it runs. */
  private dependencies(st: Stage): number[] {
    const out = new Set<number>();
    const ref = (name: string | undefined, numeric: boolean) => {
      if (!name) return;
      const i = this.stageIndex(name) ?? (numeric && /^[0-9]+$/.test(name) ? Number(name) : undefined);
      if (i !== undefined && i < st.index) out.add(i);
    };
    ref(this.fromImage(st), false);
    for (const ins of st.instructions) {
      if (ins.kind === 'COPY') ref(ins.from, true);
      if (ins.kind === 'RUN') for (const m of ins.mounts) ref(m.from, false);
    }
    return [...out];
  }

  async build(): Promise<BuildResult> {
    sweepSnapshots(this.o.store.root);
    let target = this.df.stages[this.df.stages.length - 1];
    if (this.o.target) {
      const t = this.df.stages.find((s) => s.name === this.o.target!.toLowerCase());
      if (!t) throw new BuildError(`target stage "${this.o.target}" could not be found`);
      target = t;
    }
    // Every stage the target needs, started now: they run in parallel where independent.
    const needed = new Set<number>();
    const visit = (i: number) => {
      if (needed.has(i)) return;
      needed.add(i);
      for (const d of this.dependencies(this.df.stages[i])) visit(d);
    };
    visit(target.index);
    this.preflight([...needed].sort((a, b) => a - b));
    return this.o.store.session(async () => {
      const all = [...needed].sort((a, b) => a - b).map((i) => this.runStage(i));
      try {
        const results = await Promise.allSettled(all);
        const failed = results.find((r) => r.status === 'rejected') as PromiseRejectedResult | undefined;
        if (failed) throw failed.reason;
        const result = await this.runStage(target.index);
        this.warnUnusedArgs();
        return await this.finish(result.state);
      } catch (e) {
        this.stopAll();
        throw e;
      }
    });
  }

  /**
   * What can be told of the RUN steps before anything runs, as BuildKit checks them when it
   * loads the build graph: entitlements, and slirp4netns for the default network. A flag given
   * by a variable is known only when its stage gets there: planRun checks every step again.
   */
  private preflight(stages: number[]): void {
    for (const i of stages) {
      for (const ins of this.df.stages[i].instructions) {
        if (ins.kind !== 'RUN') continue;
        const network = ins.network ?? this.o.network ?? 'default';
        const security = ins.security ?? 'sandbox';
        if (network.includes('$') || security.includes('$')) continue;
        this.at(ins, () => this.checkRun(network, security));
      }
    }
  }

  private checkRun(network: string, security: string): void {
    const refused = refusal(this.o.allow ?? new Set(), { network, security });
    if (refused) throw new Error(refused);
    if (network === 'default' && !findSlirp()) throw new Error(SLIRP_MISSING);
  }

  private warnUnusedArgs(): void {
    const unused = Object.keys(this.o.buildArgs).filter((k) => !this.usedArgs.has(k) && !PROXY_ARGS.includes(k));
    if (unused.length) this.o.progress.log(`[Warning] One or more build-args [${unused.sort().join(' ')}] were not consumed`);
  }

  /** Interrupted (SIGINT/SIGTERM): stop like a failed stage; build() then rejects after cleaning up. */
  cancel(): void {
    this.stopAll();
  }

  /** Another stage failed: stop running containers (the runtime removes them) and let the rest wind down. */
  private stopAll(): void {
    this.failed = true;
    for (const r of this.running) stopStep(r);
  }

  private runStage(i: number): Promise<StageResult> {
    let p = this.stageRuns.get(i);
    if (!p) {
      p = this.buildStage(this.df.stages[i]);
      this.stageRuns.set(i, p);
      p.catch(() => this.stopAll());
    }
    return p;
  }

  private stageLabel(st: Stage, n: number, total: number): string {
    const name = st.name ?? (this.df.stages.length > 1 ? `stage-${st.index}` : undefined);
    return `[${name ? `${name} ` : ''}${n}/${total}]`;
  }

  private now(): string {
    return this.o.epoch !== undefined ? new Date(this.o.epoch * 1000).toISOString() : new Date().toISOString();
  }

  private readonly images = new Map<string, Promise<ReturnType<ImageStore['resolve']>>>();

  /**
   * An image by reference, from the store, pulled first when the store lacks it (or always,
   * with --pull), once per build whatever the number of instructions that name it.
   */
  private image(ref: string): Promise<ReturnType<ImageStore['resolve']>> {
    let p = this.images.get(ref);
    if (!p) {
      p = (async () => {
        // The registry client loads only for builds that may need it.
        const { pullImage } = require('../registry') as typeof import('../registry');
        await pullImage(this.o.store, ref, { policy: this.o.pull ?? 'missing' });
        return this.o.store.resolve(ref);
      })();
      this.images.set(ref, p);
    }
    return p;
  }

  private async base(st: Stage): Promise<{ state: BuildState; key: string; label: string }> {
    const image = this.fromImage(st);
    if (st.from.platform) {
      const vars = new StageVars(this.df.directives.escape);
      vars.args = this.globalArgs;
      const want = this.at(st.from, () => vars.expand(st.from.platform!));
      const host = hostPlatform();
      const [os, arch, variant] = want.split('/');
      if (os !== host.os || (arch && arch !== host.architecture) || (variant && variant !== (host.variant ?? ''))) {
        throw this.located(st.from, new Error(`FROM --platform=${want}: only the native platform ${formatPlatform(host)} can be built here`));
      }
    }
    if (image.toLowerCase() === 'scratch') {
      const p = hostPlatform();
      const config: ImageConfig = {
        architecture: p.architecture,
        os: p.os,
        ...(p.variant ? { variant: p.variant } : {}),
        config: { Env: [DEFAULT_PATH], WorkingDir: '/' },
        rootfs: { type: 'layers', diff_ids: [] },
        history: [],
      };
      return { state: { config, layers: [] }, key: cacheKey('scratch', formatPlatform(p)), label: 'FROM scratch' };
    }
    const stage = this.stageIndex(image);
    if (stage !== undefined && stage < st.index) {
      const r = await this.runStage(stage);
      return { state: clone(r.state), key: r.key, label: `FROM ${image}` };
    }
    if (stage !== undefined) throw this.located(st.from, new Error(`FROM ${image}: stage ${image} is defined after this one`));
    let img;
    try {
      img = await this.image(image);
    } catch (e) {
      throw this.located(st.from, new Error(`FROM ${image}: ${(e as Error).message}`));
    }
    const diffIds = img.config.rootfs?.diff_ids ?? [];
    if (diffIds.length !== img.layers.length) throw this.located(st.from, new Error(`FROM ${image}: the image config lists ${diffIds.length} diff_ids for ${img.layers.length} layers`));
    const layers: LayerRef[] = img.layers.map((d, i) => ({ descriptor: { mediaType: d.mediaType, digest: d.digest, size: d.size }, diffId: diffIds[i] }));
    const config = clone(img.config);
    config.history ??= [];
    return { state: { config, layers }, key: cacheKey('image', img.id, img.manifestDescriptor.digest), label: `FROM ${image}` };
  }

  private async buildStage(st: Stage): Promise<StageResult> {
    const { progress } = this.o;
    const base = await this.base(st);
    // ONBUILD triggers of the base image run first, then are dropped from this image.
    const triggers: Instruction[] = [];
    for (const t of base.state.config.config?.OnBuild ?? []) {
      const parsed = parseDockerfile(`FROM scratch\n${t}\n`, { file: `${this.o.dockerfile.name} (ONBUILD of ${base.label.slice(5)})` });
      triggers.push(...parsed.stages[0].instructions);
    }
    if (base.state.config.config?.OnBuild) delete base.state.config.config.OnBuild;
    const instructions = [...triggers, ...st.instructions];
    // As BuildKit shows them: FROM and the steps that touch the filesystem; config-only
    // instructions are applied without a line of their own.
    const visible = (i: Instruction) => i.kind === 'RUN' || i.kind === 'COPY' || i.kind === 'ADD' || i.kind === 'WORKDIR';
    const total = instructions.filter(visible).length + 1;
    let shown = 1;
    const fromStep = progress.start(`${this.stageLabel(st, 1, total)} ${base.label}`);
    progress.done(fromStep);

    const vars = new StageVars(this.df.directives.escape);
    let state = base.state;
    let key = base.key;
    vars.env = envMap(state.config.config?.Env);
    const ctx: StepCtx = { st, vars, cmdSet: false };
    for (let i = 0; i < instructions.length; i++) {
      if (this.failed) throw new BuildError('build cancelled: another stage failed');
      const ins = instructions[i];
      const step = visible(ins) ? progress.start(`${this.stageLabel(st, ++shown, total)} ${ins.original}`) : undefined;
      try {
        const r = await this.step(ins, state, key, ctx, step ?? 0);
        state = r.state;
        key = r.key;
        if (step !== undefined) {
          if (r.cached) progress.cached(step);
          else progress.done(step);
        }
      } catch (e) {
        const err = e instanceof RunError ? this.located(ins, new Error(`${ins.original}: process did not complete successfully: ${e.message}`)) : this.located(ins, e);
        if (step !== undefined) progress.error(step, err.message);
        throw err;
      }
    }
    return { state, key };
  }

  /** One instruction: from the cache when its key is known, else executed and recorded. */
  private async step(ins: Instruction, state: BuildState, parentKey: string, ctx: StepCtx, stepNo: number): Promise<{ state: BuildState; key: string; cached: boolean }> {
    const plan = await this.plan(ins, state, ctx);
    const key = cacheKey(parentKey, plan.key);
    // --no-cache skips every lookup: a re-run step's successors must not come from the cache.
    if (!this.o.noCache) {
      const hit = this.cache.get(key, (d) => this.o.store.hasBlob(d));
      if (hit) {
        plan.after?.(hit);
        return { state: hit, key, cached: !!plan.execute };
      }
    }
    const next = clone(state);
    let layer: LayerRef | undefined;
    if (plan.execute) layer = await plan.execute(next, stepNo);
    plan.apply?.(next);
    const h: History = { created: this.now(), created_by: plan.createdBy };
    if (plan.execute && layer) {
      next.layers.push(layer);
      next.config.rootfs = { type: 'layers', diff_ids: [...next.config.rootfs.diff_ids, layer.diffId] };
    } else {
      h.empty_layer = true;
    }
    if (plan.comment) h.comment = plan.comment;
    next.config.history = [...(next.config.history ?? []), h];
    next.config.created = h.created;
    this.cache.put(key, next);
    plan.after?.(next);
    return { state: next, key, cached: false };
  }

  // -------------------------------------------------------------------------------------------
  // Instructions: each is planned (expanded, keyed) before it runs or is looked up
  // -------------------------------------------------------------------------------------------

  private async plan(ins: Instruction, state: BuildState, ctx: StepCtx): Promise<StepPlan> {
    const v = ctx.vars;
    const cfg = (s: BuildState) => (s.config.config ??= {});
    switch (ins.kind) {
      case 'ENV': {
        const pairs = ins.pairs.map((p) => [v.expand(p.key), v.expand(p.value)] as const);
        const by = `ENV ${pairs.map(([k, val]) => `${k}=${val}`).join(' ')}`;
        const set = () => {
          for (const [k, val] of pairs) v.env.set(k, val);
        };
        set();
        return {
          key: by,
          createdBy: by,
          apply: (s) => {
            const env = envMap(cfg(s).Env);
            for (const [k, val] of pairs) env.set(k, val);
            cfg(s).Env = [...env].map(([k, val]) => `${k}=${val}`);
          },
        };
      }
      case 'ARG': {
        const parts: string[] = [];
        for (const a of ins.args) {
          const given = this.o.buildArgs[a.key];
          let value: string | undefined;
          if (given !== undefined) {
            value = given;
            this.usedArgs.add(a.key);
          } else if (a.value !== undefined) value = v.expand(a.value);
          else if (this.globalArgs.has(a.key)) value = this.globalArgs.get(a.key);
          if (a.key in this.autoArgs && given === undefined) value = this.autoArgs[a.key];
          v.args.set(a.key, value);
          parts.push(a.value !== undefined ? `${a.key}=${value ?? ''}` : a.key);
        }
        return { key: `ARG ${parts.join(' ')}\0${[...v.args].map(([k, val]) => `${k}=${val}`).join('\0')}`, createdBy: `ARG ${parts.join(' ')}` };
      }
      case 'LABEL': {
        const pairs = ins.pairs.map((p) => [v.expand(p.key), v.expand(p.value)] as const);
        const by = `LABEL ${pairs.map(([k, val]) => `${k}=${val}`).join(' ')}`;
        return { key: by, createdBy: by, apply: (s) => void (cfg(s).Labels = { ...(cfg(s).Labels ?? {}), ...Object.fromEntries(pairs) }) };
      }
      case 'MAINTAINER':
        return { key: `MAINTAINER ${ins.maintainer}`, createdBy: `MAINTAINER ${ins.maintainer}`, apply: (s) => void (s.config.author = ins.maintainer) };
      case 'USER': {
        const user = v.expand(ins.user);
        return { key: `USER ${user}`, createdBy: `USER ${user}`, apply: (s) => void (cfg(s).User = user) };
      }
      case 'EXPOSE': {
        const ports = ins.ports.flatMap((p) => v.words(p)).map((p) => (p.includes('/') ? p.toLowerCase() : `${p}/tcp`));
        return { key: `EXPOSE ${ports.join(' ')}`, createdBy: `EXPOSE map[${[...ports].sort().map((p) => `${p}:{}`).join(' ')}]`, apply: (s) => void (cfg(s).ExposedPorts = { ...(cfg(s).ExposedPorts ?? {}), ...Object.fromEntries(ports.map((p) => [p, {}])) }) };
      }
      case 'VOLUME': {
        const paths = ins.json ? ins.paths.map((p) => v.expand(p)) : ins.paths.flatMap((p) => v.words(p));
        if (paths.some((p) => p === '')) throw new Error('VOLUME specified can not be an empty string');
        return { key: `VOLUME ${JSON.stringify(paths)}`, createdBy: `VOLUME [${paths.join(' ')}]`, apply: (s) => void (cfg(s).Volumes = { ...(cfg(s).Volumes ?? {}), ...Object.fromEntries(paths.map((p) => [p, {}])) }) };
      }
      case 'STOPSIGNAL': {
        const sig = v.expand(ins.signal);
        return { key: `STOPSIGNAL ${sig}`, createdBy: `STOPSIGNAL ${sig}`, apply: (s) => void (cfg(s).StopSignal = sig) };
      }
      case 'SHELL':
        return { key: `SHELL ${JSON.stringify(ins.shell)}`, createdBy: `SHELL [${ins.shell.join(' ')}]`, apply: (s) => void (cfg(s).Shell = [...ins.shell]) };
      case 'CMD':
      case 'ENTRYPOINT': {
        const shell = state.config.config?.Shell ?? ['/bin/sh', '-c'];
        const args = ins.cmd.json ? ins.cmd.args : [...shell, ins.cmd.command];
        const by = `${ins.kind} ${goList(args)}`;
        if (ins.kind === 'CMD') ctx.cmdSet = true;
        const cmdSet = ctx.cmdSet;
        return {
          key: by,
          createdBy: by,
          apply: (s) => {
            if (ins.kind === 'CMD') cfg(s).Cmd = args;
            else {
              cfg(s).Entrypoint = args;
              if (!cmdSet) cfg(s).Cmd = null; // an inherited CMD does not outlive a new ENTRYPOINT
            }
          },
        };
      }
      case 'HEALTHCHECK': {
        const hc = { Test: ins.test, Interval: ins.interval, Timeout: ins.timeout, StartPeriod: ins.startPeriod, StartInterval: ins.startInterval, Retries: ins.retries };
        for (const k of Object.keys(hc) as (keyof typeof hc)[]) if (hc[k] === undefined) delete hc[k];
        const by = `HEALTHCHECK ${ins.test[0] === 'NONE' ? 'NONE' : `&{${goList(ins.test)} ${[hc.Interval, hc.Timeout, hc.StartPeriod, hc.StartInterval].map((d) => `"${(d ?? 0) / 1e9}s"`).join(' ')} '\\x${(hc.Retries ?? 0).toString(16).padStart(2, '0')}'}`}`;
        return { key: `HEALTHCHECK ${JSON.stringify(hc)}`, createdBy: by, apply: (s) => void (cfg(s).Healthcheck = hc) };
      }
      case 'ONBUILD':
        return { key: `ONBUILD ${ins.expression}`, createdBy: `ONBUILD ${ins.expression}`, apply: (s) => void (cfg(s).OnBuild = [...(cfg(s).OnBuild ?? []), ins.expression]) };
      case 'WORKDIR':
        return this.planWorkdir(ins.path, state, ctx);
      case 'RUN':
        return this.planRun(ins, state, ctx);
      case 'COPY':
      case 'ADD':
        return this.planCopy(ins, state, ctx);
      case 'FROM':
        throw new Error('FROM is not allowed here');
    }
  }

  private planWorkdir(raw: string, state: BuildState, ctx: StepCtx): StepPlan {
    const expanded = ctx.vars.expand(raw);
    const wd = path.posix.resolve(state.config.config?.WorkingDir || '/', expanded);
    const user = state.config.config?.User;
    return {
      key: `WORKDIR ${wd}\0${user ?? ''}`,
      createdBy: `WORKDIR ${wd} # buildkit`,
      apply: (s) => void ((s.config.config ??= {}).WorkingDir = wd),
      // The directory is made when missing (BuildKit: owned by the current USER).
      execute: async (s) =>
        this.withSnapshot(s, async (snap) => {
          if (isDirIn(snap.merged, wd)) return;
          const owner: Owner = user ? resolveUser(user, snap.merged) : { uid: 0, gid: 0 };
          const host = destHost(snap.merged, wd, owner);
          ensureDir(host, owner);
        }),
    };
  }

  /** Runs `fn` on a writable snapshot of `s`; returns the layer it made, if it changed anything. */
  private async withSnapshot(s: BuildState, fn: (snap: Snapshot) => Promise<void>): Promise<LayerRef | undefined> {
    const lowers = await lowerDirs(this.o.store, s.layers);
    const snap = writableSnapshot(this.o.store.root, lowers);
    try {
      await fn(snap);
      snap.release({ keepUpper: true });
      if (isEmptyDir(snap.upper)) return undefined;
      return await commitLayer(this.o.store, snap.upper, this.o.epoch);
    } finally {
      snap.release();
      fs.rmSync(snap.dir, { recursive: true, force: true });
    }
  }

  /** The layers of a stage or stored image a `from=` names (COPY --from, RUN --mount from=). */
  private async sourceLayers(ref: string, ins: Instruction, numeric: boolean): Promise<LayerRef[]> {
    const st = this.df.stages.find((s) => s.name === ref.toLowerCase()) ?? (numeric && /^[0-9]+$/.test(ref) ? this.df.stages[Number(ref)] : undefined);
    if (st) {
      if (st.index >= this.currentStageIndex(ins)) throw new Error(`${ref}: a stage can only use stages defined before it`);
      return (await this.runStage(st.index)).state.layers;
    }
    let img;
    try {
      img = await this.image(ref);
    } catch (e) {
      throw new Error(`--from=${ref}: ${(e as Error).message}`);
    }
    const diffIds = img.config.rootfs?.diff_ids ?? [];
    return img.layers.map((d, i) => ({ descriptor: d, diffId: diffIds[i] }));
  }

  /** A stage or stored image's filesystem (COPY --from, RUN --mount from=), read-only. */
  private async view(ref: string, ins: Instruction, numeric: boolean): Promise<Snapshot> {
    const lowers = await lowerDirs(this.o.store, await this.sourceLayers(ref, ins, numeric));
    return readonlySnapshot(this.o.store.root, lowers);
  }

  /**
   * What a `from=` source holds, for a cache key: `compute` on a read-only view of its files.
   * Layers never change, so the answer is remembered by their diff_ids (and `what`): a rebuild
   * whose stage gives the same layers mounts nothing to know it.
   */
  private async fromContent<T>(ref: string, ins: Instruction, numeric: boolean, what: unknown[], compute: (root: string) => T): Promise<T> {
    const layers = await this.sourceLayers(ref, ins, numeric);
    return this.cache.remember(['from-content', layers.map((l) => l.diffId), ...what], async () => {
      const snap = readonlySnapshot(this.o.store.root, await lowerDirs(this.o.store, layers));
      try {
        return compute(snap.merged);
      } finally {
        snap.release();
      }
    });
  }

  /**
   * A context directory as the build sees it, for a bind mount: without what .dockerignore
   * excludes (hard links where the filesystem allows, else copies; removed after the step).
   */
  private contextCopy(rel: string, cleanup: (() => void)[]): string {
    const dir = scratchDir(this.o.store.root, 'bind');
    cleanup.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    const top = path.join(dir, 'src');
    const dirs: [string, fs.Stats][] = [];
    for (const e of this.o.context.below(rel)) {
      const from = this.o.context.host(e);
      const to = e === rel ? top : path.join(top, e.slice(rel ? rel.length + 1 : 0));
      const st = fs.lstatSync(from);
      if (st.isDirectory()) {
        fs.mkdirSync(to);
        dirs.push([to, st]);
        continue;
      }
      try {
        if (!st.isFile()) throw new Error('not a regular file');
        fs.linkSync(from, to);
      } catch {
        copyTree(from, to, { keepOwner: true }, { follow: false });
      }
    }
    for (const [d, st] of dirs.reverse()) {
      fs.lchownSync(d, st.uid, st.gid);
      fs.chmodSync(d, st.mode & 0o7777);
      fs.utimesSync(d, st.atime, st.mtime);
    }
    return top;
  }

  private currentStageIndex(ins: Instruction): number {
    for (const s of this.df.stages) if (s.instructions.includes(ins)) return s.index;
    return this.df.stages.length;
  }

  /**
   * What a RUN mount brings into the step, for its cache key: the content of a bind mount's
   * source (a context path, or what the `from=` stage or image has there; content-based, as
   * BuildKit keys read-only and output-less mounts), the files a cache mount is seeded from,
   * whether an optional secret or SSH socket is there. A required one that is missing fails
   * here, before the cache is consulted. Never a secret's value.
   */
  private async mountInput(m: RunMount, ins: RunInstruction): Promise<MountInput> {
    switch (m.type) {
      case 'bind': {
        if (m.from) return { kind: 'from', digest: await this.fromDigest(m, ins) };
        const rel = this.contextSource(m);
        return { kind: 'context', rel, digest: this.o.context.hashSource(rel, undefined, { owners: true }) };
      }
      case 'cache':
        return m.from ? { kind: 'from', digest: await this.fromDigest(m, ins) } : { kind: 'none' };
      case 'secret': {
        const present = this.secretValue(m, false) !== undefined;
        if (!present && m.required) throw new Error(`secret ${this.secretId(m)} not found: pass it with --secret id=${this.secretId(m)},src=FILE`);
        return { kind: 'secret', present };
      }
      case 'ssh': {
        const id = m.id ?? 'default';
        const present = !!this.o.ssh[id];
        if (!present && m.required) throw new Error(`no SSH agent socket for id ${id}: pass it with --ssh ${id}=SOCKET`);
        return { kind: 'ssh', present };
      }
      default:
        return { kind: 'none' };
    }
  }

  /** The digest of what a mount's `from=` stage or image has at its source path. */
  private fromDigest(m: RunMount, ins: RunInstruction): Promise<string> {
    const source = m.source ?? '/';
    return this.fromContent(m.from!, ins, false, ['mount', cleanRel(source)], (root) => {
      let host: string;
      try {
        host = resolveInside(root, source);
      } catch {
        throw new Error(`--mount=type=${m.type},from=${m.from}: source ${source} does not exist`);
      }
      return hashTree(host);
    });
  }

  /** The context path a bind mount without `from=` binds (symlinks followed inside the context). */
  private contextSource(m: RunMount): string {
    const missing = () => new Error(`--mount=type=bind: source ${m.source ?? '/'} does not exist in the build context (or is excluded by .dockerignore)`);
    let host: string;
    try {
      host = resolveInside(this.o.context.host(''), m.source ?? '/');
    } catch (e) {
      if (e instanceof ContextError) throw e;
      throw missing();
    }
    const rel = this.o.context.relOf(host);
    if (!this.o.context.has(rel)) throw missing();
    return rel;
  }

  private secretId(m: RunMount): string | undefined {
    return m.id ?? (m.target ? path.posix.basename(m.target) : undefined);
  }

  /** A secret's value (read: true), or whether it is there: a Buffer (empty when not read) or undefined. */
  private secretValue(m: RunMount, read: boolean): Buffer | undefined {
    const id = this.secretId(m);
    const given = id !== undefined ? this.o.secrets[id] : undefined;
    if (given?.src) return read ? fs.readFileSync(given.src) : Buffer.alloc(0);
    if (given?.env !== undefined && process.env[given.env] !== undefined) return read ? Buffer.from(process.env[given.env]!) : Buffer.alloc(0);
    return undefined;
  }

  private async planRun(ins: RunInstruction, state: BuildState, ctx: StepCtx): Promise<StepPlan> {
    const v = ctx.vars;
    const cfg = state.config.config ?? {};
    const shell = cfg.Shell ?? ['/bin/sh', '-c'];
    let args: string[];
    if (ins.cmd.json) args = ins.cmd.args;
    else if (ins.heredocs.length === 1 && /^<<-?\s*["']?[A-Za-z0-9_]+["']?$/.test(ins.cmd.command.trim())) {
      args = [...shell, ins.heredocs[0].content];
    } else if (ins.heredocs.length) {
      args = [...shell, [ins.cmd.command, ...ins.heredocs.map((h) => `${h.content}${h.name}`)].join('\n')];
    } else args = [...shell, ins.cmd.command];
    // Build args reach the command as environment, not the image (ENV wins over ARG).
    const argEnv: [string, string][] = [];
    for (const [k, val] of v.args) if (val !== undefined && !v.env.has(k)) argEnv.push([k, val]);
    const proxies = PROXY_ARGS.filter((k) => this.o.buildArgs[k] !== undefined && !v.args.has(k)).map((k) => [k, this.o.buildArgs[k]] as [string, string]);
    const network = ins.network !== undefined ? v.expand(ins.network) : this.o.network ?? 'default';
    if (!['default', 'none', 'host'].includes(network)) throw new Error(`--network=${network}: want default, none or host`);
    const security = ins.security !== undefined ? v.expand(ins.security) : 'sandbox';
    if (!['sandbox', 'insecure'].includes(security)) throw new Error(`--security=${security}: want sandbox or insecure`);
    this.checkRun(network, security);
    const mounts: RunMount[] = ins.mounts.map((m) => (m.raw.includes('$') ? parseMount(m.raw, (x) => v.expand(x)) : m));
    const prefix = argEnv.length ? [`|${argEnv.length}`, ...argEnv.map(([k, val]) => `${k}=${val}`)] : [];
    const createdBy = `RUN ${[...prefix, ...args].join(' ')} # buildkit`;
    const env = envMap(cfg.Env);
    if (!env.has('PATH')) env.set('PATH', DEFAULT_PATH.slice(5));
    for (const [k, val] of [...argEnv, ...proxies]) env.set(k, val);
    const inputs: MountInput[] = [];
    for (const m of mounts) inputs.push(await this.mountInput(m, ins));
    return {
      key: JSON.stringify(['RUN', args, argEnv, proxies.map(([k]) => k), mounts.map((m) => ({ ...m, raw: undefined })), inputs, network, security]),
      createdBy,
      execute: async (s, stepNo) =>
        this.withSnapshot(s, async (snap) => {
          const cleanup: (() => void)[] = [];
          try {
            const specMounts = await this.runMounts(mounts, inputs, cleanup, ins, env);
            await runStep({
              rootfs: snap.merged,
              upper: snap.upper,
              scratch: snap.dir,
              args,
              env: [...env].map(([k, val]) => `${k}=${val}`),
              cwd: cfg.WorkingDir || '/',
              user: cfg.User,
              network: network as 'default' | 'none' | 'host',
              insecure: security === 'insecure',
              mounts: specMounts,
              onOutput: (_s, chunk) => this.o.progress.output(stepNo, chunk),
              track: (step) => {
                this.running.add(step);
                if (this.failed) stopStep(step);
                return () => this.running.delete(step);
              },
            });
          } finally {
            for (const c of cleanup.reverse()) c();
          }
        }),
    };
  }

  private async runMounts(mounts: RunMount[], inputs: MountInput[], cleanup: (() => void)[], ins: RunInstruction, env: Map<string, string>): Promise<Mount[]> {
    const out: Mount[] = [];
    const cwd = '/';
    for (const [i, m] of mounts.entries()) {
      const target = m.target ? path.posix.resolve(cwd, m.target) : undefined;
      const input = inputs[i];
      switch (m.type) {
        case 'bind': {
          if (!target) throw new Error('--mount=type=bind needs a target');
          let src: string;
          if (m.from) {
            const view = await this.view(m.from, ins, false);
            cleanup.push(() => view.release());
            src = resolveInside(view.merged, m.source ?? '/');
          } else {
            // The path the key hashed, without what .dockerignore leaves out of the context.
            const rel = (input as { rel: string }).rel;
            src = this.o.context.excludesBelow(rel) ? this.contextCopy(rel, cleanup) : this.o.context.host(rel);
          }
          if (m.readOnly) {
            out.push({ destination: target, type: 'bind', source: src, options: ['rbind', 'ro'] });
          } else {
            // Writes to a read-write bind mount are thrown away: an overlay of the source.
            const ov = writableSnapshot(this.o.store.root, [src]);
            cleanup.push(() => ov.release());
            out.push({ destination: target, type: 'bind', source: ov.merged, options: ['rbind'] });
          }
          break;
        }
        case 'cache': {
          if (!target) throw new Error('--mount=type=cache needs a target');
          const init = { mode: m.mode ?? 0o755, uid: m.uid ?? 0, gid: m.gid ?? 0 };
          let dir: string;
          if (m.from) {
            // As BuildKit: a cache of its own for each content it starts from, seeded with it.
            const id = `${m.id ?? target}\0from\0${(input as { digest: string }).digest}`;
            if (this.cache.hasMountDir(id)) dir = this.cache.mountDir(id, init);
            else {
              const view = await this.view(m.from, ins, false);
              cleanup.push(() => view.release());
              const src = resolveInside(view.merged, m.source ?? '/');
              const st = fs.statSync(src);
              if (!st.isDirectory()) throw new Error(`--mount=type=cache,from=${m.from}: source ${m.source ?? '/'} is not a directory`);
              dir = this.cache.mountDir(id, { mode: st.mode & 0o7777, uid: st.uid, gid: st.gid }, (tmp) => {
                for (const n of fs.readdirSync(src)) copyTree(path.join(src, n), path.join(tmp, n), { keepOwner: true }, { follow: false });
              });
            }
          } else dir = this.cache.mountDir(m.id ?? target, init);
          out.push({ destination: target, type: 'bind', source: dir, options: m.readOnly ? ['rbind', 'ro'] : ['rbind'] });
          break;
        }
        case 'tmpfs':
          if (!target) throw new Error('--mount=type=tmpfs needs a target');
          out.push({ destination: target, type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', ...(m.size ? [`size=${m.size}`] : [])] });
          break;
        case 'secret': {
          const id = this.secretId(m);
          const value = this.secretValue(m, true);
          // The key says whether it was there: it must still be (or still not be).
          if ((value !== undefined) !== (input as { present: boolean }).present) throw new Error(`secret ${id} changed while the build ran`);
          if (value === undefined) {
            if (m.required) throw new Error(`secret ${id} not found: pass it with --secret id=${id},src=FILE`);
            break;
          }
          if (m.env) env.set(m.env, value.toString());
          if (m.env && !m.target) break;
          const dir = scratchDir(this.o.store.root, 'secret');
          cleanup.push(() => fs.rmSync(dir, { recursive: true, force: true }));
          const file = path.join(dir, 'secret');
          fs.writeFileSync(file, value, { mode: m.mode ?? 0o400 });
          fs.chmodSync(file, m.mode ?? 0o400);
          fs.chownSync(file, m.uid ?? 0, m.gid ?? 0);
          out.push({ destination: target ?? `/run/secrets/${id}`, type: 'bind', source: file, options: ['rbind', 'ro'] });
          break;
        }
        case 'ssh': {
          const id = m.id ?? 'default';
          const sock = this.o.ssh[id];
          if (!sock) {
            if (m.required) throw new Error(`no SSH agent socket for id ${id}: pass it with --ssh ${id}=SOCKET`);
            break;
          }
          const dest = target ?? `/run/buildkit/ssh_agent.${out.filter((x) => x.destination.startsWith('/run/buildkit/ssh_agent.')).length}`;
          out.push({ destination: dest, type: 'bind', source: sock, options: ['rbind'] });
          env.set('SSH_AUTH_SOCK', dest);
          break;
        }
      }
    }
    return out;
  }

  private async planCopy(ins: CopyInstruction | AddInstruction, state: BuildState, ctx: StepCtx): Promise<StepPlan> {
    const v = ctx.vars;
    const cfg = state.config.config ?? {};
    const sources = ins.sources.map((s) => v.expand(s));
    const rawDest = v.expand(ins.dest);
    const wd = cfg.WorkingDir || '/';
    const dest = path.posix.resolve(wd, rawDest) + (rawDest.endsWith('/') || rawDest === '.' || rawDest.endsWith('/.') ? '/' : '');
    const chown = ins.chown !== undefined ? v.expand(ins.chown) : undefined;
    const chmodText = ins.chmod !== undefined ? v.expand(ins.chmod) : undefined;
    if (chmodText !== undefined && !/^[0-7]{3,4}$/.test(chmodText)) throw new Error(`--chmod=${chmodText}: want an octal mode such as 0755`);
    const chmod = chmodText !== undefined ? parseInt(chmodText, 8) : undefined;
    const exclude = ins.exclude.length ? new IgnoreMatcher(ins.exclude.map((e) => cleanRel(v.expand(e)))) : undefined;
    const from = ins.kind === 'COPY' && ins.from !== undefined ? v.expand(ins.from) : undefined;
    const isAdd = ins.kind === 'ADD';
    const urls = isAdd ? sources.filter((s) => /^https?:\/\//.test(s)) : [];
    if (sources.some((s) => /^git@|\.git(#.*)?$/.test(s) && /^(https?|git):|^git@/.test(s))) throw new Error('ADD of a git repository is not supported');
    const multi = sources.length + ins.heredocs.length > 1 || sources.some(hasWildcards);
    if (multi && !dest.endsWith('/')) throw new Error(`When using ${ins.kind} with more than one source file, the destination must be a directory and end with a /`);

    const checksum = isAdd && (ins as AddInstruction).checksum !== undefined ? v.expand((ins as AddInstruction).checksum!) : undefined;
    if (checksum !== undefined) {
      if (!/^sha256:[0-9a-f]{64}$/.test(checksum)) throw new Error(`--checksum=${checksum}: want sha256:<64 hex digits>`);
      if (sources.length !== 1) throw new Error("checksum can't be specified for multiple sources");
      if (!urls.length) throw new Error("checksum can't be specified for non-HTTP(S) sources");
    }

    // What the result depends on: the sources' content and metadata, in the context or in the
    // stage/image they come from (with their owners, which COPY --from keeps), and for a URL
    // its content's digest and Last-Modified (fetched or revalidated now), or the pinned digest.
    let sourceKey: unknown;
    if (from !== undefined) {
      sourceKey = [
        'from',
        await this.fromContent(from, ins, true, ['copy', sources, exclude?.patterns], (root) =>
          sources.map((s) => [s, matchIn(root, s).map((m) => [m, hashTree(resolveInside(root, m), exclude)])]),
        ),
      ];
    } else {
      const local = sources.filter((s) => !urls.includes(s));
      sourceKey = local.map((s) => {
        let matches: string[];
        try {
          matches = this.o.context.match(s);
        } catch (e) {
          if (e instanceof ContextError) throw e;
          throw e;
        }
        if (!matches.length) {
          if (hasWildcards(s)) return [s, []];
          throw new Error(`${ins.kind} ${s}: not found in the build context (or excluded by .dockerignore)`);
        }
        return [s, matches.map((m) => [m, this.o.context.hashSource(m, exclude)])];
      });
      if (local.length && local.every(hasWildcards) && (sourceKey as [string, unknown[]][]).every(([, m]) => m.length === 0)) {
        throw new Error(`${ins.kind} ${local.join(' ')}: no source files were specified`);
      }
    }
    const fetched = new Map<string, UrlContent>();
    if (checksum === undefined) for (const u of urls) fetched.set(u, await this.urls.resolve(u));
    const urlKey = urls.map((u) => (checksum !== undefined ? [u, 'pinned', checksum] : [u, fetched.get(u)!.digest, fetched.get(u)!.lastModified ?? null]));
    const heredocs = ins.heredocs.map((h) => ({ name: h.name, content: h.expand ? v.expand(h.content) : h.content }));
    const by = `${ins.kind} ${[...sources, ...ins.heredocs.map((h) => `<<${h.name}`)].join(' ')} ${rawDest} # buildkit`;
    return {
      key: JSON.stringify([ins.kind, dest, chown, chmod, ins.link, ins.parents, exclude?.patterns, sourceKey, heredocs, urlKey, wd]),
      createdBy: by,
      execute: async (s) =>
        this.withSnapshot(s, async (snap) => {
          const root = snap.merged;
          const owner: Owner | undefined = chown !== undefined ? parseChown(chown, root) : undefined;
          const mk: Owner = owner ?? { uid: 0, gid: 0 };
          const destIsDir = dest.endsWith('/') || multi || isDirIn(root, dest);
          const target = (name: string) => destHost(root, destIsDir ? path.posix.join(dest, name) : dest, mk);
          const destDir = () => {
            const h = destHost(root, dest, mk);
            ensureDir(h, mk);
            return h;
          };
          let view: Snapshot | undefined;
          try {
            let srcRoot: string;
            const opts: CopyOptions = { chown: owner, chmod, exclude, keepOwner: from !== undefined };
            if (from !== undefined) {
              view = await this.view(from, ins, true);
              srcRoot = view.merged;
            } else srcRoot = '';
            for (const src of sources) {
              if (urls.includes(src)) {
                const content = checksum !== undefined ? await this.urls.pinned(src, checksum) : fetched.get(src)!;
                await this.writeUrl(content, target, mk, chmod);
                continue;
              }
              const matches = from !== undefined ? matchIn(srcRoot, src) : this.o.context.match(src);
              if (!matches.length && !hasWildcards(src)) throw new Error(`${ins.kind} --from=${from} ${src}: not found`);
              for (const rel of matches) {
                const host = from !== undefined ? resolveInside(srcRoot, rel) : this.o.context.host(rel);
                const st = fs.statSync(host);
                const relName = ins.parents ? parentsPath(src, rel) : path.posix.basename(rel);
                if (st.isDirectory()) {
                  const to = ins.parents && relName ? destHost(root, path.posix.join(dest, relName), mk) : destDir();
                  if (ins.parents) ensureDir(to, mk);
                  copyDirContents(host, to, opts, from === undefined ? this.o.context : undefined, rel);
                } else if (isAdd && from === undefined && archiveKind(host)) {
                  await extractArchive(host, archiveKind(host)!, destDir());
                } else {
                  copyTree(host, target(relName || path.posix.basename(rel)), opts, { follow: true });
                }
              }
            }
            for (const h of heredocs) writeFileEntry(target(h.name), h.content, mk, chmod ?? 0o644);
          } finally {
            view?.release();
          }
        }),
    };
  }

  /**
   * ADD of a URL: the content the key was made of, from the store, as DEST or DEST/<name>
   * (0600 unless --chmod, as docker), its mtime the Last-Modified header or epoch 0 (BuildKit).
   */
  private async writeUrl(c: UrlContent, target: (name: string) => string, owner: Owner, chmod?: number): Promise<void> {
    const file = target(path.posix.basename(new URL(c.url).pathname) || 'download');
    await writeFileFrom(file, this.urls.open(c), owner, chmod ?? 0o600);
    const mtime = c.lastModified !== undefined && !Number.isNaN(Date.parse(c.lastModified)) ? new Date(c.lastModified) : new Date(0);
    fs.utimesSync(file, mtime, mtime);
  }

  /** Stores the final image (config, manifest) and returns it; the CLI tags it. */
  private async finish(state: BuildState): Promise<BuildResult> {
    const config = clone(state.config);
    if (Object.keys(this.o.labels).length) {
      config.config ??= {};
      config.config.Labels = { ...(config.config.Labels ?? {}), ...this.o.labels };
    }
    const last = config.history?.[config.history.length - 1]?.created;
    config.created = last ?? config.created ?? this.now();
    const store = this.o.store;
    const configDesc = await store.putJSON(MediaType.ImageConfig, config);
    const manifest: Manifest = {
      schemaVersion: 2,
      mediaType: MediaType.ImageManifest,
      config: configDesc,
      layers: state.layers.map((l) => l.descriptor),
    };
    const desc = await store.putJSON(MediaType.ImageManifest, manifest);
    return { manifest: desc, config, id: configDesc.digest, state };
  }
}

/** What a RUN mount brings into the step (Builder.mountInput): part of the step's cache key. */
type MountInput =
  | { kind: 'context'; rel: string; digest: string }
  | { kind: 'from'; digest: string }
  | { kind: 'secret' | 'ssh'; present: boolean }
  | { kind: 'none' };

interface StepCtx {
  st: Stage;
  vars: StageVars;
  /** A CMD was set in this stage (ENTRYPOINT then keeps it). */
  cmdSet: boolean;
}

interface StepPlan {
  /** Everything the step's result depends on besides its parent. */
  key: string;
  createdBy: string;
  comment?: string;
  /** Config changes (metadata instructions, WORKDIR). */
  apply?(s: BuildState): void;
  /** Filesystem work: returns the new layer, or undefined when nothing changed. */
  execute?(s: BuildState, step: number): Promise<LayerRef | undefined>;
  after?(s: BuildState): void;
}

/** The host path of `p` inside `root`, symlinks followed inside it. */
function resolveInside(root: string, p: string): string {
  const { resolveFileIn } = require('../layers/walk') as typeof import('../layers/walk');
  const r = resolveFileIn(root, '/' + cleanRel(p));
  if (!r) throw new Error(`${p}: no such file or directory`);
  return r;
}

/** Paths in a stage's filesystem a COPY --from source names. */
function matchIn(root: string, source: string): string[] {
  const rel = cleanRel(source);
  if (!hasWildcards(rel)) {
    try {
      resolveInside(root, rel);
      return [rel];
    } catch {
      return [];
    }
  }
  const { globRegExp } = require('./context') as typeof import('./context');
  const comps = rel.split('/');
  let found = [''];
  for (let i = 0; i < comps.length; i++) {
    const re = globRegExp(comps[i]);
    const next: string[] = [];
    for (const f of found) {
      let dir: string;
      try {
        dir = resolveInside(root, f || '/');
      } catch {
        continue;
      }
      let names: string[];
      try {
        names = fs.readdirSync(dir);
      } catch {
        continue;
      }
      for (const n of names.sort()) if (re.test(n)) next.push(f ? `${f}/${n}` : n);
    }
    found = next;
  }
  return found;
}

/** --parents: the part of the source path to keep under DEST (after a `/./` pivot, if any). */
function parentsPath(source: string, rel: string): string {
  const pivot = source.indexOf('/./');
  if (pivot < 0) return rel;
  const before = cleanRel(source.slice(0, pivot));
  return before ? rel.slice(before.length + 1) : rel;
}

/** A directory source: its contents into `to` (the context's ignore rules apply below it). */
function copyDirContents(src: string, to: string, o: CopyOptions, context: BuildContext | undefined, rel: string, top = true): void {
  const st = fs.statSync(src);
  // A destination that was there keeps its metadata; one made here gets the source's mode and
  // times, owned by root or the --chown owner (not the source's owner, as buildah does).
  const fresh = !top || fs.readdirSync(to).length === 0;
  for (const name of fs.readdirSync(src).sort()) {
    const r = rel ? `${rel}/${name}` : name;
    if (context && !context.has(r)) continue;
    if (o.exclude?.ignores(r.slice(rel ? rel.length + 1 : 0))) continue;
    const child = path.join(src, name);
    const cst = fs.lstatSync(child);
    if (cst.isDirectory()) {
      const dst = path.join(to, name);
      const existing = fs.lstatSync(dst, { throwIfNoEntry: false });
      if (existing && !existing.isDirectory()) fs.unlinkSync(dst);
      if (!existing || !existing.isDirectory()) fs.mkdirSync(dst);
      copyDirContents(child, dst, o, context, r, false);
    } else {
      copyTree(child, path.join(to, name), o, { follow: false, rel: r });
    }
  }
  if (!fresh) return;
  const owner = o.chown ?? (o.keepOwner && !top ? { uid: st.uid, gid: st.gid } : { uid: 0, gid: 0 });
  fs.lchownSync(to, owner.uid, owner.gid);
  fs.chmodSync(to, o.chmod ?? st.mode & 0o7777);
  fs.utimesSync(to, st.atime, st.mtime);
}

/** --chown=user[:group]: names through the image's passwd/group; a user alone sets the group to the same id. */
function parseChown(spec: string, rootfs: string): Owner {
  const [u, g] = spec.split(':');
  const uid = /^[0-9]+$/.test(u) ? Number(u) : resolveUser(u, rootfs).uid;
  if (g === undefined || g === '') return { uid, gid: /^[0-9]+$/.test(u) ? uid : resolveUser(u, rootfs).gid };
  const gid = /^[0-9]+$/.test(g) ? Number(g) : resolveUser(`0:${g}`, rootfs).gid;
  return { uid, gid };
}

export { CopyError, SnapshotError };
