/**
 * The systemd cgroup driver (`--systemd-cgroup`, cgroupsPath "slice:prefix:name") on a host
 * with systemd as pid 1 (the VM tier: scripts/vm/): the scope unit systemd makes, what it knows
 * of the limits (`systemctl show`), the files, `update`, annotations, `delete`, and the bad
 * input. Runs against runc too (RUNTIME=runc). Skipped, visibly, where systemd is not running.
 */
import { spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import { itTsrun, ok, Result, Spec, useSandbox, waitFor } from '../helpers/runtime';

const sb = useSandbox();
const systemd = fs.existsSync('/run/systemd/system');
const describeSystemd = systemd ? describe : describe.skip;
const skipped = systemd ? '' : ' [SKIPPED: systemd is not running on this host]';

const PREFIX = 'tsrun-test';
const SD = { global: ['--systemd-cgroup'] };

function systemctl(args: string[]): { code: number; out: string } {
  const r = spawnSync('systemctl', args, { encoding: 'utf8' });
  return { code: r.status ?? -1, out: (r.stdout ?? '') + (r.stderr ?? '') };
}

/** `systemctl show -p` values of a unit. */
function show(unit: string, props: string[]): Record<string, string> {
  const r = systemctl(['show', unit, ...props.flatMap((p) => ['-p', p])]);
  return Object.fromEntries(r.out.trim().split('\n').filter(Boolean).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
}

function unitLoaded(unit: string): boolean {
  return systemctl(['list-units', '--all', '--no-legend', '--plain', unit]).out.includes(unit);
}

/** A container id and its unit, and a bundle for it in the system slice. */
function container(args: string[], edit?: (s: Spec) => void): { id: string; unit: string; bundle: string } {
  const id = sb.id('sd');
  const unit = `${PREFIX}-${id}.scope`;
  const bundle = sb.bundle(args, (s: Spec) => {
    s.linux.cgroupsPath = `system.slice:${PREFIX}:${id}`;
    edit?.(s);
  });
  return { id, unit, bundle };
}

afterEach(() => {
  // Whatever a failed test left: stop our units so that the next one starts clean.
  const r = systemctl(['list-units', '--all', '--no-legend', '--plain', `${PREFIX}-*`]);
  for (const line of r.out.split('\n')) {
    const unit = line.trim().split(/\s+/)[0];
    if (unit?.startsWith(PREFIX)) {
      systemctl(['stop', unit]);
      systemctl(['reset-failed', unit]);
    }
  }
});

describeSystemd(`the systemd cgroup driver${skipped}`, () => {
  it('create makes a scope unit in the slice, with the container in its cgroup and the limits systemd knows', async () => {
    const c = container(['sleep', '1000'], (s) => {
      s.linux.resources = { memory: { limit: 64 * 1024 * 1024 }, pids: { limit: 50 }, cpu: { shares: 512 } };
    });
    const pid = await sb.startDetached(c.id, c.bundle, SD);
    expect(fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8')).toContain(`/system.slice/${c.unit}`);
    const props = show(c.unit, ['ActiveState', 'Slice', 'Delegate', 'MemoryMax', 'TasksMax', 'CPUWeight']);
    expect(props).toEqual({ ActiveState: 'active', Slice: 'system.slice', Delegate: 'yes', MemoryMax: '67108864', TasksMax: '50', CPUWeight: '20' });
    const dir = `/sys/fs/cgroup/system.slice/${c.unit}`;
    expect(fs.readFileSync(`${dir}/memory.max`, 'utf8').trim()).toBe('67108864');
    expect(fs.readFileSync(`${dir}/pids.max`, 'utf8').trim()).toBe('50');
    ok(sb.rt(['delete', '--force', c.id], SD));
    expect(unitLoaded(c.unit)).toBe(false);
    expect(fs.existsSync(dir)).toBe(false);
  });

  it('update changes what systemd knows and the files', async () => {
    const c = container(['sleep', '1000'], (s) => {
      s.linux.resources = { memory: { limit: 64 * 1024 * 1024 } };
    });
    await sb.startDetached(c.id, c.bundle, SD);
    ok(sb.rt(['update', '--memory', '128m', '--pids-limit', '30', c.id], SD));
    expect(show(c.unit, ['MemoryMax', 'TasksMax'])).toEqual({ MemoryMax: '134217728', TasksMax: '30' });
    expect(fs.readFileSync(`/sys/fs/cgroup/system.slice/${c.unit}/memory.max`, 'utf8').trim()).toBe('134217728');
    ok(sb.rt(['delete', '--force', c.id], SD));
  });

  it('org.systemd.property.* annotations become unit properties', async () => {
    const c = container(['sleep', '1000'], (s) => {
      s.annotations = { 'org.systemd.property.TimeoutStopUSec': 'uint64 123000000', 'org.systemd.property.CollectMode': "'inactive-or-failed'" };
    });
    await sb.startDetached(c.id, c.bundle, SD);
    expect(show(c.unit, ['TimeoutStopUSec', 'CollectMode'])).toEqual({ TimeoutStopUSec: '2min 3s', CollectMode: 'inactive-or-failed' });
    ok(sb.rt(['delete', '--force', c.id], SD));
  });

  it('a foreground run: the unit goes when the container does', () => {
    const c = container(['sh', '-c', 'cat /proc/self/cgroup']);
    const r = ok(sb.rt(['run', '--bundle', c.bundle, c.id], SD));
    expect(r.stdout).toContain(`/system.slice/${c.unit}`);
    expect(unitLoaded(c.unit)).toBe(false);
  });

  describe('bad input: one line, nothing left (no unit, no cgroup, no state)', () => {
    async function refused(r: Result, message: RegExp, unit?: string): Promise<void> {
      await sb.expectRefused(r, message);
      if (unit) expect(unitLoaded(unit)).toBe(false);
    }

    it('a cgroupsPath that is not slice:prefix:name', async () => {
      const id = sb.id('sd-bad');
      const b = sb.bundle(['true'], (s: Spec) => {
        s.linux.cgroupsPath = 'system.slice:only-two';
      });
      await refused(sb.rt(['run', '--bundle', b, id], SD), /expected cgroupsPath to be of format .{0,4}slice:prefix:name.{0,4} for systemd cgroups, got .{0,4}system\.slice:only-two.{0,4} instead/);
    });

    it('an invalid slice name', async () => {
      const id = sb.id('sd-slice');
      const b = sb.bundle(['true'], (s: Spec) => {
        s.linux.cgroupsPath = `not-a-slice:${PREFIX}:${id}`;
      });
      await refused(sb.rt(['run', '--bundle', b, id], SD), /invalid (systemd )?slice name/i);
    });

    // runc 1.1.5 joins a scope of that name instead (it takes UnitExists as success).
    itTsrun('a unit name another owner holds: refused, and that unit and its process are left running', async () => {
      const c = container(['true']);
      // systemd-run makes a scope of that name around a sleep, and stays in the foreground.
      const holder = spawn('systemd-run', ['--scope', `--unit=${c.unit}`, '--quiet', 'sleep', '1000'], { stdio: 'ignore' });
      try {
        await waitFor(() => show(c.unit, ['ActiveState']).ActiveState === 'active', `the holder's ${c.unit}`);
        // systemd 252: "Unit X was already loaded or has a fragment file."; newer: "... already exists".
        // The holder's own process sits in that scope: what is left is checked once it is gone.
        const r = sb.rt(['run', '--bundle', c.bundle, c.id], SD);
        expect(r.code).not.toBe(0);
        expect(r.stderr.trim().split('\n')).toHaveLength(1);
        expect(r.stderr).toMatch(/Unit .*\.scope (already exists|was already loaded)/i);
        expect(sb.listIds()).toEqual([]);
        expect(show(c.unit, ['ActiveState']).ActiveState).toBe('active');
        expect([holder.exitCode, holder.signalCode]).toEqual([null, null]);
      } finally {
        holder.kill('SIGKILL');
        systemctl(['stop', c.unit]);
      }
      expect(await sb.settledLeftovers()).toEqual([]);
    });

    // runc 1.1.5 talks to systemd's private socket first, so the bus address does not stop it.
    itTsrun('no systemd on the bus: one line naming it', async () => {
      const c = container(['true']);
      const env = { ...process.env, DBUS_SYSTEM_BUS_ADDRESS: 'unix:path=/nonexistent/bus' };
      const r = sb.rt(['run', '--bundle', c.bundle, c.id], { ...SD, env });
      await refused(r, /systemd is not reachable over D-Bus \(\/nonexistent\/bus does not exist\)/, c.unit);
    });
  });
});
