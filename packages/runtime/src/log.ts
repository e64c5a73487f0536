/**
 * runc's logging (logrus): each message is one line in logfmt (`time="..." level=error
 * msg="..."`) or JSON (`{"level":"error","msg":"...","time":"..."}`), which managers parse
 * for the error they show. The line goes to --log when given (and an error's plain text to
 * stderr as well), else to stderr.
 */
import * as fs from 'fs';

export type LogFormat = 'text' | 'json';
type Level = 'debug' | 'info' | 'warning' | 'error';

export class Logger {
  constructor(private file?: string, private format: LogFormat = 'text', private debugOn = false) {}

  private line(level: Level, msg: string): string {
    const time = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    return this.format === 'json'
      ? JSON.stringify({ level, msg, time }) + '\n'
      : `time="${time}" level=${level} msg=${JSON.stringify(msg)}\n`;
  }

  private write(level: Level, msg: string): void {
    const line = this.line(level, msg);
    if (!this.file) {
      process.stderr.write(line);
      return;
    }
    try {
      fs.appendFileSync(this.file, line);
    } catch {
      process.stderr.write(line); // a broken log must not hide the message
    }
  }

  debug(msg: string): void {
    if (this.debugOn) this.write('debug', msg);
  }

  warn(msg: string): void {
    this.write('warning', msg);
  }

  error(msg: string): void {
    this.write('error', msg);
    if (this.file) process.stderr.write(`${msg}\n`);
  }
}
