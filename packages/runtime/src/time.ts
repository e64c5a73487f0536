/**
 * Timestamps as Go's time.RFC3339Nano prints them in UTC (runc's `created`): trailing zeros of
 * the fraction dropped. Milliseconds from Date, because the finer wall clock
 * (performance.timeOrigin) costs loading perf_hooks, about a millisecond of every create.
 */
export function rfc3339Nano(ms = Date.now()): string {
  const whole = Math.floor(ms);
  const iso = new Date(whole).toISOString(); // 2026-11-30T01:02:03.456Z
  const nanos = Math.round((ms - whole) * 1e6) + (whole % 1000) * 1e6;
  const frac = String(nanos).padStart(9, '0').replace(/0+$/, '');
  return `${iso.slice(0, 19)}${frac ? '.' + frac : ''}Z`;
}
