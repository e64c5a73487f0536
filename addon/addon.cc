// The N-API face of the addon: a handful of functions that packages/runtime/src/native.ts
// types and wraps. Policy stays in TypeScript; these only execute.
#include <errno.h>
#include <fcntl.h>
#include <napi.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include "cgroup_sys.h"
#include "exec_helper_fd.h"
#include "child.h"
#include "fsops.h"
#include "plan_builder.h"
#include "sys.h"
#include "term.h"
#include "userns.h"

namespace tsrun {
namespace {

Napi::Value ThrowErrno(Napi::Env env, int err, const std::string& what) {
  Napi::Error e = Napi::Error::New(env, what + ": " + strerror(err));
  e.Set("errno", Napi::Number::New(env, err));
  e.Set("syscall", Napi::String::New(env, what));
  e.ThrowAsJavaScriptException();
  return env.Undefined();
}

Napi::Value ThrowText(Napi::Env env, const std::string& what) {
  Napi::Error::New(env, what).ThrowAsJavaScriptException();
  return env.Undefined();
}

// Fds the parent holds only until clone() has copied them into the child.
struct ParentFds {
  int fds[4] = {-1, -1, -1, -1};
  int n = 0;
  int Keep(int fd) {
    if (fd >= 0 && n < 4) fds[n++] = fd;
    return fd;
  }
  ~ParentFds() {
    for (int i = 0; i < n; i++) close(fds[i]);
  }
};

// Move an fd to >= min (close-on-exec), so it cannot collide with fds the caller preserves.
int Above(int fd, int min) {
  if (fd >= min) return fd;
  int n = fcntl(fd, F_DUPFD_CLOEXEC, min);
  close(fd);
  return n;
}

// spawn(plan) -> { pid, fd }: clones the first child, which runs the plan (child.cc).
// `fd` is the parent's end of the sync socket; the protocol is in proto.h.
Napi::Value Spawn(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsObject()) {
    Napi::TypeError::New(env, "spawn(plan): plan must be an object").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::unique_ptr<PlanStorage> st = BuildPlan(env, info[0].As<Napi::Object>());
  if (!st) return env.Undefined();
  int min = 3 + st->plan.preserve_fds;
  // The memfds the child's last exec uses (exec_helper.h), above the preserved fds; the
  // child has its own copies after clone, ours go when this returns.
  ParentFds own;
  std::string err_text;
  int helper = ExecHelperFd(&err_text);
  if (helper < 0) return ThrowText(env, err_text);
  st->plan.exec_helper = own.Keep(fcntl(helper, F_DUPFD_CLOEXEC, min));
  if (st->plan.exec_helper < 0) return ThrowErrno(env, errno, "dup exec helper");
  st->plan.seccomp_fd = -1;
  if (st->plan.no_new_privs && st->plan.seccomp_filter && !seccomp_loaded_before_ready(st->plan)) {
    int fd = SeccompBlobFd(st->plan.seccomp_filter, (unsigned)st->plan.seccomp_len, st->plan.seccomp_flags, &err_text);
    if (fd < 0) return ThrowText(env, err_text);
    st->plan.seccomp_fd = own.Keep(Above(fd, min));
    if (st->plan.seccomp_fd < 0) return ThrowErrno(env, errno, "dup seccomp filter");
  }
  // execCPUAffinity.initial: stage 1 is born on these CPUs, before it is in the container's
  // cgroup. Affinity is per thread: this one moves there for the clone and comes back.
  cpu_set_t saved_cpus;
  bool moved = false;
  if (!st->cpus_initial.empty()) {
    if (sched_getaffinity(0, sizeof saved_cpus, &saved_cpus) != 0) return ThrowErrno(env, errno, "sched_getaffinity");
    if (sched_setaffinity(0, st->cpus_initial.size(), (cpu_set_t*)st->cpus_initial.data()) != 0)
      return ThrowErrno(env, errno, "set CPU affinity (process.execCPUAffinity.initial)");
    moved = true;
  }
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
    int err = errno;
    if (moved) sched_setaffinity(0, sizeof saved_cpus, &saved_cpus);
    return ThrowErrno(env, err, "socketpair");
  }
  sv[0] = Above(sv[0], min);
  sv[1] = Above(sv[1], min);
  st->plan.sync_fd = sv[1];
  // The console socket, too, must not sit where a preserved fd goes; the copy is ours to close.
  int console_copy = -1;
  if (st->plan.console_socket >= 0 && st->plan.console_socket < min) {
    console_copy = fcntl(st->plan.console_socket, F_DUPFD_CLOEXEC, min);
    if (console_copy < 0) {
      int err = errno;
      close(sv[0]);
      close(sv[1]);
      if (moved) sched_setaffinity(0, sizeof saved_cpus, &saved_cpus);
      return ThrowErrno(env, err, "dup console socket");
    }
    st->plan.console_socket = console_copy;
  }

  // Block every signal across clone so that no handler of Node's runs in the child; the
  // child resets dispositions and unblocks just before exec.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  // Born in the container's cgroup2 directory when there is one. Any refusal (a kernel
  // without clone3 or CLONE_INTO_CGROUP, a cgroup we may not enter) is left to stage 1's
  // write to cgroup.procs, which reports it like any other join failure or skips it when
  // that is allowed.
  bool in_cgroup2 = false;
  pid_t pid = -1;
  if (st->plan.cgroup_dir >= 0) {
    pid = sys_fork_into_cgroup(st->plan.cgroup_dir);
    in_cgroup2 = pid >= 0;
  }
  if (!in_cgroup2) pid = sys_fork();
  if (pid == 0) {
    close(sv[0]);
    run_stage1(&st->plan, in_cgroup2);
  }
  int err = errno;
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (moved) sched_setaffinity(0, sizeof saved_cpus, &saved_cpus);
  close(sv[1]);
  if (console_copy >= 0) close(console_copy);
  if (pid < 0) {
    close(sv[0]);
    return ThrowErrno(env, err, "clone");
  }
  Napi::Object res = Napi::Object::New(env);
  res.Set("pid", Napi::Number::New(env, pid));
  res.Set("fd", Napi::Number::New(env, sv[0]));
  return res;
}

Napi::Object StatusObject(Napi::Env env, pid_t pid, int status) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("pid", Napi::Number::New(env, pid));
  if (pid > 0 && WIFEXITED(status)) o.Set("code", Napi::Number::New(env, WEXITSTATUS(status)));
  if (pid > 0 && WIFSIGNALED(status)) o.Set("signal", Napi::Number::New(env, WTERMSIG(status)));
  return o;
}

// waitPid(pid, noHang) -> { pid, code?, signal? }; pid 0 when noHang and still running.
Napi::Value WaitPid(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  pid_t pid = info[0].As<Napi::Number>().Int32Value();
  bool nohang = info.Length() > 1 && info[1].ToBoolean().Value();
  int status = 0;
  pid_t r;
  do {
    r = waitpid(pid, &status, nohang ? WNOHANG : 0);
  } while (r < 0 && errno == EINTR);
  if (r < 0) return ThrowErrno(env, errno, "waitpid");
  return StatusObject(env, r, status);
}

// waitExit(pid) -> Promise<{ pid, code?, signal? }>, keeping the main thread free to forward
// signals. The process's pidfd is watched from Node's event loop: a pidfd turns readable when
// the process exits, so no thread sits in waitpid (the first worker thread would start libuv's
// whole pool, ~0.5 ms of every `run`). Kernels before 5.3 have no pidfd_open: a worker waits.
class WaitWorker : public Napi::AsyncWorker {
 public:
  WaitWorker(Napi::Env env, pid_t pid, Napi::Promise::Deferred deferred)
      : Napi::AsyncWorker(env), pid_(pid), deferred_(deferred) {}
  void Execute() override {
    pid_t r;
    do {
      r = waitpid(pid_, &status_, 0);
    } while (r < 0 && errno == EINTR);
    err_ = r < 0 ? errno : 0;
  }
  void OnOK() override { Settle(Env(), deferred_, pid_, status_, err_); }

  static void Settle(Napi::Env env, Napi::Promise::Deferred& deferred, pid_t pid, int status, int err) {
    if (err) {
      Napi::Error e = Napi::Error::New(env, std::string("waitpid: ") + strerror(err));
      e.Set("errno", Napi::Number::New(env, err));
      deferred.Reject(e.Value());
    } else {
      deferred.Resolve(StatusObject(env, pid, status));
    }
  }

 private:
  pid_t pid_;
  int status_ = 0;
  int err_ = 0;
  Napi::Promise::Deferred deferred_;
};

struct PidfdWatch {
  PidfdWatch(Napi::Env e, pid_t p, int f, Napi::Promise::Deferred d)
      : env(e), pid(p), fd(f), deferred(d), context(e, "tsrun.waitExit") {}
  uv_poll_t poll;
  Napi::Env env;
  pid_t pid;
  int fd;
  Napi::Promise::Deferred deferred;
  // Settling from a libuv callback needs a callback scope, so that promise reactions run.
  Napi::AsyncContext context;
};

void OnPidfdReadable(uv_poll_t* handle, int status, int events) {
  auto* w = static_cast<PidfdWatch*>(handle->data);
  int wstatus = 0;
  pid_t r;
  do {
    r = waitpid(w->pid, &wstatus, WNOHANG);
  } while (r < 0 && errno == EINTR);
  if (r == 0 && status == 0) return;  // not reapable yet: keep watching
  int err = r < 0 ? errno : (r == 0 ? -status : 0);
  uv_poll_stop(handle);
  {
    Napi::HandleScope scope(w->env);
    Napi::CallbackScope callback(w->env, w->context);
    WaitWorker::Settle(w->env, w->deferred, w->pid, wstatus, err);
  }
  uv_close(reinterpret_cast<uv_handle_t*>(handle), [](uv_handle_t* h) {
    auto* done = static_cast<PidfdWatch*>(h->data);
    close(done->fd);
    delete done;
  });
}

Napi::Value WaitExit(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  pid_t pid = info[0].As<Napi::Number>().Int32Value();
  Napi::Promise::Deferred deferred = Napi::Promise::Deferred::New(env);
  int fd = sys_pidfd_open(pid);
  uv_loop_t* loop = nullptr;
  if (fd >= 0 && napi_get_uv_event_loop(env, &loop) == napi_ok) {
    auto* w = new PidfdWatch(env, pid, fd, deferred);
    w->poll.data = w;
    if (uv_poll_init(loop, &w->poll, fd) == 0) {
      if (uv_poll_start(&w->poll, UV_READABLE, OnPidfdReadable) == 0) return deferred.Promise();
      uv_close(reinterpret_cast<uv_handle_t*>(&w->poll), [](uv_handle_t* h) {
        auto* failed = static_cast<PidfdWatch*>(h->data);
        close(failed->fd);
        delete failed;
      });
      (new WaitWorker(env, pid, deferred))->Queue();
      return deferred.Promise();
    }
    delete w;
  }
  if (fd >= 0) close(fd);
  (new WaitWorker(env, pid, deferred))->Queue();
  return deferred.Promise();
}

// flock(fd, op): op as flock(2) (LOCK_SH=1, LOCK_EX=2, LOCK_NB=4, LOCK_UN=8).
Napi::Value Flock(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = info[0].As<Napi::Number>().Int32Value();
  int op = info[1].As<Napi::Number>().Int32Value();
  int r;
  do {
    r = flock(fd, op);
  } while (r < 0 && errno == EINTR);
  if (r < 0) return ThrowErrno(env, errno, "flock");
  return env.Undefined();
}

Napi::Value Mkfifo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = info[0].As<Napi::String>().Utf8Value();
  int mode = info[1].As<Napi::Number>().Int32Value();
  if (mkfifo(path.c_str(), (mode_t)mode) != 0) return ThrowErrno(env, errno, "mkfifo " + path);
  return env.Undefined();
}

// idmappedTree(source, uidMap, gidMap, rbind, recursive) -> close-on-exec fd of a detached,
// idmapped copy of `source` that init moves onto its mount point (the plan's MountOp.idmapTree).
Napi::Value IdmappedTreeFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 5 || !info[0].IsString() || !info[1].IsString() || !info[2].IsString() ||
      !info[3].IsBoolean() || !info[4].IsBoolean()) {
    Napi::TypeError::New(env, "idmappedTree(source, uidMap, gidMap, rbind, recursive)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::string err;
  int fd = IdmappedTree(info[0].As<Napi::String>().Utf8Value(), info[1].As<Napi::String>().Utf8Value(),
                        info[2].As<Napi::String>().Utf8Value(), info[3].As<Napi::Boolean>().Value(),
                        info[4].As<Napi::Boolean>().Value(), &err);
  if (fd < 0) return ThrowText(env, err);
  return Napi::Number::New(env, fd);
}

// pidfdOpen(pid) -> a close-on-exec pidfd of the process (Linux 5.3).
Napi::Value PidfdOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsNumber()) {
    Napi::TypeError::New(env, "pidfdOpen(pid): pid must be a number").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  int fd = sys_pidfd_open(info[0].As<Napi::Number>().Int32Value());
  if (fd < 0) return ThrowErrno(env, errno, "pidfd_open");
  return Napi::Number::New(env, fd);
}

// sendFd(sock, fd, name): one message carrying `fd` (SCM_RIGHTS) with `name` as its payload,
// as runc sends a pidfd to --pidfd-socket.
Napi::Value SendFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsNumber() || !info[1].IsNumber() || !info[2].IsString()) {
    Napi::TypeError::New(env, "sendFd(sock, fd, name)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  int sock = info[0].As<Napi::Number>().Int32Value();
  int fd = info[1].As<Napi::Number>().Int32Value();
  std::string name = info[2].As<Napi::String>().Utf8Value();
  if (send_fd(sock, fd, name.data(), name.size()) != 0) return ThrowErrno(env, errno, "sendmsg");
  return env.Undefined();
}

// recvRecord(sock, buf) -> { n, fd }: one record of the sync socket into `buf` (n bytes), with
// the fd that came with it (SCM_RIGHTS, close-on-exec), or fd -1. n is 0 at EOF.
Napi::Value RecvRecord(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsNumber() || !info[1].IsBuffer()) {
    Napi::TypeError::New(env, "recvRecord(sock, buf)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  int sock = info[0].As<Napi::Number>().Int32Value();
  Napi::Buffer<char> buf = info[1].As<Napi::Buffer<char>>();
  char cbuf[CMSG_SPACE(sizeof(int))];
  struct iovec iov = {buf.Data(), buf.Length()};
  struct msghdr m = {};
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  m.msg_control = cbuf;
  m.msg_controllen = sizeof cbuf;
  ssize_t n;
  do {
    n = recvmsg(sock, &m, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return ThrowErrno(env, errno, "recvmsg");
  int fd = -1;
  for (struct cmsghdr* c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS && c->cmsg_len >= CMSG_LEN(sizeof(int)))
      memcpy(&fd, CMSG_DATA(c), sizeof(int));
  }
  Napi::Object o = Napi::Object::New(env);
  o.Set("n", Napi::Number::New(env, (double)n));
  o.Set("fd", Napi::Number::New(env, fd));
  return o;
}

// connectUnix(path) -> fd of a connected stream socket (the console socket).
Napi::Value ConnectUnix(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = info[0].As<Napi::String>().Utf8Value();
  struct sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) return ThrowErrno(env, ENAMETOOLONG, "connect " + path);
  memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return ThrowErrno(env, errno, "socket");
  if (connect(fd, (struct sockaddr*)&addr, sizeof addr) != 0) {
    int err = errno;
    close(fd);
    return ThrowErrno(env, err, "connect " + path);
  }
  return Napi::Number::New(env, fd);
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("spawn", Napi::Function::New(env, Spawn));
  exports.Set("waitPid", Napi::Function::New(env, WaitPid));
  exports.Set("waitExit", Napi::Function::New(env, WaitExit));
  exports.Set("flock", Napi::Function::New(env, Flock));
  exports.Set("mkfifo", Napi::Function::New(env, Mkfifo));
  exports.Set("idmappedTree", Napi::Function::New(env, IdmappedTreeFd));
  exports.Set("pidfdOpen", Napi::Function::New(env, PidfdOpen));
  exports.Set("sendFd", Napi::Function::New(env, SendFd));
  exports.Set("connectUnix", Napi::Function::New(env, ConnectUnix));
  exports.Set("recvRecord", Napi::Function::New(env, RecvRecord));
  RegisterFsOps(env, exports);
  RegisterCgroupExports(env, exports);
  RegisterTerm(env, exports);
  return exports;
}

}  // namespace
}  // namespace tsrun

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return tsrun::Init(env, exports); }
NODE_API_MODULE(tsrun_native, InitModule)
