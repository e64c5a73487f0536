// Filesystem calls Node does not offer, for unpacking image layers and mounting a bundle's
// rootfs (packages/builder/src/layers/native.ts types them). Each is one syscall on a path the
// TypeScript side has already resolved inside the target; none follows a final symlink.
#include <errno.h>
#include <napi.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include <string>
#include <vector>

#include "fsops.h"

namespace tsrun {
namespace {

Napi::Value Fail(Napi::Env env, int err, const std::string& what) {
  Napi::Error e = Napi::Error::New(env, what + ": " + strerror(err));
  e.Set("errno", Napi::Number::New(env, err));
  e.Set("syscall", Napi::String::New(env, what));
  e.ThrowAsJavaScriptException();
  return env.Undefined();
}

std::string Str(const Napi::Value& v) { return v.As<Napi::String>().Utf8Value(); }

// mknod(path, mode, major, minor): devices, fifos, and overlay whiteouts (char 0:0).
Napi::Value Mknod(const Napi::CallbackInfo& info) {
  std::string p = Str(info[0]);
  mode_t mode = (mode_t)info[1].As<Napi::Number>().Uint32Value();
  dev_t dev = makedev(info[2].As<Napi::Number>().Uint32Value(), info[3].As<Napi::Number>().Uint32Value());
  if (mknod(p.c_str(), mode, dev) != 0) return Fail(info.Env(), errno, "mknod " + p);
  return info.Env().Undefined();
}

// lsetxattr(path, name, value: Buffer)
Napi::Value Lsetxattr(const Napi::CallbackInfo& info) {
  std::string p = Str(info[0]), name = Str(info[1]);
  Napi::Buffer<char> v = info[2].As<Napi::Buffer<char>>();
  if (lsetxattr(p.c_str(), name.c_str(), v.Data(), v.Length(), 0) != 0)
    return Fail(info.Env(), errno, "lsetxattr " + p + " " + name);
  return info.Env().Undefined();
}

// lremovexattr(path, name); an attribute that is not there is not an error.
Napi::Value Lremovexattr(const Napi::CallbackInfo& info) {
  std::string p = Str(info[0]), name = Str(info[1]);
  if (lremovexattr(p.c_str(), name.c_str()) != 0 && errno != ENODATA)
    return Fail(info.Env(), errno, "lremovexattr " + p + " " + name);
  return info.Env().Undefined();
}

// lgetxattr(path, name) -> Buffer, or undefined when the attribute is absent.
Napi::Value Lgetxattr(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string p = Str(info[0]), name = Str(info[1]);
  for (;;) {
    ssize_t n = lgetxattr(p.c_str(), name.c_str(), nullptr, 0);
    if (n < 0) {
      if (errno == ENODATA) return env.Undefined();
      return Fail(env, errno, "lgetxattr " + p + " " + name);
    }
    std::vector<char> buf(n > 0 ? n : 1);
    ssize_t m = lgetxattr(p.c_str(), name.c_str(), buf.data(), buf.size());
    if (m < 0 && errno == ERANGE) continue;  // grew in between
    if (m < 0) return Fail(env, errno, "lgetxattr " + p + " " + name);
    return Napi::Buffer<char>::Copy(env, buf.data(), m);
  }
}

// llistxattr(path) -> string[]
Napi::Value Llistxattr(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string p = Str(info[0]);
  for (;;) {
    ssize_t n = llistxattr(p.c_str(), nullptr, 0);
    if (n < 0) {
      if (errno == EOPNOTSUPP) return Napi::Array::New(env);
      return Fail(env, errno, "llistxattr " + p);
    }
    std::vector<char> buf(n > 0 ? n : 1);
    ssize_t m = llistxattr(p.c_str(), buf.data(), buf.size());
    if (m < 0 && errno == ERANGE) continue;
    if (m < 0) return Fail(env, errno, "llistxattr " + p);
    Napi::Array out = Napi::Array::New(env);
    uint32_t i = 0;
    for (ssize_t off = 0; off < m;) {
      std::string name(buf.data() + off);
      off += name.size() + 1;
      out.Set(i++, Napi::String::New(env, name));
    }
    return out;
  }
}

// mount(source, target, fstype, flags, data)
Napi::Value Mount(const Napi::CallbackInfo& info) {
  std::string src = Str(info[0]), target = Str(info[1]), type = Str(info[2]), data = Str(info[4]);
  unsigned long flags = (unsigned long)info[3].As<Napi::Number>().Int64Value();
  if (mount(src.c_str(), target.c_str(), type.c_str(), flags, data.empty() ? nullptr : data.c_str()) != 0)
    return Fail(info.Env(), errno, "mount " + type + " on " + target);
  return info.Env().Undefined();
}

// umount2(target, flags)
Napi::Value Umount2(const Napi::CallbackInfo& info) {
  std::string target = Str(info[0]);
  int flags = info[1].As<Napi::Number>().Int32Value();
  if (umount2(target.c_str(), flags) != 0) return Fail(info.Env(), errno, "umount " + target);
  return info.Env().Undefined();
}

}  // namespace

void RegisterFsOps(Napi::Env env, Napi::Object exports) {
  exports.Set("mknod", Napi::Function::New(env, Mknod));
  exports.Set("lsetxattr", Napi::Function::New(env, Lsetxattr));
  exports.Set("lgetxattr", Napi::Function::New(env, Lgetxattr));
  exports.Set("lremovexattr", Napi::Function::New(env, Lremovexattr));
  exports.Set("llistxattr", Napi::Function::New(env, Llistxattr));
  exports.Set("mount", Napi::Function::New(env, Mount));
  exports.Set("umount2", Napi::Function::New(env, Umount2));
}

}  // namespace tsrun
