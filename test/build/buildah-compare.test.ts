/**
 * The same Dockerfiles built by tsbuild and by buildah (Debian's, vfs storage of its own,
 * chroot isolation) from the same base (FROM scratch + ADD of the busybox rootfs tarball): the
 * root filesystems must match file by file (paths, types, modes, owners, link targets,
 * contents) and the image configs field by field (Env, Entrypoint, Cmd, WorkingDir, User,
 * ExposedPorts, Volumes, Labels, StopSignal, Healthcheck, OnBuild, Shell). The tsbuild image
 * then runs on tsrun and on podman.
 */
import * as fs from 'fs';
import * as path from 'path';
import { ImageSandbox, ok, Podman, sh, type Run } from '../helpers/images';
import { Buildah, cleanBuildSandbox, comparable, context, describeTree, treeDiff, TSRUN } from './helpers';

const TSBUILD = path.join(__dirname, '../../packages/builder/bin/tsbuild');

/**
 * buildah as the helper runs it, made independent of this machine's configuration: its own
 * containers.conf, storage.conf and registries.conf (through the variables buildah reads instead
 * of /etc/containers, /usr/share/containers and ~/.config/containers; other BUILDAH_*, STORAGE_*,
 * CONTAINERS_* and REGISTRIES_* variables dropped), its own signature policy, no default mounts
 * file, the cgroupfs manager whether or not systemd runs, bases never pulled (each is scratch or
 * built here) and rlimits every host allows (its defaults are raised to pid_max and 1048576).
 */
class PrivateBuildah extends Buildah {
  private readonly conf: string;
  private readonly env: Record<string, string>;

  constructor(sb: ImageSandbox) {
    super(sb);
    this.conf = sb.path('buildah-conf');
    fs.mkdirSync(this.conf);
    const file = (name: string, content: string) => {
      fs.writeFileSync(path.join(this.conf, name), content);
      return path.join(this.conf, name);
    };
    const limits = '["nofile=1024:1024", "nproc=1024:1024"]';
    this.env = {
      CONTAINERS_CONF: file('containers.conf', [
        '[containers]', `default_ulimits = ${limits}`,
        '[engine]', 'cgroup_manager = "cgroupfs"',
        // no network configuration of this machine's (RUN shares the host's network: chroot isolation)
        '[network]', 'network_backend = "cni"', `network_config_dir = "${path.join(this.conf, 'networks')}"`,
        '',
      ].join('\n')),
      CONTAINERS_STORAGE_CONF: file('storage.conf', `[storage]\ndriver = "vfs"\ngraphroot = "${sb.path('buildah-root')}"\nrunroot = "${sb.path('buildah-run')}"\n`),
      CONTAINERS_REGISTRIES_CONF: file('registries.conf', 'unqualified-search-registries = []\nshort-name-mode = "disabled"\n'),
    };
    fs.mkdirSync(path.join(this.conf, 'networks'));
    fs.mkdirSync(path.join(this.conf, 'registries.conf.d'));
    file('policy.json', '{"default": [{"type": "insecureAcceptAnything"}]}\n');
    file('mounts.conf', '');
  }

  override run(args: string[], opts: { input?: string } = {}): Run {
    const [cmd, ...rest] = args;
    const global = [
      '--cgroup-manager', 'cgroupfs',
      '--registries-conf', path.join(this.conf, 'registries.conf'),
      '--registries-conf-dir', path.join(this.conf, 'registries.conf.d'),
      '--short-name-alias-conf', path.join(this.conf, 'short-name-aliases.conf'),
      '--default-mounts-file', path.join(this.conf, 'mounts.conf'),
    ];
    const sub = cmd === 'build' || cmd === 'from' ? ['--signature-policy', path.join(this.conf, 'policy.json')] : [];
    // The helper passes process.env on: give it ours for this one (synchronous) call.
    const saved = { ...process.env };
    try {
      for (const k of Object.keys(process.env)) if (/^(BUILDAH_|STORAGE_|CONTAINERS_|REGISTRIES_)/.test(k)) delete process.env[k];
      Object.assign(process.env, this.env);
      return super.run([...global, cmd, ...sub, ...rest], opts);
    } finally {
      for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
      Object.assign(process.env, saved);
    }
  }

  override build(ctx: string, args: string[]): Run {
    return super.build(ctx, ['--pull=never', '--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1024:1024', ...args]);
  }
}

let sb: ImageSandbox;
let buildah: Buildah;
beforeAll(() => {
  sb = new ImageSandbox();
  buildah = new PrivateBuildah(sb);
});
afterAll(() => {
  buildah.cleanup();
  cleanBuildSandbox(sb);
});

function tsbuild(args: string[]): Run {
  return sh(process.execPath, [TSBUILD, ...args], { env: { ...process.env, TSBUILD_ROOT: sb.root } });
}

/**
 * Paths buildah's RUN leaves that are no part of the Dockerfile's result: the mount points it
 * makes for /run/.containerenv, /etc/hosts and /etc/resolv.conf when the image lacks them.
 */
const BUILDAH_ARTIFACTS = new Set(['run', 'run/.containerenv', 'etc/hosts', 'etc/resolv.conf', 'etc/hostname']);

interface Case {
  name: string;
  dockerfile: string;
  files?: Record<string, string | Buffer>;
  args?: string[];
  /** Paths where the builders knowingly differ (see the case). */
  ignore?: string[];
  /** Images both builders need first (ONBUILD parents): [tag, dockerfile]. */
  parents?: [string, string][];
}

const CASES: Case[] = [
  {
    name: 'metadata instructions and RUN forms',
    args: ['--build-arg', 'VERSION=2.0'],
    dockerfile: `FROM scratch
ADD rootfs.tar /
ARG VERSION=1.0
ARG UNUSED_DEFAULT=x
ENV APP_HOME=/srv/app PATH=/srv/app/bin:$PATH
ENV LEGACY value with spaces
LABEL version=$VERSION "description"="a test image" multi.word="a b"
RUN mkdir -p $APP_HOME/bin && echo "v=$VERSION home=$APP_HOME" > $APP_HOME/info
RUN ["/bin/sh", "-c", "echo exec-form > /srv/app/exec"]
USER www:www
WORKDIR $APP_HOME
WORKDIR sub/dir
# buildah makes a WORKDIR only when a RUN needs it, BuildKit right away: a RUN makes both agree
RUN pwd > /tmp/pwd
EXPOSE 80 443/tcp 53/udp
VOLUME ["/data", "/logs"]
VOLUME /cache
STOPSIGNAL SIGQUIT
HEALTHCHECK --interval=5s --timeout=2s --start-period=1s --retries=4 CMD wget -q localhost || exit 1
SHELL ["/bin/sh", "-ec"]
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["cat /srv/app/info"]
`,
  },
  {
    name: 'COPY and ADD semantics',
    files: {
      'file.txt': 'file\n',
      'dir/a.txt': 'a\n',
      'dir/sub/b.txt': 'b\n',
      'glob/x1.conf': 'x1\n',
      'glob/x2.conf': 'x2\n',
      'glob/y.txt': 'y\n',
      'exec.sh': '#!/bin/sh\necho hi\n',
    },
    dockerfile: `FROM scratch
ADD rootfs.tar /
COPY file.txt /to-dir/
COPY file.txt /renamed.txt
COPY dir /copied-dir
COPY dir/ /copied-dir2/
COPY glob/*.conf /confs/
COPY --chown=www:www file.txt /owned/by-name.txt
COPY --chown=1234:5678 dir /owned/by-id/
COPY --chmod=0751 exec.sh /usr/local/bin/
COPY --chown=33 file.txt /owned/uid-only.txt
WORKDIR /work
COPY file.txt relative.txt
COPY file.txt .
ADD sub.tar.gz /extracted/
ADD file.txt /added/
`,
  },
  {
    name: 'layers: deletions, opaque directories, links, modes and owners',
    dockerfile: `FROM scratch
ADD rootfs.tar /
RUN mkdir -p /d/keep /d/gone && echo 1 > /d/keep/f && echo 2 > /d/gone/f && echo 3 > /d/file
RUN rm -rf /d/gone /etc/group && rm /d/file && ln -s /d/keep/f /d/link && ln /d/keep/f /d/hard
RUN rm -rf /home && mkdir /home && echo new > /home/only && chmod 4755 /home/only && chown 7:8 /home
RUN chmod 0700 /var && chown 33:33 /tmp && touch /d/keep/f && mkfifo /d/fifo
`,
  },
  {
    name: 'multi-stage: COPY --from keeps owners, FROM an earlier stage',
    dockerfile: `FROM scratch AS base
ADD rootfs.tar /

FROM base AS build
RUN mkdir -p /out/tree && echo artifact > /out/tree/a && chown -R 33:33 /out && chmod 640 /out/tree/a && ln -s a /out/tree/l

FROM base
COPY --from=build /out /from-build
COPY --from=build --chown=5:6 /out/tree/a /chowned/
COPY --from=build /out/tree/l /followed
CMD ["ls", "/from-build"]
`,
  },
  {
    name: 'RUN --mount: bind, cache, tmpfs, secret',
    // A mount target the image lacks: BuildKit (and tsbuild) remove the stub the mount needed,
    // buildah keeps it in the image (and removes a target that a lower layer made).
    ignore: ['tmp/cachex'],
    files: { 'ctxfile.txt': 'from the context\n' },
    args: ['--secret', 'id=token,src=SECRET_FILE'],
    dockerfile: `FROM scratch
ADD rootfs.tar /
RUN --mount=type=bind,target=/ctx cat /ctx/ctxfile.txt > /bound.txt
RUN --mount=type=cache,target=/tmp/cachex echo cached > /tmp/cachex/f && ls /tmp/cachex > /cache-list
RUN --mount=type=tmpfs,target=/scratch touch /scratch/f && mount | grep -c /scratch > /tmpfs-count
RUN --mount=type=secret,id=token cat /run/secrets/token | wc -c > /secret-length
`,
  },
  {
    name: 'ONBUILD triggers run in the child build',
    files: { 'child.txt': 'child\n' },
    parents: [['onbuild-parent:1', 'FROM scratch\nADD rootfs.tar /\nONBUILD COPY child.txt /from-trigger.txt\nONBUILD RUN echo ran > /trigger-ran\n']],
    dockerfile: 'FROM onbuild-parent:1\nRUN cat /from-trigger.txt /trigger-ran > /both\n',
  },
];

function tarGz(files: Record<string, string>): Buffer {
  const dir = fs.mkdtempSync(path.join(sb.dir, 'tgz-'));
  for (const [n, c] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, n)), { recursive: true });
    fs.writeFileSync(path.join(dir, n), c);
  }
  const out = path.join(sb.dir, `${path.basename(dir)}.tar.gz`);
  ok(sh('tar', ['-C', dir, '--owner=12', '--group=34', '-czf', out, '.']));
  return fs.readFileSync(out);
}

describe.each(CASES.map((c) => [c.name, c] as const))('%s', (_name, c) => {
  test('the root filesystem and the config match buildah\'s', () => {
    const files: Record<string, string | Buffer> = { Dockerfile: c.dockerfile, ...(c.files ?? {}) };
    if (c.name.startsWith('COPY')) files['sub.tar.gz'] = tarGz({ 'in-tar/one': '1\n', 'two': '2\n' });
    const ctx = context(sb, `ctx-${CASES.indexOf(c)}`, files);
    const secret = path.join(sb.dir, 'secret-file');
    fs.writeFileSync(secret, 's3cr3t');
    const args = (c.args ?? []).map((a) => a.replace('SECRET_FILE', secret));
    for (const [tag, df] of c.parents ?? []) {
      fs.writeFileSync(path.join(ctx, 'Parent.Dockerfile'), df);
      ok(tsbuild(['build', '-q', '-t', tag, '-f', path.join(ctx, 'Parent.Dockerfile'), ctx]));
      ok(buildah.build(ctx, ['-t', tag, '-f', path.join(ctx, 'Parent.Dockerfile')]));
    }
    const tag = `cmp${CASES.indexOf(c)}:1`;
    const ours = sb.path(`ours-${CASES.indexOf(c)}`);
    ok(tsbuild(['build', '-q', '-t', tag, '--output', `type=local,dest=${ours}`, ...args, ctx]));
    ok(buildah.build(ctx, ['-t', tag, ...args]));
    const theirs = buildah.rootfs(tag);
    const skip = (r: string) => BUILDAH_ARTIFACTS.has(r) || (c.ignore ?? []).includes(r);
    expect(treeDiff(describeTree(ours, skip), describeTree(theirs, skip))).toBe('');
    const ourConfig = (JSON.parse(ok(tsbuild(['inspect', tag])).stdout)[0] as { Config: Record<string, unknown> }).Config;
    expect(comparable(ourConfig)).toEqual(comparable(buildah.config(tag)));
  });
});

test('a built image runs on tsrun and on podman', () => {
  const ctx = context(sb, 'ctx-run', {
    Dockerfile: 'FROM scratch\nADD rootfs.tar /\nENV WHO=world\nWORKDIR /srv\nRUN echo "hello $WHO" > greeting\nUSER www\nCMD ["sh", "-c", "cat greeting; id -u; pwd"]\n',
  });
  ok(tsbuild(['build', '-q', '-t', 'runme:1', ctx]));
  const bundle = sb.path('runme-bundle');
  ok(sh(TSRUN, ['bundle', '--image-root', sb.root, 'runme:1', bundle]));
  try {
    expect(ok(sh(TSRUN, ['run', '-b', bundle, `runme-${process.pid}`])).stdout).toBe('hello world\n33\n/srv\n');
  } finally {
    ok(sh(TSRUN, ['unbundle', bundle]));
  }
  const archive = sb.path('runme.tar');
  ok(tsbuild(['save', '-o', archive, 'runme:1']));
  const podman = new Podman(sb);
  try {
    ok(podman.run(['load', '-i', archive]));
    expect(ok(podman.runImage('runme:1')).stdout).toBe('hello world\n33\n/srv\n');
  } finally {
    podman.cleanup();
  }
});
