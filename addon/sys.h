// Async-signal-safe helpers for code that runs after clone() in a multi-threaded process:
// raw syscalls and fixed-buffer string work only. Nothing here allocates, locks or throws.
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

namespace tsrun {

// A fixed-capacity string on the stack; appends truncate instead of failing.
struct Buf {
  char s[4096];
  size_t n = 0;
  Buf() { s[0] = 0; }
  Buf& add(const char* t);
  Buf& add_int(long v);
  Buf& add_ch(char c);
  const char* c_str() const { return s; }
};

size_t str_len(const char* s);
int str_eq(const char* a, const char* b);

// Thin wrappers over syscalls that glibc 2.36 may not wrap.
int sys_openat2(int dirfd, const char* path, uint64_t flags, uint64_t resolve);
int sys_pivot_root(const char* new_root, const char* put_old);
int sys_close_range_cloexec(unsigned first);
int sys_capset(uint64_t effective, uint64_t permitted, uint64_t inheritable);
pid_t sys_fork();                     // fork without glibc's atfork handlers
pid_t sys_fork_into_cgroup(int cgroup_dir_fd);  // the same, born in a cgroup2 directory (clone3)
pid_t sys_clone_parent();             // a sibling: the new process's parent is our parent
int sys_pidfd_open(pid_t pid);        // close-on-exec pidfd (Linux 5.3); -1 and errno otherwise

// Open `path` (relative to the rootfs) below rootfd, never leaving it. O_PATH|O_CLOEXEC.
int open_in_root(int rootfd, const char* path, int extra_flags);

// Make every fd >= first close-on-exec (close_range, with a fallback for older kernels).
void cloexec_from(int first);

// "/proc/self/fd/N" for mounting onto an fd.
void fd_path(Buf& b, int fd);

// Write all bytes, retrying on EINTR and short writes.
int write_all(int fd, const void* data, size_t len);

// Send `fd` over a unix socket (SCM_RIGHTS) in one message whose payload is `payload` (runc
// sends a name: "/dev/ptmx" for a pty master, "pidfd"). 0, or -1 with errno set.
int send_fd(int sock, int fd, const char* payload, size_t len);

}  // namespace tsrun
