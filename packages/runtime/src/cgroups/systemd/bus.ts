/**
 * Synchronous calls to systemd's D-Bus API for the systemd cgroup driver. The connection lives
 * in a worker thread (bus-worker.ts); each call posts one request and blocks on a shared flag
 * until the answer is in, so the runtime's synchronous create/update/delete can use it. The
 * worker is started on first use and does not keep the process alive.
 */
import * as fs from 'fs';
import * as path from 'path';
import { MessageChannel, MessagePort, receiveMessageOnPort, Worker } from 'worker_threads';
import { CgroupError } from '../types';
import type { Property } from './properties';

/** How long systemd may take to start or stop a unit (runc waits 30 s too). */
const JOB_TIMEOUT_MS = 30000;

interface Reply {
  ok: boolean;
  value?: unknown;
  error?: string;
  name?: string;
}

export class SystemdBus {
  private worker?: Worker;
  private port?: MessagePort;
  private flag = new Int32Array(new SharedArrayBuffer(4));

  /** The system bus, or the user's bus (rootless: systemd --user). */
  constructor(private readonly user: boolean) {}

  private address(): string {
    if (this.user) {
      const env = process.env.DBUS_SESSION_BUS_ADDRESS;
      if (env) return env;
      const runtime = process.env.XDG_RUNTIME_DIR;
      if (!runtime) throw new CgroupError('cgroup: systemd user bus: XDG_RUNTIME_DIR is not set');
      return `unix:path=${runtime}/bus`;
    }
    return process.env.DBUS_SYSTEM_BUS_ADDRESS || 'unix:path=/run/dbus/system_bus_socket';
  }

  private socketPath(address: string): string | undefined {
    return /^unix:path=([^,;]+)/.exec(address)?.[1];
  }

  private request(req: Record<string, unknown>, what: string): unknown {
    if (!this.worker) {
      const address = this.address();
      const sock = this.socketPath(address);
      // A missing socket is the usual "no systemd/dbus here": say so in one line at once.
      if (sock && !fs.existsSync(sock)) throw new CgroupError(`cgroup: ${what}: systemd is not reachable over D-Bus (${sock} does not exist)`);
      const { port1, port2 } = new MessageChannel();
      this.worker = new Worker(workerFile(), { workerData: { busAddress: address, flag: this.flag, port: port2 }, transferList: [port2] });
      this.worker.unref();
      this.port = port1;
    }
    Atomics.store(this.flag, 0, 0);
    this.port!.postMessage(req);
    // Bounded: the worker answers within the job timeout, or with a bus error.
    if (Atomics.wait(this.flag, 0, 0, JOB_TIMEOUT_MS + 5000) === 'timed-out') {
      throw new CgroupError(`cgroup: ${what}: no answer from systemd over D-Bus`);
    }
    const reply = receiveMessageOnPort(this.port!)?.message as Reply | undefined;
    if (!reply) throw new CgroupError(`cgroup: ${what}: lost the answer from systemd`);
    if (!reply.ok) throw new CgroupError(`cgroup: ${what}: ${reply.error}`, reply.name);
    return reply.value;
  }

  /** StartTransientUnit, waiting for its job; anything but "done" is an error. */
  startUnit(unit: string, properties: Property[]): void {
    const result = this.request({ op: 'start', unit, properties, timeoutMs: JOB_TIMEOUT_MS }, `start unit ${unit}`);
    if (result !== 'done') throw new CgroupError(`cgroup: start unit ${unit}: systemd's job ended "${String(result)}"`);
  }

  /** StopUnit, waiting for its job. A unit systemd no longer knows is already stopped. */
  stopUnit(unit: string): void {
    try {
      this.request({ op: 'stop', unit, timeoutMs: JOB_TIMEOUT_MS }, `stop unit ${unit}`);
    } catch (e) {
      if ((e as CgroupError).code !== 'org.freedesktop.systemd1.NoSuchUnit') throw e;
    }
  }

  setProperties(unit: string, properties: Property[]): void {
    if (properties.length > 0) this.request({ op: 'set', unit, properties }, `set properties of unit ${unit}`);
  }

  /** Forget a failed unit, so its name is free again; quiet when there is nothing to reset. */
  resetFailed(unit: string): void {
    try {
      this.request({ op: 'resetFailed', unit }, `reset unit ${unit}`);
    } catch {
      /* not failed, or gone */
    }
  }

  /**
   * The cgroup of the manager this bus reaches: "/" for the system's, and for a user's manager
   * the root of its delegated tree (/user.slice/user-UID.slice/user@UID.service), under which
   * its slices and scopes live.
   */
  managerCgroup(): string {
    const v = this.request({ op: 'managerProperty', name: 'ControlGroup' }, 'read the manager\'s ControlGroup');
    if (typeof v !== 'string') throw new CgroupError('cgroup: systemd answered no ControlGroup for its manager');
    return v || '/';
  }

  close(): void {
    void this.worker?.terminate();
    this.worker = undefined;
  }
}

/**
 * The worker: bundled beside the CLI bundle (scripts/bundle.js, self-contained), or tsc's
 * bus-worker.js beside this module (unbundled runs).
 */
function workerFile(): string {
  for (const f of [path.join(__dirname, 'tsrun-bus-worker.js'), path.join(__dirname, 'bus-worker.js')]) {
    if (fs.existsSync(f)) return f;
  }
  throw new CgroupError('cgroup: the systemd driver\'s D-Bus worker (bus-worker.js) is missing from this build');
}
