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
const { median, which } = require('./common');

const runs = Number(process.argv[process.argv.indexOf('--runs') + 1]) || 30;
const BLOCK = 5;
const repo = path.resolve(__dirname, '..');
const tsrun = path.join(repo, 'packages/runtime/bin/tsrun');

function time(cmd, args) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
  return ms;
}

/**
 * Medians of `run` for each runtime on one bundle, and of `node -e 0`. The commands take turns
 * in blocks of BLOCK runs, so that a slow spell of the machine weighs on all of them alike
 * rather than on whichever happened to be measured then. Within a block each command follows
 * itself, so it pays for its own deferred kernel work (namespace and cgroup teardown), not for
 * another runtime's. crun is skipped where it refuses the host.
 */
function measure(work, bundle, tag) {
  const candidates = [['tsrun', tsrun], ['runc', which('runc')], ['crun', which('crun')]];
  const cmds = [['node -e 0', () => [process.execPath, ['-e', '0']]]];
  for (const [name, bin] of candidates) {
    if (!bin) continue;
    const root = path.join(work, `state-${name}`);
    try {
      time(bin, ['--root', root, 'run', '-b', bundle, `warm-${name}-${tag}`]);
    } catch (e) {
      console.log(`${name} (${tag}): skipped (${String(e.message).split('\n')[0].slice(0, 120)})`);
      continue;
    }
    cmds.push([`${name} run`, (i) => [bin, ['--root', root, 'run', '-b', bundle, `b-${name}-${tag}-${i}`]]]);
  }
  const times = new Map(cmds.map(([k]) => [k, []]));
  for (let done = 0; done < runs; done += BLOCK) {
    for (const [k, argv] of cmds) {
      for (let i = done; i < Math.min(runs, done + BLOCK); i++) times.get(k).push(time(...argv(i)));
    }
  }
  const results = {};
  for (const [k, xs] of times) results[k] = median(xs);
  return results;
}

function report(title, results) {
  console.log(`${title}: median wall time over ${runs} runs each`);
  for (const [k, v] of Object.entries(results)) console.log(`  ${k.padEnd(12)} ${v.toFixed(1)} ms`);
  const node = results['node -e 0'];
  const ts = results['tsrun run'];
  const runc = results['runc run'];
  if (ts !== undefined && runc !== undefined) {
    console.log(`  tsrun run - node start-up = ${(ts - node).toFixed(1)} ms vs runc run = ${runc.toFixed(1)} ms ` +
      `(ratio ${((ts - node) / runc).toFixed(2)}; target < 1); tsrun run / runc run = ${(ts / runc).toFixed(2)}`);
  }
}

function main() {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-bench-'));
  try {
    // Two configs: `tsrun spec`'s default, which carries Docker's seccomp profile (as Docker's
    // and podman's configs do), and the same without seccomp (as `runc spec` writes it).
    const withSeccomp = path.join(work, 'bundle');
    execFileSync(path.join(repo, 'scripts/make-bundle.sh'), [withSeccomp, 'true']);
    const plain = path.join(work, 'bundle-plain');
    fs.mkdirSync(plain);
    fs.symlinkSync(path.join(withSeccomp, 'rootfs'), path.join(plain, 'rootfs'));
    const config = JSON.parse(fs.readFileSync(path.join(withSeccomp, 'config.json'), 'utf8'));
    delete config.linux.seccomp;
    config.root.path = path.join(withSeccomp, 'rootfs');
    fs.writeFileSync(path.join(plain, 'config.json'), JSON.stringify(config, null, 2));

    report("tsrun spec's default config (Docker's seccomp profile)", measure(work, withSeccomp, 'seccomp'));
    report('the same config without seccomp (runc spec\'s default)', measure(work, plain, 'plain'));
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

main();
