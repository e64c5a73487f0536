/** Signal names and numbers the way `runc kill` reads them: "KILL", "SIGKILL", "9". */
import { constants } from 'os';
import { RuntimeError } from './errors';

const SIGNALS = constants.signals as Record<string, number>;

export function parseSignal(raw: string): number {
  if (/^\d+$/.test(raw)) {
    const n = parseInt(raw, 10);
    if (n <= 0 || n > 64) throw new RuntimeError(`invalid signal ${raw}: invalid argument`);
    return n;
  }
  const upper = raw.toUpperCase();
  const name = upper.startsWith('SIG') ? upper : `SIG${upper}`;
  const rt = /^SIGRTMIN\+(\d+)$/.exec(name);
  if (rt) return 34 + parseInt(rt[1], 10);
  const n = SIGNALS[name];
  if (n === undefined) throw new RuntimeError(`unknown signal "${raw}"`);
  return n;
}

export function signalName(n: number): string | undefined {
  return Object.keys(SIGNALS).find((k) => SIGNALS[k] === n);
}
