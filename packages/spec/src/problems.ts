/**
 * Turns ajv's raw error objects into short, specific problems:
 *   { path: '/process/args', message: 'must be array' }
 *
 * This module knows the *shape* of ajv errors but does not load ajv: the validators that
 * produce them are pre-generated (see scripts/gen-validators.js).
 */

/** One thing wrong with a document. `path` is a JSON pointer into it ("/" is the document). */
export interface Problem {
  path: string;
  message: string;
}

/** The fields of an ajv ErrorObject that we use. */
export interface AjvError {
  instancePath: string;
  schemaPath: string;
  keyword: string;
  params: Record<string, unknown>;
  message?: string;
}

/** A generated validator: returns true or sets `.errors`. */
export interface ValidateFn {
  (data: unknown): boolean;
  errors?: AjvError[] | null;
}

/** "a; b; c" — how problems are put on one line (SpecError messages, CLI output). */
export function formatProblems(problems: readonly Problem[]): string {
  return problems.map((p) => `${p.path}: ${p.message}`).join('; ');
}

/** Runs `validate` and converts its errors. */
export function run(validate: ValidateFn, doc: unknown): Problem[] {
  if (validate(doc)) return [];
  return toProblems(validate.errors ?? []);
}

export function toProblems(errors: readonly AjvError[]): Problem[] {
  const out: Problem[] = [];
  const seen = new Set<string>();
  for (const e of collapseAlternatives(errors)) {
    const p = { path: e.instancePath || '/', message: describe(e) };
    const key = `${p.path}\0${p.message}`;
    if (!seen.has(key)) {
      seen.add(key);
      out.push(p);
    }
  }
  return out;
}

function describe(e: AjvError): string {
  const p = e.params;
  switch (e.keyword) {
    case 'required':
      return `missing required property "${String(p.missingProperty)}"`;
    case 'type':
      return `must be ${typeList(p.type).join(' or ')}`;
    case 'enum':
      return `must be one of ${(p.allowedValues as unknown[]).map((v) => (typeof v === 'string' ? v : JSON.stringify(v))).join(', ')}`;
    case 'oneOf':
    case 'anyOf':
      // Only reached when the branches left no error of their own (e.g. oneOf matched twice).
      return 'does not match exactly one of the allowed forms';
    default:
      return e.message ?? `fails "${e.keyword}"`;
  }
}

function typeList(t: unknown): string[] {
  return (Array.isArray(t) ? t : String(t).split(',')).map(String);
}

const isUnder = (path: string, base: string) => path === base || path.startsWith(base + '/');
const parentOf = (schemaPath: string) => schemaPath.slice(0, schemaPath.lastIndexOf('/') + 1);

/**
 * ajv reports a failed oneOf/anyOf as "must match exactly one schema in oneOf" *plus* every
 * branch's errors. Readers want one of two things instead:
 *  - every branch failed on the value's type (Cmd: array | null given a number):
 *      one problem, "must be array or null";
 *  - some branch got further (Cmd: [1]): that branch's deeper errors ("/Cmd/0: must be string"),
 *    without the other branches' "must be null" and without the oneOf line itself.
 *
 * ajv pushes a combinator's branch errors right before the combinator's own error, and inner
 * combinators complete before outer ones, so one left-to-right pass with a stack does it.
 */
function collapseAlternatives(errors: readonly AjvError[]): AjvError[] {
  const out: AjvError[] = [];
  for (const e of errors) {
    if (e.keyword !== 'oneOf' && e.keyword !== 'anyOf') {
      out.push(e);
      continue;
    }
    if (Array.isArray(e.params.passingSchemas)) {
      out.push(e); // matched more than one branch: nothing to collapse
      continue;
    }
    // Pop the trailing errors that belong to this combinator's branches: at or below its
    // instance path, and not a sibling keyword of the combinator (same parent schema path).
    // Errors from $ref'd schemas have paths relative to that schema ("#/type"), so when the
    // combinator itself sits at a schema root ("#/oneOf") siblings can't be told apart: take all.
    const branch: AjvError[] = [];
    const sibling = parentOf(e.schemaPath);
    while (out.length) {
      const last = out[out.length - 1];
      if (!isUnder(last.instancePath, e.instancePath)) break;
      const isSibling = sibling !== '#/' && last.schemaPath.startsWith(sibling) && !last.schemaPath.startsWith(e.schemaPath + '/');
      if (isSibling) break;
      branch.unshift(out.pop()!);
    }
    const atTop = (b: AjvError) => b.instancePath === e.instancePath && b.keyword === 'type';
    const deeper = branch.filter((b) => !atTop(b));
    if (deeper.length) out.push(...deeper);
    else if (branch.length) {
      const types = [...new Set(branch.flatMap((b) => typeList(b.params.type)))];
      out.push({ ...e, keyword: 'type', params: { type: types } });
    } else out.push(e);
  }
  return out;
}
