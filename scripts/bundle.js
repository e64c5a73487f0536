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
  // Validators tsrun's commands never run (image-spec; state and features documents) stay
  // separate files, loaded on demand by whoever uses them.
  external: ['*.node', '@tsrun/spec/generated/image.js', '@tsrun/spec/generated/runtime-state.js', '@tsrun/spec/generated/runtime-features.js'],
  legalComments: 'none',
  // Less source to read and a smaller code cache on every start. Error classes set their
  // names themselves; for readable stack traces, TSRUN_DEBUG_STACK makes bin/tsrun run the
  // unbundled tsc output instead.
  minifyWhitespace: true,
  minifySyntax: true,
  minifyIdentifiers: true,
});

// The systemd driver's D-Bus worker thread (cgroups/systemd/bus-worker.ts) runs as a file of
// its own: bundled too, with its D-Bus client inlined, so that the CLI's dist works wherever it
// is copied (without node_modules beside it), as the rootless tests run it.
esbuild.buildSync({
  entryPoints: [path.join(runtime, 'dist/cgroups/systemd/bus-worker.js')],
  outfile: path.join(runtime, 'dist/tsrun-bus-worker.js'),
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  logLevel: 'warning',
  legalComments: 'none',
  minifyWhitespace: true,
  minifySyntax: true,
});

/**
 * The file is stored already wrapped as the CommonJS function bin/tsrun calls, and must be
 * ASCII: bin/tsrun then reads it as latin1 into a one-byte string, without UTF-8 decoding and
 * without the second copy Module.wrap would make (a copy of this size in the young generation
 * cost two scavenges, ~3 ms, on every call).
 */
function wrapAscii() {
  const Module = require('module');
  const src = fs.readFileSync(bundle, 'utf8');
  const bad = /[^\x00-\x7f]/.exec(src);
  if (bad) throw new Error(`bundle: ${bundle} has a non-ASCII character (${JSON.stringify(bad[0])} near ${JSON.stringify(src.slice(Math.max(0, bad.index - 30), bad.index + 10))}); escape it in the source`);
  fs.writeFileSync(bundle, Module.wrap(src), 'latin1');
}

/**
 * The cache must hold every function, not just those a sample run happens to call, so the
 * bundle is compiled eagerly (--no-lazy). V8 rejects a cache made under other flags, so the
 * default (--lazy) is restored before the cache is serialised: the code is the same either way.
 * bin/tsrun loads it exactly like this: the same (wrapped) source, read the same way, same filename.
 */
function makeCodeCache() {
  const vm = require('vm');
  const v8 = require('v8');
  const Module = require('module');
  v8.setFlagsFromString('--no-lazy');
  const script = new vm.Script(fs.readFileSync(bundle, 'latin1'), { filename: bundle });
  v8.setFlagsFromString('--lazy');
  fs.writeFileSync(cache, script.createCachedData());
}

/** A cache V8 would reject is dead weight: check it in a fresh Node as bin/tsrun would use it. */
function cacheAccepted() {
  const check = `
    const vm = require('vm'), fs = require('fs');
    const s = new vm.Script(fs.readFileSync(${JSON.stringify(bundle)}, 'latin1'),
      { filename: ${JSON.stringify(bundle)}, cachedData: fs.readFileSync(${JSON.stringify(cache)}) });
    process.stdout.write(String(!s.cachedDataRejected));`;
  return execFileSync(process.execPath, ['-e', check], { encoding: 'utf8' }) === 'true';
}

wrapAscii();
makeCodeCache();
if (!cacheAccepted()) {
  fs.rmSync(cache, { force: true });
  console.warn('bundle: V8 rejected the code cache; tsrun will compile its bundle on each start');
}
