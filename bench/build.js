#!/usr/bin/env node
/**
 * bench/build: tsbuild against buildah on the same Dockerfiles and contexts, in one run:
 *
 *   cold build        FROM scratch + ADD of the busybox rootfs, RUN, COPY of a small app, RUN;
 *                     both with empty stores and caches
 *   no-change rebuild the same build again (everything from the cache)
 *   one file changed  one copied source file edited: the COPY and the RUN after it rebuild
 *   COPY 10,000 files a cold build whose context is 10,000 small files, copied by one COPY
 *
 * Each figure is the median wall time of --runs runs (default 3), each run from the state it
 * needs (a cold build starts with fresh stores). buildah uses the overlay storage driver (its
 * fastest here) with --layers (its cache), chroot isolation, a private --root/--runroot.
 * The last column is tsbuild/buildah; targets: every ratio below 1.0, the no-change rebuild
 * below 0.5. Needs root, a build (npm run build), buildah and busybox-static.
 *
 *   node bench/build.js [--runs N] [--files N]
 */
'use strict';
const { spawnSync, execFileSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const arg = (name, dflt) => (process.argv.includes(name) ? Number(process.argv[process.argv.indexOf(name) + 1]) : dflt);
const runs = arg('--runs', 3);
const nfiles = arg('--files', 10000);
const repo = path.resolve(__dirname, '..');
const tsbuildBin = path.join(repo, 'packages/builder/bin/tsbuild');

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-build-'));
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function run(cmd, args, env = {}) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8', env: { ...process.env, ...env }, maxBuffer: 256 << 20 });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
  return ms;
}

const builders = {
  tsbuild: {
    root: (tag) => path.join(work, `tsbuild-${tag}`),
    build(tag, ctx) {
      return run(process.execPath, [tsbuildBin, 'build', '--progress', 'quiet', '-t', 'bench:1', ctx], { TSBUILD_ROOT: this.root(tag) });
    },
    reset(tag) {
      fs.rmSync(this.root(tag), { recursive: true, force: true });
    },
  },
  buildah: {
    base: (tag) => ['--root', path.join(work, `buildah-${tag}`, 'root'), '--runroot', path.join(work, `buildah-${tag}`, 'run'), '--storage-driver', 'overlay'],
    build(tag, ctx) {
      return run('buildah', [...this.base(tag), 'build', '--isolation', 'chroot', '--layers', '-q', '-t', 'bench:1', ctx], { BUILDAH_ISOLATION: 'chroot' });
    },
    reset(tag) {
      const dir = path.join(work, `buildah-${tag}`);
      if (fs.existsSync(dir)) {
        spawnSync('buildah', [...this.base(tag), 'rm', '-a'], { stdio: 'ignore' });
        spawnSync('buildah', [...this.base(tag), 'rmi', '-af'], { stdio: 'ignore' });
        // overlay storage leaves its mounts; none may outlive the bench
        spawnSync('umount', ['-R', '-l', path.join(dir, 'root', 'overlay')], { stdio: 'ignore' });
        for (const m of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4]).filter((m) => m && m.startsWith(dir)).reverse()) {
          spawnSync('umount', ['-l', m], { stdio: 'ignore' });
        }
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  },
};

function write(file, content) {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, content);
}

// ---------------------------------------------------------------- contexts
const rootfs = path.join(work, 'rootfs.tar');
execFileSync('bash', [path.join(repo, 'scripts/make-rootfs.sh'), rootfs]);

const app = path.join(work, 'app');
write(path.join(app, 'Dockerfile'), `FROM scratch
ADD rootfs.tar /
RUN mkdir -p /srv && echo "built" > /srv/stamp && ls /bin | wc -l > /srv/applets
COPY src/ /srv/src/
RUN find /srv/src -type f | sort | xargs cat | md5sum > /srv/digest
ENV MODE=production
WORKDIR /srv
CMD ["cat", "/srv/digest"]
`);
fs.copyFileSync(rootfs, path.join(app, 'rootfs.tar'));
for (let i = 0; i < 50; i++) write(path.join(app, 'src', `mod${i % 5}`, `file${i}.js`), `export const v${i} = ${i};\n`.repeat(20));

const many = path.join(work, 'many');
write(path.join(many, 'Dockerfile'), 'FROM scratch\nADD rootfs.tar /\nCOPY files/ /files/\n');
fs.copyFileSync(rootfs, path.join(many, 'rootfs.tar'));
for (let i = 0; i < nfiles; i++) write(path.join(many, 'files', `d${i % 100}`, `f${i}.txt`), `small file ${i}\n`);

// ---------------------------------------------------------------- measurements
function measure(name, fn) {
  const out = {};
  for (const b of Object.keys(builders)) out[b] = median(Array.from({ length: runs }, (_, i) => fn(builders[b], `${name}-${i}`)));
  return out;
}

const results = [];
try {
  results.push(['cold build', measure('cold', (b, tag) => {
    b.reset(tag);
    const ms = b.build(tag, app);
    b.reset(tag);
    return ms;
  })]);

  // warm stores for the rebuilds, built once per builder
  for (const b of Object.values(builders)) {
    b.reset('warm');
    b.build('warm', app);
  }
  results.push(['no-change rebuild', measure('nochange', (b) => b.build('warm', app))]);

  let edit = 0;
  results.push(['one source file changed', measure('change', (b) => {
    write(path.join(app, 'src', 'mod3', 'file13.js'), `export const v13 = ${++edit};\n`);
    return b.build('warm', app);
  })]);

  results.push([`COPY of ${nfiles} small files`, measure('many', (b, tag) => {
    b.reset(tag);
    const ms = b.build(tag, many);
    b.reset(tag);
    return ms;
  })]);
} finally {
  for (const b of Object.values(builders)) b.reset('warm');
  fs.rmSync(work, { recursive: true, force: true });
}

const ms = (x) => `${x.toFixed(0)} ms`.padStart(10);
console.log(`bench/build: median of ${runs} runs (tsbuild vs buildah ${execFileSync('buildah', ['--version'], { encoding: 'utf8' }).split(' ')[2]}, overlay storage)`);
console.log(`${'case'.padEnd(28)}${'tsbuild'.padStart(10)}${'buildah'.padStart(10)}   ratio`);
for (const [name, r] of results) console.log(`${name.padEnd(28)}${ms(r.tsbuild)}${ms(r.buildah)}   ${(r.tsbuild / r.buildah).toFixed(2)}`);
