/**
 * The systemd driver's D-Bus connection, in a worker thread: the runtime's create and delete
 * paths are synchronous, so bus.ts blocks on Atomics.wait while this thread talks to systemd
 * through @homebridge/dbus-native (a maintained pure-JavaScript D-Bus client: no native build,
 * explicit signatures for systemd's typed properties). One request at a time:
 * { op, ... } in, { ok, value } or { ok: false, error, name } out, then a notify.
 */
import { MessagePort, workerData } from 'worker_threads';

/* eslint-disable @typescript-eslint/no-require-imports */
const dbus = require('@homebridge/dbus-native') as {
  createClient(o: { busAddress: string }): Bus;
};

interface Msg {
  type: number;
  member?: string;
  interface?: string;
  body?: unknown[];
}
interface Bus {
  connection: { on(ev: 'message', f: (m: Msg) => void): void; on(ev: 'error', f: (e: Error) => void): void; end(): void };
  invoke(m: Record<string, unknown>, cb: (err: { name: string; message: string } | undefined, ...value: unknown[]) => void): void;
  addMatch(rule: string, cb: (err?: unknown) => void): void;
}

const SYSTEMD = { destination: 'org.freedesktop.systemd1', path: '/org/freedesktop/systemd1', interface: 'org.freedesktop.systemd1.Manager' };
const SIGNAL = 4;

const { busAddress, flag, port } = workerData as { busAddress: string; flag: Int32Array; port: MessagePort };
let bus: Bus | undefined;
let connectError: Error | undefined;
/** Jobs systemd finished, by object path → result ("done", "failed", "canceled", ...). */
const removed = new Map<string, string>();
const waiters = new Map<string, (result: string) => void>();

function connect(): Bus {
  if (bus) return bus;
  bus = dbus.createClient({ busAddress });
  bus.connection.on('error', (e) => {
    connectError = e;
    for (const w of waiters.values()) w('bus-error');
  });
  bus.connection.on('message', (m) => {
    if (m.type !== SIGNAL || m.member !== 'JobRemoved' || m.interface !== SYSTEMD.interface) return;
    const [, job, , result] = (m.body ?? []) as [number, string, string, string];
    const w = waiters.get(job);
    if (w) w(result);
    else removed.set(job, result);
  });
  return bus;
}

function call(member: string, signature: string, body: unknown[]): Promise<unknown> {
  return new Promise((resolve, reject) => {
    connect().invoke({ ...SYSTEMD, member, signature, body }, (err, value) => {
      if (err) reject(Object.assign(new Error(err.message || err.name), { dbusName: err.name }));
      else resolve(value);
    });
  });
}

function waitJob(job: string, timeoutMs: number): Promise<string> {
  const done = removed.get(job);
  if (done !== undefined) return Promise.resolve(done);
  return new Promise((resolve) => {
    const t = setTimeout(() => finish('timeout'), timeoutMs);
    const finish = (r: string) => {
      clearTimeout(t);
      waiters.delete(job);
      resolve(r);
    };
    waiters.set(job, finish);
  });
}

let subscribed = false;
async function subscribe(): Promise<void> {
  if (subscribed) return;
  await new Promise<void>((resolve, reject) =>
    connect().addMatch(`type='signal',interface='${SYSTEMD.interface}',member='JobRemoved'`, (e) => (e ? reject(e) : resolve())),
  );
  // Subscribe makes systemd send its job signals to us; AddMatch lets the bus deliver them.
  await call('Subscribe', '', []).catch(() => undefined);
  subscribed = true;
}

type Request =
  | { op: 'start'; unit: string; properties: unknown[]; timeoutMs: number }
  | { op: 'stop'; unit: string; timeoutMs: number }
  | { op: 'set'; unit: string; properties: unknown[] }
  | { op: 'resetFailed'; unit: string }
  | { op: 'managerProperty'; name: string };

async function handle(r: Request): Promise<unknown> {
  if (connectError) throw connectError;
  switch (r.op) {
    case 'start': {
      await subscribe();
      const job = (await call('StartTransientUnit', 'ssa(sv)a(sa(sv))', [r.unit, 'replace', r.properties, []])) as string;
      return waitJob(job, r.timeoutMs);
    }
    case 'stop': {
      await subscribe();
      const job = (await call('StopUnit', 'ss', [r.unit, 'replace'])) as string;
      return waitJob(job, r.timeoutMs);
    }
    case 'set':
      return call('SetUnitProperties', 'sba(sv)', [r.unit, true, r.properties]);
    case 'resetFailed':
      return call('ResetFailedUnit', 's', [r.unit]);
    case 'managerProperty':
      return variantValue(await getProperty(r.name));
  }
}

/** org.freedesktop.DBus.Properties.Get of a property of systemd's Manager object. */
function getProperty(name: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    connect().invoke(
      { destination: SYSTEMD.destination, path: SYSTEMD.path, interface: 'org.freedesktop.DBus.Properties', member: 'Get', signature: 'ss', body: [SYSTEMD.interface, name] },
      (err, value) => (err ? reject(Object.assign(new Error(err.message || err.name), { dbusName: err.name })) : resolve(value)),
    );
  });
}

/** dbus-native hands a variant over as [signature, [value]]: the value. */
function variantValue(v: unknown): unknown {
  return Array.isArray(v) && v.length === 2 && Array.isArray(v[1]) ? v[1][0] : v;
}

port.on('message', (r: Request) => {
  handle(r).then(
    (value) => reply({ ok: true, value }),
    (e: Error & { dbusName?: string }) => reply({ ok: false, error: e.message, name: e.dbusName ?? e.name }),
  );
});

function reply(m: unknown): void {
  port.postMessage(m);
  Atomics.store(flag, 0, 1);
  Atomics.notify(flag, 0);
}
