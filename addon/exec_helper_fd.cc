// Makes the memfds of exec_helper_fd.h. Runs in the runtime process, before clone().
#include "exec_helper_fd.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "exec_helper.h"
#include "sys.h"

#ifndef MFD_EXEC
#define MFD_EXEC 0x10U
#endif
#ifndef F_SEAL_EXEC
#define F_SEAL_EXEC 0x20
#endif

namespace tsrun {
namespace {

std::string Describe(const char* what, int err) { return std::string(what) + ": " + strerror(err); }

// Kernels since 6.3 want executable memfds asked for (MFD_EXEC), older ones refuse the flag.
int NewMemfd(const char* name, bool exec) {
  unsigned flags = MFD_CLOEXEC | MFD_ALLOW_SEALING;
  int fd = exec ? memfd_create(name, flags | MFD_EXEC) : -1;
  if (fd < 0) fd = memfd_create(name, flags);
  return fd;
}

// No more writes, growth, shrinking or seal changes: every process that holds or reopens it
// (through /proc/PID/exe, say) sees these bytes and cannot change them.
bool Seal(int fd, bool exec) {
  int seals = F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE;
  if (exec && fcntl(fd, F_ADD_SEALS, seals | F_SEAL_EXEC) == 0) return true;  // mode frozen too (6.3+)
  return fcntl(fd, F_ADD_SEALS, seals) == 0;
}

// The helper is built next to the addon (build/Release): find it from the addon's own path.
std::string HelperPath() {
  Dl_info info{};
  if (dladdr((void*)&HelperPath, &info) == 0 || !info.dli_fname) return "";
  std::string p = info.dli_fname;
  size_t slash = p.rfind('/');
  return (slash == std::string::npos ? std::string(".") : p.substr(0, slash)) + "/" + kHelperArgv0;
}

int CopyHelper(std::string* err) {
  std::string path = HelperPath();
  int src = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (src < 0) return *err = Describe(("open tsrun's exec helper " + path).c_str(), errno), -1;
  int fd = NewMemfd(kHelperArgv0, true);
  if (fd < 0) {
    *err = Describe("memfd_create for tsrun's exec helper", errno);
    close(src);
    return -1;
  }
  char buf[16384];
  ssize_t n;
  bool ok = true;
  while (ok && (n = read(src, buf, sizeof buf)) != 0) {
    if (n < 0 && errno == EINTR) continue;
    ok = n > 0 && write_all(fd, buf, (size_t)n) == 0;
  }
  int e = errno;
  close(src);
  if (!ok) *err = Describe(("copy tsrun's exec helper " + path).c_str(), e);
  else if (!Seal(fd, true)) ok = false, *err = Describe("seal tsrun's exec helper", errno);
  if (!ok) close(fd);
  return ok ? fd : -1;
}

int g_helper = -1;

}  // namespace

int ExecHelperFd(std::string* err) {
  if (g_helper < 0) g_helper = CopyHelper(err);
  return g_helper;
}

int SeccompBlobFd(const void* filter, unsigned count, unsigned flags, std::string* err) {
  int fd = NewMemfd("tsrun-seccomp", false);
  if (fd < 0) return *err = Describe("memfd_create for the seccomp filter", errno), -1;
  SeccompBlob h = {kSeccompBlobMagic, flags, count, 0};
  if (write_all(fd, &h, sizeof h) != 0 || write_all(fd, filter, (size_t)count * 8) != 0 || !Seal(fd, false)) {
    *err = Describe("write the seccomp filter", errno);
    close(fd);
    return -1;
  }
  return fd;
}

}  // namespace tsrun
