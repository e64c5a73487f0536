/**
 * Build progress, as `docker build --progress`: 'plain' prints BuildKit's numbered lines
 * (`#3 [2/4] RUN make`, `#3 0.215 output`, `#3 DONE 1.2s`, `#3 CACHED`), 'tty' redraws a live
 * view (every step with its state and time, the last lines of running steps' output), 'quiet'
 * prints nothing. Progress goes to stderr; a quiet build prints only the image ID on stdout.
 */
export type ProgressMode = 'auto' | 'plain' | 'tty' | 'quiet';

export interface Progress {
  /** A new step; returns its number. */
  start(name: string): number;
  cached(step: number): void;
  output(step: number, chunk: Buffer): void;
  done(step: number): void;
  error(step: number, message: string): void;
  /** A line outside the steps (warnings, the final "naming to ..."). */
  log(line: string): void;
  close(): void;
}

interface Step {
  n: number;
  name: string;
  started: number;
  ended?: number;
  cached?: boolean;
  error?: string;
  tail: string[];
  partial: string;
}

const TAIL = 6;

const secs = (ms: number) => `${(ms / 1000).toFixed(1)}s`;

class PlainProgress implements Progress {
  private next = 1;
  private readonly steps = new Map<number, Step>();
  constructor(private readonly write: (s: string) => void) {}

  start(name: string): number {
    const n = this.next++;
    this.steps.set(n, { n, name, started: Date.now(), tail: [], partial: '' });
    this.write(`#${n} ${name}\n`);
    return n;
  }
  cached(step: number): void {
    this.write(`#${step} CACHED\n`);
  }
  output(step: number, chunk: Buffer): void {
    const s = this.steps.get(step)!;
    const text = s.partial + chunk.toString('utf8');
    const lines = text.split('\n');
    s.partial = lines.pop()!;
    const t = ((Date.now() - s.started) / 1000).toFixed(3);
    for (const l of lines) this.write(`#${step} ${t} ${l}\n`);
  }
  private flush(step: number): Step {
    const s = this.steps.get(step)!;
    if (s.partial) this.output(step, Buffer.from('\n'));
    return s;
  }
  done(step: number): void {
    const s = this.flush(step);
    this.write(`#${step} DONE ${secs(Date.now() - s.started)}\n`);
  }
  error(step: number, message: string): void {
    this.flush(step);
    this.write(`#${step} ERROR: ${message}\n`);
  }
  log(line: string): void {
    this.write(`${line}\n`);
  }
  close(): void {}
}

class TtyProgress implements Progress {
  private next = 1;
  private readonly steps: Step[] = [];
  private readonly begun = Date.now();
  private drawn = 0;
  private timer?: NodeJS.Timeout;
  private readonly logs: string[] = [];

  constructor(private readonly write: (s: string) => void, private readonly columns: () => number) {
    this.timer = setInterval(() => this.draw(), 100);
    this.timer.unref();
  }

  start(name: string): number {
    const n = this.next++;
    this.steps.push({ n, name, started: Date.now(), tail: [], partial: '' });
    return n;
  }
  private step(n: number): Step {
    return this.steps.find((s) => s.n === n)!;
  }
  cached(n: number): void {
    const s = this.step(n);
    s.cached = true;
    s.ended = Date.now();
  }
  output(n: number, chunk: Buffer): void {
    const s = this.step(n);
    const lines = (s.partial + chunk.toString('utf8')).split('\n');
    s.partial = lines.pop()!;
    s.tail.push(...lines);
    if (s.tail.length > TAIL) s.tail.splice(0, s.tail.length - TAIL);
  }
  done(n: number): void {
    this.step(n).ended = Date.now();
  }
  error(n: number, message: string): void {
    const s = this.step(n);
    s.ended = Date.now();
    s.error = message;
  }
  log(line: string): void {
    this.logs.push(line);
  }

  private draw(final = false): void {
    const width = Math.max(40, this.columns() || 80);
    const cut = (s: string) => (s.length > width - 1 ? s.slice(0, width - 2) + '…' : s);
    const finished = this.steps.filter((s) => s.ended).length;
    const out: string[] = [`[+] Building ${secs(Date.now() - this.begun)} (${finished}/${this.steps.length})${final ? ' FINISHED' : ''}`];
    for (const s of this.steps) {
      const time = secs((s.ended ?? Date.now()) - s.started);
      const state = s.cached ? 'CACHED ' : s.error ? 'ERROR ' : '';
      const right = s.cached ? '0.0s' : time;
      const room = width - right.length - 2;
      let left = ` => ${state}${s.name}`;
      if (left.length > room) left = left.slice(0, room - 1) + '…';
      out.push(left.padEnd(room + 1) + right);
      if ((!s.ended || s.error) && !s.cached) {
        const tail = s.partial ? [...s.tail, s.partial].slice(-TAIL) : s.tail;
        for (const l of tail) out.push(cut(` => => # ${l}`));
      }
    }
    let s = this.drawn ? `\x1b[${this.drawn}A` : '';
    s += out.map((l) => `\x1b[2K${l}\n`).join('');
    this.drawn = out.length;
    this.write(s);
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.draw(true);
    for (const l of this.logs) this.write(`${l}\n`);
  }
}

class QuietProgress implements Progress {
  private next = 1;
  start(): number {
    return this.next++;
  }
  cached(): void {}
  output(): void {}
  done(): void {}
  error(): void {}
  log(): void {}
  close(): void {}
}

export function makeProgress(mode: ProgressMode, stream: NodeJS.WriteStream = process.stderr): Progress {
  const write = (s: string) => void stream.write(s);
  const tty = mode === 'tty' || (mode === 'auto' && stream.isTTY);
  if (mode === 'quiet') return new QuietProgress();
  if (tty) return new TtyProgress(write, () => stream.columns ?? 80);
  return new PlainProgress(write);
}
