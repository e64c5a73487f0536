// See cgroup_sys.h. Runs on Node's main thread (not after clone), so ordinary C++ is fine here.
#include "cgroup_sys.h"

#include <errno.h>
#include <linux/bpf.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <string>
#include <vector>

namespace tsrun {
namespace {

Napi::Value Fail(Napi::Env env, int err, const std::string& what, const std::string& extra = "") {
  Napi::Error e = Napi::Error::New(env, what + ": " + strerror(err) + extra);
  e.Set("errno", Napi::Number::New(env, err));
  e.Set("syscall", Napi::String::New(env, what));
  e.ThrowAsJavaScriptException();
  return env.Undefined();
}

long Bpf(int cmd, union bpf_attr* attr) {
  long r;
  do {
    r = syscall(SYS_bpf, cmd, attr, sizeof *attr);
  } while (r < 0 && errno == EINTR);
  return r;
}

// eventfd(flags) -> fd. flags: EFD_CLOEXEC (0x80000) | EFD_NONBLOCK (0x800) as the caller wants.
Napi::Value EventFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int flags = info.Length() > 0 ? info[0].As<Napi::Number>().Int32Value() : EFD_CLOEXEC;
  int fd = eventfd(0, flags);
  if (fd < 0) return Fail(env, errno, "eventfd");
  return Napi::Number::New(env, fd);
}

// bpfLoadCgroupDevice(insns: Buffer of struct bpf_insn, license) -> prog fd.
// On a verifier rejection the error message carries the verifier's log.
Napi::Value BpfLoadCgroupDevice(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsBuffer()) {
    Napi::TypeError::New(env, "bpfLoadCgroupDevice(insns: Buffer, license: string)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Buffer<uint8_t> insns = info[0].As<Napi::Buffer<uint8_t>>();
  std::string license = info[1].As<Napi::String>().Utf8Value();
  if (insns.Length() % sizeof(struct bpf_insn) != 0) return Fail(env, EINVAL, "bpf(BPF_PROG_LOAD)", " (instruction buffer size)");
  std::vector<char> log(64 * 1024);
  union bpf_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
  attr.insns = (uint64_t)(uintptr_t)insns.Data();
  attr.insn_cnt = (uint32_t)(insns.Length() / sizeof(struct bpf_insn));
  attr.license = (uint64_t)(uintptr_t)license.c_str();
  attr.log_buf = (uint64_t)(uintptr_t)log.data();
  attr.log_size = (uint32_t)log.size();
  attr.log_level = 1;
  long fd = Bpf(BPF_PROG_LOAD, &attr);
  if (fd < 0) {
    int err = errno;
    std::string l(log.data(), strnlen(log.data(), log.size()));
    return Fail(env, err, "bpf(BPF_PROG_LOAD)", l.empty() ? "" : " (verifier: " + l + ")");
  }
  return Napi::Number::New(env, (double)fd);
}

// bpfQueryCgroupDevice(cgroupFd) -> ids of the device programs attached to the cgroup itself.
Napi::Value BpfQueryCgroupDevice(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int cgfd = info[0].As<Napi::Number>().Int32Value();
  std::vector<uint32_t> ids(64);
  union bpf_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.query.target_fd = cgfd;
  attr.query.attach_type = BPF_CGROUP_DEVICE;
  attr.query.prog_ids = (uint64_t)(uintptr_t)ids.data();
  attr.query.prog_cnt = (uint32_t)ids.size();
  if (Bpf(BPF_PROG_QUERY, &attr) < 0) return Fail(env, errno, "bpf(BPF_PROG_QUERY)");
  Napi::Array out = Napi::Array::New(env, attr.query.prog_cnt);
  for (uint32_t i = 0; i < attr.query.prog_cnt && i < ids.size(); i++) out.Set(i, Napi::Number::New(env, ids[i]));
  return out;
}

// bpfProgFdById(id) -> fd (to detach a program found by query).
Napi::Value BpfProgFdById(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  union bpf_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.prog_id = info[0].As<Napi::Number>().Uint32Value();
  long fd = Bpf(BPF_PROG_GET_FD_BY_ID, &attr);
  if (fd < 0) return Fail(env, errno, "bpf(BPF_PROG_GET_FD_BY_ID)");
  return Napi::Number::New(env, (double)fd);
}

// bpfAttachCgroupDevice(cgroupFd, progFd, flags) / bpfDetachCgroupDevice(cgroupFd, progFd).
Napi::Value BpfAttachCgroupDevice(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  union bpf_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.target_fd = info[0].As<Napi::Number>().Uint32Value();
  attr.attach_bpf_fd = info[1].As<Napi::Number>().Uint32Value();
  attr.attach_type = BPF_CGROUP_DEVICE;
  attr.attach_flags = info[2].As<Napi::Number>().Uint32Value();
  if (Bpf(BPF_PROG_ATTACH, &attr) < 0) return Fail(env, errno, "bpf(BPF_PROG_ATTACH)");
  return env.Undefined();
}

Napi::Value BpfDetachCgroupDevice(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  union bpf_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.target_fd = info[0].As<Napi::Number>().Uint32Value();
  attr.attach_bpf_fd = info[1].As<Napi::Number>().Uint32Value();
  attr.attach_type = BPF_CGROUP_DEVICE;
  if (Bpf(BPF_PROG_DETACH, &attr) < 0) return Fail(env, errno, "bpf(BPF_PROG_DETACH)");
  return env.Undefined();
}

}  // namespace

void RegisterCgroupExports(Napi::Env env, Napi::Object exports) {
  exports.Set("eventfd", Napi::Function::New(env, EventFd));
  exports.Set("bpfLoadCgroupDevice", Napi::Function::New(env, BpfLoadCgroupDevice));
  exports.Set("bpfQueryCgroupDevice", Napi::Function::New(env, BpfQueryCgroupDevice));
  exports.Set("bpfProgFdById", Napi::Function::New(env, BpfProgFdById));
  exports.Set("bpfAttachCgroupDevice", Napi::Function::New(env, BpfAttachCgroupDevice));
  exports.Set("bpfDetachCgroupDevice", Napi::Function::New(env, BpfDetachCgroupDevice));
}

}  // namespace tsrun
