/**
 * The starter config.json that `tsrun spec` writes: byte-for-byte what `runc spec` (runc 1.1.5)
 * writes, so docs, scripts and habits made for runc carry over — except ociVersion, which is
 * the spec version we implement (runc 1.1 writes "1.0.2-dev"), and linux.seccomp, Docker's
 * default profile, which runc leaves out.
 *
 * Key order matters: specJSON() keeps insertion order, and it is runc's (Go struct field) order.
 */
import { defaultSeccomp } from './default-seccomp';
import { OCI_VERSION, type Mount, type Spec } from './runtime-types';

export interface DefaultSpecOptions {
  /** Like `runc spec --rootless`: user namespace mapping the caller to root, no network
   *  namespace, /sys bind-mounted, no gid= mount options, no cgroup resources. */
  rootless?: boolean;
}

const CAPS = ['CAP_AUDIT_WRITE', 'CAP_KILL', 'CAP_NET_BIND_SERVICE'];

/** A fresh (mutable) default spec on every call. */
export function defaultSpec(opts: DefaultSpecOptions = {}): Spec {
  const spec: Spec = {
    ociVersion: OCI_VERSION,
    process: {
      terminal: true,
      user: { uid: 0, gid: 0 },
      args: ['sh'],
      env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'TERM=xterm'],
      cwd: '/',
      // runc sets no inheritable set.
      capabilities: { bounding: [...CAPS], effective: [...CAPS], permitted: [...CAPS], ambient: [...CAPS] },
      rlimits: [{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 }],
      noNewPrivileges: true,
    },
    root: { path: 'rootfs', readonly: true },
    hostname: 'runc',
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc' },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
      {
        destination: '/dev/pts',
        type: 'devpts',
        source: 'devpts',
        options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'],
      },
      { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
      { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
      { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
      { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['nosuid', 'noexec', 'nodev', 'relatime', 'ro'] },
    ],
    linux: {
      resources: { devices: [{ allow: false, access: 'rwm' }] },
      namespaces: [{ type: 'pid' }, { type: 'network' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }],
      // Not in `runc spec`: Docker's default profile (see default-seccomp.ts).
      seccomp: defaultSeccomp(),
      maskedPaths: [
        '/proc/acpi',
        '/proc/asound',
        '/proc/kcore',
        '/proc/keys',
        '/proc/latency_stats',
        '/proc/timer_list',
        '/proc/timer_stats',
        '/proc/sched_debug',
        '/sys/firmware',
        '/proc/scsi',
      ],
      readonlyPaths: ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'],
    },
  };
  return opts.rootless ? toRootless(spec) : spec;
}

/**
 * Mirrors runc's libcontainer/specconv.ToRootless. Rebuilds `linux` so the keys come out in
 * runc's order (uidMappings, gidMappings, namespaces, ...) and `resources` is gone.
 */
function toRootless(spec: Spec): Spec {
  const linux = spec.linux!;
  // process.geteuid is missing on Windows; there is nothing sensible to map there anyway.
  const uid = process.geteuid?.() ?? 0;
  const gid = process.getegid?.() ?? 0;
  const namespaces = linux.namespaces!.filter((ns) => ns.type !== 'network' && ns.type !== 'user');
  namespaces.push({ type: 'user' });
  spec.linux = {
    uidMappings: [{ containerID: 0, hostID: uid, size: 1 }],
    gidMappings: [{ containerID: 0, hostID: gid, size: 1 }],
    namespaces,
    seccomp: linux.seccomp,
    maskedPaths: linux.maskedPaths,
    readonlyPaths: linux.readonlyPaths,
  };
  spec.mounts = spec.mounts!.map((m): Mount => {
    // sysfs cannot be mounted without owning the network namespace: bind the host's instead.
    if (m.destination === '/sys') {
      return { destination: '/sys', type: 'none', source: '/sys', options: ['rbind', 'nosuid', 'noexec', 'nodev', 'ro'] };
    }
    // gid=5 (tty) is not mapped in a one-id user namespace.
    if (m.options) m.options = m.options.filter((o) => !o.startsWith('gid=') && !o.startsWith('uid='));
    return m;
  });
  return spec;
}

/**
 * JSON text formatted the way runc writes config.json: Go's json.MarshalIndent(v, "", "\t"),
 * no trailing newline. Beyond tab indentation that means Go's escaping: <, >, & as \u003c,
 * \u003e, \u0026, U+2028/U+2029 escaped, and \b / \f written as \u0008 / \u000c (Go < 1.22,
 * which runc 1.1 is built with). Keys stay in the object's own order.
 */
export function specJSON(spec: unknown): string {
  return JSON.stringify(spec, null, '\t').replace(GO_ESCAPES, (m) => GO_ESCAPE_MAP[m] ?? m);
}

// `\\\\` is matched (and kept) first so an escaped backslash followed by "b" is not mistaken for \b.
const GO_ESCAPES = /\\\\|\\b|\\f|[<>&\u2028\u2029]/g;
const GO_ESCAPE_MAP: Record<string, string> = {
  '\\b': '\\u0008',
  '\\f': '\\u000c',
  '<': '\\u003c',
  '>': '\\u003e',
  '&': '\\u0026',
  '\u2028': '\\u2028',
  '\u2029': '\\u2029',
};
