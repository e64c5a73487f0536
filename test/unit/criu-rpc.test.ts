/**
 * tsrun's own protobuf codec for CRIU's RPC (launch/criu-rpc.ts), checked against protobufjs (a
 * dependency of @grpc/proto-loader) reading the same messages from a copy of their definitions
 * in CRIU's rpc.proto: what tsrun encodes decodes field for field, and what a protobuf library
 * encodes (CRIU's answers) tsrun decodes, unknown fields skipped.
 */
import * as protobuf from 'protobufjs';
import { decodeResponse, encodeRequest, ReqType, versionNumber } from '../../packages/runtime/src/launch/criu-rpc';

// The messages of CRIU's images/rpc.proto that tsrun uses, with their field numbers.
const PROTO = `
syntax = "proto2";
message criu_page_server_info { optional string address = 1; optional int32 port = 2; optional int32 pid = 3; optional int32 fd = 4; }
message ext_mount_map { required string key = 1; required string val = 2; }
message join_namespace { required string ns = 1; required string ns_file = 2; optional string extra_opt = 3; }
message inherit_fd { required string key = 1; required int32 fd = 2; }
message cgroup_root { optional string ctrl = 1; required string path = 2; }
message criu_opts {
  required int32 images_dir_fd = 1; optional int32 pid = 2; optional bool leave_running = 3; optional bool ext_unix_sk = 4;
  optional bool tcp_established = 5; optional bool evasive_devices = 6; optional bool shell_job = 7; optional bool file_locks = 8;
  optional int32 log_level = 9 [default = 2]; optional string log_file = 10; optional criu_page_server_info ps = 11;
  optional bool notify_scripts = 12; optional string root = 13; optional string parent_img = 14; optional bool track_mem = 15;
  optional bool auto_dedup = 16; optional int32 work_dir_fd = 17; optional bool link_remap = 18;
  repeated ext_mount_map ext_mnt = 23; optional bool manage_cgroups = 24; repeated cgroup_root cg_root = 25;
  optional bool rst_sibling = 26; repeated inherit_fd inherit_fd = 27; optional int32 manage_cgroups_mode = 34;
  repeated string external = 37; optional uint32 empty_ns = 38; repeated join_namespace join_ns = 39;
  optional string freeze_cgroup = 44; optional bool tcp_skip_in_flight = 46; optional bool lazy_pages = 48;
  optional int32 status_fd = 49; optional bool orphan_pts_master = 50; optional string config_file = 51;
  optional string lsm_profile = 53; optional string lsm_mount_context = 63;
}
message criu_features { optional bool mem_track = 1; optional bool lazy_pages = 2; optional bool pidfd_store = 3; }
message criu_req { required int32 type = 1; optional criu_opts opts = 2; optional bool notify_success = 3; optional bool keep_open = 4; optional criu_features features = 5; optional uint32 pid = 6; }
message criu_dump_resp { optional bool restored = 1; }
message criu_restore_resp { required int32 pid = 1; }
message criu_notify { optional string script = 1; optional int32 pid = 2; }
message criu_version { required int32 major_number = 1; required int32 minor_number = 2; optional string gitid = 3; optional int32 sublevel = 4; optional int32 extra = 5; optional string name = 6; }
message criu_resp {
  required int32 type = 1; required bool success = 2; optional criu_dump_resp dump = 3; optional criu_restore_resp restore = 4;
  optional criu_notify notify = 5; optional criu_page_server_info ps = 6; optional int32 cr_errno = 7; optional criu_features features = 8;
  optional string cr_errmsg = 9; optional criu_version version = 10; optional int32 status = 11;
}
`;

const root = protobuf.parse(PROTO, { keepCase: true }).root;
const Req = root.lookupType('criu_req');
const Resp = root.lookupType('criu_resp');

describe('CRIU RPC codec', () => {
  it('encodes a restore request that a protobuf library reads field for field', () => {
    const bytes = encodeRequest({
      type: ReqType.RESTORE,
      opts: {
        imagesDirFd: 7, workDirFd: 8, logLevel: 4, logFile: 'restore.log', root: '/run/tsrun/c/criu-root',
        rstSibling: true, manageCgroups: true, manageCgroupsMode: 3, notifyScripts: true, tcpEstablished: true,
        shellJob: false, emptyNs: 0x40000000, orphanPtsMaster: true, evasiveDevices: true, configFile: '/etc/criu/runc.conf',
        extMnt: [{ key: '/data', val: '/srv/data' }, { key: '/dev/null', val: '/dev/null' }],
        inheritFd: [{ key: 'pipe:[1234]', fd: 0 }, { key: 'file[2a:1f]', fd: 1 }],
        cgRoot: [{ ctrl: '', path: '/system.slice/c' }, { ctrl: 'cpu,cpuacct', path: '/c' }],
        joinNs: [{ ns: 'ipc', nsFile: '/proc/1/ns/ipc' }],
        external: ['net[4026531992]:extRootNetNS'],
        ps: { address: '127.0.0.1', port: 27277 },
        statusFd: -1,
        lsmProfile: 'apparmor:unconfined',
      },
    });
    const m = Req.toObject(Req.decode(bytes), { defaults: false }) as Record<string, any>;
    expect(m.type).toBe(2);
    expect(m.opts).toEqual({
      images_dir_fd: 7, work_dir_fd: 8, log_level: 4, log_file: 'restore.log', root: '/run/tsrun/c/criu-root',
      rst_sibling: true, manage_cgroups: true, manage_cgroups_mode: 3, notify_scripts: true, tcp_established: true,
      shell_job: false, empty_ns: 0x40000000, orphan_pts_master: true, evasive_devices: true, config_file: '/etc/criu/runc.conf',
      ext_mnt: [{ key: '/data', val: '/srv/data' }, { key: '/dev/null', val: '/dev/null' }],
      inherit_fd: [{ key: 'pipe:[1234]', fd: 0 }, { key: 'file[2a:1f]', fd: 1 }],
      cg_root: [{ ctrl: '', path: '/system.slice/c' }, { ctrl: 'cpu,cpuacct', path: '/c' }],
      join_ns: [{ ns: 'ipc', ns_file: '/proc/1/ns/ipc' }],
      external: ['net[4026531992]:extRootNetNS'],
      ps: { address: '127.0.0.1', port: 27277 },
      status_fd: -1,
      lsm_profile: 'apparmor:unconfined',
    });
  });

  it('encodes a notify acknowledgement and a feature check', () => {
    expect(Req.toObject(Req.decode(encodeRequest({ type: ReqType.NOTIFY, notifySuccess: true })))).toEqual({ type: 6, notify_success: true });
    expect(Req.toObject(Req.decode(encodeRequest({ type: ReqType.FEATURE_CHECK, features: { memTrack: true } })))).toEqual({
      type: 9, features: { mem_track: true },
    });
    // A request without options is the type alone.
    expect([...encodeRequest({ type: ReqType.VERSION })]).toEqual([0x08, 10]);
  });

  it('decodes what a protobuf library encodes: notifications, errors, versions, features', () => {
    const enc = (o: object) => Buffer.from(Resp.encode(Resp.fromObject(o)).finish());
    expect(decodeResponse(enc({ type: 6, success: true, notify: { script: 'post-restore', pid: 4321 } }))).toMatchObject({
      type: 6, success: true, notify: { script: 'post-restore', pid: 4321 },
    });
    expect(decodeResponse(enc({ type: 2, success: true, restore: { pid: 99 } }))).toMatchObject({ type: 2, success: true, restore: { pid: 99 } });
    expect(decodeResponse(enc({ type: 1, success: false, cr_errno: -2, cr_errmsg: 'boom' }))).toMatchObject({
      type: 1, success: false, crErrno: -2, crErrmsg: 'boom',
    });
    const v = decodeResponse(enc({ type: 10, success: true, version: { major_number: 3, minor_number: 17, sublevel: 1 } }));
    expect(v.version).toMatchObject({ major: 3, minor: 17, sublevel: 1 });
    expect(versionNumber(v.version!)).toBe(31701);
    expect(decodeResponse(enc({ type: 9, success: true, features: { mem_track: true, lazy_pages: false } })).features).toEqual({
      memTrack: true, lazyPages: false, pidfdStore: undefined,
    });
    // Fields tsrun does not know (ps, status) are skipped.
    expect(decodeResponse(enc({ type: 5, success: true, ps: { pid: 7, port: 1 }, status: 3 }))).toMatchObject({ type: 5, success: true, status: 3 });
  });

  it('refuses what is not a criu_resp', () => {
    expect(() => decodeResponse(Buffer.from([0x08]))).toThrow(/truncated/);
    expect(() => decodeResponse(Buffer.from([0x10, 0x01]))).toThrow(/without type/);
  });
});
