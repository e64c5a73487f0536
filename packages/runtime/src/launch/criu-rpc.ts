/**
 * CRIU's RPC messages (criu_req, criu_opts, criu_resp of CRIU's rpc.proto, proto2), encoded and
 * decoded here in the protobuf wire format: varints, length-delimited strings and nested
 * messages, nothing else is needed. Only the fields tsrun sends or reads are listed, by their
 * numbers in rpc.proto; a decoder skips every other field, as protobuf requires. Pure code:
 * no process, no fd (see criu.ts for the `criu swrk` session that carries these messages).
 */

/** criu_req_type */
export enum ReqType {
  EMPTY = 0,
  DUMP = 1,
  RESTORE = 2,
  CHECK = 3,
  PRE_DUMP = 4,
  PAGE_SERVER = 5,
  NOTIFY = 6,
  FEATURE_CHECK = 9,
  VERSION = 10,
}

export const REQ_TYPE_NAMES: Record<number, string> = {
  0: 'EMPTY', 1: 'DUMP', 2: 'RESTORE', 3: 'CHECK', 4: 'PRE_DUMP', 5: 'PAGE_SERVER', 6: 'NOTIFY',
  7: 'CPUINFO_DUMP', 8: 'CPUINFO_CHECK', 9: 'FEATURE_CHECK', 10: 'VERSION', 11: 'WAIT_PID',
  12: 'PAGE_SERVER_CHLD', 13: 'SINGLE_PRE_DUMP',
};

/** criu_cg_mode */
export const CG_MODES: Record<string, number> = { ignore: 0, soft: 3, full: 4, strict: 5, '': 6 };

export interface ExtMount { key: string; val: string }
export interface InheritFd { key: string; fd: number }
export interface CgroupRoot { ctrl?: string; path: string }
export interface JoinNamespace { ns: string; nsFile: string; extraOpt?: string }
export interface PageServer { address?: string; port?: number }

/** criu_opts, the fields tsrun sets (camelCase of rpc.proto's names). */
export interface CriuOpts {
  imagesDirFd: number;
  pid?: number;
  leaveRunning?: boolean;
  extUnixSk?: boolean;
  tcpEstablished?: boolean;
  evasiveDevices?: boolean;
  shellJob?: boolean;
  fileLocks?: boolean;
  logLevel?: number;
  logFile?: string;
  ps?: PageServer;
  notifyScripts?: boolean;
  root?: string;
  parentImg?: string;
  trackMem?: boolean;
  autoDedup?: boolean;
  workDirFd?: number;
  linkRemap?: boolean;
  extMnt?: ExtMount[];
  manageCgroups?: boolean;
  cgRoot?: CgroupRoot[];
  rstSibling?: boolean;
  inheritFd?: InheritFd[];
  manageCgroupsMode?: number;
  external?: string[];
  emptyNs?: number;
  joinNs?: JoinNamespace[];
  freezeCgroup?: string;
  tcpSkipInFlight?: boolean;
  lazyPages?: boolean;
  statusFd?: number;
  orphanPtsMaster?: boolean;
  configFile?: string;
  lsmProfile?: string;
  lsmMountContext?: string;
}

export interface CriuFeatures { memTrack?: boolean; lazyPages?: boolean; pidfdStore?: boolean }

export interface CriuReq {
  type: ReqType;
  opts?: CriuOpts;
  notifySuccess?: boolean;
  keepOpen?: boolean;
  features?: CriuFeatures;
}

export interface CriuResp {
  type: number;
  success: boolean;
  dump?: { restored?: boolean };
  restore?: { pid: number };
  notify?: { script?: string; pid?: number };
  crErrno?: number;
  features?: CriuFeatures;
  crErrmsg?: string;
  version?: { major: number; minor: number; sublevel?: number; extra?: number; gitid?: string; name?: string };
  status?: number;
}

// ------------------------------------------------------------------------------- encoding

class Writer {
  private readonly parts: Buffer[] = [];

  private varint(v: bigint): void {
    const bytes: number[] = [];
    let n = BigInt.asUintN(64, v);
    while (n >= 0x80n) {
      bytes.push(Number(n & 0x7fn) | 0x80);
      n >>= 7n;
    }
    bytes.push(Number(n));
    this.parts.push(Buffer.from(bytes));
  }

  private tag(field: number, wire: number): void {
    this.varint(BigInt((field << 3) | wire));
  }

  /** int32, uint32, enum: a varint (a negative int32 takes ten bytes, as protobuf encodes it). */
  int(field: number, v: number | undefined): void {
    if (v === undefined) return;
    this.tag(field, 0);
    this.varint(BigInt(Math.trunc(v)));
  }

  bool(field: number, v: boolean | undefined): void {
    if (v === undefined) return;
    this.tag(field, 0);
    this.varint(v ? 1n : 0n);
  }

  bytes(field: number, v: Buffer): void {
    this.tag(field, 2);
    this.varint(BigInt(v.length));
    this.parts.push(v);
  }

  str(field: number, v: string | undefined): void {
    if (v !== undefined) this.bytes(field, Buffer.from(v, 'utf8'));
  }

  msg(field: number, v: Buffer | undefined): void {
    if (v !== undefined) this.bytes(field, v);
  }

  done(): Buffer {
    return Buffer.concat(this.parts);
  }
}

function encodeOpts(o: CriuOpts): Buffer {
  const w = new Writer();
  w.int(1, o.imagesDirFd);
  w.int(2, o.pid);
  w.bool(3, o.leaveRunning);
  w.bool(4, o.extUnixSk);
  w.bool(5, o.tcpEstablished);
  w.bool(6, o.evasiveDevices);
  w.bool(7, o.shellJob);
  w.bool(8, o.fileLocks);
  w.int(9, o.logLevel);
  w.str(10, o.logFile);
  if (o.ps) {
    const p = new Writer();
    p.str(1, o.ps.address);
    p.int(2, o.ps.port);
    w.msg(11, p.done());
  }
  w.bool(12, o.notifyScripts);
  w.str(13, o.root);
  w.str(14, o.parentImg);
  w.bool(15, o.trackMem);
  w.bool(16, o.autoDedup);
  w.int(17, o.workDirFd);
  w.bool(18, o.linkRemap);
  for (const m of o.extMnt ?? []) {
    const e = new Writer();
    e.str(1, m.key);
    e.str(2, m.val);
    w.msg(23, e.done());
  }
  w.bool(24, o.manageCgroups);
  for (const c of o.cgRoot ?? []) {
    const e = new Writer();
    e.str(1, c.ctrl);
    e.str(2, c.path);
    w.msg(25, e.done());
  }
  w.bool(26, o.rstSibling);
  for (const f of o.inheritFd ?? []) {
    const e = new Writer();
    e.str(1, f.key);
    e.int(2, f.fd);
    w.msg(27, e.done());
  }
  w.int(34, o.manageCgroupsMode);
  for (const x of o.external ?? []) w.str(37, x);
  w.int(38, o.emptyNs);
  for (const j of o.joinNs ?? []) {
    const e = new Writer();
    e.str(1, j.ns);
    e.str(2, j.nsFile);
    e.str(3, j.extraOpt);
    w.msg(39, e.done());
  }
  w.str(44, o.freezeCgroup);
  w.bool(46, o.tcpSkipInFlight);
  w.bool(48, o.lazyPages);
  w.int(49, o.statusFd);
  w.bool(50, o.orphanPtsMaster);
  w.str(51, o.configFile);
  w.str(53, o.lsmProfile);
  w.str(63, o.lsmMountContext);
  return w.done();
}

function encodeFeatures(f: CriuFeatures): Buffer {
  const w = new Writer();
  w.bool(1, f.memTrack);
  w.bool(2, f.lazyPages);
  w.bool(3, f.pidfdStore);
  return w.done();
}

export function encodeRequest(req: CriuReq): Buffer {
  const w = new Writer();
  w.int(1, req.type);
  if (req.opts) w.msg(2, encodeOpts(req.opts));
  w.bool(3, req.notifySuccess);
  w.bool(4, req.keepOpen);
  if (req.features) w.msg(5, encodeFeatures(req.features));
  return w.done();
}

// ------------------------------------------------------------------------------- decoding

/** The fields of one message: number -> its values in order (varints as bigint, the rest as bytes). */
type Fields = Map<number, (bigint | Buffer)[]>;

export class DecodeError extends Error {}

function parse(buf: Buffer): Fields {
  const out: Fields = new Map();
  let i = 0;
  const varint = (): bigint => {
    let v = 0n;
    let shift = 0n;
    for (;;) {
      if (i >= buf.length) throw new DecodeError('truncated varint');
      const b = buf[i++];
      v |= BigInt(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
      shift += 7n;
      if (shift > 63n) throw new DecodeError('varint too long');
    }
  };
  const take = (n: number): Buffer => {
    if (i + n > buf.length) throw new DecodeError('truncated field');
    const b = buf.subarray(i, i + n);
    i += n;
    return b;
  };
  while (i < buf.length) {
    const key = varint();
    const field = Number(key >> 3n);
    const wire = Number(key & 7n);
    let value: bigint | Buffer;
    if (wire === 0) value = varint();
    else if (wire === 1) value = take(8);
    else if (wire === 2) value = take(Number(varint()));
    else if (wire === 5) value = take(4);
    else throw new DecodeError(`unsupported wire type ${wire}`);
    const list = out.get(field) ?? [];
    list.push(value);
    out.set(field, list);
  }
  return out;
}

/** The last value of a field (proto2: a repeated optional scalar's last value wins). */
function last(f: Fields, n: number): bigint | Buffer | undefined {
  const l = f.get(n);
  return l ? l[l.length - 1] : undefined;
}

function int32(f: Fields, n: number): number | undefined {
  const v = last(f, n);
  return typeof v === 'bigint' ? Number(BigInt.asIntN(32, v)) : undefined;
}

function bool(f: Fields, n: number): boolean | undefined {
  const v = last(f, n);
  return typeof v === 'bigint' ? v !== 0n : undefined;
}

function str(f: Fields, n: number): string | undefined {
  const v = last(f, n);
  return Buffer.isBuffer(v) ? v.toString('utf8') : undefined;
}

function sub(f: Fields, n: number): Fields | undefined {
  const v = last(f, n);
  return Buffer.isBuffer(v) ? parse(v) : undefined;
}

function features(f: Fields | undefined): CriuFeatures | undefined {
  if (!f) return undefined;
  return { memTrack: bool(f, 1), lazyPages: bool(f, 2), pidfdStore: bool(f, 3) };
}

export function decodeResponse(buf: Buffer): CriuResp {
  const f = parse(buf);
  const type = int32(f, 1);
  const success = bool(f, 2);
  if (type === undefined || success === undefined) throw new DecodeError('criu_resp without type or success');
  const resp: CriuResp = { type, success };
  const dump = sub(f, 3);
  if (dump) resp.dump = { restored: bool(dump, 1) };
  const restore = sub(f, 4);
  if (restore) resp.restore = { pid: int32(restore, 1) ?? 0 };
  const notify = sub(f, 5);
  if (notify) resp.notify = { script: str(notify, 1), pid: int32(notify, 2) };
  resp.crErrno = int32(f, 7);
  resp.features = features(sub(f, 8));
  resp.crErrmsg = str(f, 9);
  const version = sub(f, 10);
  if (version) {
    resp.version = {
      major: int32(version, 1) ?? 0,
      minor: int32(version, 2) ?? 0,
      gitid: str(version, 3),
      sublevel: int32(version, 4),
      extra: int32(version, 5),
      name: str(version, 6),
    };
  }
  resp.status = int32(f, 11);
  return resp;
}

/** The version as runc compares it: major*10000 + minor*100 + sublevel (3.17.1 is 31701). */
export function versionNumber(v: NonNullable<CriuResp['version']>): number {
  return v.major * 10000 + v.minor * 100 + (v.sublevel ?? 0);
}
