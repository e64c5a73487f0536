#include "plan_builder.h"

#include <sys/sysmacros.h>

#include "exec_helper.h"

namespace tsrun {
namespace {

// Reads fields of the JavaScript plan; the first type error becomes a JS TypeError.
class Reader {
 public:
  Reader(Napi::Env env, PlanStorage& st) : env_(env), st_(st) {}
  bool ok() const { return ok_; }

  const char* Str(Napi::Object o, const char* key, bool optional = true) {
    Napi::Value v = o.Get(key);
    if (v.IsUndefined() || v.IsNull()) {
      if (!optional) Fail(key, "a string");
      return nullptr;
    }
    if (!v.IsString()) return Fail(key, "a string"), nullptr;
    st_.strings.push_back(v.As<Napi::String>().Utf8Value());
    return st_.strings.back().c_str();
  }

  int64_t Int(Napi::Object o, const char* key, int64_t def = 0) {
    Napi::Value v = o.Get(key);
    if (v.IsUndefined() || v.IsNull()) return def;
    if (v.IsBoolean()) return v.As<Napi::Boolean>().Value() ? 1 : 0;
    if (v.IsNumber()) return v.As<Napi::Number>().Int64Value();
    if (v.IsBigInt()) {
      bool lossless;
      return v.As<Napi::BigInt>().Int64Value(&lossless);
    }
    Fail(key, "a number");
    return def;
  }

  uint64_t U64(Napi::Object o, const char* key, uint64_t def = 0) {
    Napi::Value v = o.Get(key);
    if (v.IsUndefined() || v.IsNull()) return def;
    if (v.IsBigInt()) {
      bool lossless;
      return v.As<Napi::BigInt>().Uint64Value(&lossless);
    }
    if (v.IsNumber()) return (uint64_t)v.As<Napi::Number>().DoubleValue();
    Fail(key, "a bigint");
    return def;
  }

  Napi::Array Arr(Napi::Object o, const char* key) {
    Napi::Value v = o.Get(key);
    if (v.IsArray()) return v.As<Napi::Array>();
    if (!v.IsUndefined() && !v.IsNull()) Fail(key, "an array");
    return Napi::Array::New(env_, 0);
  }

  // A NULL-terminated char* array (argv, envp), after `lead` slots left for the caller.
  char** StrArray(Napi::Object o, const char* key, std::initializer_list<const char*> lead = {}) {
    Napi::Array a = Arr(o, key);
    st_.string_arrays.emplace_back();
    auto& out = st_.string_arrays.back();
    for (const char* l : lead) out.push_back(const_cast<char*>(l));
    for (uint32_t i = 0; i < a.Length(); i++) {
      Napi::Value v = a.Get(i);
      if (!v.IsString()) return Fail(key, "an array of strings"), nullptr;
      st_.strings.push_back(v.As<Napi::String>().Utf8Value());
      out.push_back(&st_.strings.back()[0]);
    }
    out.push_back(nullptr);
    return out.data();
  }

  const char** ConstStrArray(Napi::Object o, const char* key) {
    Napi::Array a = Arr(o, key);
    st_.const_arrays.emplace_back();
    auto& out = st_.const_arrays.back();
    for (uint32_t i = 0; i < a.Length(); i++) {
      Napi::Value v = a.Get(i);
      if (!v.IsString()) return Fail(key, "an array of strings"), nullptr;
      st_.strings.push_back(v.As<Napi::String>().Utf8Value());
      out.push_back(st_.strings.back().c_str());
    }
    out.push_back(nullptr);
    return out.data();
  }

  // An array of byte values into a fixed buffer (a CPU or node mask); too long is an error.
  bool Bytes(Napi::Object o, const char* key, unsigned char* out, size_t cap) {
    Napi::Array a = Arr(o, key);
    if (a.Length() > cap) return Fail(key, "a mask that fits the plan"), false;
    for (uint32_t i = 0; i < a.Length(); i++) {
      Napi::Value v = a.Get(i);
      if (!v.IsNumber()) return Fail(key, "an array of bytes"), false;
      uint32_t b = v.As<Napi::Number>().Uint32Value();
      if (b > 255) return Fail(key, "an array of bytes"), false;
      out[i] = (unsigned char)b;
    }
    return ok_;
  }

  Napi::Object Elem(Napi::Array a, uint32_t i, const char* key) {
    Napi::Value v = a.Get(i);
    if (!v.IsObject()) Fail(key, "an array of objects");
    return v.IsObject() ? v.As<Napi::Object>() : Napi::Object::New(env_);
  }

  void Fail(const char* key, const char* what) {
    if (!ok_) return;
    ok_ = false;
    std::string msg = std::string("plan field ") + key + " must be " + what;
    Napi::TypeError::New(env_, msg).ThrowAsJavaScriptException();
  }

 private:
  Napi::Env env_;
  PlanStorage& st_;
  bool ok_ = true;
};

void ReadHooks(Reader& r, Napi::Object o, const char* key, std::vector<Hook>& out) {
  Napi::Array a = r.Arr(o, key);
  for (uint32_t i = 0; i < a.Length(); i++) {
    Napi::Object h = r.Elem(a, i, key);
    Hook hook{};
    hook.path = r.Str(h, "path", false);
    // Hooks run through the exec helper too, in its plain form: no sync socket, no filter.
    hook.argv = r.StrArray(h, "args", {kHelperArgv0, "-1", "-1", hook.path});
    hook.envp = r.StrArray(h, "env");
    hook.timeout_sec = (int)r.Int(h, "timeout", 0);
    out.push_back(hook);
  }
}

}  // namespace

std::unique_ptr<PlanStorage> BuildPlan(Napi::Env env, Napi::Object o) {
  auto st = std::make_unique<PlanStorage>();
  Reader r(env, *st);
  Plan& p = st->plan;

  Napi::Array joins = r.Arr(o, "joins");
  for (uint32_t i = 0; i < joins.Length(); i++) {
    Napi::Object j = r.Elem(joins, i, "joins");
    st->joins.push_back(JoinNs{(int)r.Int(j, "type"), r.Str(j, "path", false)});
  }
  p.unshare_flags = (int)r.Int(o, "unshareFlags");
  p.new_user = (int)r.Int(o, "newUser");
  p.timens_offsets = r.Str(o, "timensOffsets");
  p.cgroup_dir = (int)r.Int(o, "cgroupDir", -1);
  p.cgroup_procs = (int)r.Int(o, "cgroupProcs", -1);
  p.cgroup_path = r.Str(o, "cgroupPath");
  Napi::Array tasks = r.Arr(o, "cgroupTasks");
  for (uint32_t i = 0; i < tasks.Length(); i++) {
    Napi::Object t = r.Elem(tasks, i, "cgroupTasks");
    st->cgroup_tasks.push_back(CgroupTasks{(int)r.Int(t, "fd", -1), r.Str(t, "path", false)});
  }
  p.cgroup_optional = (int)r.Int(o, "cgroupOptional");
  p.chroot_path = r.Str(o, "chrootPath");

  p.setup_rootfs = (int)r.Int(o, "setupRootfs", 1);
  p.rootfs = r.Str(o, "rootfs", !p.setup_rootfs);
  p.root_mount = r.Str(o, "rootMount");
  p.root_propagation = (unsigned long)r.Int(o, "rootPropagation");
  p.private_parent = r.Str(o, "privateParent");
  p.final_root_propagation = (unsigned long)r.Int(o, "finalRootPropagation");
  Napi::Array ops = r.Arr(o, "ops");
  for (uint32_t i = 0; i < ops.Length(); i++) {
    Napi::Object m = r.Elem(ops, i, "ops");
    MountOp op{};
    op.kind = (int)r.Int(m, "kind");
    op.source = r.Str(m, "source");
    op.target = r.Str(m, "target", false);
    op.fstype = r.Str(m, "fstype");
    op.data = r.Str(m, "data");
    op.flags = (unsigned long)r.Int(m, "flags");
    op.remount = (unsigned long)r.Int(m, "remount");
    Napi::Array prop = r.Arr(m, "propagation");
    for (uint32_t k = 0; k < prop.Length() && k < 4; k++)
      op.propagation[op.npropagation++] = (unsigned long)prop.Get(k).As<Napi::Number>().Int64Value();
    op.file_target = (int)r.Int(m, "fileTarget");
    op.mode = (mode_t)r.Int(m, "mode", 0755);
    op.dev = makedev((unsigned)r.Int(m, "major"), (unsigned)r.Int(m, "minor"));
    op.uid = (uid_t)r.Int(m, "uid");
    op.gid = (gid_t)r.Int(m, "gid");
    op.bind_device = (int)r.Int(m, "bindDevice");
    op.copy_mode = (int)r.Int(m, "copyMode");
    op.copy_up = (int)r.Int(m, "copyUp");
    op.idmap_tree = (int)r.Int(m, "idmapTree", -1);
    st->ops.push_back(op);
  }
  p.no_pivot = (int)r.Int(o, "noPivot");
  p.readonly_root = (int)r.Int(o, "readonlyRoot");
  p.loopback_up = (int)r.Int(o, "loopbackUp");
  p.pause_for_runtime_hooks = (int)r.Int(o, "pauseForRuntimeHooks");
  p.session_keyring = r.Str(o, "sessionKeyring");
  p.hostname = r.Str(o, "hostname");
  p.domainname = r.Str(o, "domainname");
  Napi::Array sysctls = r.Arr(o, "sysctls");
  for (uint32_t i = 0; i < sysctls.Length(); i++) {
    Napi::Object s = r.Elem(sysctls, i, "sysctls");
    st->sysctls.push_back(Sysctl{r.Str(s, "path", false), r.Str(s, "value", false)});
  }
  p.masked = r.ConstStrArray(o, "masked");
  p.readonly = r.ConstStrArray(o, "readonly");
  p.fifo_path = r.Str(o, "fifoPath");
  ReadHooks(r, o, "createContainerHooks", st->create_hooks);
  ReadHooks(r, o, "startContainerHooks", st->start_hooks);

  p.exec_argv = r.StrArray(o, "args", {nullptr, nullptr, nullptr, nullptr});
  p.argv = p.exec_argv + kHelperArgs;
  p.envp = r.StrArray(o, "env");
  p.path_env = r.Str(o, "pathEnv");
  p.cwd = r.Str(o, "cwd", false);
  p.uid = (uid_t)r.Int(o, "uid");
  p.gid = (gid_t)r.Int(o, "gid");
  Napi::Array groups = r.Arr(o, "groups");
  for (uint32_t i = 0; i < groups.Length(); i++)
    st->groups.push_back((gid_t)groups.Get(i).As<Napi::Number>().Int64Value());
  p.set_groups = (int)r.Int(o, "setGroups", 1);
  p.umask = (int)r.Int(o, "umask", -1);
  Napi::Array rl = r.Arr(o, "rlimits");
  for (uint32_t i = 0; i < rl.Length(); i++) {
    Napi::Object l = r.Elem(rl, i, "rlimits");
    st->rlimits.push_back(Rlimit{(int)r.Int(l, "type"), r.U64(l, "soft"), r.U64(l, "hard")});
  }
  Napi::Value caps = o.Get("caps");
  if (caps.IsObject()) {
    Napi::Object c = caps.As<Napi::Object>();
    p.set_caps = 1;
    p.cap_bounding = r.U64(c, "bounding");
    p.cap_effective = r.U64(c, "effective");
    p.cap_permitted = r.U64(c, "permitted");
    p.cap_inheritable = r.U64(c, "inheritable");
    p.cap_ambient = r.U64(c, "ambient");
  }
  p.last_cap = (int)r.Int(o, "lastCap", 40);
  p.no_new_privs = (int)r.Int(o, "noNewPrivs");
  Napi::Array attrs = r.Arr(o, "execAttrs");
  for (uint32_t i = 0; i < attrs.Length(); i++) {
    Napi::Object a = r.Elem(attrs, i, "execAttrs");
    st->exec_attrs.push_back(ExecAttr{r.Str(a, "path", false), r.Str(a, "value", false), r.Str(a, "what", false)});
  }
  Napi::Value sec = o.Get("seccomp");
  if (sec.IsBuffer()) {
    auto b = sec.As<Napi::Buffer<char>>();
    st->seccomp.assign(b.Data(), b.Data() + b.Length());
    p.seccomp_len = (int)(b.Length() / 8);  // sizeof(struct sock_filter)
  }
  p.seccomp_flags = (unsigned)r.Int(o, "seccompFlags");
  p.preserve_fds = (int)r.Int(o, "preserveFds");
  p.console_socket = (int)r.Int(o, "consoleSocket", -1);
  p.console_rows = (unsigned short)r.Int(o, "consoleRows", 0);
  p.console_cols = (unsigned short)r.Int(o, "consoleCols", 0);
  p.setsid = (int)r.Int(o, "setsid", 1);
  p.personality = (int)r.Int(o, "personality", -1);
  p.ioprio = (int)r.Int(o, "ioprio", -1);
  Napi::Value sched = o.Get("sched");
  if (sched.IsObject()) {
    Napi::Object s = sched.As<Napi::Object>();
    p.sched_set = 1;
    p.sched_policy = (uint32_t)r.Int(s, "policy");
    p.sched_flags = r.U64(s, "flags");
    p.sched_nice = (int32_t)r.Int(s, "nice");
    p.sched_priority = (uint32_t)r.Int(s, "priority");
    p.sched_runtime = r.U64(s, "runtime");
    p.sched_deadline = r.U64(s, "deadline");
    p.sched_period = r.U64(s, "period");
  }
  Napi::Value mpol = o.Get("memoryPolicy");
  if (mpol.IsObject()) {
    Napi::Object m = mpol.As<Napi::Object>();
    p.mempolicy_set = 1;
    p.mempolicy_mode = (int)r.Int(m, "mode");
    if (!r.Bytes(m, "nodes", (unsigned char*)p.mempolicy_nodes, sizeof p.mempolicy_nodes)) return nullptr;
  }
  if (o.Get("cpusFinal").IsArray()) {
    p.cpus_final_set = 1;
    if (!r.Bytes(o, "cpusFinal", p.cpus_final, sizeof p.cpus_final)) return nullptr;
  }
  if (o.Get("cpusInitial").IsArray()) {
    st->cpus_initial.assign(128, 0);
    if (!r.Bytes(o, "cpusInitial", st->cpus_initial.data(), st->cpus_initial.size())) return nullptr;
  }
  if (!r.ok()) return nullptr;

  // Point the plan at the vectors only once they are complete (no more reallocation).
  p.joins = st->joins.data();
  p.njoins = (int)st->joins.size();
  p.cgroup_tasks = st->cgroup_tasks.data();
  p.ncgroup_tasks = (int)st->cgroup_tasks.size();
  p.ops = st->ops.data();
  p.nops = (int)st->ops.size();
  p.sysctls = st->sysctls.data();
  p.nsysctls = (int)st->sysctls.size();
  p.exec_attrs = st->exec_attrs.data();
  p.nexec_attrs = (int)st->exec_attrs.size();
  p.create_container_hooks = st->create_hooks.data();
  p.ncreate_container_hooks = (int)st->create_hooks.size();
  p.start_container_hooks = st->start_hooks.data();
  p.nstart_container_hooks = (int)st->start_hooks.size();
  p.groups = st->groups.data();
  p.ngroups = (int)st->groups.size();
  p.rlimits = st->rlimits.data();
  p.nrlimits = (int)st->rlimits.size();
  p.seccomp_filter = st->seccomp.empty() ? nullptr : st->seccomp.data();
  return st;
}

}  // namespace tsrun
