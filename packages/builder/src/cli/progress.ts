/**
 * Progress of pull and push, as docker shows it: one line per layer. On a terminal the lines
 * are redrawn in place with bytes and speed; otherwise a plain line is printed when a layer
 * changes state (completion lines carry size, time and speed), which logs read well.
 */
import { shortId } from '../store/digest';
import type { TransferEvent } from '../registry/events';
import { humanSize } from './format';

interface Row {
  digest: string;
  text: string;
  started?: number;
  lastAction?: string;
}

export interface Output {
  write(s: string): unknown;
  isTTY?: boolean;
}

export class TransferView {
  private readonly rows: Row[] = [];
  private drawn = 0;
  private lastDraw = 0;
  private readonly tty: boolean;

  /** `header` is printed before the first line or event (so not for a pull that fails at once). */
  constructor(private readonly out: Output, private readonly mode: 'pull' | 'push', private header?: string) {
    this.tty = !!out.isTTY && process.env.TERM !== 'dumb';
  }

  private printHeader(): void {
    if (this.header === undefined) return;
    this.out.write(`${this.header}\n`);
    this.header = undefined;
  }

  /** A line that is not about one layer ("Digest: ...", a retry). */
  line(s: string): void {
    this.printHeader();
    if (this.tty) this.clear();
    this.out.write(`${s}\n`);
    if (this.tty) this.draw(true);
  }

  event(e: TransferEvent): void {
    if (e.kind === 'config') return; // docker shows layers only
    this.printHeader();
    let row = this.rows.find((r) => r.digest === e.digest);
    if (!row) {
      row = { digest: e.digest, text: '' };
      this.rows.push(row);
    }
    const now = Date.now();
    if ((e.action === 'downloading' || e.action === 'uploading') && row.started === undefined) row.started = now;
    const speed = () => {
      const secs = Math.max((now - (row!.started ?? now)) / 1000, 0.001);
      return { secs, rate: `${humanSize((e.done ?? 0) / secs)}/s` };
    };
    const pull = this.mode === 'pull';
    let text: string;
    switch (e.action) {
      case 'waiting':
        text = pull ? 'Pulling fs layer' : 'Preparing';
        break;
      case 'compressing':
        text = `Compressing (${e.detail ?? 'gzip'})`;
        break;
      case 'exists':
        text = pull ? 'Already exists' : 'Layer already exists';
        break;
      case 'mounted':
        text = `Mounted from ${e.detail}`;
        break;
      case 'downloading':
      case 'uploading':
        text = `${pull ? 'Downloading' : 'Pushing'}  ${humanSize(e.done ?? 0)}/${humanSize(e.total ?? 0)}  ${speed().rate}`;
        break;
      case 'downloaded':
      case 'uploaded': {
        const { secs, rate } = speed();
        text = `${pull ? 'Pull complete' : 'Pushed'}  ${humanSize(e.total ?? 0)} in ${secs.toFixed(1)}s (${rate})`;
        break;
      }
      default:
        text = `Retrying: ${e.detail ?? ''}`;
    }
    row.text = `${shortId(e.digest)}: ${text}`;
    if (this.tty) return this.draw(e.action !== 'downloading' && e.action !== 'uploading');
    // plain output: one line per change of state, not per chunk
    if (row.lastAction === e.action && (e.action === 'downloading' || e.action === 'uploading')) return;
    row.lastAction = e.action;
    if (e.action === 'downloading' || e.action === 'uploading') this.out.write(`${shortId(e.digest)}: ${pull ? 'Downloading' : 'Pushing'}\n`);
    else this.out.write(`${row.text}\n`);
  }

  /** Leaves the final state of every line on the screen. */
  finish(): void {
    this.printHeader();
    if (this.tty) this.draw(true);
    this.drawn = 0;
  }

  private clear(): void {
    if (this.drawn) this.out.write(`\x1b[${this.drawn}A\x1b[J`);
    this.drawn = 0;
  }

  private draw(force: boolean): void {
    const now = Date.now();
    if (!force && now - this.lastDraw < 100) return;
    this.lastDraw = now;
    const up = this.drawn ? `\x1b[${this.drawn}A` : '';
    this.out.write(up + this.rows.map((r) => `\x1b[2K${r.text}\n`).join(''));
    this.drawn = this.rows.length;
  }
}
