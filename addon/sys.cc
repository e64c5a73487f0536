#include "sys.h"

#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/close_range.h>
#include <linux/openat2.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace tsrun {

size_t str_len(const char* s) {
  size_t n = 0;
  while (s && s[n]) n++;
  return n;
}

int str_eq(const char* a, const char* b) {
  while (*a && *a == *b) a++, b++;
  return *a == *b;
}

Buf& Buf::add(const char* t) {
  while (t && *t && n + 1 < sizeof(s)) s[n++] = *t++;
  s[n] = 0;
  return *this;
}

Buf& Buf::add_ch(char c) {
  if (n + 1 < sizeof(s)) s[n++] = c;
  s[n] = 0;
  return *this;
}

Buf& Buf::add_int(long v) {
  char tmp[24];
  int i = 0;
  unsigned long u = v < 0 ? -(unsigned long)v : (unsigned long)v;
  do {
    tmp[i++] = (char)('0' + u % 10);
    u /= 10;
  } while (u);
  if (v < 0) add_ch('-');
  while (i) add_ch(tmp[--i]);
  return *this;
}

int sys_openat2(int dirfd, const char* path, uint64_t flags, uint64_t resolve) {
  struct open_how how = {};
  how.flags = flags;
  how.resolve = resolve;
  return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof how);
}

int sys_pivot_root(const char* new_root, const char* put_old) {
  return (int)syscall(SYS_pivot_root, new_root, put_old);
}

int sys_close_range_cloexec(unsigned first) {
  return (int)syscall(SYS_close_range, first, ~0U, CLOSE_RANGE_CLOEXEC);
}

int sys_capset(uint64_t effective, uint64_t permitted, uint64_t inheritable) {
  struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2] = {};
  data[0].effective = (uint32_t)effective;
  data[1].effective = (uint32_t)(effective >> 32);
  data[0].permitted = (uint32_t)permitted;
  data[1].permitted = (uint32_t)(permitted >> 32);
  data[0].inheritable = (uint32_t)inheritable;
  data[1].inheritable = (uint32_t)(inheritable >> 32);
  return (int)syscall(SYS_capset, &hdr, data);
}

pid_t sys_fork() {
  // clone(SIGCHLD) behaves like fork() but skips glibc's fork bookkeeping, which is not safe
  // to run in a child of a multi-threaded process.
  return (pid_t)syscall(SYS_clone, (unsigned long)SIGCHLD, 0, 0, 0, 0);
}

pid_t sys_fork_into_cgroup(int cgroup_dir_fd) {
  // CLONE_INTO_CGROUP (Linux 5.7) places the child at birth: no migration, so none of the
  // global lock that moving a process through cgroup.procs takes (see child.cc join_cgroups).
  struct clone_args args;
  memset(&args, 0, sizeof args);
  args.flags = CLONE_INTO_CGROUP;
  args.exit_signal = SIGCHLD;
  args.cgroup = (uint64_t)cgroup_dir_fd;
  return (pid_t)syscall(SYS_clone3, &args, sizeof args);
}

int sys_pidfd_open(pid_t pid) {
#ifdef SYS_pidfd_open
  // pidfds are always close-on-exec.
  return (int)syscall(SYS_pidfd_open, pid, 0);
#else
  (void)pid;
  errno = ENOSYS;
  return -1;
#endif
}

pid_t sys_clone_parent() {
  return (pid_t)syscall(SYS_clone, (unsigned long)(CLONE_PARENT | SIGCHLD), 0, 0, 0, 0);
}

int open_in_root(int rootfd, const char* path, int extra_flags) {
  // RESOLVE_IN_ROOT makes "/" and ".." (also inside symlinks) stop at rootfd, so a hostile
  // rootfs cannot redirect a mount target to the host. Magic links (/proc/self/...) are refused.
  return sys_openat2(rootfd, path, O_PATH | O_CLOEXEC | extra_flags,
                     RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
}

void cloexec_from(int first) {
  if (sys_close_range_cloexec((unsigned)first) == 0) return;
  // Kernels before 5.11: walk a generous range instead.
  for (int fd = first; fd < 65536; fd++) {
    int fl = fcntl(fd, F_GETFD);
    if (fl >= 0) fcntl(fd, F_SETFD, fl | FD_CLOEXEC);
  }
}

void fd_path(Buf& b, int fd) {
  b.n = 0;
  b.s[0] = 0;
  b.add("/proc/self/fd/").add_int(fd);
}

int write_all(int fd, const void* data, size_t len) {
  const char* p = (const char*)data;
  while (len) {
    ssize_t w = write(fd, p, len);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    p += w;
    len -= (size_t)w;
  }
  return 0;
}

int send_fd(int sock, int fd, const char* payload, size_t len) {
  char cbuf[CMSG_SPACE(sizeof(int))] = {};
  struct iovec iov = {(void*)payload, len};
  struct msghdr m = {};
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  m.msg_control = cbuf;
  m.msg_controllen = sizeof cbuf;
  struct cmsghdr* c = CMSG_FIRSTHDR(&m);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(c), &fd, sizeof(int));
  ssize_t r;
  do {
    r = sendmsg(sock, &m, MSG_NOSIGNAL);
  } while (r < 0 && errno == EINTR);
  return r < 0 ? -1 : 0;
}

}  // namespace tsrun
