/**
 * The typed face of the C++ addon (addon/, built by node-gyp into build/Release). This is the
 * only module that loads it; everything else goes through these functions.
 */
import * as path from 'path';
import type { NativePlan } from './plan/native-plan';

export interface ExitStatus {
  pid: number;
  /** Set when the process exited normally. */
  code?: number;
  /** Set when a signal killed the process. */
  signal?: number;
}

interface Addon {
  spawn(plan: NativePlan): { pid: number; fd: number };
  waitPid(pid: number, noHang: boolean): ExitStatus;
  waitExit(pid: number): Promise<ExitStatus>;
  flock(fd: number, op: number): void;
  mkfifo(path: string, mode: number): void;
  /** A close-on-exec fd of a detached copy of `source` idmapped through these uid_map/gid_map texts. */
  idmappedTree(source: string, uidMap: string, gidMap: string, rbind: boolean, recursive: boolean): number;
  connectUnix(path: string): number;
  /** One record of a SOCK_SEQPACKET socket into `buf` (`n` bytes, 0 at EOF) and the fd sent with it (SCM_RIGHTS), or -1. */
  recvRecord(sock: number, buf: Buffer): { n: number; fd: number };
  /** A close-on-exec pidfd of a process (Linux 5.3). */
  pidfdOpen(pid: number): number;
  /** One message carrying `fd` (SCM_RIGHTS), `name` as its payload. */
  sendFd(sock: number, fd: number, name: string): void;
  /** A connected AF_UNIX pair (close-on-exec): a stream pair, or SOCK_SEQPACKET with `seqpacket`. */
  socketPair(seqpacket?: boolean): [number, number];
  /** Blocks for one message carrying an fd (SCM_RIGHTS); `name` is its payload (a pty's name). */
  recvFd(sock: number): { fd: number; name: string };
  /** The window size of a terminal, undefined when `fd` is not one. */
  getWinsize(fd: number): { rows: number; cols: number } | undefined;
  setWinsize(fd: number, rows: number, cols: number): void;
  /** cfmakeraw(3) on a terminal; returns the settings to restore (undefined: not a terminal). */
  makeRaw(fd: number): Buffer | undefined;
  restoreTerminal(fd: number, saved: Buffer): void;
  /** umount2(2); throws an Error carrying `errno`. */
  umount2(target: string, flags: number): void;
  /** mount(2); throws an Error carrying `errno`. */
  mount(source: string, target: string, fstype: string, flags: number, data: string): void;
}

let addon: Addon | undefined;

/** Loads the addon on first use: commands like `state` never pay for it. */
export function native(): Addon {
  if (!addon) {
    // dist/native.js → <repo>/build/Release; the package sits at <repo>/packages/runtime.
    addon = require(path.join(__dirname, '..', '..', '..', 'build', 'Release', 'tsrun_native.node')) as Addon;
  }
  return addon;
}

export const LOCK_SH = 1;
export const LOCK_EX = 2;
export const LOCK_NB = 4;
export const LOCK_UN = 8;

export const MNT_DETACH = 2;
export const UMOUNT_NOFOLLOW = 8;

/** The shell's convention for a wait status: the exit code, or 128 + the signal number. */
export function exitCodeOf(s: ExitStatus): number {
  if (s.code !== undefined) return s.code;
  if (s.signal !== undefined) return 128 + s.signal;
  return 255;
}
