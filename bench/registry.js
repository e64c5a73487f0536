#!/usr/bin/env node
/**
 * bench/registry: push and pull times of one multi-layer image (100 MB of gzip layers by
 * default) between a local docker-registry and tsbuild, and skopeo, in one run.
 *
 * tsbuild pushes from its store and pulls into an empty store; skopeo pushes from an OCI
 * layout holding the same image and pulls into an empty OCI layout (the nearest thing to a
 * store it has). Each measurement gets a registry with fresh storage on 127.0.0.1 (plain
 * HTTP), so nothing is skipped or mounted; the median of --runs runs is printed.
 *
 *   node bench/registry.js [--mb N] [--layers N] [--runs N]
 * Needs a build (npm run build), docker-registry and skopeo.
 */
'use strict';
const { spawn, spawnSync } = require('child_process');
const crypto = require('crypto');
const fs = require('fs');
const http = require('http');
const net = require('net');
const os = require('os');
const path = require('path');
const zlib = require('zlib');

const arg = (name, dflt) => (process.argv.includes(name) ? Number(process.argv[process.argv.indexOf(name) + 1]) : dflt);
const totalMb = arg('--mb', 100);
const nLayers = arg('--layers', 4);
const runs = arg('--runs', 3);
const repo = path.resolve(__dirname, '..');
const tsbuildBin = path.join(repo, 'packages/builder/bin/tsbuild');

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const sha256 = (b) => `sha256:${crypto.createHash('sha256').update(b).digest('hex')}`;

function run(cmd, args, env = {}) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8', env: { ...process.env, ...env } });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
  return ms;
}

/** A one-file ustar archive (the file's content is random: gzip cannot shrink it). */
function layerTar(i, size) {
  const h = Buffer.alloc(512);
  const octal = (n, len) => n.toString(8).padStart(len - 1, '0') + '\0';
  h.write(`layer${i}.bin`, 0);
  h.write(octal(0o644, 8), 100);
  h.write(octal(0, 8), 108);
  h.write(octal(0, 8), 116);
  h.write(octal(size, 12), 124);
  h.write(octal(1700000000, 12), 136);
  h.write('        ', 148);
  h.write('0', 156);
  h.write('ustar\0', 257, 'latin1');
  h.write('00', 263, 'latin1');
  let sum = 0;
  for (const c of h) sum += c;
  h.write(octal(sum, 7) + ' ', 148);
  const pad = Buffer.alloc((512 - (size % 512)) % 512);
  return Buffer.concat([h, crypto.randomBytes(size), pad, Buffer.alloc(1024)]);
}

/** An OCI layout with one image of `nLayers` gzip layers of `totalMb` MB in all. */
function makeLayout(dir) {
  const blobs = path.join(dir, 'blobs/sha256');
  fs.mkdirSync(blobs, { recursive: true });
  const put = (data) => {
    const digest = sha256(data);
    fs.writeFileSync(path.join(blobs, digest.slice(7)), data);
    return { digest, size: data.length };
  };
  const layers = [];
  const diffIds = [];
  for (let i = 0; i < nLayers; i++) {
    const tar = layerTar(i, Math.floor((totalMb * 1e6) / nLayers));
    diffIds.push(sha256(tar));
    layers.push({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...put(zlib.gzipSync(tar, { level: 1 })) });
  }
  const arch = process.arch === 'x64' ? 'amd64' : process.arch;
  const config = { mediaType: 'application/vnd.oci.image.config.v1+json', ...put(Buffer.from(JSON.stringify({ architecture: arch, os: 'linux', rootfs: { type: 'layers', diff_ids: diffIds }, config: {} }))) };
  const manifest = put(Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config, layers })));
  fs.writeFileSync(path.join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  fs.writeFileSync(path.join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifest, annotations: { 'org.opencontainers.image.ref.name': 'bench:1' } }] }));
  return layers.reduce((n, l) => n + l.size, 0);
}

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function answers(url) {
  return new Promise((resolve) => {
    const req = http.get(url, (res) => {
      res.resume();
      resolve(true);
    });
    req.on('error', () => resolve(false));
  });
}

/** A docker-registry with fresh storage; resolves to { host, stop }. */
async function registry(work) {
  const dir = fs.mkdtempSync(path.join(work, 'registry-'));
  const port = await freePort();
  const config = path.join(dir, 'config.yml');
  fs.writeFileSync(config, `version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: ${dir}/data\nhttp:\n  addr: 127.0.0.1:${port}\n  secret: bench\n`);
  const child = spawn('docker-registry', ['serve', config], { stdio: 'ignore', cwd: dir });
  const host = `127.0.0.1:${port}`;
  for (let i = 0; i < 100 && !(await answers(`http://${host}/v2/`)); i++) await new Promise((r) => setTimeout(r, 100));
  return {
    host,
    stop: () =>
      new Promise((resolve) => {
        child.once('exit', () => {
          fs.rmSync(dir, { recursive: true, force: true });
          resolve();
        });
        child.kill('SIGKILL');
      }),
  };
}

async function main() {
  for (const tool of ['docker-registry', 'skopeo']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) throw new Error(`${tool} is not installed`);
  }
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'tsbuild-bench-registry-'));
  try {
    const layout = path.join(work, 'layout');
    const bytes = makeLayout(layout);
    const mb = bytes / 1e6;
    const store = path.join(work, 'store');
    run(process.execPath, [tsbuildBin, 'load', '-i', layout], { TSBUILD_ROOT: store });
    const times = { tsbuild: { push: [], pull: [] }, skopeo: { push: [], pull: [] } };
    for (let i = 0; i < runs; i++) {
      let reg = await registry(work);
      times.tsbuild.push.push(run(process.execPath, [tsbuildBin, 'push', '-q', 'bench:1', `${reg.host}/bench/app:1`], { TSBUILD_ROOT: store }));
      const pulled = path.join(work, `pulled-${i}`);
      times.tsbuild.pull.push(run(process.execPath, [tsbuildBin, 'pull', '-q', `${reg.host}/bench/app:1`], { TSBUILD_ROOT: pulled }));
      fs.rmSync(pulled, { recursive: true, force: true });
      await reg.stop();

      reg = await registry(work);
      times.skopeo.push.push(run('skopeo', ['copy', '-q', '--dest-tls-verify=false', `oci:${layout}:bench:1`, `docker://${reg.host}/bench/app:1`]));
      const out = path.join(work, `skopeo-${i}`);
      times.skopeo.pull.push(run('skopeo', ['copy', '-q', '--src-tls-verify=false', `docker://${reg.host}/bench/app:1`, `oci:${out}:x`]));
      fs.rmSync(out, { recursive: true, force: true });
      await reg.stop();
    }
    console.log(`image: ${nLayers} gzip layers, ${mb.toFixed(0)} MB; local docker-registry over HTTP; median of ${runs} runs`);
    for (const [tool, t] of Object.entries(times)) {
      const push = median(t.push);
      const pull = median(t.pull);
      console.log(`${tool.padEnd(8)} push ${push.toFixed(0).padStart(6)} ms (${(mb / (push / 1000)).toFixed(0)} MB/s)   pull ${pull.toFixed(0).padStart(6)} ms (${(mb / (pull / 1000)).toFixed(0)} MB/s)`);
    }
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e.message);
  process.exit(1);
});
