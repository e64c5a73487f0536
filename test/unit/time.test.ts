/** rfc3339Nano formats by arithmetic (no Date object): it must agree with Date's own ISO form. */
import { rfc3339Nano } from '../../packages/runtime/src/time';

describe('rfc3339Nano', () => {
  it('agrees with Date#toISOString to the millisecond, trailing zeros dropped as Go does', () => {
    const cases = [0, 999, 951782400000 /* 2000-02-29 */, 1709164800000, 4102444799999 /* 2099-12-31T23:59:59.999 */, 253402300799000];
    for (let i = 0; i < 2000; i++) cases.push(Math.floor(Math.random() * 4e12));
    for (const ms of cases) {
      const iso = new Date(ms).toISOString(); // 2024-02-29T00:00:00.120Z
      const frac = iso.slice(20, 23).replace(/0+$/, '');
      expect(rfc3339Nano(ms)).toBe(`${iso.slice(0, 19)}${frac ? '.' + frac : ''}Z`);
    }
  });
});
