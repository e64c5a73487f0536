/** Timestamps as Go's time.RFC3339Nano prints them in UTC (runc's `created`). */
export function rfc3339Nano(ms = performance.timeOrigin + performance.now()): string {
  const whole = Math.floor(ms);
  const iso = new Date(whole).toISOString(); // 2026-11-30T01:02:03.456Z
  const nanos = Math.round((ms - whole) * 1e6) + (whole % 1000) * 1e6;
  const frac = String(nanos).padStart(9, '0').replace(/0+$/, '');
  return `${iso.slice(0, 19)}${frac ? '.' + frac : ''}Z`;
}
