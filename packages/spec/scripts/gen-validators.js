#!/usr/bin/env node
'use strict';
/**
 * Compiles the OCI JSON schemas in ../schemas into standalone validator modules under
 * ../generated, using ajv's standalone code generation.
 *
 * Why: compiling these schemas with ajv at run time costs tens of milliseconds, and every
 * `tsrun` command would pay it. The generated modules are plain functions; they never load
 * ajv's compiler (standalone code may require small ajv/dist/runtime/* helpers for some
 * keywords; the OCI schemas happen to need none).
 *
 * Output goes to packages/spec/generated/, next to src/ and dist/, NOT through tsc: tsc would
 * pretty-print the one-line generated code (+45% bytes to parse at every start-up). src/validate.ts
 * and dist/validate.js both reach it as require('../generated/<file>').
 *
 * The output is committed, so `tsc -b` and jest work without running this first. Each file
 * carries a hash of its inputs (the schemas and this script); test/unit/spec-validate.test.ts
 * fails when the hash is stale. Run it again after touching a schema or this script:
 *
 *   node packages/spec/scripts/gen-validators.js          # (re)write generated/*.js
 *   node packages/spec/scripts/gen-validators.js --check  # exit 1 if they are stale
 */
const fs = require('fs');
const path = require('path');
const crypto = require('crypto');

const PKG = path.resolve(__dirname, '..');
const SCHEMAS = path.join(PKG, 'schemas');
const OUT = path.join(PKG, 'generated');

/** What goes into each generated module: export name → schema file name. One module per
 *  document family, so validating a config never loads the image validators and vice versa. */
const MODULES = {
  'runtime-config.js': { family: 'runtime-spec', exports: { config: 'config-schema.json' } },
  'runtime-state.js': { family: 'runtime-spec', exports: { state: 'state-schema.json' } },
  'runtime-features.js': { family: 'runtime-spec', exports: { features: 'features-schema.json' } },
  'image.js': {
    family: 'image-spec',
    exports: {
      manifest: 'image-manifest-schema.json',
      index: 'image-index-schema.json',
      config: 'config-schema.json',
      layout: 'image-layout-schema.json',
      descriptor: 'content-descriptor.json',
    },
  },
};

/** Formats the image-spec uses. RegExps (not functions) so ajv inlines them into the generated
 *  code and it needs no formats module at run time. Deliberately simple: RFC 3339 date-time
 *  (with any number of fractional digits, as Go's RFC3339Nano writes) and "scheme:rest" URIs. */
const FORMATS = {
  'date-time':
    /^\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])[Tt ](?:[01]\d|2[0-3]):[0-5]\d:(?:[0-5]\d|60)(?:\.\d+)?(?:[Zz]|[+-](?:[01]\d|2[0-3]):[0-5]\d)$/,
  uri: /^[A-Za-z][A-Za-z0-9+.-]*:[^\s]*$/,
};

function readSchemas(family) {
  const dir = path.join(SCHEMAS, family);
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.json')).sort();
  return files.map((name) => ({ name, text: fs.readFileSync(path.join(dir, name), 'utf8') }));
}

/** runtime-spec v1.3.0 defs.json has "$ref": "#definitions/uint32" (missing '/'), which ajv
 *  cannot resolve. Fixed upstream after the tag; patch it in memory, leave the file unchanged. */
function patchRuntimeSchema(name, schema) {
  const items = name === 'defs.json' && schema.definitions?.ArrayOfUint32?.items;
  if (items && items.$ref === '#definitions/uint32') items.$ref = '#/definitions/uint32';
  return schema;
}

/** image-spec files carry absolute `id` URLs (https://opencontainers.org/schema/...), which
 *  change the base URI so their relative $refs ("defs.json#/...") point nowhere. Drop every
 *  string-valued `id` (a *property* named "id" has an object value and is kept) and register
 *  each file under its own file name instead. */
function dropIds(node) {
  if (Array.isArray(node)) node.forEach(dropIds);
  else if (node && typeof node === 'object') {
    if (typeof node.id === 'string') delete node.id;
    Object.values(node).forEach(dropIds);
  }
  return node;
}

function newAjv() {
  // Loaded here, not at the top, so `--help`-style failures stay cheap; these are build-time only.
  const Ajv04 = require('ajv-draft-04').default;
  return new Ajv04({
    strict: false, // config-linux.json etc. have top-level keys that are not keywords
    allErrors: true, // report every problem, not just the first
    code: { source: true, esm: false, optimize: true },
    // Shared definitions (uint64, ArrayOfStrings, ...) become one function each instead of being
    // pasted at every use: ~15% less code to parse at start-up, measurably faster to load.
    inlineRefs: false,
  });
}

function inputHash(schemas) {
  const h = crypto.createHash('sha256');
  h.update(fs.readFileSync(__filename));
  for (const s of schemas) h.update(`\0${s.name}\0${s.text}`);
  return h.digest('hex').slice(0, 16);
}

/** Returns { file → source text } for every module in MODULES. */
function generate() {
  const standaloneCode = require('ajv/dist/standalone').default;
  const out = {};
  for (const [file, { family, exports }] of Object.entries(MODULES)) {
    const schemas = readSchemas(family);
    const ajv = newAjv();
    for (const [name, re] of Object.entries(FORMATS)) ajv.addFormat(name, re);
    for (const { name, text } of schemas) {
      let schema = JSON.parse(text);
      schema = family === 'runtime-spec' ? patchRuntimeSchema(name, schema) : dropIds(schema);
      ajv.addSchema(schema, name);
    }
    const code = standaloneCode(ajv, exports);
    const header =
      `/* GENERATED by packages/spec/scripts/gen-validators.js from schemas/${family} -- DO NOT EDIT.\n` +
      ` * inputs-hash: ${inputHash(schemas)}\n` +
      ` * exports: ${Object.entries(exports).map(([k, v]) => `${k} (${v})`).join(', ')} */\n`;
    out[file] = header + code + '\n';
  }
  return out;
}

/** The hash each generated file should carry, computed without ajv (used by the unit test). */
function expectedHashes() {
  const res = {};
  for (const [file, { family }] of Object.entries(MODULES)) res[file] = inputHash(readSchemas(family));
  return res;
}

function main(argv) {
  const check = argv.includes('--check');
  const files = generate();
  let stale = 0;
  fs.mkdirSync(OUT, { recursive: true });
  for (const [file, text] of Object.entries(files)) {
    const dest = path.join(OUT, file);
    const old = fs.existsSync(dest) ? fs.readFileSync(dest, 'utf8') : null;
    if (old === text) continue;
    stale++;
    if (check) console.error(`stale: ${path.relative(process.cwd(), dest)}`);
    else {
      fs.writeFileSync(dest, text);
      console.log(`wrote ${path.relative(process.cwd(), dest)} (${text.length} bytes)`);
    }
  }
  if (check && stale) process.exit(1);
}

module.exports = { generate, expectedHashes, MODULES };
if (require.main === module) main(process.argv.slice(2));
