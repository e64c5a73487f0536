#!/usr/bin/env node
/**
 * bench/systemd: the systemd cgroup driver (`--systemd-cgroup`, a transient scope unit per
 * container over D-Bus) against runc's, on a host where systemd is init and /sys/fs/cgroup is
 * cgroup v2 (real hosts; here, the VM tier's guest:
 *   TSRUN_VM_CMD='node bench/systemd.js' bash scripts/vm/run-tests.sh).
 * Two workloads, each with the systemd driver and with the cgroupfs one for reference:
 *   run true   `run` of a container executing `true` (create, start, wait, delete)
 *   churn      one cycle of what a manager does with a service container: `run -d` of a
 *              sleeping container, `kill KILL`, `delete` (the scope started, then stopped)
 * Prints medians and the tsrun/runc ratios measured in the same run.
 *
 *   node bench/systemd.js [--runs N]     (root; busybox for scripts/make-bundle.sh)
 */
'use strict';
const { spawnSync, execFileSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { median, which } = require('./common');

const runs = Number(process.argv[process.argv.indexOf('--runs') + 1]) || 20;
const BLOCK = 5;
const repo = path.resolve(__dirname, '..');
const tsrun = path.join(repo, 'packages/runtime/bin/tsrun');
const SLICE = 'tsrunbench.slice';

/** Runs a runtime command; its stderr goes to a file, not a pipe: a detached container (run -d)
 *  inherits it and would hold a pipe open, and spawnSync would wait for it to close. */
function must(cmd, args) {
  const errFile = path.join(os.tmpdir(), `tsrun-bench-sd-${process.pid}.err`);
  const fd = fs.openSync(errFile, 'w');
  let r;
  try {
    r = spawnSync(cmd, args, { stdio: ['ignore', 'ignore', fd] });
  } finally {
    fs.closeSync(fd);
  }
  if (r.status !== 0) throw new Error(`${path.basename(cmd)} ${args.join(' ')} failed: ${fs.readFileSync(errFile, 'utf8').trim()}`);
}

function timed(fn) {
  const t0 = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

/** The bundle's config with this container's cgroupsPath (written before the timed part). */
function setCgroupsPath(bundle, config, systemd, id) {
  config.linux.cgroupsPath = systemd ? `${SLICE}:bench:${id}` : `/tsrunbench/${id}`;
  fs.writeFileSync(path.join(bundle, 'config.json'), JSON.stringify(config));
}

const workloads = {
  'run true': (bin, global, bundle, id) => must(bin, [...global, 'run', '-b', bundle, id]),
  churn: (bin, global, bundle, id) => {
    must(bin, [...global, 'run', '-d', '-b', bundle, id]);
    must(bin, [...global, 'kill', id, 'KILL']);
    must(bin, [...global, 'delete', '--force', id]);
  },
};

function main() {
  if (!fs.existsSync('/run/systemd/system')) {
    console.error('bench/systemd: systemd is not init here; run it in the VM tier (see the header)');
    process.exit(2);
  }
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-bench-sd-'));
  try {
    const base = path.join(work, 'bundle');
    execFileSync(path.join(repo, 'scripts/make-bundle.sh'), [base, 'true']);
    const runtimes = [['tsrun', tsrun], ['runc', which('runc')]].filter(([, bin]) => bin);
    const results = {};
    for (const [wname, work1] of Object.entries(workloads)) {
      for (const systemd of [true, false]) {
        const driver = systemd ? 'systemd' : 'cgroupfs';
        const cmds = runtimes.map(([name, bin]) => {
          // Each runtime its own bundle (the config is rewritten per container) and state root.
          const bundle = path.join(work, `bundle-${name}`);
          fs.mkdirSync(bundle, { recursive: true });
          if (!fs.existsSync(path.join(bundle, 'rootfs'))) fs.symlinkSync(path.join(base, 'rootfs'), path.join(bundle, 'rootfs'));
          const config = JSON.parse(fs.readFileSync(path.join(base, 'config.json'), 'utf8'));
          config.root.path = path.join(base, 'rootfs');
          delete config.linux.seccomp;
          if (wname === 'churn') config.process.args = ['sleep', '1000'];
          const global = ['--root', path.join(work, `state-${name}`), ...(systemd ? ['--systemd-cgroup'] : [])];
          return { key: `${name} ${wname} (${driver})`, one: (i) => {
            const id = `b-${name}-${wname.replace(' ', '')}-${driver}-${i}`;
            setCgroupsPath(bundle, config, systemd, id);
            return timed(() => work1(bin, global, bundle, id));
          } };
        });
        for (const c of cmds) c.one('warm');
        const times = new Map(cmds.map((c) => [c.key, []]));
        for (let done = 0; done < runs; done += BLOCK) {
          for (const c of cmds) {
            for (let i = done; i < Math.min(runs, done + BLOCK); i++) times.get(c.key).push(c.one(i));
          }
        }
        for (const [k, xs] of times) results[k] = median(xs);
      }
    }
    console.log(`bench/systemd: median wall time over ${runs} runs each (systemd ${systemdVersion()})`);
    for (const [k, v] of Object.entries(results)) console.log(`  ${k.padEnd(34)} ${v.toFixed(1)} ms`);
    for (const wname of Object.keys(workloads)) {
      for (const driver of ['systemd', 'cgroupfs']) {
        const ts = results[`tsrun ${wname} (${driver})`];
        const rc = results[`runc ${wname} (${driver})`];
        if (ts !== undefined && rc !== undefined) console.log(`  ratio tsrun/runc, ${wname}, ${driver} driver: ${(ts / rc).toFixed(2)}`);
      }
    }
  } finally {
    fs.rmSync(path.join(os.tmpdir(), `tsrun-bench-sd-${process.pid}.err`), { force: true });
    spawnSync('systemctl', ['stop', SLICE]);
    fs.rmSync(work, { recursive: true, force: true });
    try {
      fs.rmdirSync('/sys/fs/cgroup/tsrunbench');
    } catch {
      /* absent, or not ours to remove */
    }
  }
}

function systemdVersion() {
  const r = spawnSync('systemctl', ['--version'], { encoding: 'utf8' });
  return (r.stdout || '').split('\n')[0].split(' ')[1] || '?';
}

main();
