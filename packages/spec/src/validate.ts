/**
 * Validation of OCI documents against the official JSON schemas, plus the checks the schemas
 * leave out (which ociVersions we accept, digest lengths).
 *
 * Start-up cost: the schemas are compiled to plain JS at build time (scripts/gen-validators.js →
 * ../generated/*.js); this module loads a generated file only when a validate function first
 * needs it, and never loads ajv itself. Importing it costs ~nothing.
 */
import * as fs from 'fs';
import * as path from 'path';
import { SpecError } from './errors';
import { formatProblems, run, type Problem, type ValidateFn } from './problems';
import type { Spec } from './runtime-types';

export type { Problem } from './problems';
export { formatProblems } from './problems';
export { SpecError, type SpecErrorKind } from './errors';

// ---------------------------------------------------------------------------------------------
// Lazily loaded generated validators. `require` with literal paths (not import) so nothing
// is loaded before first use. They are required by package name, so that the same line
// works from src/ (jest), dist/ and a bundle that leaves them out (scripts/bundle.js).
// ---------------------------------------------------------------------------------------------

type ImageValidators = Record<ImageKind, ValidateFn>;
let configV: ValidateFn | undefined;
let stateV: ValidateFn | undefined;
let featuresV: ValidateFn | undefined;
let imageV: ImageValidators | undefined;

/* eslint-disable @typescript-eslint/no-require-imports */
const configValidator = () => (configV ??= require('@tsrun/spec/generated/runtime-config.js').config as ValidateFn);
const stateValidator = () => (stateV ??= require('@tsrun/spec/generated/runtime-state.js').state as ValidateFn);
const featuresValidator = () => (featuresV ??= require('@tsrun/spec/generated/runtime-features.js').features as ValidateFn);
const imageValidators = () => (imageV ??= require('@tsrun/spec/generated/image.js') as ImageValidators);
/* eslint-enable @typescript-eslint/no-require-imports */

// ---------------------------------------------------------------------------------------------
// Runtime-spec documents
// ---------------------------------------------------------------------------------------------

const VERSION = /^(\d+)\.(\d+)\.(\d+)(?:[-+][0-9A-Za-z.+-]*)?$/;

/**
 * The schema only says "string". We take any 1.x.y, with SemVer pre-release/build suffixes
 * ("1.0.2-dev" from podman and runc 1.1, "1.3.0" from current tools): minor versions of the
 * runtime-spec are backward compatible, a new major would not be.
 */
export function ociVersionProblem(version: unknown, at = '/ociVersion'): Problem | undefined {
  if (typeof version !== 'string') return undefined; // the schema reports missing / non-string
  const m = VERSION.exec(version);
  if (!m) return { path: at, message: `must be a version of the form 1.x.y, got "${version}"` };
  if (m[1] !== '1') return { path: at, message: `unsupported runtime-spec version "${version}" (supported: 1.x.y)` };
  return undefined;
}

const field = (doc: unknown, key: string): unknown =>
  doc !== null && typeof doc === 'object' && !Array.isArray(doc) ? (doc as Record<string, unknown>)[key] : undefined;

/** Every problem of a config.json document; [] when it is valid. */
export function validateConfig(doc: unknown): Problem[] {
  const version = ociVersionProblem(field(doc, 'ociVersion'));
  const problems = run(configValidator(), doc)
    .filter((p) => !runcPropagation(doc, p))
    .map((p) => (p.message.startsWith('must be one of') ? { ...p, message: `${p.message} (got ${JSON.stringify(at(doc, p.path))})` } : p));
  return version ? [version, ...problems] : problems;
}

/** The value at a JSON pointer, for messages that name what was found. */
function at(doc: unknown, pointer: string): unknown {
  let v = doc;
  for (const part of pointer.split('/').slice(1)) {
    const key = part.replace(/~1/g, '/').replace(/~0/g, '~');
    v = v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[key] : undefined;
  }
  return v;
}

/** runc (and so the configs written for it) also takes the recursive forms "rslave" etc. */
function runcPropagation(doc: unknown, p: Problem): boolean {
  if (p.path !== '/linux/rootfsPropagation') return false;
  const v = field(field(doc, 'linux'), 'rootfsPropagation');
  return typeof v === 'string' && ['rprivate', 'rshared', 'rslave', 'runbindable'].includes(v);
}

/** Every problem of a state document (what `state` prints, what hooks get on stdin). */
export function validateState(doc: unknown): Problem[] {
  const version = ociVersionProblem(field(doc, 'ociVersion'));
  let problems = run(stateValidator(), doc);
  // runtime.md lets runtimes add statuses, but state-schema.json enumerates only the four of the
  // spec; runc adds "paused" (and so do we, see ContainerStatus), so don't reject it.
  if (field(doc, 'status') === 'paused') problems = problems.filter((p) => p.path !== '/status');
  return version ? [version, ...problems] : problems;
}

/** Every problem of a features document (what `features` prints). */
export function validateFeatures(doc: unknown): Problem[] {
  return run(featuresValidator(), doc);
}

/** Parses and validates config.json text. Throws SpecError (one-line message). */
export function parseConfig(text: string, file = 'config.json'): Spec {
  let doc: unknown;
  try {
    // A UTF-8 BOM is harmless and some editors add one; JSON.parse would reject it.
    doc = JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
  } catch (err) {
    // The error explainer is loaded only when there is an error to explain.
    const { describeJsonError } = require('./json-error') as typeof import('./json-error');
    const detail = describeJsonError(text.replace(/^\uFEFF/, ''), err);
    throw new SpecError(`invalid JSON in ${file}: ${detail}`, 'invalid-json', file, [], { cause: err });
  }
  const problems = validateConfig(doc);
  if (problems.length) {
    throw new SpecError(`invalid config ${file}: ${formatProblems(problems)}`, 'invalid-config', file, problems);
  }
  return doc as Spec;
}

/** Reads, parses and validates a config.json. Throws SpecError (one-line message). */
export function readConfigFile(file: string): Spec {
  const abs = path.resolve(file);
  let text: string;
  try {
    text = fs.readFileSync(abs, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      throw new SpecError(notFound(abs), 'not-found', abs, [], { cause: err });
    }
    const why = code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'is a directory' : String((err as Error).message);
    throw new SpecError(`cannot read ${abs}: ${why}`, 'unreadable', abs, [], { cause: err });
  }
  return parseConfig(text, abs);
}

function notFound(abs: string): string {
  const dir = path.dirname(abs);
  const name = path.basename(abs);
  if (name !== 'config.json') return `config file ${abs} not found`;
  if (!fs.existsSync(dir)) return `config.json not found in bundle ${dir}: the bundle directory does not exist`;
  return `config.json not found in bundle ${dir}: ${abs} does not exist`;
}

// ---------------------------------------------------------------------------------------------
// Image-spec documents
// ---------------------------------------------------------------------------------------------

export type ImageKind = 'manifest' | 'index' | 'config' | 'layout' | 'descriptor';

/** Encoded lengths of the registered algorithms (descriptor.md); others are not checked. */
const DIGEST_HEX: Record<string, number> = { sha256: 64, sha512: 128 };
const DIGEST = /^([a-z0-9]+(?:[+._-][a-z0-9]+)*):([a-zA-Z0-9=_-]+)$/;

/**
 * Why `digest` is not a usable digest, or undefined if it is. The schema checks only the
 * "<algorithm>:<encoded>" shape; sha256 must be 64 and sha512 128 lowercase hex characters.
 */
export function digestProblem(digest: string): string | undefined {
  const m = DIGEST.exec(digest);
  if (!m) return `must be a digest "<algorithm>:<encoded>", got "${digest}"`;
  const [, alg, encoded] = m;
  const want = DIGEST_HEX[alg];
  if (want === undefined) return undefined;
  if (encoded.length !== want) return `${alg} digest must have ${want} hex characters, got ${encoded.length}`;
  if (!/^[a-f0-9]+$/.test(encoded)) return `${alg} digest must be lowercase hex`;
  return undefined;
}

/** Every problem of an image-spec document of the given kind; [] when it is valid. */
export function validateImage(kind: ImageKind, doc: unknown): Problem[] {
  const v = imageValidators()[kind];
  if (!v) throw new TypeError(`unknown image document kind "${String(kind)}"`);
  const problems = run(v, doc);
  for (const [at, digest] of digestsOf(kind, doc)) {
    // Descriptor digests of the wrong shape already have a schema problem (pattern).
    if (problems.some((p) => p.path === at)) continue;
    const message = digestProblem(digest);
    if (message) problems.push({ path: at, message });
  }
  return problems;
}

/** [JSON pointer, digest] of every digest string in a document. */
function digestsOf(kind: ImageKind, doc: unknown): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  const descriptor = (d: unknown, at: string) => {
    const digest = field(d, 'digest');
    if (typeof digest === 'string') out.push([`${at}/digest`, digest]);
  };
  const each = (list: unknown, at: string, fn: (x: unknown, at: string) => void) => {
    if (Array.isArray(list)) list.forEach((x, i) => fn(x, `${at}/${i}`));
  };
  switch (kind) {
    case 'descriptor':
      descriptor(doc, '');
      break;
    case 'manifest':
      descriptor(field(doc, 'config'), '/config');
      each(field(doc, 'layers'), '/layers', descriptor);
      descriptor(field(doc, 'subject'), '/subject');
      break;
    case 'index':
      each(field(doc, 'manifests'), '/manifests', descriptor);
      descriptor(field(doc, 'subject'), '/subject');
      break;
    case 'config':
      // diff_ids are digests too (of the uncompressed layers), though the schema says "string".
      each(field(field(doc, 'rootfs'), 'diff_ids'), '/rootfs/diff_ids', (x, at) => {
        if (typeof x === 'string') out.push([at, x]);
      });
      break;
    case 'layout':
      break;
  }
  return out;
}
