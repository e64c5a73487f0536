/**
 * Images moving between tsbuild, podman and skopeo (Debian's packages), each way: what
 * tsbuild saves, podman loads and runs; what podman saves and skopeo copies, tsbuild loads
 * with the same image ID (config digest) and diff_ids. podman runs with private storage under
 * the test's temporary directory and runc.
 */
import * as fs from 'fs';
import { busyboxTar, ImageSandbox, inspect, LayoutWriter, makeTar, ok, Podman, removeBusyboxTar, sh } from '../helpers/images';

let sb: ImageSandbox;
let podman: Podman;
beforeEach(() => {
  sb = new ImageSandbox();
  podman = new Podman(sb);
});
afterEach(() => {
  try {
    podman.cleanup();
  } finally {
    sb.cleanup();
  }
});
afterAll(() => removeBusyboxTar());

const HOST = { os: 'linux', architecture: process.arch === 'x64' ? 'amd64' : process.arch };

function importBusybox(name: string): string {
  return ok(sb.tsbuild(['import', '-c', 'CMD ["/bin/echo","hello from tsbuild"]', busyboxTar(), name])).stdout.trim();
}

/** podman's own view of an image: its ID and diff_ids. */
function podmanImage(name: string): { id: string; layers: string[] } {
  const j = JSON.parse(ok(podman.run(['image', 'inspect', name])).stdout)[0];
  return { id: j.Id, layers: j.RootFS.Layers };
}

/** An image podman made itself (`podman import` of the busybox rootfs). */
function podmanBusybox(name: string): { id: string; layers: string[] } {
  ok(podman.run(['import', '--change', 'CMD ["/bin/echo","hello from podman"]', busyboxTar(), name]));
  const img = podmanImage(name);
  return { id: img.id, layers: img.layers };
}

describe('tsbuild → podman', () => {
  for (const format of ['docker-archive', 'oci-archive']) {
    it(`podman loads and runs what tsbuild save --format ${format} writes`, () => {
      const id = importBusybox('demo/app:1');
      ok(sb.tsbuild(['save', '--format', format, '-o', sb.path('out.tar'), 'demo/app:1']));
      expect(ok(podman.run(['load', '-i', sb.path('out.tar')])).stdout).toContain('Loaded image: docker.io/demo/app:1');
      const img = podmanImage('docker.io/demo/app:1');
      expect(`sha256:${img.id}`).toBe(id);
      expect(img.layers).toEqual(inspect(sb, 'demo/app:1').RootFS.Layers);
      expect(ok(podman.runImage('docker.io/demo/app:1')).stdout).toBe('hello from tsbuild\n');
      expect(ok(podman.runImage('docker.io/demo/app:1', ['/bin/cat', '/etc/hostname'])).stdout).not.toBe('');
    });
  }

  it('skopeo copies an oci-dir tsbuild wrote into podman storage, and it runs', () => {
    const id = importBusybox('bb:1');
    ok(sb.tsbuild(['save', '--format', 'oci-dir', '-o', sb.path('layout'), 'bb:1']));
    ok(sh('skopeo', ['copy', '-q', `oci:${sb.path('layout')}:docker.io/library/bb:1`, podman.storageRef('docker.io/library/bb:1')]));
    expect(`sha256:${podmanImage('docker.io/library/bb:1').id}`).toBe(id);
    expect(ok(podman.runImage('docker.io/library/bb:1')).stdout).toBe('hello from tsbuild\n');
  });

  it('podman runs the host platform of a multi-platform oci-archive', () => {
    const w = new LayoutWriter(sb.path('multi'));
    const host = w.image([busyboxTar()], HOST, { Cmd: ['/bin/echo', 'host platform'] });
    const arm = w.image([makeTar(sb.dir, { 'x.txt': 'arm' }, sb.path('arm.tar'))], { os: 'linux', architecture: 'arm64' }, { Cmd: ['/bin/echo', 'arm'] });
    w.tag(w.index([{ ...arm, platform: { os: 'linux', architecture: 'arm64' } }, { ...host, platform: HOST }]), 'multi:1');
    w.finish();
    ok(sb.tsbuild(['load', '-i', w.dir]));
    ok(sb.tsbuild(['save', '--format', 'oci-archive', '-o', sb.path('m.tar'), 'multi:1']));
    ok(podman.run(['load', '-i', sb.path('m.tar')]));
    expect(ok(podman.runImage('docker.io/library/multi:1')).stdout).toBe('host platform\n');
  });
});

describe('podman and skopeo → tsbuild', () => {
  for (const format of ['docker-archive', 'oci-archive']) {
    it(`tsbuild loads podman save --format ${format} with the same ID and diff_ids`, () => {
      const p = podmanBusybox('localhost/pm:1');
      ok(podman.run(['save', '--format', format, '-o', sb.path('p.tar'), 'localhost/pm:1']));
      expect(ok(sb.tsbuild(['load', '-i', sb.path('p.tar')])).stdout).toBe('Loaded image: localhost/pm:1\n');
      const img = inspect(sb, 'localhost/pm:1');
      expect(img.Id).toBe(`sha256:${p.id}`);
      expect(img.RootFS.Layers).toEqual(p.layers);
      expect(img.Config.Cmd).toEqual(['/bin/echo', 'hello from podman']);
      expect(ok(sb.tsbuild(['fsck'])).stdout).toBe('');
      // and back: podman runs what tsbuild saves of it
      ok(podman.run(['rmi', '-af']));
      ok(sb.tsbuild(['save', '-o', sb.path('back.tar'), 'localhost/pm:1']));
      ok(podman.run(['load', '-i', sb.path('back.tar')]));
      expect(ok(podman.runImage('localhost/pm:1')).stdout).toBe('hello from podman\n');
    });
  }

  it('tsbuild loads what skopeo copy writes as oci-archive: and oci: (gzip layers)', () => {
    const p = podmanBusybox('localhost/sk:1');
    ok(sh('skopeo', ['copy', '-q', podman.storageRef('localhost/sk:1'), `oci-archive:${sb.path('sk.tar')}:sk:2`]));
    ok(sh('skopeo', ['copy', '-q', podman.storageRef('localhost/sk:1'), `oci:${sb.path('sk-dir')}:example.com/sk:3`]));
    expect(ok(sb.tsbuild(['load', '-i', sb.path('sk.tar')])).stdout).toBe('Loaded image: sk:2\n');
    expect(ok(sb.tsbuild(['load', '-i', sb.path('sk-dir')])).stdout).toBe('Loaded image: example.com/sk:3\n');
    for (const name of ['sk:2', 'example.com/sk:3']) {
      const img = inspect(sb, name);
      expect(img.Id).toBe(`sha256:${p.id}`);
      expect(img.RootFS.Layers).toEqual(p.layers);
      expect(img.Manifest.layers[0].mediaType).toBe('application/vnd.oci.image.layer.v1.tar+gzip');
    }
    // a gzip layer is decompressed for a docker archive, and podman runs it
    ok(sb.tsbuild(['save', '-o', sb.path('d.tar'), 'sk:2']));
    ok(podman.run(['rmi', '-af']));
    ok(podman.run(['load', '-i', sb.path('d.tar')]));
    expect(podmanImage('docker.io/library/sk:2').layers).toEqual(p.layers);
    expect(ok(podman.runImage('docker.io/library/sk:2')).stdout).toBe('hello from podman\n');
    expect(fs.readdirSync(sb.path('store', 'ingest'))).toEqual([]);
  });
});
