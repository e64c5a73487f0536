/**
 * runc's logging: with --log, lines go to that file in logrus' text or JSON form
 * (`{"level":"error","msg":"...","time":"..."}`, which managers parse for the error they
 * show); errors are also printed to stderr as one line.
 */
import * as fs from 'fs';

export type LogFormat = 'text' | 'json';
type Level = 'debug' | 'info' | 'warning' | 'error';

export class Logger {
  constructor(private file?: string, private format: LogFormat = 'text', private debugOn = false) {}

  private write(level: Level, msg: string): void {
    if (!this.file) return;
    const time = new Date().toISOString();
    const line = this.format === 'json'
      ? JSON.stringify({ level, msg, time })
      : `time="${time}" level=${level} msg=${JSON.stringify(msg)}`;
    try {
      fs.appendFileSync(this.file, line + '\n');
    } catch {
      /* a broken log must not hide the real error */
    }
  }

  debug(msg: string): void {
    if (!this.debugOn) return;
    this.write('debug', msg);
    if (!this.file) process.stderr.write(`DEBU ${msg}\n`);
  }

  warn(msg: string): void {
    this.write('warning', msg);
    process.stderr.write(`WARN: ${msg}\n`);
  }

  error(msg: string): void {
    this.write('error', msg);
    process.stderr.write(`${msg}\n`);
  }
}
