// MakeUserns: a child in a new user namespace waits on a pipe while the runtime writes its maps
// and opens /proc/PID/ns/user; closing the pipe lets it exit. The fd keeps the namespace alive.
#include "userns.h"

#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

namespace tsrun {
namespace {

bool WriteProcFile(pid_t pid, const char* name, const std::string& text, std::string* err) {
  std::string path = "/proc/" + std::to_string(pid) + "/" + name;
  int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0 || write(fd, text.data(), text.size()) != (ssize_t)text.size()) {
    *err = "write " + std::string(name) + " of an idmapped mount's user namespace: " + strerror(errno);
    if (fd >= 0) close(fd);
    return false;
  }
  close(fd);
  return true;
}

}  // namespace

int MakeUserns(const std::string& uid_map, const std::string& gid_map, std::string* err) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) return *err = std::string("pipe: ") + strerror(errno), -1;
  // A raw clone (no glibc fork handlers), with every signal blocked so that none of Node's
  // handlers runs in it: Node is multi-threaded, so the child only blocks in read(2) and exits.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pid_t pid = (pid_t)syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, nullptr, nullptr, nullptr, nullptr);
  if (pid != 0) pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (pid == 0) {
    char c;
    close(p[1]);
    while (read(p[0], &c, 1) < 0 && errno == EINTR) {
    }
    _exit(0);
  }
  close(p[0]);
  if (pid < 0) {
    close(p[1]);
    return *err = std::string("clone a user namespace for an idmapped mount: ") + strerror(errno), -1;
  }
  int fd = -1;
  if (WriteProcFile(pid, "uid_map", uid_map, err) && WriteProcFile(pid, "gid_map", gid_map, err)) {
    std::string ns = "/proc/" + std::to_string(pid) + "/ns/user";
    fd = open(ns.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) *err = "open " + ns + ": " + strerror(errno);
  }
  close(p[1]);
  int status;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return fd;
}

int IdmappedTree(const std::string& source, const std::string& uid_map, const std::string& gid_map, bool rbind,
                 bool recursive, std::string* err) {
  int userns = MakeUserns(uid_map, gid_map, err);
  if (userns < 0) return -1;
  unsigned tree_flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (rbind ? AT_RECURSIVE : 0);
  int tree = (int)syscall(SYS_open_tree, AT_FDCWD, source.c_str(), tree_flags);
  if (tree < 0) {
    *err = "open_tree " + source + " for an idmapped mount: " + strerror(errno);
    close(userns);
    return -1;
  }
  struct mount_attr attr = {};
  attr.attr_set = MOUNT_ATTR_IDMAP;
  attr.userns_fd = (uint64_t)userns;
  unsigned at = AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0);
  int r = (int)syscall(SYS_mount_setattr, tree, "", at, &attr, sizeof attr);
  int e = errno;
  close(userns);
  if (r != 0) {
    *err = "idmap mount " + source + (e == EINVAL ? ": the filesystem or kernel does not support idmapped mounts" : "") +
           ": " + strerror(e);
    close(tree);
    return -1;
  }
  return tree;
}

}  // namespace tsrun
