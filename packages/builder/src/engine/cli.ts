/**
 * `tsbuild build` (also `tsbuild -t app .`, without the word build) and `tsbuild prune`, with
 * docker build's flags. The image is tagged only once it is complete: a failed build leaves
 * no tag, and what it stored is removed by gc.
 */
import * as fs from 'fs';
import * as path from 'path';
import { dockerignoreCandidates, IgnoreMatcher, parseDockerignore } from '../dockerfile';
import { humanSize } from '../cli/format';
import type { CliContext } from '../cli/commands';
import type { CommandSpec, FlagValues } from '../cli/parse';
import { parseCompression, type CompressionSpec } from '../store/compression';
import { StoreError } from '../store/errors';
import { parseReference, formatReference } from '../store/reference';
import { LayerCache } from '../layers/cache';
import { Builder, BuildError } from './builder';
import { EntitlementError, parseEntitlements, type Entitlement } from './entitlements';
import { BuildCache } from './cache';
import { BuildContext } from './context';
import { exportTree } from './copy';
import { writeDiffTar } from './difftar';
import { lowerDirs } from './layers';
import { makeProgress, type ProgressMode } from './progress';
import { readonlySnapshot } from './snapshot';

function keyValues(list: string[], what: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of list) {
    const i = kv.indexOf('=');
    if (i === 0) throw new StoreError(`invalid ${what} ${JSON.stringify(kv)}: empty key`, 125);
    if (i < 0) {
      // docker: `--build-arg NAME` takes the value from the environment, if set
      if (what === '--build-arg' && process.env[kv] !== undefined) out[kv] = process.env[kv]!;
      else if (what !== '--build-arg') out[kv] = '';
      continue;
    }
    out[kv.slice(0, i)] = kv.slice(i + 1);
  }
  return out;
}

interface OutputSpec {
  type: string;
  dest: string;
  /** type=oci|docker: BuildKit's compression, compression-level, force-compression (default gzip). */
  compression?: CompressionSpec;
  /** type=oci,tar=false: an OCI layout directory. */
  tar: boolean;
}

/** `type=local,dest=DIR` and friends (csv). A bare path means type=local. */
function parseOutput(s: string): OutputSpec {
  if (!s.includes('=')) return { type: 'local', dest: s, tar: true };
  const f: Record<string, string> = {};
  for (const part of s.split(',')) {
    const i = part.indexOf('=');
    f[part.slice(0, i).trim()] = part.slice(i + 1).trim();
  }
  const type = f.type ?? 'local';
  if (!['local', 'oci', 'docker', 'tar', 'image'].includes(type)) throw new StoreError(`invalid --output type ${JSON.stringify(type)}: want local, oci, docker, tar or image`, 125);
  if (type !== 'image' && !f.dest) throw new StoreError(`--output type=${type} needs dest=PATH`, 125);
  const bool = (k: string) => {
    if (f[k] === undefined || f[k] === '' || f[k] === 'true') return f[k] !== undefined;
    if (f[k] === 'false') return false;
    throw new StoreError(`invalid --output ${k}=${f[k]}: want true or false`);
  };
  const archive = type === 'oci' || type === 'docker';
  const how = { compression: '--output compression', level: '--output compression-level' };
  const compression = archive ? parseCompression({ compression: f.compression, level: f['compression-level'], force: bool('force-compression') }, 'gzip', how) : undefined;
  const tar = f.tar === undefined ? true : bool('tar');
  if (!tar && type !== 'oci') throw new StoreError(`--output tar=false is for type=oci`, 125);
  return { type, dest: f.dest ?? '', compression, tar };
}

function readStdin(): string {
  return fs.readFileSync(0, 'utf8');
}

export function buildCommand(ctx: () => CliContext): CommandSpec {
  return {
    name: 'build',
    args: ['PATH|-'],
    describe: 'Build an image from a Dockerfile',
    flags: [
      { name: 'tag', alias: 't', type: 'strings', describe: 'Name and optionally a tag (name:tag); repeatable' },
      { name: 'file', alias: 'f', type: 'string', describe: "Name of the Dockerfile (default: 'PATH/Dockerfile'; '-' reads it from stdin)" },
      { name: 'build-arg', type: 'strings', describe: 'Set build-time variables (KEY=VALUE)' },
      { name: 'target', type: 'string', describe: 'Set the target build stage to build' },
      { name: 'no-cache', type: 'boolean', default: false, describe: 'Do not use cache when building the image' },
      { name: 'label', type: 'strings', describe: 'Set metadata for an image (KEY=VALUE)' },
      { name: 'network', type: 'string', choices: ['default', 'none', 'host'], describe: 'Networking mode for the RUN instructions' },
      { name: 'progress', type: 'string', default: 'auto', choices: ['auto', 'plain', 'tty', 'quiet'], describe: 'Type of progress output' },
      { name: 'quiet', alias: 'q', type: 'boolean', default: false, describe: 'Suppress the build output and print image ID on success' },
      { name: 'iidfile', type: 'string', describe: 'Write the image ID to the file' },
      { name: 'output', alias: 'o', type: 'strings', describe: 'Output destination (type=local|oci|docker,dest=PATH[,compression=gzip|zstd|uncompressed,compression-level=N,force-compression=true])' },
      { name: 'secret', type: 'strings', describe: 'Secret to expose to the build (id=mysecret,src=/local/secret or env=VAR)' },
      { name: 'ssh', type: 'strings', describe: 'SSH agent socket to expose to the build (default|<id>[=<socket>])' },
      { name: 'platform', type: 'string', describe: 'Set target platform for build (only the native platform)' },
      { name: 'allow', type: 'strings', describe: 'Allow extra privileged entitlement (network.host, security.insecure)' },
      { name: 'pull', type: 'boolean', default: false, describe: 'Always attempt to pull a newer version of the images FROM names (else only missing ones are pulled)' },
    ],
    async run(flags, [contextArg]) {
      return runBuild(ctx(), flags, contextArg);
    },
  };
}

/**
 * --allow, and --network host, which asks for network.host itself: buildx requests the
 * entitlement with the flag, and Docker Engine's builder grants it, so `docker build --network
 * host` works without --allow (and then so does a RUN --network=host). The entitlement guards
 * against what a Dockerfile asks for; the one typing --network host has asked already.
 */
function entitlements(flags: FlagValues): Set<Entitlement> {
  let allow: Set<Entitlement>;
  try {
    allow = parseEntitlements(flags.allow as string[]);
  } catch (e) {
    if (e instanceof EntitlementError) throw new StoreError(e.message, 125);
    throw e;
  }
  if (flags.network === 'host') allow.add('network.host');
  return allow;
}

async function runBuild(c: CliContext, flags: FlagValues, contextArg: string): Promise<number> {
  const allow = entitlements(flags);
  const store = c.store();
  const tags = (flags.tag as string[]).map((t) => {
    try {
      return formatReference(parseReference(t));
    } catch (e) {
      throw new StoreError(`invalid tag ${JSON.stringify(t)}: ${(e as Error).message}`, 125);
    }
  });
  let contextDir: string | undefined;
  let dockerfile: { text: string; name: string; path?: string };
  const file = flags.file as string | undefined;
  if (contextArg === '-') {
    if (file && file !== '-') throw new StoreError('-f cannot name a file when the Dockerfile comes from stdin', 125);
    dockerfile = { text: readStdin(), name: 'Dockerfile' };
  } else {
    contextDir = path.resolve(contextArg);
    if (!fs.statSync(contextDir, { throwIfNoEntry: false })?.isDirectory()) throw new StoreError(`unable to prepare context: path ${JSON.stringify(contextArg)} not found`, 1);
    if (file === '-') dockerfile = { text: readStdin(), name: 'Dockerfile' };
    else {
      const p = file ? path.resolve(file) : path.join(contextDir, 'Dockerfile');
      let text: string;
      try {
        text = fs.readFileSync(p, 'utf8');
      } catch {
        throw new StoreError(`failed to read dockerfile: open ${file ?? 'Dockerfile'}: no such file or directory`, 1);
      }
      dockerfile = { text, name: file ? path.basename(p) : 'Dockerfile', path: p };
    }
  }
  let ignore: IgnoreMatcher | undefined;
  if (contextDir) {
    for (const cand of dockerignoreCandidates(contextDir, dockerfile.path)) {
      if (fs.existsSync(cand)) {
        ignore = new IgnoreMatcher(parseDockerignore(fs.readFileSync(cand, 'utf8')));
        break;
      }
    }
  }
  const secrets: Record<string, { src?: string; env?: string }> = {};
  for (const s of flags.secret as string[]) {
    const f = Object.fromEntries(s.split(',').map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
    if (!f.id) throw new StoreError(`invalid --secret ${JSON.stringify(s)}: want id=ID,src=FILE or id=ID,env=VAR`, 125);
    const src = f.src ?? f.source;
    if (src && !fs.existsSync(src)) throw new StoreError(`--secret id=${f.id}: ${src}: no such file`, 125);
    secrets[f.id] = { src, env: f.env ?? (src ? undefined : f.id) };
  }
  const ssh: Record<string, string> = {};
  for (const s of flags.ssh as string[]) {
    const [id, sock] = s.includes('=') ? [s.slice(0, s.indexOf('=')), s.slice(s.indexOf('=') + 1)] : [s, process.env.SSH_AUTH_SOCK ?? ''];
    if (!sock) throw new StoreError(`--ssh ${s}: no socket given and SSH_AUTH_SOCK is not set`, 125);
    ssh[id] = sock;
  }
  if (flags.platform) {
    const { hostPlatform, formatPlatform } = await import('../store/platform');
    const host = formatPlatform(hostPlatform());
    if (!String(flags.platform).split(',').every((p) => host.startsWith(p))) throw new StoreError(`--platform ${flags.platform}: only the native platform ${host} can be built here`, 125);
  }
  const mode: ProgressMode = flags.quiet ? 'quiet' : (flags.progress as ProgressMode);
  const progress = makeProgress(mode);
  const epochText = process.env.SOURCE_DATE_EPOCH;
  const epoch = epochText !== undefined && /^[0-9]+$/.test(epochText) ? Number(epochText) : undefined;
  const outputs = (flags.output as string[]).map(parseOutput);
  try {
    const builder = new Builder({
      store,
      dockerfile,
      context: new BuildContext(contextDir, ignore),
      buildArgs: keyValues(flags.buildArg as string[], '--build-arg'),
      target: flags.target as string | undefined,
      noCache: !!flags.noCache,
      pull: flags.pull ? 'always' : 'missing',
      labels: keyValues(flags.label as string[], '--label'),
      network: flags.network as 'default' | 'none' | 'host' | undefined,
      allow,
      secrets,
      ssh,
      progress,
      epoch,
    });
    // Ctrl-C: stop the running steps and unmount their snapshots before exiting (130, as docker).
    let interrupted: NodeJS.Signals | undefined;
    const onSignal = (sig: NodeJS.Signals) => {
      interrupted = sig;
      builder.cancel();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    let result;
    try {
      result = await builder.build();
    } catch (e) {
      if (interrupted) throw new StoreError(`build interrupted by ${interrupted}`, interrupted === 'SIGINT' ? 130 : 143);
      throw e;
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
    const step = progress.start('exporting to image');
    // Tags last: a build that fails never moves a tag.
    if (tags.length) await store.addImages(tags.map((name) => ({ descriptor: result.manifest, name })));
    else await store.addImages([{ descriptor: result.manifest }]);
    progress.log(`#${step} writing image ${result.id} done`);
    for (const t of tags) progress.log(`#${step} naming to ${t} done`);
    for (const o of outputs) await writeOutput(store, o, result, tags);
    progress.done(step);
    progress.close();
    if (flags.iidfile) fs.writeFileSync(path.resolve(String(flags.iidfile)), result.id);
    if (mode === 'quiet') c.out(`${result.id}\n`);
    return 0;
  } catch (e) {
    progress.close();
    if (e instanceof BuildError || e instanceof StoreError) throw e;
    throw new BuildError((e as Error).message);
  }
}

async function writeOutput(store: import('../store/store').ImageStore, o: OutputSpec, result: { manifest: import('@tsrun/spec').Descriptor; state: import('./cache').BuildState }, tags: string[]): Promise<void> {
  if (o.type === 'image') return;
  if (o.type === 'local' || o.type === 'tar') {
    const lowers = await lowerDirs(store, result.state.layers);
    const view = readonlySnapshot(store.root, lowers);
    try {
      if (o.type === 'local') {
        exportTree(view.merged, o.dest);
      } else {
        // The image's filesystem as one reproducible tar: hard links, xattrs, big files, as layers are written.
        const dest = path.resolve(o.dest);
        const tmp = `${dest}.${process.pid}.tmp`;
        try {
          writeDiffTar(view.merged, tmp);
          fs.renameSync(tmp, dest);
        } finally {
          fs.rmSync(tmp, { force: true });
        }
      }
    } finally {
      view.release();
    }
    return;
  }
  const { exportToPath } = await import('../transfer/export');
  const image = store.describe(result.manifest);
  const format = o.type === 'docker' ? 'docker-archive' : o.tar ? 'oci-archive' : 'oci-dir';
  await exportToPath(store, format, [{ image, names: tags }], path.resolve(o.dest), { compression: o.compression });
}

export function pruneCommand(ctx: () => CliContext): CommandSpec {
  return {
    name: 'prune',
    args: [],
    describe: 'Remove the build cache (and the layers only it used)',
    flags: [
      { name: 'force', alias: 'f', type: 'boolean', default: false, describe: 'Do not prompt for confirmation (there is no prompt)' },
      { name: 'all', alias: 'a', type: 'boolean', default: false, describe: 'Accepted for compatibility: all build cache is removed' },
    ],
    async run() {
      const c = ctx();
      const store = c.store();
      const r = new BuildCache(store.root).prune();
      const gc = await store.gc();
      const freedDirs = pruneLayerDirs(store);
      c.out(`Deleted build cache objects: ${r.steps}\nTotal reclaimed space: ${humanSize(gc.freed + r.bytes + freedDirs)}\n`);
    },
  };
}

/** Unpacked layers no stored image and no bundle uses any more. */
function pruneLayerDirs(store: import('../store/store').ImageStore): number {
  const cache = new LayerCache(store.root);
  const dir = path.join(cache.dir, 'sha256');
  if (!fs.existsSync(dir) && !fs.existsSync(path.join(cache.dir, 'chains'))) return 0;
  const used = new Set<string>();
  for (const e of store.list()) {
    try {
      for (const d of store.describeAny(e.descriptor).config.rootfs?.diff_ids ?? []) used.add(d);
    } catch {
      /* unreadable image: keep everything it might use */
      return 0;
    }
  }
  const bundles = path.join(store.root, 'bundles');
  for (const b of fs.existsSync(bundles) ? fs.readdirSync(bundles) : []) {
    try {
      for (const d of (JSON.parse(fs.readFileSync(path.join(bundles, b), 'utf8')) as { layers?: string[] }).layers ?? []) used.add(d);
    } catch {
      return 0;
    }
  }
  let freed = 0;
  const sizeOf = (d: string): number => {
    try {
      return (JSON.parse(fs.readFileSync(path.join(d, 'layer.json'), 'utf8')) as { size?: number }).size ?? 0;
    } catch {
      return 0; // no size recorded
    }
  };
  for (const hex of fs.existsSync(dir) ? fs.readdirSync(dir) : []) {
    if (used.has(`sha256:${hex}`)) continue;
    freed += sizeOf(path.join(dir, hex));
    fs.rmSync(path.join(dir, hex), { recursive: true, force: true });
  }
  // Layers unpacked over particular lowers (layers/cache.ts): kept while their diff_id is used
  // and every lower dir they were unpacked over is still there.
  const chains = path.join(cache.dir, 'chains');
  for (let changed = fs.existsSync(chains); changed; ) {
    changed = false;
    for (const key of fs.readdirSync(chains)) {
      const d = path.join(chains, key);
      let info: { diffId?: string; lowers?: string[] } = {};
      try {
        info = JSON.parse(fs.readFileSync(path.join(d, 'layer.json'), 'utf8'));
      } catch {
        /* unreadable: removed below */
      }
      if (info.diffId && used.has(info.diffId) && (info.lowers ?? []).every((l) => fs.existsSync(path.join(cache.dir, l)))) continue;
      freed += sizeOf(d);
      fs.rmSync(d, { recursive: true, force: true });
      changed = true;
    }
  }
  return freed;
}
