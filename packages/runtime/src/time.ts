/**
 * Timestamps as Go's time.RFC3339Nano prints them in UTC (runc's `created`): trailing zeros of
 * the fraction dropped. Milliseconds from Date.now(), formatted by arithmetic: the finer wall
 * clock (performance.timeOrigin) costs loading perf_hooks, and a first Date object costs
 * setting up V8's date cache, each about a millisecond of every create.
 */
export function rfc3339Nano(ms = Date.now()): string {
  const whole = Math.floor(ms);
  const nanos = Math.round((ms - whole) * 1e6) + (((whole % 1000) + 1000) % 1000) * 1e6;
  const secs = Math.floor(whole / 1000);
  const days = Math.floor(secs / 86400);
  const daySecs = secs - days * 86400;
  const [y, m, d] = civilFromDays(days);
  const p2 = (n: number) => String(n).padStart(2, '0');
  const frac = String(nanos).padStart(9, '0').replace(/0+$/, '');
  const time = `${p2(Math.floor(daySecs / 3600))}:${p2(Math.floor((daySecs % 3600) / 60))}:${p2(daySecs % 60)}`;
  return `${String(y).padStart(4, '0')}-${p2(m)}-${p2(d)}T${time}${frac ? '.' + frac : ''}Z`;
}

/** Days since 1970-01-01 → [year, month, day] in the proleptic Gregorian calendar (H. Hinnant). */
function civilFromDays(z: number): [number, number, number] {
  z += 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const m = mp < 10 ? mp + 3 : mp - 9;
  return [yoe + era * 400 + (m <= 2 ? 1 : 0), m, d];
}
