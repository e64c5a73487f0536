/**
 * linux.netDevices: a host interface (a dummy one the test makes) moved into the container's
 * network namespace, renamed, with its permanent global addresses and up; and the refusals.
 * The devices are veth pairs the test makes (one end moves, its peer stays up on the host).
 * runc 1.1.5 has no netDevices: tsrun only.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import { itTsrun, ok, Spec, useSandbox } from '../helpers/runtime';

const sb = useSandbox();
const made: string[] = [];

function ip(args: string[]): void {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr}`);
}

/** One end of a veth pair on the host, with an address from the benchmark range (never routed out). */
function dummy(addr?: string): string {
  const name = `tsd${sb.token.slice(0, 5)}${made.length}`;
  ip(['link', 'add', name, 'type', 'veth', 'peer', 'name', `${name}p`]);
  made.push(name);
  ip(['link', 'set', `${name}p`, 'up']);
  if (addr) ip(['addr', 'add', addr, 'dev', name]);
  return name;
}

afterEach(() => {
  // A veth moved into a namespace goes (with its peer) when the namespace does; one that stayed is removed here.
  for (const n of made.splice(0)) if (fs.existsSync(`/sys/class/net/${n}`)) spawnSync('ip', ['link', 'del', n]);
});

function withNet(s: Spec, devices: Record<string, { name?: string }>): void {
  if (!s.linux.namespaces.some((n: { type: string }) => n.type === 'network')) s.linux.namespaces.push({ type: 'network' });
  s.linux.netDevices = devices;
}

const SHOW = ['sh', '-c', 'for d in /sys/class/net/*; do n=${d##*/}; [ "$n" = lo ] && continue; echo "$n $(cat $d/operstate) $(ip -o -4 addr show dev $n | awk \'{print $4}\' | tr \'\\n\' \' \')"; done'];

describe('linux.netDevices', () => {
  itTsrun('a host interface moves in under its new name, with its address, up; the host no longer has it', () => {
    const host = dummy('198.18.7.1/24');
    const r = ok(sb.run(sb.id('netdev'), sb.bundle(SHOW, (s: Spec) => withNet(s, { [host]: { name: 'eth7' } }))));
    expect(r.stdout.trim()).toBe('eth7 up 198.18.7.1/24');
    // A virtual device goes with the container's network namespace.
    expect(fs.existsSync(`/sys/class/net/${host}`)).toBe(false);
  });

  itTsrun('without a name it keeps its own; a %d template gets a free one', () => {
    const a = dummy();
    const b = dummy();
    const r = ok(sb.run(sb.id('netdev2'), sb.bundle(SHOW, (s: Spec) => withNet(s, { [a]: {}, [b]: { name: 'net%d' } }))));
    expect(r.stdout.trim().split('\n').map((l) => l.split(' ')[0]).sort()).toEqual([a, 'net0'].sort());
  });

  describe('refused at create with one line, nothing left', () => {
    async function refused(edit: (s: Spec) => void, message: RegExp): Promise<void> {
      await sb.expectRefused(sb.create(sb.id('netdev-bad'), sb.bundle(['true'], edit)), message);
    }
    itTsrun('a host interface that does not exist', () =>
      refused((s) => withNet(s, { tsnosuchdev0: {} }), /netDevices: host interface .{0,4}tsnosuchdev0.{0,4} does not exist/));
    itTsrun('a name the container already has (lo)', () => {
      const host = dummy();
      return refused((s) => withNet(s, { [host]: { name: 'lo' } }), /netDevices: .{0,4}lo.{0,4} already exists in the container's network namespace/);
    });
    itTsrun('no network namespace of the container\'s own', () => {
      const host = dummy();
      return refused((s) => {
        s.linux.namespaces = s.linux.namespaces.filter((n: { type: string }) => n.type !== 'network');
        s.linux.netDevices = { [host]: {} };
      }, /netDevices: moving network devices needs a new network namespace/);
    });
  });
});
