/**
 * Talking to CRIU as runc does: `criu swrk 3`, CRIU's RPC service on a SOCK_SEQPACKET socket
 * at its fd 3, one protobuf message per record (criu-rpc.ts). A request goes out; CRIU answers
 * with notifications (each acknowledged before it goes on: `setup-namespaces`, `post-restore`,
 * `orphan-pts-master` with a pty master attached, ...) and then the final response. Unlike
 * `criu dump|restore` on the command line, this lets the caller act between CRIU's steps: put
 * CRIU into the container's cgroup before it restores anything, run hooks when the namespaces
 * exist, receive the terminal; and with `rst_sibling` the restored init becomes the caller's
 * child, so that a foreground `restore` waits for it as `run` waits for a created one.
 */
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { RuntimeError } from '../errors';
import { native } from '../native';
import {
  CriuFeatures, CriuReq, CriuResp, decodeResponse, encodeRequest, REQ_TYPE_NAMES, ReqType, versionNumber,
} from './criu-rpc';

/**
 * What a caller gets told between CRIU's steps, with the fd that came along (the pty master of
 * `orphan-pts-master`); returning true keeps that fd, else it is closed. Throwing aborts the
 * request (CRIU then fails and undoes what it did).
 */
export type NotifyHandler = (script: string, pid: number, fd: number | undefined) => boolean | void | Promise<boolean | void>;

export interface SwrkOptions {
  /** CRIU's fds 0-2 (the restored tasks' inherited stdio); 'ignore' for /dev/null. */
  stdio?: (number | 'ignore')[];
  /** More fds for CRIU, from its fd 4 on (external namespaces given to inherit_fd). */
  extraFds?: number[];
  /** Called with CRIU's pid before the request is sent (restore: enter the container's cgroup). */
  beforeRequest?: (criuPid: number) => void;
  onNotify?: NotifyHandler;
  /** Where CRIU's log is, for the one-line error of a failed request. */
  log?: string;
}

/**
 * The criu binary as exec.LookPath finds it, or runc's error when it cannot
 * (`CRIU version check failed: exec: "criu": executable file not found in $PATH`).
 */
export function findCriu(binary: string): string {
  const fail = (why: string) => new RuntimeError(`CRIU version check failed: exec: ${JSON.stringify(binary)}: ${why}`);
  const executable = (p: string): boolean => {
    try {
      return fs.statSync(p).isFile() && (fs.accessSync(p, fs.constants.X_OK), true);
    } catch {
      return false;
    }
  };
  if (binary.includes('/')) {
    try {
      fs.statSync(binary);
    } catch (e) {
      throw fail(`stat ${binary}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (e as Error).message}`);
    }
    if (!executable(binary)) throw fail('permission denied');
    return path.resolve(binary);
  }
  for (const dir of (process.env.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin').split(':')) {
    const p = path.join(dir || '.', binary);
    if (executable(p)) return p;
  }
  throw fail('executable file not found in $PATH');
}

/** A CRIU error line without its timestamp, task and source location: "mnt: Can't mount ...". */
function cleanErrorLine(line: string): string {
  return line.replace(/^\(\s*[\d.]+\)\s*(\d+:\s*)?/, '').replace(/^(pie: \d+: )?Error \([^)]*\):\s*/, '').trim();
}

/** The first "Error" line of a CRIU log (the cause; later ones are its consequences), cleaned. */
export function criuLogError(log: string | undefined): string | undefined {
  if (!log) return undefined;
  let text: string;
  try {
    text = fs.readFileSync(log, 'utf8');
  } catch {
    return undefined;
  }
  const line = text.split('\n').find((l) => /\bError \(/.test(l));
  return line === undefined ? undefined : cleanErrorLine(line);
}

/** One line: what failed, why (CRIU's own message, else its log's first error), and where the log is. */
function failure(what: string, log: string | undefined, errmsg?: string): RuntimeError {
  const first = errmsg?.split('\n').map((l) => l.trim()).find(Boolean);
  const why = first ? cleanErrorLine(first) : criuLogError(log);
  return new RuntimeError(`${what}${why ? `: ${why}` : ''}${log ? ` (log: ${log})` : ''}`);
}

/** Runs one request through a fresh `criu swrk` and returns CRIU's final response. */
export async function swrk(criu: string, req: CriuReq, o: SwrkOptions = {}): Promise<CriuResp> {
  const [ours, theirs] = native().socketPair(true);
  const extra = o.extraFds ?? [];
  const stdio = o.stdio ?? ['ignore', 'ignore', 'ignore'];
  let exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>;
  let pid: number | undefined;
  try {
    const child = spawn(criu, ['swrk', '3'], { stdio: [...stdio, theirs, ...extra] });
    exited = new Promise((resolve) => {
      child.on('error', (error) => resolve({ code: null, signal: null, error }));
      child.on('exit', (code, signal) => resolve({ code, signal }));
    });
    pid = child.pid;
  } finally {
    // CRIU holds the only other copy: when it dies, reading our end says so (EOF).
    fs.closeSync(theirs);
  }
  const type = REQ_TYPE_NAMES[req.type] ?? String(req.type);
  let failed: unknown;
  let resp: CriuResp | undefined;
  try {
    if (pid === undefined) {
      const r = await exited;
      throw new RuntimeError(`exec ${criu}: ${r.error?.message ?? 'failed'}`);
    }
    o.beforeRequest?.(pid);
    fs.writeSync(ours, encodeRequest(req));
    const buf = Buffer.allocUnsafe(10 * 4096);
    for (;;) {
      const { n, fd } = native().recvRecord(ours, buf);
      if (n === 0) throw failure(`criu failed: type ${type}: criu exited without an answer`, o.log);
      if (n === buf.length) {
        if (fd >= 0) fs.closeSync(fd);
        throw new RuntimeError('criu failed: its answer does not fit the buffer');
      }
      const r = decodeResponse(Buffer.from(buf.subarray(0, n)));
      if (!r.success) {
        if (fd >= 0) fs.closeSync(fd);
        const errno = r.crErrno ?? 0;
        throw failure(`criu failed: type ${REQ_TYPE_NAMES[r.type] ?? r.type} errno ${errno}`, o.log, r.crErrmsg);
      }
      if (r.type === ReqType.NOTIFY) {
        let keep: boolean | void = false;
        try {
          keep = await o.onNotify?.(r.notify?.script ?? '', r.notify?.pid ?? 0, fd >= 0 ? fd : undefined);
        } finally {
          if (fd >= 0 && keep !== true) fs.closeSync(fd);
        }
        fs.writeSync(ours, encodeRequest({ type: ReqType.NOTIFY, notifySuccess: true }));
        continue;
      }
      if (fd >= 0) fs.closeSync(fd);
      resp = r;
      break;
    }
  } catch (e) {
    failed = e;
  } finally {
    // Closing our end ends the session: CRIU exits (a pre-dump's CRIU waits for a next
    // request until then), or, when we gave up midway, fails and undoes what it did.
    fs.closeSync(ours);
  }
  const r = await exited;
  if (failed) throw failed;
  // After a pre-dump CRIU waits for the final dump; its exit status then says nothing.
  if (req.type !== ReqType.PRE_DUMP && (r.code !== 0 || r.signal)) {
    throw failure(`criu failed: ${r.signal ? `signal: ${r.signal}` : `exit status ${r.code}`}`, o.log);
  }
  return resp!;
}

/** CRIU's version (major*10000 + minor*100 + sublevel); runc needs at least 3.0.0. */
export async function criuVersion(criu: string): Promise<number> {
  let resp: CriuResp;
  try {
    resp = await swrk(criu, { type: ReqType.VERSION });
  } catch (e) {
    throw new RuntimeError(`CRIU version check failed: ${(e as Error).message}`);
  }
  if (!resp.version) throw new RuntimeError('CRIU version check failed: criu answered without its version (older than 3.0.0?)');
  const v = versionNumber(resp.version);
  if (v < 30000) throw new RuntimeError(`CRIU version ${v} must be 30000 or higher`);
  return v;
}

/** runc's feature check: the named features CRIU (and the kernel) lack, as "criu is missing features: [MemTrack]". */
export async function checkCriuFeatures(criu: string, want: CriuFeatures): Promise<void> {
  let resp: CriuResp;
  try {
    resp = await swrk(criu, { type: ReqType.FEATURE_CHECK, features: want });
  } catch (e) {
    throw new RuntimeError(`CRIU feature check failed: ${(e as Error).message}`);
  }
  const missing: string[] = [];
  if (want.memTrack && resp.features?.memTrack === false) missing.push('MemTrack');
  if (want.lazyPages && resp.features?.lazyPages === false) missing.push('LazyPages');
  if (missing.length) throw new RuntimeError(`criu is missing features: [${missing.join(' ')}]`);
}
