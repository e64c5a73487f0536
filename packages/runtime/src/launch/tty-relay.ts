/**
 * Foreground terminal mode: `run` or `exec` with a terminal and no console socket. As runc
 * does, tsrun receives the pty master itself and relays it to its own stdio: stdin → master,
 * master → stdout, its own terminal (when stdin is one) in raw mode while the process runs,
 * and its window size copied to the pty at start and on every SIGWINCH.
 */
import * as fs from 'fs';
import * as tty from 'tty';
import { native } from '../native';

export class TtyRelay {
  private readonly pty: tty.ReadStream;
  private closed: Promise<void>;
  /** Our terminal's settings before raw mode, to put back. */
  private savedTermios?: Buffer;
  // Typed input goes to the master with plain writes, not through the read stream: a failed
  // write (EIO once the process is gone, EAGAIN) would otherwise destroy the stream, and with
  // it whatever output the process wrote last and we had not read yet.
  private readonly onInput = (d: Buffer) => {
    if (this.pty.destroyed) return;
    try {
      fs.writeSync(this.master, d);
    } catch {
      /* the process is gone or not reading: the keys are lost, as on a real terminal */
    }
  };

  private constructor(private readonly master: number) {
    // A pty master is a tty to libuv: the handle reads it without blocking (writes: onInput).
    this.pty = new tty.ReadStream(master);
    this.closed = new Promise((resolve) => {
      this.pty.on('close', () => resolve());
      // EIO once every slave fd is closed: that is the end of the output, not a failure.
      this.pty.on('error', () => resolve());
    });
    this.pty.on('data', (d: Buffer) => process.stdout.write(d));
    // A reader of our stdout that went away (EPIPE) must not end the relay with an exception.
    process.stdout.on('error', () => undefined);
    this.resize();
    // Raw as cfmakeraw makes it (runc): keys go to the container's pty untouched, and its
    // output is not processed twice (libuv's own raw mode would keep turning \n into \r\n).
    if (process.stdin.isTTY) this.savedTermios = native().makeRaw(0);
    const stdin = process.stdin;
    stdin.on('data', this.onInput);
    // EOF or an error on our stdin ends the input only; the process goes on.
    stdin.on('error', () => undefined);
  }

  /** Relays the pty whose master is `fd` (the relay owns the fd from now on). */
  static start(fd: number): TtyRelay {
    return new TtyRelay(fd);
  }

  /** Reads what the pty holds right now (the fd is non-blocking) and passes it on. */
  private drain(): void {
    const buf = Buffer.alloc(64 * 1024);
    for (;;) {
      let n: number;
      try {
        n = fs.readSync(this.master, buf, 0, buf.length, null);
      } catch {
        return; // EAGAIN: nothing more now; EIO: no writer left and nothing unread
      }
      if (n <= 0) return;
      process.stdout.write(buf.subarray(0, n));
    }
  }

  /** Copies our terminal's window size to the pty (SIGWINCH). */
  resize(): void {
    const ws = native().getWinsize(0) ?? native().getWinsize(1);
    if (!ws || ws.rows === 0 || ws.cols === 0) return;
    try {
      native().setWinsize(this.master, ws.rows, ws.cols);
    } catch {
      /* the pty may be gone already */
    }
  }

  /**
   * The process has exited: let the rest of its output through (until EIO, or a short grace
   * period when something else in the container still holds the pty), then restore our terminal.
   */
  async finish(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const ended = await Promise.race([this.closed.then(() => true), new Promise<boolean>((r) => (timer = setTimeout(() => r(false), 1000)))]);
    if (timer) clearTimeout(timer);
    // Something else still holds the pty: take what is there now rather than drop it.
    if (!ended && !this.pty.destroyed) this.drain();
    this.pty.destroy();
    const stdin = process.stdin;
    stdin.off('data', this.onInput);
    if (this.savedTermios) native().restoreTerminal(0, this.savedTermios);
    stdin.pause();
    stdin.destroy();
  }
}
