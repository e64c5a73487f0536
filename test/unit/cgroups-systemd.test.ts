/**
 * The systemd cgroup driver's pure parts: unit naming from cgroupsPath, the properties handed
 * to StartTransientUnit, and org.systemd.property.* annotations (runc's forms and values).
 */
import { annotationProperties, cpuSetMask, parseVariant, placementProperties, resourceProperties } from '../../packages/runtime/src/cgroups/systemd/properties';
import { checkUnitName } from '../../packages/runtime/src/cgroups/systemd/manager';

describe('systemd unit properties', () => {
  it('a scope: slice, delegation, the first pid, accounting, no default dependencies', () => {
    expect(placementProperties({ unit: 'docker-abc.scope', slice: 'system.slice', description: 'tsrun container abc', pid: 42, unified: true })).toEqual([
      ['Description', ['s', 'tsrun container abc']],
      ['Slice', ['s', 'system.slice']],
      ['Delegate', ['b', true]],
      ['PIDs', ['au', [42]]],
      ['MemoryAccounting', ['b', true]],
      ['CPUAccounting', ['b', true]],
      ['IOAccounting', ['b', true]],
      ['TasksAccounting', ['b', true]],
      ['DefaultDependencies', ['b', false]],
    ]);
  });

  it('a slice unit wants its parent slice instead of living in it; v1 accounts block I/O', () => {
    const p = placementProperties({ unit: 'pod1.slice', slice: 'kubepods.slice', description: 'd', unified: false });
    expect(p).toContainEqual(['Wants', ['as', ['kubepods.slice']]]);
    expect(p.map(([n]) => n)).not.toContain('Slice');
    expect(p).toContainEqual(['BlockIOAccounting', ['b', true]]);
  });

  it('v2 limits by systemd\'s names, in its units (runc\'s conversions)', () => {
    const props = resourceProperties({
      memory: { limit: 268435456, reservation: 134217728, swap: 536870912 },
      cpu: { shares: 1024, quota: 50000, period: 100000, cpus: '0-1,3', mems: '0' },
      pids: { limit: 100 },
      blockIO: { weight: 500 },
    }, true);
    expect(Object.fromEntries(props)).toEqual({
      MemoryMax: ['t', '268435456'],
      MemoryLow: ['t', '134217728'],
      MemorySwapMax: ['t', '268435456'],
      CPUWeight: ['t', '39'],
      CPUQuotaPeriodUSec: ['t', '100000'],
      CPUQuotaPerSecUSec: ['t', '500000'],
      AllowedCPUs: ['ay', [0b1011]],
      AllowedMemoryNodes: ['ay', [1]],
      TasksMax: ['t', '100'],
      IOWeight: ['t', '4950'],
    });
  });

  it('-1 is infinity; a quota systemd cannot express is rounded up to 10 ms per second', () => {
    const props = Object.fromEntries(resourceProperties({ memory: { limit: -1 }, pids: { limit: -1 }, cpu: { quota: 12345, period: 100000 } }, true));
    expect(props.MemoryMax).toEqual(['t', '18446744073709551615']);
    expect(props.TasksMax).toEqual(['t', '18446744073709551615']);
    expect(props.CPUQuotaPerSecUSec).toEqual(['t', '130000']);
  });

  it('cpu masks span bytes; a malformed list is refused', () => {
    expect(cpuSetMask('9', 'cpuset.cpus')).toEqual([0, 2]);
    expect(() => cpuSetMask('3-1', 'cpuset.cpus')).toThrow('cgroup: invalid cpuset.cpus "3-1"');
  });
});

describe('org.systemd.property.* annotations', () => {
  it('values in GVariant text form, as runc reads them', () => {
    expect(parseVariant('true', 'k')).toEqual(['b', true]);
    expect(parseVariant("'hello'", 'k')).toEqual(['s', 'hello']);
    expect(parseVariant('uint64 300000000', 'k')).toEqual(['t', '300000000']);
    expect(parseVariant('uint32 7', 'k')).toEqual(['u', 7]);
    expect(parseVariant('42', 'k')).toEqual(['i', 42]);
    expect(parseVariant('0.5', 'k')).toEqual(['d', 0.5]);
  });

  it('only org.systemd.property.* keys; unreadable values and names are one-line errors', () => {
    expect(annotationProperties({ 'org.systemd.property.TimeoutStopUSec': 'uint64 123', other: 'x' })).toEqual([['TimeoutStopUSec', ['t', '123']]]);
    expect(() => annotationProperties({ 'org.systemd.property.X': 'maybe' })).toThrow(/cannot read "maybe" as a value/);
    expect(() => annotationProperties({ 'org.systemd.property.': 'true' })).toThrow(/invalid systemd property name/);
    expect(() => parseVariant('uint32 -1', 'k')).toThrow(/out of range for uint32/);
  });

  it('unit names: systemd\'s characters and a .scope or .slice suffix', () => {
    expect(() => checkUnitName('docker-abc.scope')).not.toThrow();
    expect(() => checkUnitName('bad/name.scope')).toThrow('cgroup: invalid systemd unit name "bad/name.scope"');
    expect(() => checkUnitName('x.service')).toThrow(/invalid systemd unit name/);
  });
});
