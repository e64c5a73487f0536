#!/usr/bin/env node
/**
 * Bundles the tsrun CLI (compiled by tsc into packages/runtime/dist) into one file,
 * dist/tsrun.js, and makes its V8 code cache, dist/tsrun.cache. Every tsrun call pays Node's
 * start-up plus loading our code; one file instead of ~40 modules saves their resolution and
 * reading, and the code cache saves compiling them (measured in bench/lifecycle).
 * The addon (.node) stays a separate file loaded at run time.
 */
'use strict';
const { execFileSync } = require('child_process');
const fs = require('fs');
const path = require('path');
const esbuild = require('esbuild');

const runtime = path.resolve(__dirname, '../packages/runtime');
const bundle = path.join(runtime, 'dist/tsrun.js');
const cache = path.join(runtime, 'dist/tsrun.cache');

esbuild.buildSync({
  entryPoints: [path.join(runtime, 'dist/cli/main.js')],
  outfile: bundle,
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  logLevel: 'warning',
  // The image-spec validators are only used by the image commands, which load them on demand.
  external: ['*.node', '@tsrun/spec/generated/image.js'],
  legalComments: 'none',
  // Less source to read and hash on every start; identifiers stay, so stack traces stay readable.
  minifyWhitespace: true,
  minifySyntax: true,
});

/**
 * The cache must hold every function, not just those a sample run happens to call, so the
 * bundle is compiled eagerly (--no-lazy). V8 rejects a cache made under other flags, so the
 * default (--lazy) is restored before the cache is serialised: the code is the same either way.
 * bin/tsrun loads it exactly like this: the module wrapper around the source, same filename.
 */
function makeCodeCache() {
  const vm = require('vm');
  const v8 = require('v8');
  const Module = require('module');
  v8.setFlagsFromString('--no-lazy');
  const script = new vm.Script(Module.wrap(fs.readFileSync(bundle, 'utf8')), { filename: bundle });
  v8.setFlagsFromString('--lazy');
  fs.writeFileSync(cache, script.createCachedData());
}

/** A cache V8 would reject is dead weight: check it in a fresh Node as bin/tsrun would use it. */
function cacheAccepted() {
  const check = `
    const vm = require('vm'), fs = require('fs'), Module = require('module');
    const s = new vm.Script(Module.wrap(fs.readFileSync(${JSON.stringify(bundle)}, 'utf8')),
      { filename: ${JSON.stringify(bundle)}, cachedData: fs.readFileSync(${JSON.stringify(cache)}) });
    process.stdout.write(String(!s.cachedDataRejected));`;
  return execFileSync(process.execPath, ['-e', check], { encoding: 'utf8' }) === 'true';
}

makeCodeCache();
if (!cacheAccepted()) {
  fs.rmSync(cache, { force: true });
  console.warn('bundle: V8 rejected the code cache; tsrun will compile its bundle on each start');
}
