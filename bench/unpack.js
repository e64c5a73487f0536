#!/usr/bin/env node
/**
 * bench/unpack: layer unpack throughput (MB/s of uncompressed layer data) of `tsrun bundle`
 * (into the overlay layer cache, and with --copy) and of `umoci unpack`, on the same locally
 * generated multi-layer image (gzip layers, 120 MB of tar by default), and the time to make a
 * further bundle from an image whose layers are already unpacked, for that image and for a
 * 1 MB one (it should not depend on the size). All in one run.
 *
 *   node bench/unpack.js [--mb N] [--runs N]
 * Needs root, a build (npm run build), and umoci for its line. umoci also writes an mtree
 * manifest of the rootfs (hashing every file), which is part of what `umoci unpack` costs.
 */
'use strict';
const { spawnSync } = require('child_process');
const crypto = require('crypto');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { median } = require('./common');
const zlib = require('zlib');

const arg = (name, dflt) => (process.argv.includes(name) ? Number(process.argv[process.argv.indexOf(name) + 1]) : dflt);
const totalMb = arg('--mb', 120);
const runs = arg('--runs', 15);
const repo = path.resolve(__dirname, '..');
const tsrun = path.join(repo, 'packages/runtime/bin/tsrun');

function timed(cmd, args) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
  return ms;
}

// ------------------------------------------------------------------ a tar writer (ustar)

function octal(n, len) {
  return n.toString(8).padStart(len - 1, '0') + '\0';
}

function header(name, flag, size, mode, linkname = '') {
  const b = Buffer.alloc(512);
  b.write(name, 0);
  b.write(octal(mode, 8), 100);
  b.write(octal(0, 8), 108);
  b.write(octal(0, 8), 116);
  b.write(octal(size, 12), 124);
  b.write(octal(1700000000, 12), 136);
  b.write('        ', 148);
  b.write(flag, 156);
  b.write(linkname, 157);
  b.write('ustar\0', 257, 'latin1');
  b.write('00', 263, 'latin1');
  let sum = 0;
  for (const c of b) sum += c;
  b.write(octal(sum, 7) + ' ', 148);
  return b;
}

/** Half random, half repetitive: gzip compresses it about 2:1, as real layers. */
function content(size) {
  const half = Math.floor(size / 2);
  return Buffer.concat([crypto.randomBytes(half), Buffer.alloc(size - half, 'layer data ')]);
}

/** A layer of `bytes` bytes of files: many small ones (4-64 KB) and a few large (1-4 MB). */
function layerTar(index, bytes) {
  const parts = [];
  let total = 0;
  let n = 0;
  const add = (b) => {
    parts.push(b);
    total += b.length;
  };
  add(header(`l${index}/`, '5', 0, 0o755));
  for (let d = 0; total < bytes; d++) {
    add(header(`l${index}/d${d}/`, '5', 0, 0o755));
    for (let i = 0; i < 64 && total < bytes; i++) {
      const size = i % 16 === 0 ? 1048576 * (1 + (n % 4)) : 4096 * (1 + (n % 16));
      const name = `l${index}/d${d}/f${n++}`;
      add(header(name, '0', size, 0o644));
      add(content(size));
      if (size % 512) add(Buffer.alloc(512 - (size % 512)));
      if (i % 8 === 1) add(header(`${name}.lnk`, '2', 0, 0o777, `f${n - 1}`));
    }
  }
  add(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

const sha = (b) => `sha256:${crypto.createHash('sha256').update(b).digest('hex')}`;

function putBlob(root, data) {
  const d = sha(data);
  fs.writeFileSync(path.join(root, 'blobs/sha256', d.slice(7)), data);
  return d;
}

/** An OCI layout at `root` with one image of `layers` gzip layers, tagged `name` and `latest`. */
function writeImage(root, name, layerBytes) {
  fs.mkdirSync(path.join(root, 'blobs/sha256'), { recursive: true });
  fs.writeFileSync(path.join(root, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  const layers = [];
  const diffIds = [];
  let raw = 0;
  layerBytes.forEach((bytes, i) => {
    const tar = layerTar(i, bytes);
    raw += tar.length;
    const gz = zlib.gzipSync(tar, { level: 1 });
    layers.push({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: putBlob(root, gz), size: gz.length });
    diffIds.push(sha(tar));
  });
  const arch = process.arch === 'x64' ? 'amd64' : process.arch;
  const config = Buffer.from(JSON.stringify({ architecture: arch, os: 'linux', config: { Cmd: ['/bin/sh'] }, rootfs: { type: 'layers', diff_ids: diffIds } }));
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: putBlob(root, config), size: config.length },
      layers,
    }),
  );
  const md = putBlob(root, manifest);
  const entry = (ref) => ({ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: md, size: manifest.length, annotations: { 'org.opencontainers.image.ref.name': ref } });
  fs.writeFileSync(path.join(root, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [entry(`docker.io/library/${name}:latest`), entry('latest')] }));
  return raw;
}

function main() {
  if (process.getuid() !== 0) throw new Error('bench/unpack needs root');
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-bench-unpack-'));
  const bundles = [];
  const bundle = (root, img, dir, extra = []) => {
    bundles.push(dir);
    return timed(tsrun, ['bundle', '--image-root', root, ...extra, img, dir]);
  };
  try {
    const big = path.join(work, 'big');
    const nLayers = 4;
    const raw = writeImage(big, 'big', Array(nLayers).fill(Math.ceil((totalMb * 1048576) / nLayers)));
    const small = path.join(work, 'small');
    writeImage(small, 'small', [1048576]);
    const mb = raw / 1048576;
    console.log(`image: ${nLayers} gzip layers, ${mb.toFixed(0)} MB of tar`);

    const first = bundle(big, 'big', path.join(work, 'b-first'));
    console.log(`tsrun bundle (unpack into the layer cache + overlay mount): ${first.toFixed(0)} ms, ${(mb / (first / 1000)).toFixed(0)} MB/s`);
    const copy = bundle(big, 'big', path.join(work, 'b-copy'), ['--copy']);
    console.log(`tsrun bundle --copy (layers applied to a plain rootfs):    ${copy.toFixed(0)} ms, ${(mb / (copy / 1000)).toFixed(0)} MB/s`);
    let umoci = spawnSync('umoci', ['--version']).status === 0;
    if (umoci) {
      const t = timed('umoci', ['unpack', '--image', `${big}:latest`, path.join(work, 'umoci')]);
      console.log(`umoci unpack:                                              ${t.toFixed(0)} ms, ${(mb / (t / 1000)).toFixed(0)} MB/s`);
    } else {
      console.log('umoci unpack: not installed, skipped');
    }

    // Further bundles: layers already unpacked. In-process (the builder's makeBundle) and the
    // whole CLI call (Node start-up included).
    const { makeBundle, removeBundle } = require(path.join(repo, 'packages/builder/dist/bundle/make.js'));
    const again = async (root, img) => {
      const cli = [];
      const lib = [];
      bundle(root, img, path.join(work, `warm-${img}`)); // unpacks the small image's layer
      for (let i = 0; i < runs; i++) {
        const d = path.join(work, `again-${img}-${i}`);
        cli.push(bundle(root, img, d));
        const d2 = path.join(work, `lib-${img}-${i}`);
        const t0 = process.hrtime.bigint();
        await makeBundle({ storeRoot: root, image: img, dir: d2 });
        lib.push(Number(process.hrtime.bigint() - t0) / 1e6);
        bundles.push(d2);
      }
      return { cli: median(cli), lib: median(lib) };
    };
    return (async () => {
      const b = await again(big, 'big');
      const s = await again(small, 'small');
      console.log(`another bundle, layers cached (median of ${runs}): ${mb.toFixed(0)} MB image ${b.lib.toFixed(1)} ms in-process, ${b.cli.toFixed(0)} ms as a tsrun call; 1 MB image ${s.lib.toFixed(1)} ms in-process, ${s.cli.toFixed(0)} ms as a tsrun call`);
      for (const d of bundles.splice(0)) removeBundle(d);
    })();
  } finally {
    // The async part cleans up its own; this catches a synchronous failure.
    process.on('exit', () => {
      for (const d of bundles) spawnSync(tsrun, ['unbundle', d]);
      fs.rmSync(work, { recursive: true, force: true });
    });
  }
}

Promise.resolve()
  .then(main)
  .catch((e) => {
    console.error(String(e && e.message ? e.message : e));
    process.exitCode = 1;
  });
