/**
 * The sync protocol with the container's children; the C side is addon/proto.h.
 * One SOCK_SEQPACKET record per message: a 16-byte header (type, value, payload length,
 * padding; little-endian int32) and the payload.
 */
import * as fs from 'fs';

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
}

export interface Message {
  type: Msg;
  value: number;
  payload: string;
}

const HEADER = 16;
const MAX = HEADER + 64 * 1024;

export function send(fd: number, type: Msg, payload = ''): void {
  const body = Buffer.from(payload, 'utf8');
  if (body.length > MAX - HEADER) throw new Error('sync message too large');
  const buf = Buffer.alloc(HEADER + body.length);
  buf.writeInt32LE(type, 0);
  buf.writeInt32LE(0, 4);
  buf.writeInt32LE(body.length, 8);
  body.copy(buf, HEADER);
  fs.writeSync(fd, buf);
}

/** Blocks for the next message; undefined when every child end is closed (they died). */
export function receive(fd: number): Message | undefined {
  const buf = Buffer.alloc(MAX);
  let n: number;
  for (;;) {
    try {
      n = fs.readSync(fd, buf, 0, MAX, null);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EINTR' || (e as NodeJS.ErrnoException).code === 'EAGAIN') continue;
      throw e;
    }
  }
  if (n < HEADER) return undefined;
  const len = buf.readInt32LE(8);
  return { type: buf.readInt32LE(0), value: buf.readInt32LE(4), payload: buf.toString('utf8', HEADER, HEADER + len) };
}
