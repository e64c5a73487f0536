#include "tree_copy.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

namespace tsrun {
namespace {

// Deeper trees than this are refused rather than risking the stack (each level holds a
// getdents buffer); no image's /tmp or /run comes near it.
constexpr int kMaxDepth = 64;

struct linux_dirent64 {
  unsigned long long d_ino;
  long long d_off;
  unsigned short d_reclen;
  unsigned char d_type;
  char d_name[];
};

void note(char* where, unsigned len, const char* name) {
  unsigned i = 0;
  while (name && name[i] && i + 1 < len) where[i] = name[i], i++;
  if (len) where[i] = 0;
}

int copy_file(int src_dir, int dst_dir, const char* name, const struct stat& st) {
  int in = openat(src_dir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (in < 0) return -1;
  int out = openat(dst_dir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, st.st_mode & 07777);
  if (out < 0) {
    int e = errno;
    close(in);
    errno = e;
    return -1;
  }
  char buf[16384];
  int rc = 0;
  for (;;) {
    ssize_t n = read(in, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      rc = -1;
      break;
    }
    if (n == 0) break;
    for (ssize_t off = 0; off < n;) {
      ssize_t w = write(out, buf + off, (size_t)(n - off));
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) {
        rc = -1;
        break;
      }
      off += w;
    }
    if (rc) break;
  }
  // Owner first: chown clears setuid/setgid bits, which the chmod then restores.
  if (rc == 0 && (fchown(out, st.st_uid, st.st_gid) != 0 || fchmod(out, st.st_mode & 07777) != 0)) rc = -1;
  int e = errno;
  close(in);
  close(out);
  errno = e;
  return rc;
}

int copy_entry(int src_dir, int dst_dir, const char* name, char* where, unsigned where_len, int depth);

int copy_dir_contents(int src_dir, int dst_dir, char* where, unsigned where_len, int depth) {
  if (depth > kMaxDepth) {
    errno = ELOOP;
    return -1;
  }
  alignas(8) char buf[4096];
  for (;;) {
    long n = syscall(SYS_getdents64, src_dir, buf, sizeof buf);
    if (n < 0) return -1;
    if (n == 0) return 0;
    for (long off = 0; off < n;) {
      auto* d = reinterpret_cast<linux_dirent64*>(buf + off);
      off += d->d_reclen;
      const char* nm = d->d_name;
      if (nm[0] == '.' && (nm[1] == 0 || (nm[1] == '.' && nm[2] == 0))) continue;
      if (copy_entry(src_dir, dst_dir, nm, where, where_len, depth) != 0) return -1;
    }
  }
}

int copy_entry(int src_dir, int dst_dir, const char* name, char* where, unsigned where_len, int depth) {
  note(where, where_len, name);
  struct stat st;
  if (fstatat(src_dir, name, &st, AT_SYMLINK_NOFOLLOW) != 0) return -1;
  switch (st.st_mode & S_IFMT) {
    case S_IFDIR: {
      if (mkdirat(dst_dir, name, 0700) != 0 && errno != EEXIST) return -1;
      int s = openat(src_dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (s < 0) return -1;
      int d = openat(dst_dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (d < 0) {
        int e = errno;
        close(s);
        errno = e;
        return -1;
      }
      int rc = copy_dir_contents(s, d, where, where_len, depth + 1);
      if (rc == 0 && (fchown(d, st.st_uid, st.st_gid) != 0 || fchmod(d, st.st_mode & 07777) != 0)) rc = -1;
      int e = errno;
      close(s);
      close(d);
      errno = e;
      return rc;
    }
    case S_IFREG:
      return copy_file(src_dir, dst_dir, name, st);
    case S_IFLNK: {
      char target[4096];
      ssize_t n = readlinkat(src_dir, name, target, sizeof target - 1);
      if (n < 0) return -1;
      target[n] = 0;
      if (symlinkat(target, dst_dir, name) != 0) return -1;
      return fchownat(dst_dir, name, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW);
    }
    default:  // fifos, sockets, devices
      if (mknodat(dst_dir, name, st.st_mode, st.st_rdev) != 0) return -1;
      if (fchownat(dst_dir, name, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) != 0) return -1;
      return fchmodat(dst_dir, name, st.st_mode & 07777, 0);
  }
}

}  // namespace

int copy_tree(int src_dir, int dst_dir, char* where, unsigned where_len) {
  note(where, where_len, "");
  return copy_dir_contents(src_dir, dst_dir, where, where_len, 0);
}

}  // namespace tsrun
