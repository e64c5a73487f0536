#!/usr/bin/env node
/**
 * Bundles the tsrun CLI (compiled by tsc into packages/runtime/dist) into one file,
 * dist/tsrun.js. Every tsrun call pays Node's start-up plus module loading; one file instead
 * of ~40 modules saves their resolution and reading (measured in bench/lifecycle).
 * The addon (.node) stays a separate file loaded at run time.
 */
'use strict';
const path = require('path');
const esbuild = require('esbuild');

const runtime = path.resolve(__dirname, '../packages/runtime');
esbuild.buildSync({
  entryPoints: [path.join(runtime, 'dist/cli/main.js')],
  outfile: path.join(runtime, 'dist/tsrun.js'),
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  logLevel: 'warning',
  // The addon is loaded at run time; the generated schema validators are large and only
  // needed by create/run, so they stay separate files loaded on first use.
  external: ['*.node', '@tsrun/spec/generated/*'],
  legalComments: 'none',
});
