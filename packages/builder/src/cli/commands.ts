/**
 * tsbuild's commands over the image store. Output follows docker's (images table, rmi's
 * Untagged/Deleted lines, "Loaded image: ..."); inspect prints a JSON array with docker's
 * fields plus the image's manifest and config documents as stored.
 */
import type { Descriptor } from '@tsrun/spec';
import { shortId } from '../store/digest';
import { StoreError } from '../store/errors';
import { parsePlatform, hostPlatform } from '../store/platform';
import { familiarReference, familiarRepository, formatReference, parseReference, repository, tryParseReference } from '../store/reference';
import type { ImageStore, ResolvedImage } from '../store/store';
import type { CommandSpec, FlagValues } from './parse';
import { humanSize, since, table } from './format';
import { REGISTRY_COMMANDS } from './registry-commands';
import { compressionFlags, compressionFrom } from './compression-flags';
import { buildCommand, pruneCommand } from '../engine/cli';

export interface CliContext {
  store(): ImageStore;
  out(s: string): void;
  err(s: string): void;
}

let ctx: CliContext;
export function setContext(c: CliContext): void {
  ctx = c;
}
export function getContext(): CliContext {
  return ctx;
}

/** The size shown for an image: its manifest, config and layer blobs as stored. */
function imageSize(img: ResolvedImage): number {
  return img.manifestDescriptor.size + img.configDescriptor.size + img.layers.reduce((n, l) => n + l.size, 0);
}

interface Row {
  repository: string;
  tag: string;
  image: ResolvedImage;
  name?: string;
}

function rows(store: ImageStore, filter?: string): Row[] {
  const wanted = filter ? tryParseReference(filter) : undefined;
  if (filter && !wanted) throw new StoreError(`invalid reference format: ${JSON.stringify(filter)}`);
  const explicitTag = filter !== undefined && /:[^/]*$/.test(filter);
  const out: Row[] = [];
  for (const e of store.list()) {
    if (wanted) {
      if (!e.reference || repository(e.reference) !== repository(wanted)) continue;
      if (explicitTag && e.reference.tag !== wanted.tag) continue;
    }
    let image: ResolvedImage;
    try {
      image = store.describeAny(e.descriptor);
    } catch (err) {
      ctx.err(`warning: ${e.name ?? e.descriptor.digest}: ${(err as Error).message}\n`);
      continue;
    }
    out.push({ repository: e.reference ? familiarRepository(e.reference) : '<none>', tag: e.reference?.tag ?? '<none>', image, name: e.reference ? formatReference(e.reference) : undefined });
  }
  return out;
}

const images: CommandSpec = {
  name: 'images',
  args: ['[REPOSITORY[:TAG]]'],
  describe: 'List images',
  flags: [
    { name: 'quiet', alias: 'q', type: 'boolean', default: false, describe: 'Only show image IDs' },
    { name: 'no-trunc', type: 'boolean', default: false, describe: "Don't truncate output" },
    { name: 'digests', type: 'boolean', default: false, describe: 'Show digests' },
    { name: 'format', type: 'string', default: 'table', choices: ['table', 'json'], describe: 'Output format: table, or json (one object per line)' },
  ],
  run(flags, args) {
    const list = rows(ctx.store(), args[0]);
    const id = (r: Row) => (flags.noTrunc ? r.image.id : shortId(r.image.id));
    if (flags.quiet) {
      const seen = new Set<string>();
      for (const r of list) if (!seen.has(r.image.id)) (seen.add(r.image.id), ctx.out(`${id(r)}\n`));
      return;
    }
    if (flags.format === 'json') {
      for (const r of list) {
        ctx.out(JSON.stringify({ Repository: r.repository, Tag: r.tag, ID: r.image.id, Digest: r.image.top.digest, Created: r.image.config.created ?? null, Size: imageSize(r.image) }) + '\n');
      }
      return;
    }
    const header = ['REPOSITORY', 'TAG', ...(flags.digests ? ['DIGEST'] : []), 'IMAGE ID', 'CREATED', 'SIZE'];
    const now = Date.now();
    ctx.out(table(header, list.map((r) => [r.repository, r.tag, ...(flags.digests ? [r.image.top.digest] : []), id(r), since(r.image.config.created, now), humanSize(imageSize(r.image))])));
  },
};

const rmi: CommandSpec = {
  name: 'rmi',
  args: ['IMAGE...'],
  describe: 'Remove one or more images (untag; an image left without tags is deleted)',
  flags: [{ name: 'force', alias: 'f', type: 'boolean', default: false, describe: 'Remove the image even if several repositories reference it' }],
  async run(flags, args) {
    const store = ctx.store();
    let failed = false;
    let deleted = false;
    for (const image of args) {
      try {
        const r = await store.remove(image, { force: !!flags.force });
        for (const u of r.untagged) ctx.out(`Untagged: ${familiarReference(parseReference(u))}\n`);
        if (r.deleted) {
          ctx.out(`Deleted: ${r.deleted}\n`);
          deleted = true;
        }
      } catch (e) {
        if (!(e instanceof StoreError)) throw e;
        ctx.err(`Error: ${e.message}\n`);
        failed = true;
      }
    }
    if (deleted) await store.gc();
    return failed ? 1 : 0;
  },
};

/** docker inspect's image fields, plus the manifest and config documents. */
function inspectJSON(img: ResolvedImage): Record<string, unknown> {
  const c = img.config;
  return {
    Id: img.id,
    RepoTags: img.names.map((n) => familiarReference(parseReference(n))),
    RepoDigests: img.names.map((n) => {
      const r = parseReference(n);
      return `${familiarRepository(r)}@${img.top.digest}`;
    }),
    Digest: img.top.digest,
    ManifestDigest: img.manifestDescriptor.digest,
    Created: c.created ?? null,
    Author: c.author ?? '',
    Architecture: c.architecture,
    Os: c.os,
    ...(c.variant ? { Variant: c.variant } : {}),
    Size: imageSize(img),
    Config: c.config ?? {},
    RootFS: { Type: c.rootfs?.type ?? 'layers', Layers: c.rootfs?.diff_ids ?? [] },
    Manifest: img.manifest,
    ImageConfig: c,
  };
}

const inspect: CommandSpec = {
  name: 'inspect',
  args: ['IMAGE...'],
  describe: "Print images' details as JSON: docker's fields, the manifest and the image config",
  flags: [{ name: 'platform', type: 'string', describe: 'Platform of a multi-platform image (os/arch[/variant]; default: this host)' }],
  run(flags, args) {
    const store = ctx.store();
    const platform = flags.platform ? parsePlatform(String(flags.platform)) : hostPlatform();
    const out: Record<string, unknown>[] = [];
    let failed = false;
    for (const image of args) {
      try {
        out.push(inspectJSON(store.resolve(image, platform)));
      } catch (e) {
        if (!(e instanceof StoreError)) throw e;
        ctx.err(`Error: ${e.message}\n`);
        failed = true;
      }
    }
    ctx.out(`${JSON.stringify(out, null, 4)}\n`);
    return failed ? 1 : 0;
  },
};

const tag: CommandSpec = {
  name: 'tag',
  args: ['SOURCE_IMAGE', 'TARGET_IMAGE'],
  describe: 'Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE',
  flags: [],
  async run(_flags, [source, target]) {
    const store = ctx.store();
    const [entry] = store.find(source);
    await store.tag(target, entry.descriptor);
  },
};

function describeLoaded(l: { name?: string; descriptor: Descriptor }, store: ImageStore): string {
  if (l.name) return `Loaded image: ${familiarReference(parseReference(l.name))}\n`;
  let id = l.descriptor.digest;
  try {
    id = store.describe(l.descriptor).id;
  } catch {
    /* an image for another platform: its digest names it */
  }
  return `Loaded image ID: ${id}\n`;
}

const load: CommandSpec = {
  name: 'load',
  args: [],
  describe: 'Load images from an archive (docker-archive or oci-archive, optionally gzipped) or an OCI layout directory',
  flags: [
    { name: 'input', alias: 'i', type: 'string', describe: 'Read from a file or OCI layout directory instead of STDIN' },
    { name: 'quiet', alias: 'q', type: 'boolean', default: false, describe: 'Suppress the load output' },
  ],
  async run(flags) {
    const store = ctx.store();
    const { loadImages } = await import('../transfer/import');
    if (flags.input === undefined && process.stdin.isTTY) throw new StoreError('requested load from stdin, but stdin is empty');
    const loaded = await loadImages(store, flags.input !== undefined ? String(flags.input) : process.stdin);
    if (!flags.quiet) for (const l of loaded) ctx.out(describeLoaded(l, store));
  },
};

/** The images to export and their tags: a tag exports that tag, an ID all the image's tags. */
function exportItems(store: ImageStore, names: string[]) {
  const items: { image: ResolvedImage; names: string[] }[] = [];
  for (const name of names) {
    const entries = store.find(name);
    const ref = tryParseReference(name);
    const image = store.describeAny(entries[0].descriptor);
    const byTag = ref && !ref.digest && entries.every((e) => e.reference);
    const tags = byTag ? [formatReference(ref!)] : entries.filter((e) => e.reference).map((e) => formatReference(e.reference!));
    const same = items.find((i) => i.image.top.digest === image.top.digest);
    if (same) same.names.push(...tags.filter((t) => !same.names.includes(t)));
    else items.push({ image, names: tags });
  }
  return items;
}

const save: CommandSpec = {
  name: 'save',
  args: ['IMAGE...'],
  describe: 'Save images to an archive (docker-archive by default) or an OCI layout directory',
  flags: [
    { name: 'output', alias: 'o', type: 'string', describe: 'Write to a file (or, for oci-dir, a new directory) instead of STDOUT' },
    { name: 'format', type: 'string', default: 'docker-archive', choices: ['docker-archive', 'oci-archive', 'oci-dir'], describe: 'docker-archive, oci-archive or oci-dir' },
    ...compressionFlags('default: layers as stored; docker-archive uncompressed'),
  ],
  async run(flags, args) {
    // bad flags fail here, before anything is written
    const compression = compressionFrom(flags, undefined);
    const store = ctx.store();
    const { exportToPath, exportToStream } = await import('../transfer/export');
    const format = String(flags.format) as 'docker-archive' | 'oci-archive' | 'oci-dir';
    const items = exportItems(store, args);
    if (flags.output !== undefined) return void (await exportToPath(store, format, items, String(flags.output), { compression }));
    if (format === 'oci-dir') throw new StoreError('--format oci-dir needs an output directory (-o DIR)');
    if (process.stdout.isTTY) throw new StoreError('cowardly refusing to save to a terminal. Use the -o flag or redirect');
    await exportToStream(store, format, items, process.stdout, { compression });
  },
};

const importCmd: CommandSpec = {
  name: 'import',
  args: ['file|-', '[REPOSITORY[:TAG]]'],
  describe: 'Import the contents from a tarball to create a filesystem image',
  flags: [
    { name: 'change', alias: 'c', type: 'strings', describe: 'Apply Dockerfile instruction to the created image (CMD, ENTRYPOINT, ENV, ...)' },
    { name: 'message', alias: 'm', type: 'string', describe: 'Set commit message for imported image' },
    { name: 'platform', type: 'string', describe: 'Set platform (os/arch[/variant]; default: this host)' },
  ],
  async run(flags, [file, reference]) {
    const store = ctx.store();
    if (reference !== undefined) parseReference(reference);
    const { importRootfs } = await import('../transfer/rootfs');
    const desc = await importRootfs(store, file === '-' ? process.stdin : file, {
      changes: flags.change as string[],
      message: flags.message as string | undefined,
      platform: flags.platform ? parsePlatform(String(flags.platform)) : undefined,
    });
    if (reference !== undefined) await store.tag(reference, desc);
    else await store.addImages([{ descriptor: desc }]);
    const id = (store.readJSON<{ config: Descriptor }>(desc.digest)).config.digest;
    ctx.out(`${id}\n`);
  },
};

const gc: CommandSpec = {
  name: 'gc',
  args: [],
  describe: 'Remove blobs no image references (and leftovers of interrupted writes)',
  flags: [],
  async run() {
    const r = await ctx.store().gc();
    for (const d of r.removed) ctx.out(`deleted: ${d}\n`);
    ctx.out(`Total reclaimed space: ${humanSize(r.freed)}\n`);
  },
};

const fsck: CommandSpec = {
  name: 'fsck',
  args: [],
  describe: 'Check that every image resolves and every blob matches its digest',
  flags: [],
  async run() {
    const problems = await ctx.store().fsck();
    for (const p of problems) ctx.out(`${p}\n`);
    return problems.length ? 1 : 0;
  },
};

export const COMMANDS: CommandSpec[] = [buildCommand(() => ctx), images, rmi, inspect, tag, load, save, importCmd, gc, fsck, pruneCommand(() => ctx), ...REGISTRY_COMMANDS];
