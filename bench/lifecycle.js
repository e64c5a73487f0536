#!/usr/bin/env node
/**
 * bench/lifecycle: median wall time of `run` of a container executing `true`, for tsrun and
 * the peers installed here (runc, crun), and of a bare `node -e 0` (Node's start-up, which
 * every tsrun command pays before any of our code runs). All in one run, same bundle.
 *
 *   node bench/lifecycle.js [--runs N]
 * Needs root and busybox (scripts/make-bundle.sh).
 */
'use strict';
const { spawnSync, execFileSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const runs = Number(process.argv[process.argv.indexOf('--runs') + 1]) || 30;
const repo = path.resolve(__dirname, '..');
const tsrun = path.join(repo, 'packages/runtime/bin/tsrun');

function which(name) {
  for (const dir of (process.env.PATH + ':/usr/sbin:/sbin').split(':')) {
    const p = path.join(dir, name);
    if (dir && fs.existsSync(p)) return p;
  }
  return undefined;
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function time(cmd, args) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
  return ms;
}

function main() {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-bench-'));
  try {
    const bundle = path.join(work, 'bundle');
    execFileSync(path.join(repo, 'scripts/make-bundle.sh'), [bundle, 'true']);
    const candidates = [['tsrun', tsrun], ['runc', which('runc')], ['crun', which('crun')]];
    const results = {};
    results['node -e 0'] = median(Array.from({ length: runs }, () => time(process.execPath, ['-e', '0'])));
    for (const [name, bin] of candidates) {
      if (!bin) continue;
      const root = path.join(work, `state-${name}`);
      // crun refuses cgroup v1 hybrid hosts; report and skip instead of failing the bench.
      try {
        time(bin, ['--root', root, 'run', '-b', bundle, `warm-${name}`]);
      } catch (e) {
        console.log(`${name}: skipped (${String(e.message).split('\n')[0].slice(0, 120)})`);
        continue;
      }
      const xs = [];
      for (let i = 0; i < runs; i++) xs.push(time(bin, ['--root', root, 'run', '-b', bundle, `b-${name}-${i}`]));
      results[`${name} run`] = median(xs);
    }
    console.log(`median wall time over ${runs} runs each:`);
    for (const [k, v] of Object.entries(results)) console.log(`  ${k.padEnd(12)} ${v.toFixed(1)} ms`);
    const node = results['node -e 0'];
    const ts = results['tsrun run'];
    const runc = results['runc run'];
    if (ts !== undefined && runc !== undefined) {
      console.log(`tsrun run - node start-up = ${(ts - node).toFixed(1)} ms vs runc run = ${runc.toFixed(1)} ms ` +
        `(ratio ${((ts - node) / runc).toFixed(2)}; target < 1)`);
      console.log(`tsrun run / runc run = ${(ts / runc).toFixed(2)}`);
    }
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

main();
