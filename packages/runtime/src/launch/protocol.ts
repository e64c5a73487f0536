/**
 * The sync protocol with the container's children; the C side is addon/proto.h.
 * One SOCK_SEQPACKET record per message: a 16-byte header (type, value, payload length,
 * padding; int32 in the host's byte order) and the payload.
 */
import * as fs from 'fs';
import { native } from '../native';

export const enum Msg {
  Go = 1,
  UsernsMapped = 2,
  HooksDone = 3,
  Commit = 4,
  UsernsReady = 10,
  InitPid = 11,
  RuntimeHooks = 12,
  Ready = 13,
  Error = 14,
  SeccompFd = 16,
}

export interface Message {
  type: Msg;
  value: number;
  payload: string;
  /** An fd that came with the record (receive(fd, true) only), for its receiver to close. */
  fd?: number;
}

const HEADER = 16;
const MAX = HEADER + 64 * 1024;

/**
 * The header is written and read through an Int32Array: native byte order, which is what the
 * C side's struct uses, and none of Buffer's checked int helpers (their first calls are a
 * measurable part of a `run`). One receive buffer serves every message: it is parsed before
 * the next read.
 */
let inbox: Buffer | undefined;

function int32View(buf: Buffer): Int32Array {
  return new Int32Array(buf.buffer, buf.byteOffset, HEADER / 4);
}

export function send(fd: number, type: Msg, payload = ''): void {
  const len = Buffer.byteLength(payload, 'utf8');
  if (len > MAX - HEADER) throw new Error('sync message too large');
  // Slow: its own ArrayBuffer, so the offset is 0 and the view aligned.
  const buf = Buffer.allocUnsafeSlow(HEADER + len);
  const head = int32View(buf);
  head[0] = type;
  head[1] = 0;
  head[2] = len;
  head[3] = 0;
  if (len) buf.write(payload, HEADER, 'utf8');
  fs.writeSync(fd, buf);
}

/**
 * Blocks for the next message; undefined when every child end is closed (they died). `withFds`:
 * the records may carry an fd (MSG_SECCOMP_FD), read with recvmsg; a plain read would drop it.
 */
export function receive(fd: number, withFds = false): Message | undefined {
  const buf = (inbox ??= Buffer.allocUnsafeSlow(MAX));
  let n: number;
  let passed = -1;
  if (withFds) {
    ({ n, fd: passed } = native().recvRecord(fd, buf));
  } else {
    for (;;) {
      try {
        n = fs.readSync(fd, buf, 0, MAX, null);
        break;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'EINTR' || (e as NodeJS.ErrnoException).code === 'EAGAIN') continue;
        throw e;
      }
    }
  }
  if (n < HEADER) {
    if (passed >= 0) fs.closeSync(passed);
    return undefined;
  }
  const head = int32View(buf);
  const len = Math.min(head[2], n - HEADER);
  const m: Message = { type: head[0], value: head[1], payload: len > 0 ? buf.toString('utf8', HEADER, HEADER + len) : '' };
  if (passed >= 0) m.fd = passed;
  return m;
}
