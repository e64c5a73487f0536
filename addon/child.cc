// The code that runs in the container's processes after clone().
//
// Node is multi-threaded, so after clone() only async-signal-safe work is allowed here: raw
// syscalls, fixed buffers, no malloc, no locks, no C++ exceptions, no JavaScript. Credential
// changes go through syscall() directly: glibc's setresuid() would try to signal the parent's
// other threads (its "setxid broadcast") and hang.
//
// Two stages, as in runc's nsexec:
//   stage 1 joins and creates namespaces (the user namespace first, so the parent can map it),
//           then forks stage 2 as a sibling (CLONE_PARENT) so that a new pid namespace applies
//           and the runtime process stays the parent of the container's init;
//   stage 2 is the container's init: mounts, pivot_root, process setup, wait for `start`, exec.
#include "child.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <linux/seccomp.h>
#include <linux/filter.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <net/if.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "exec_helper.h"
#include "proto.h"
#include "sys.h"
#include "tree_copy.h"

#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_RAISE 2
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#endif

namespace tsrun {
namespace {

// Static buffers: each child owns a private copy of these pages after clone().
char g_create_state[kMaxPayload + 1];  // state JSON for createContainer hooks
char g_start_state[kMaxPayload + 1];   // state JSON for startContainer hooks
char g_exe[4096];                      // argv[0] resolved on the container's PATH
int g_sync = -1;
int g_chroot_fd = -1;                  // exec without a mount namespace: the container's root
// After the parent committed the state it exits: errors then go to the container's stderr.
bool g_parent_gone = false;

[[noreturn]] void fail(int err, const char* what) {
  if (g_parent_gone) {
    Buf b;
    b.add("tsrun: ").add(what);
    if (err) b.add(": ").add(strerrordesc_np(err));
    b.add_ch('\n');
    write_all(2, b.s, b.n);
    _exit(err == ENOENT ? 127 : err == EACCES ? 126 : 1);
  }
  MsgHeader h = {MSG_ERROR, err, (int32_t)str_len(what), 0};
  struct iovec iov[2] = {{&h, sizeof h}, {(void*)what, (size_t)h.len}};
  struct msghdr m = {};
  m.msg_iov = iov;
  m.msg_iovlen = 2;
  sendmsg(g_sync, &m, MSG_NOSIGNAL);
  _exit(1);
}

// "<step> <path>" error texts, built on the stack.
[[noreturn]] void fail2(int err, const char* a, const char* b, const char* c = nullptr,
                        const char* d = nullptr) {
  Buf t;
  t.add(a).add(b).add(c).add(d);
  fail(err, t.c_str());
}

void send_msg(int32_t type, int32_t value, const char* payload = nullptr) {
  MsgHeader h = {type, value, (int32_t)str_len(payload), 0};
  struct iovec iov[2] = {{&h, sizeof h}, {(void*)payload, (size_t)h.len}};
  struct msghdr m = {};
  m.msg_iov = iov;
  m.msg_iovlen = payload ? 2 : 1;
  if (sendmsg(g_sync, &m, MSG_NOSIGNAL) < 0) _exit(1);  // the runtime is gone: give up quietly
}

// Wait for one message of `type`; its payload (if any) lands in `into`, NUL-terminated.
void expect_msg(int32_t type, char* into = nullptr) {
  static char buf[sizeof(MsgHeader) + kMaxPayload];
  ssize_t n;
  do {
    n = recv(g_sync, buf, sizeof buf, 0);
  } while (n < 0 && errno == EINTR);
  // EOF or a surprise means the runtime died or gave up on us: leave without a trace.
  if (n < (ssize_t)sizeof(MsgHeader)) _exit(1);
  MsgHeader h;
  memcpy(&h, buf, sizeof h);
  if (h.type != type) _exit(1);
  if (into) {
    size_t len = (size_t)n - sizeof h;
    memcpy(into, buf + sizeof h, len);
    into[len] = 0;
  }
}

void reset_signal_handlers() {
  struct sigaction sa = {};
  sa.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; sig++) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    sigaction(sig, &sa, nullptr);  // fails harmlessly for glibc's reserved signals
  }
}

// ---- paths inside the rootfs ------------------------------------------------------------

// Copy the next component of `*p` into `name`; skips empty and "." components.
bool next_component(const char** p, char* name, size_t cap) {
  const char* s = *p;
  for (;;) {
    while (*s == '/') s++;
    if (!*s) return false;
    size_t n = 0;
    while (s[n] && s[n] != '/') n++;
    if (n == 1 && s[0] == '.') {
      s += 1;
      continue;
    }
    size_t c = n < cap - 1 ? n : cap - 1;
    memcpy(name, s, c);
    name[c] = 0;
    *p = s + n;
    return true;
  }
}

// Open `rel` inside the rootfs, creating missing directories (and the last component as a
// file when `file_target`) without ever following a link out of the rootfs. A component that
// is a dangling symlink is followed, inside the rootfs, and what it points to is created (as
// runc's SecureJoin + MkdirAll do): images have links like /var/run -> /run without /run, and
// a hostile one may point a mount target at a host path, which then lands inside the rootfs.
int ensure_path(int rootfd, const char* rel, bool file_target, mode_t dir_mode = 0755) {
  int fd = open_in_root(rootfd, rel, 0);
  if (fd >= 0) return fd;
  if (errno != ENOENT) fail2(errno, "open ", rel, " in rootfs");

  Buf todo;  // the path still to make; rewritten when a dangling link is met
  todo.add(rel);
  for (int links = 0;; links++) {
    if (links > 40) fail2(ELOOP, "open ", rel, " in rootfs");
    Buf prefix;
    char name[256];
    const char* p = todo.s;
    int parent = fcntl(rootfd, F_DUPFD_CLOEXEC, 3);
    if (parent < 0) fail(errno, "dup rootfs fd");
    bool followed = false;
    while (next_component(&p, name, sizeof name)) {
      size_t parent_len = prefix.n;
      prefix.add_ch('/').add(name);
      const char* rest = p;
      char dummy[2];
      bool last = !next_component(&rest, dummy, sizeof dummy);
      fd = open_in_root(rootfd, prefix.c_str(), 0);
      if (fd < 0 && errno == ENOENT) {
        char link[4096];
        ssize_t n = readlinkat(parent, name, link, sizeof link - 1);
        if (n >= 0) {
          // Start again from the link's target (a relative one from the link's directory);
          // every step is resolved in the root again, so ".." and "/" cannot leave it.
          link[n] = 0;
          Buf next;
          if (link[0] != '/') {
            for (size_t i = 0; i < parent_len; i++) next.add_ch(prefix.s[i]);
            next.add_ch('/');
          }
          next.add(link).add(p);
          todo = next;
          close(parent);
          followed = true;
          break;
        }
        int r;
        if (last && file_target) {
          r = openat(parent, name, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0644);
          if (r >= 0) close(r);
        } else {
          r = mkdirat(parent, name, dir_mode);
        }
        if (r < 0 && errno != EEXIST) fail2(errno, "create ", prefix.c_str(), " in rootfs");
        fd = open_in_root(rootfd, prefix.c_str(), 0);
      }
      if (fd < 0) fail2(errno, "open ", prefix.c_str(), " in rootfs");
      close(parent);
      parent = fd;
    }
    if (!followed) return parent;
  }
}

// Split "/a/b/c" into the directory "/a/b" and the name "c".
void split_last(const char* path, Buf& dir, char* base, size_t cap) {
  size_t n = str_len(path);
  while (n > 1 && path[n - 1] == '/') n--;
  size_t slash = n;
  while (slash > 0 && path[slash - 1] != '/') slash--;
  size_t blen = n - slash < cap - 1 ? n - slash : cap - 1;
  memcpy(base, path + slash, blen);
  base[blen] = 0;
  dir.n = 0;
  dir.s[0] = 0;
  for (size_t i = 0; i < slash; i++) dir.add_ch(path[i]);
  if (dir.n == 0) dir.add("/");
}

// Mount flags that a bind remount must keep: in a user namespace the kernel refuses to
// clear nosuid/nodev/noexec/ro/atime flags locked by the mount's original owner.
unsigned long locked_flags(const char* path) {
  struct statfs st;
  if (statfs(path, &st) != 0) return 0;
  unsigned long f = 0;
  if (st.f_flags & ST_NOSUID) f |= MS_NOSUID;
  if (st.f_flags & ST_NODEV) f |= MS_NODEV;
  if (st.f_flags & ST_NOEXEC) f |= MS_NOEXEC;
  if (st.f_flags & ST_NOATIME) f |= MS_NOATIME;
  if (st.f_flags & ST_NODIRATIME) f |= MS_NODIRATIME;
  if (st.f_flags & ST_RELATIME) f |= MS_RELATIME;
  return f;
}

int remount_bind(const char* path, unsigned long flags) {
  int r = mount("", path, nullptr, MS_REMOUNT | MS_BIND | flags, nullptr);
  if (r != 0 && errno == EPERM) r = mount("", path, nullptr, MS_REMOUNT | MS_BIND | flags | locked_flags(path), nullptr);
  return r;
}

// A new network namespace starts with "lo" down; runc brings it up.
void loopback_up() {
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) fail(errno, "socket for lo");
  struct ifreq ifr = {};
  memcpy(ifr.ifr_name, "lo", 3);
  if (ioctl(s, SIOCGIFFLAGS, &ifr) != 0) fail(errno, "get flags of lo");
  ifr.ifr_flags |= IFF_UP;
  if (ioctl(s, SIOCSIFFLAGS, &ifr) != 0) fail(errno, "bring lo up");
  close(s);
}

// ---- rootfs setup ----------------------------------------------------------------------

// An idmapped bind mount (mounts[].uidMappings/gidMappings, idmap/ridmap): the runtime made a
// detached, idmapped copy of the source before clone (userns.cc: only it holds CAP_SYS_ADMIN
// over the source's filesystem once we are in a user namespace); it moves onto the target.
void idmapped_bind(const MountOp& op, int target_fd) {
  if (syscall(SYS_move_mount, op.idmap_tree, "", target_fd, "", 0x00000004 | 0x00000040 /* MOVE_MOUNT_F_EMPTY_PATH | T_EMPTY_PATH */) != 0)
    fail2(errno, "move idmapped mount ", op.source, " on ", op.target);
  close(op.idmap_tree);
}

void do_mount_op(int rootfd, const MountOp& op) {
  Buf target;
  if (op.kind == OP_MKDIR) {
    close(ensure_path(rootfd, op.target, false, op.mode));
    return;
  }
  if (op.kind == OP_SYMLINK || (op.kind == OP_MKNOD && !op.bind_device)) {
    Buf dir;
    char base[256];
    split_last(op.target, dir, base, sizeof base);
    int dfd = ensure_path(rootfd, dir.c_str(), false);
    if (op.kind == OP_SYMLINK) {
      if (symlinkat(op.source, dfd, base) != 0 && errno != EEXIST)
        fail2(errno, "symlink ", op.target, " -> ", op.source);
    } else {
      if (mknodat(dfd, base, op.mode, op.dev) != 0 && errno != EEXIST)
        fail2(errno, "mknod ", op.target);
      if (fchownat(dfd, base, op.uid, op.gid, AT_SYMLINK_NOFOLLOW) != 0)
        fail2(errno, "chown ", op.target);
    }
    close(dfd);
    return;
  }

  // OP_MOUNT, OP_BIND and device binds: mount onto the fd of the resolved target.
  mode_t old_mode = 0;
  if (op.copy_mode) {
    int ofd = open_in_root(rootfd, op.target, 0);
    struct stat st;
    if (ofd >= 0 && fstat(ofd, &st) == 0) old_mode = st.st_mode & 07777;
    if (ofd >= 0) close(ofd);
  }
  int tfd = ensure_path(rootfd, op.target, op.file_target || op.kind == OP_MKNOD);
  // tmpcopyup: hold the directory the mount is about to cover; it stays readable through
  // this fd once covered, and its contents are copied into the new mount below.
  int covered = -1;
  if (op.copy_up) {
    covered = sys_openat2(rootfd, op.target, O_RDONLY | O_DIRECTORY | O_CLOEXEC, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
    if (covered < 0) fail2(errno, "open ", op.target, " to copy up");
  }
  fd_path(target, tfd);
  const char* src = op.source && *op.source ? op.source : op.fstype;
  if (op.kind == OP_MKNOD) {
    if (mount(op.source, target.c_str(), nullptr, MS_BIND, nullptr) != 0)
      fail2(errno, "bind device ", op.source, " on ", op.target);
  } else if (op.kind == OP_BIND && op.idmap_tree >= 0) {
    idmapped_bind(op, tfd);
  } else if (mount(op.source, target.c_str(), op.kind == OP_BIND ? nullptr : op.fstype, op.flags,
                   op.data && *op.data ? op.data : nullptr) != 0) {
    fail2(errno, "mount ", src, " on ", op.target);
  }
  close(tfd);
  if (old_mode) {
    tfd = open_in_root(rootfd, op.target, 0);
    if (tfd < 0) fail2(errno, "reopen ", op.target);
    fd_path(target, tfd);
    if (chmod(target.c_str(), old_mode) != 0) fail2(errno, "chmod ", op.target);
    close(tfd);
  }
  if (covered >= 0) {
    int top = sys_openat2(rootfd, op.target, O_RDONLY | O_DIRECTORY | O_CLOEXEC, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
    if (top < 0) fail2(errno, "open ", op.target, " to copy up");
    char entry[256];
    if (copy_tree(covered, top, entry, sizeof entry) != 0) fail2(errno, "copy up ", op.target, ": ", entry);
    close(top);
    close(covered);
  }
  if (!op.remount && !op.npropagation) return;
  // Reopen: the new mount now covers the path, and flags apply to it, not to what it hides.
  tfd = open_in_root(rootfd, op.target, 0);
  if (tfd < 0) fail2(errno, "reopen ", op.target);
  fd_path(target, tfd);
  if (op.remount && remount_bind(target.c_str(), op.remount) != 0)
    fail2(errno, "remount ", op.target);
  for (int i = 0; i < op.npropagation; i++)
    if (mount("", target.c_str(), nullptr, op.propagation[i], nullptr) != 0)
      fail2(errno, "set propagation of ", op.target);
  close(tfd);
}

// No mount namespace: the container shares the runtime's mount table. Its root is a copy of
// the rootfs tree, made rslave while still detached and only then moved onto the runtime's
// empty directory (the host's mounts keep their propagation): nothing mounted under it reaches
// the mounts the rootfs came from, and where that directory's mount is shared, the copies the
// kernel propagates to its peers are peers of ours, so that the one lazy unmount of it at
// delete (container/store.ts) takes them too.
int bind_root_copy(const Plan* p) {
  int tree = (int)syscall(SYS_open_tree, AT_FDCWD, p->rootfs, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
  if (tree < 0) fail2(errno, "bind rootfs ", p->rootfs);
  struct mount_attr attr = {};
  attr.propagation = MS_SLAVE;
  if (syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof attr) != 0)
    fail2(errno, "make the rootfs copy rslave ", p->rootfs);
  if (syscall(SYS_move_mount, tree, "", AT_FDCWD, p->root_mount, MOVE_MOUNT_F_EMPTY_PATH) != 0)
    fail2(errno, "bind rootfs on ", p->root_mount);
  close(tree);
  int rootfd = open(p->root_mount, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (rootfd < 0) fail2(errno, "open rootfs ", p->root_mount);
  return rootfd;
}

int prepare_rootfs(const Plan* p) {
  if (p->root_mount) {
    int rootfd = bind_root_copy(p);
    for (int i = 0; i < p->nops; i++) do_mount_op(rootfd, p->ops[i]);
    return rootfd;
  }
  if (p->root_propagation && mount("", "/", nullptr, p->root_propagation, nullptr) != 0)
    fail(errno, "set propagation of /");
  // pivot_root refuses a new root whose parent mount is shared: with a shared root
  // propagation, make the mount holding the rootfs private first (runc does the same).
  if (p->private_parent && mount("", p->private_parent, nullptr, MS_PRIVATE, nullptr) != 0)
    fail2(errno, "make parent mount private ", p->private_parent);
  // pivot_root needs the new root to be a mount point: bind the rootfs onto itself.
  if (mount(p->rootfs, p->rootfs, nullptr, MS_BIND | MS_REC, nullptr) != 0)
    fail2(errno, "bind rootfs ", p->rootfs);
  int rootfd = open(p->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (rootfd < 0) fail2(errno, "open rootfs ", p->rootfs);
  for (int i = 0; i < p->nops; i++) do_mount_op(rootfd, p->ops[i]);
  return rootfd;
}

void enter_root(const Plan* p, int rootfd) {
  if (p->root_mount) {
    // The runtime's mount namespace: no pivot_root (it would swap the host's root), a chroot.
    if (fchdir(rootfd) != 0) fail(errno, "chdir to rootfs");
    if (chroot(".") != 0) fail(errno, "chroot");
  } else if (p->no_pivot) {
    // --no-pivot (e.g. a ramfs root where pivot_root is impossible): move and chroot.
    if (fchdir(rootfd) != 0) fail(errno, "chdir to rootfs");
    if (mount(p->rootfs, "/", nullptr, MS_MOVE, nullptr) != 0) fail(errno, "move rootfs to /");
    if (chroot(".") != 0) fail(errno, "chroot");
  } else {
    int oldroot = open("/", O_DIRECTORY | O_RDONLY | O_CLOEXEC);
    if (oldroot < 0) fail(errno, "open /");
    if (fchdir(rootfd) != 0) fail(errno, "chdir to rootfs");
    // pivot_root(".", ".") stacks the old root on top of the new one; then detach it.
    if (sys_pivot_root(".", ".") != 0) fail(errno, "pivot_root");
    if (fchdir(oldroot) != 0) fail(errno, "chdir to old root");
    // Make the old root a slave first so the detach cannot propagate to the host.
    if (mount("", ".", nullptr, MS_SLAVE | MS_REC, nullptr) != 0) fail(errno, "make old root rslave");
    if (umount2(".", MNT_DETACH) != 0) fail(errno, "unmount old root");
    close(oldroot);
  }
  if (chdir("/") != 0) fail(errno, "chdir /");
  close(rootfd);
}

void write_file(const char* path, const char* value, const char* what) {
  int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) fail2(errno, what, path);
  if (write_all(fd, value, str_len(value)) != 0) fail2(errno, what, path);
  close(fd);
}

void apply_paths(const Plan* p) {
  int root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (root < 0) fail(errno, "open /");
  Buf fdp;
  for (const char** r = p->readonly; r && *r; r++) {
    int fd = open_in_root(root, *r, 0);
    if (fd < 0) {
      if (errno == ENOENT) continue;
      fail2(errno, "open readonly path ", *r);
    }
    fd_path(fdp, fd);
    if (mount(fdp.c_str(), fdp.c_str(), nullptr, MS_BIND | MS_REC, nullptr) != 0)
      fail2(errno, "bind readonly path ", *r);
    close(fd);
    fd = open_in_root(root, *r, 0);
    if (fd < 0) fail2(errno, "reopen readonly path ", *r);
    fd_path(fdp, fd);
    if (remount_bind(fdp.c_str(), MS_RDONLY | MS_REC) != 0) fail2(errno, "remount readonly path ", *r);
    close(fd);
  }
  // The null device that masks files, opened once and checked as an fd: masking with a
  // /dev/null that the image (or a racing container process) replaced, e.g. by a link to
  // /proc/sys/kernel/core_pattern, would expose instead of hide (CVE-2025-31133).
  int null_fd = -1;
  Buf null_path;
  for (const char** m = p->masked; m && *m; m++) {
    int fd = open_in_root(root, *m, 0);
    if (fd < 0) {
      if (errno == ENOENT) continue;
      fail2(errno, "open masked path ", *m);
    }
    struct stat st;
    if (fstat(fd, &st) != 0) fail2(errno, "stat masked path ", *m);
    fd_path(fdp, fd);
    if (S_ISDIR(st.st_mode)) {
      if (mount("tmpfs", fdp.c_str(), "tmpfs", MS_RDONLY, nullptr) != 0)
        fail2(errno, "mask ", *m);
    } else {
      if (null_fd < 0) {
        null_fd = open_in_root(root, "/dev/null", 0);
        struct stat ns;
        if (null_fd < 0 || fstat(null_fd, &ns) != 0 || !S_ISCHR(ns.st_mode) || ns.st_rdev != makedev(1, 3))
          fail(EINVAL, "/dev/null is not the null device: cannot mask paths");
        fd_path(null_path, null_fd);
      }
      if (mount(null_path.c_str(), fdp.c_str(), nullptr, MS_BIND, nullptr) != 0) fail2(errno, "mask ", *m);
    }
    close(fd);
  }
  if (null_fd >= 0) close(null_fd);
  close(root);
}

// ---- the last exec -------------------------------------------------------------------

// Every exec into the container goes through the sealed exec helper (exec_helper.h), so that
// the kernel never has the runtime's own binary, the host's node, to run as /proc/self/exe.
// `argv` starts with the helper's kHelperArgs slots. Returns only on failure (errno set).
void exec_through_helper(int helper, char* const* argv, char* const* envp) {
  syscall(SYS_execveat, helper, "", argv, envp, AT_EMPTY_PATH);
}

// ---- hooks run by init (createContainer, startContainer) --------------------------------

long now_ms() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void run_hooks(const Hook* hooks, int n, const char* state, const char* kind, int helper) {
  for (int i = 0; i < n; i++) {
    const Hook& h = hooks[i];
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) != 0) fail(errno, "pipe for hook");
    pid_t pid = sys_fork();
    if (pid < 0) fail(errno, "fork hook");
    if (pid == 0) {
      dup2(pfd[0], 0);
      exec_through_helper(helper, h.argv, h.envp);
      _exit(127);
    }
    close(pfd[0]);
    write_all(pfd[1], state, str_len(state));  // SIGPIPE is blocked: a hook that ignores stdin is fine
    close(pfd[1]);
    long deadline = h.timeout_sec > 0 ? now_ms() + h.timeout_sec * 1000L : 0;
    int status = 0;
    for (;;) {
      pid_t r = waitpid(pid, &status, WNOHANG);
      if (r == pid) break;
      if (r < 0 && errno != EINTR) fail(errno, "wait for hook");
      if (deadline && now_ms() >= deadline) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        Buf t;
        t.add("error running ").add(kind).add(" hook #").add_int(i).add(" (").add(h.path).add("): timed out after ")
            .add_int(h.timeout_sec).add("s");
        fail(0, t.c_str());
      }
      struct timespec ts = {0, 1000000};
      nanosleep(&ts, nullptr);
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      Buf t;
      t.add("error running ").add(kind).add(" hook #").add_int(i).add(" (").add(h.path).add("): ");
      if (WIFEXITED(status)) {
        t.add("exit status ").add_int(WEXITSTATUS(status));
        if (WEXITSTATUS(status) == 127) t.add(" (could not be executed)");
      } else {
        t.add("signal: ").add_int(WTERMSIG(status));
      }
      fail(0, t.c_str());
    }
  }
}

// ---- the process -----------------------------------------------------------------------

// 0 when `path` is an executable file, else the errno exec would give (as Go's LookPath).
int exec_error(const char* path) {
  struct stat st;
  if (stat(path, &st) != 0) return errno;
  return S_ISREG(st.st_mode) && (st.st_mode & 0111) ? 0 : EACCES;
}

bool is_executable(const char* path) { return exec_error(path) == 0; }

// Resolve argv[0] like Go's exec.LookPath (what runc does): names with a slash are used as
// they are; others are searched on the process's PATH.
void resolve_exe(const Plan* p) {
  const char* name = p->argv[0];
  bool has_slash = false;
  for (const char* c = name; *c; c++) has_slash |= *c == '/';
  if (has_slash) {
    if (int err = exec_error(name)) fail2(err, "exec: \"", name, "\"");
    Buf b;
    b.add(name);
    memcpy(g_exe, b.s, b.n + 1);
    return;
  }
  const char* path = p->path_env ? p->path_env : "";
  const char* s = path;
  for (;;) {
    const char* e = s;
    while (*e && *e != ':') e++;
    Buf cand;
    if (e == s) cand.add(".");
    for (const char* c = s; c < e; c++) cand.add_ch(*c);
    cand.add_ch('/').add(name);
    if (is_executable(cand.c_str())) {
      memcpy(g_exe, cand.s, cand.n + 1);
      return;
    }
    if (!*e) break;
    s = e + 1;
  }
  fail2(0, "exec: \"", name, "\": executable file not found in $PATH");
}

void set_rlimits(const Plan* p) {
  for (int i = 0; i < p->nrlimits; i++) {
    struct rlimit rl = {(rlim_t)p->rlimits[i].soft, (rlim_t)p->rlimits[i].hard};
    if (setrlimit((__rlimit_resource)p->rlimits[i].resource, &rl) != 0) {
      Buf t;
      t.add("setrlimit ").add_int(p->rlimits[i].resource);
      fail(errno, t.c_str());
    }
  }
}

// process.scheduler and process.ioPriority, set before the capabilities go (a real-time
// policy needs CAP_SYS_NICE), as runc does; exec'd processes inherit both.
void set_scheduling(const Plan* p) {
  if (p->sched_set) {
    struct {  // struct sched_attr, SCHED_ATTR_SIZE_VER0 (glibc 2.36 has no wrapper)
      uint32_t size, policy;
      uint64_t flags;
      int32_t nice;
      uint32_t priority;
      uint64_t runtime, deadline, period;
    } attr = {48, p->sched_policy, p->sched_flags, p->sched_nice, p->sched_priority,
              p->sched_runtime, p->sched_deadline, p->sched_period};
    if (syscall(SYS_sched_setattr, 0, &attr, 0) != 0) fail(errno, "set scheduler (process.scheduler)");
  }
  if (p->ioprio >= 0 && syscall(SYS_ioprio_set, 1 /* IOPRIO_WHO_PROCESS */, 0, p->ioprio) != 0)
    fail(errno, "set I/O priority (process.ioPriority)");
}

// Make a pty inside the container's devpts and hand its master to the console socket.
void setup_console(const Plan* p) {
  int master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (master < 0) fail(errno, "open /dev/ptmx");
  int unlock = 0;
  if (ioctl(master, TIOCSPTLCK, &unlock) != 0) fail(errno, "unlock pty");
  int slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (slave < 0) fail(errno, "open pty slave");
  int ptn = 0;
  if (ioctl(master, TIOCGPTN, &ptn) != 0) fail(errno, "get pty number");
  Buf name;
  name.add("/dev/pts/").add_int(ptn);
  if (p->console_rows && p->console_cols) {
    struct winsize ws = {p->console_rows, p->console_cols, 0, 0};
    if (ioctl(master, TIOCSWINSZ, &ws) != 0) fail(errno, "set console size");
  }
  if (p->setup_rootfs) {
    // The container's /dev/console is its init's pty, as runc does (not for exec'd processes).
    int cfd = open("/dev/console", O_PATH | O_CLOEXEC | O_NOFOLLOW);
    if (cfd < 0) {
      int f = open("/dev/console", O_CREAT | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0600);
      if (f >= 0) close(f);
    } else {
      close(cfd);
    }
    mount(name.c_str(), "/dev/console", nullptr, MS_BIND, nullptr);  // best effort
  }
  for (int fd = 0; fd < 3; fd++)
    if (dup2(slave, fd) < 0) fail(errno, "dup pty slave");
  close(slave);
  if (ioctl(0, TIOCSCTTY, 0) != 0) fail(errno, "set controlling terminal");
  // SCM_RIGHTS with the master's file name as payload, exactly what runc sends.
  static const char kMasterName[] = "/dev/ptmx";
  if (send_fd(p->console_socket, master, kMasterName, sizeof kMasterName - 1) != 0)
    fail(errno, "send pty master to console socket");
  close(master);
  close(p->console_socket);
}

void set_credentials(const Plan* p) {
  if (p->set_caps) {
    if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0) fail(errno, "keep capabilities");
    for (int cap = 0; cap <= p->last_cap; cap++)
      if (!(p->cap_bounding & (1ULL << cap)) && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL)
        fail(errno, "drop bounding capability");
  }
  if (p->set_groups && syscall(SYS_setgroups, p->ngroups, p->groups) != 0) fail(errno, "setgroups");
  if (syscall(SYS_setresgid, p->gid, p->gid, p->gid) != 0) {
    Buf t;
    t.add("setgid ").add_int(p->gid);
    fail(errno, t.c_str());
  }
  if (syscall(SYS_setresuid, p->uid, p->uid, p->uid) != 0) {
    Buf t;
    t.add("setuid ").add_int(p->uid);
    fail(errno, t.c_str());
  }
  if (p->set_caps) {
    prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
    if (sys_capset(p->cap_effective, p->cap_permitted, p->cap_inheritable) != 0) fail(errno, "capset");
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
    // A cap missing from the permitted or inheritable set cannot be ambient; runc skips
    // those silently (its default spec lists ambient caps without inheritable ones).
    for (int cap = 0; cap <= p->last_cap; cap++)
      if ((p->cap_ambient & (1ULL << cap)) && prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) != 0 &&
          errno != EPERM && errno != EINVAL)
        fail(errno, "raise ambient capability");
  }
}

void check_cwd_inside_root() {
  // After chdir, a cwd that is not below "/" (e.g. reached through a leaked host fd) is
  // reported by the kernel as "(unreachable)...": refuse it (CVE-2024-21626).
  char buf[4096];
  long r = syscall(SYS_getcwd, buf, sizeof buf);
  if (r < 0) fail(errno, "getcwd");
  if (buf[0] != '/') fail(0, "current working directory is outside of container mount namespace root -- possible container breakout detected");
}

bool g_seccomp_loaded = false;

void load_seccomp(const Plan* p) {
  if (!p->seccomp_filter || g_seccomp_loaded) return;
  struct sock_fprog prog = {(unsigned short)p->seccomp_len, (struct sock_filter*)p->seccomp_filter};
  long r = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, p->seccomp_flags, &prog);
  if (r < 0) fail(errno, "load seccomp filter");
  g_seccomp_loaded = true;
  if (!(p->seccomp_flags & kSeccompNewListener)) return;
  // The listener, for the seccomp agent: the runtime listens (before MSG_READY for init, until
  // the exec for an exec'd process). This sendmsg is the first syscall under the filter, which
  // is why a profile may not notify it (seccomp/profile.ts).
  int listener = (int)r;
  MsgHeader h = {MSG_SECCOMP_FD, 0, 0, 0};
  if (send_fd(g_sync, listener, (const char*)&h, sizeof h) != 0) fail(errno, "send the seccomp listener to the runtime");
  close(listener);
}

// The container's NUMA policy and, for exec, the CPUs the process ends on (both kept across
// fork and exec), set before reporting ready so that a value the kernel refuses fails the
// create or exec that asked for it.
void set_numa_and_cpus(const Plan* p) {
  if (p->mempolicy_set) {
    bool any = false;
    for (unsigned long w : p->mempolicy_nodes) any |= w != 0;
    long r = any ? syscall(SYS_set_mempolicy, p->mempolicy_mode, p->mempolicy_nodes, (unsigned long)(sizeof p->mempolicy_nodes * 8 + 1))
                 : syscall(SYS_set_mempolicy, p->mempolicy_mode, nullptr, 0UL);
    if (r != 0) fail(errno, "set memory policy (linux.memoryPolicy)");
  }
  if (p->cpus_final_set && syscall(SYS_sched_setaffinity, 0, sizeof p->cpus_final, p->cpus_final) != 0)
    fail(errno, "set CPU affinity (process.execCPUAffinity.final)");
}

[[noreturn]] void exec_process(const Plan* p) {
  // The AppArmor profile / SELinux label for the exec, while we still hold every capability
  // and before no_new_privs and seccomp (runc's order).
  for (int i = 0; i < p->nexec_attrs; i++) write_file(p->exec_attrs[i].path, p->exec_attrs[i].value, p->exec_attrs[i].what);
  // runc's order: without no_new_privs, loading a filter needs CAP_SYS_ADMIN, so it goes in
  // while we still hold it, before the user and capabilities change (the rest of the setup
  // then runs under the filter, as in runc); with no_new_privs it goes in last, below. (Init
  // loaded a notifying filter already: seccomp_loaded_before_ready.)
  if (!p->no_new_privs) load_seccomp(p);
  set_credentials(p);
  umask(p->umask >= 0 ? (mode_t)p->umask : 022);
  if (chdir(p->cwd) != 0) fail2(errno, "chdir to cwd (\"", p->cwd, "\") set in config.json");
  check_cwd_inside_root();
  if (p->personality >= 0 && personality((unsigned long)p->personality) < 0) fail(errno, "personality");
  if (p->no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) fail(errno, "set no_new_privs");
  // stdio and the preserved fds (3..3+n-1) stay open (Node may have marked its stdio
  // close-on-exec); everything else the runtime holds is closed by exec.
  for (int fd = 0; fd < 3 + p->preserve_fds; fd++) {
    int fl = fcntl(fd, F_GETFD);
    if (fl >= 0) fcntl(fd, F_SETFD, fl & ~FD_CLOEXEC);
  }
  cloexec_from(3 + p->preserve_fds);
  // The helper gets two fds across its own exec, and makes the sync socket close-on-exec
  // again first: the socket, to report a failed exec while the runtime still listens; the
  // filter (no_new_privs), to load it as late as possible, so that it sees only the exec.
  static char sync_arg[16], filter_arg[16];
  int sync = g_parent_gone ? -1 : g_sync;
  int filter = g_seccomp_loaded ? -1 : p->seccomp_fd;
  Buf b;
  b.add_int(sync);
  memcpy(sync_arg, b.s, b.n + 1);
  b = Buf();
  b.add_int(filter);
  memcpy(filter_arg, b.s, b.n + 1);
  if (sync >= 0) fcntl(sync, F_SETFD, 0);
  if (filter >= 0) fcntl(filter, F_SETFD, 0);
  p->exec_argv[0] = (char*)kHelperArgv0;
  p->exec_argv[1] = sync_arg;
  p->exec_argv[2] = filter_arg;
  p->exec_argv[3] = g_exe;
  exec_through_helper(p->exec_helper, p->exec_argv, p->envp);
  int err = errno;
  if (sync >= 0) fcntl(sync, F_SETFD, FD_CLOEXEC);
  // A filter loaded already (no no_new_privs, or notifying) that refuses execveat is the likely cause.
  fail2(err, "exec ", g_exe, g_seccomp_loaded ? " through tsrun's exec helper (execveat)" : " through tsrun's exec helper");
}

[[noreturn]] void run_init(const Plan* p) {
  expect_msg(MSG_GO, g_create_state);
  umask(0);  // device nodes and mount points get exactly the modes the plan says
  if (p->setsid && setsid() < 0) fail(errno, "setsid");
  if (p->loopback_up) loopback_up();
  // A fresh session keyring, so that the container cannot reach the host's keys (runc does
  // the same unless --no-new-keyring). Kernels without keyrings are fine.
  if (p->session_keyring && syscall(SYS_keyctl, 1 /* KEYCTL_JOIN_SESSION_KEYRING */, p->session_keyring) < 0 &&
      errno != ENOSYS)
    fail(errno, "join a new session keyring");
  if (p->hostname && sethostname(p->hostname, str_len(p->hostname)) != 0)
    fail2(errno, "sethostname ", p->hostname);
  if (p->domainname && setdomainname(p->domainname, str_len(p->domainname)) != 0)
    fail2(errno, "setdomainname ", p->domainname);

  int rootfd = prepare_rootfs(p);
  if (p->pause_for_runtime_hooks) {
    send_msg(MSG_RUNTIME_HOOKS, 0);
    expect_msg(MSG_HOOKS_DONE);
  }
  run_hooks(p->create_container_hooks, p->ncreate_container_hooks, g_create_state, "createContainer", p->exec_helper);

  // The exec fifo lives in the runtime's state dir on the host: open it before leaving.
  // O_RDWR never blocks; `start` writes one byte, which is what we wait for below.
  int fifo = -1;
  if (p->fifo_path) {
    fifo = open(p->fifo_path, O_RDWR | O_CLOEXEC);
    if (fifo < 0) fail2(errno, "open exec fifo ", p->fifo_path);
  }
  enter_root(p, rootfd);
  for (int i = 0; i < p->nsysctls; i++) write_file(p->sysctls[i].path, p->sysctls[i].value, "write sysctl ");
  apply_paths(p);
  if (p->readonly_root && remount_bind("/", MS_RDONLY) != 0) fail(errno, "remount / read-only");
  // Last, so that the read-only and masked paths could still be bound from an unbindable root.
  if (p->final_root_propagation && mount("", "/", nullptr, p->final_root_propagation, nullptr) != 0)
    fail(errno, "set propagation of / (rootfsPropagation)");
  if (p->console_socket >= 0) setup_console(p);
  set_rlimits(p);
  set_scheduling(p);
  if (chdir(p->cwd) != 0) fail2(errno, "chdir to cwd (\"", p->cwd, "\") set in config.json");
  resolve_exe(p);

  // From here on processes of the container (e.g. one exec'd into it while it waits for
  // `start`) can see this one: keep them from opening the runtime's binary through
  // /proc/1/exe (CVE-2019-5736). exec() makes the user process dumpable again.
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) fail(errno, "make init non-dumpable");
  set_numa_and_cpus(p);
  if (seccomp_loaded_before_ready(*p)) load_seccomp(p);
  send_msg(MSG_READY, 0);
  expect_msg(MSG_COMMIT, g_start_state);
  g_parent_gone = true;
  if (fifo >= 0) {
    char c;
    ssize_t n;
    do {
      n = read(fifo, &c, 1);
    } while (n < 0 && errno == EINTR);
    // Left open (close-on-exec) until the exec: `start` waits for the fifo to lose its last
    // reader before it runs poststart hooks, which come after the user process is executed.
  }
  run_hooks(p->start_container_hooks, p->nstart_container_hooks, g_start_state, "startContainer", p->exec_helper);
  exec_process(p);
}

// `exec`: stage 1 joined every namespace of the running container (its mount namespace put
// us at the container's root) and its cgroup. Only the process setup is left. The runtime
// keeps listening after MSG_COMMIT, so that a failing exec still reaches it as an error;
// a successful exec closes the (close-on-exec) sync socket instead.
[[noreturn]] void run_exec(const Plan* p) {
  expect_msg(MSG_GO);
  if (g_chroot_fd >= 0) {
    if (fchdir(g_chroot_fd) != 0) fail2(errno, "chdir to the container's root ", p->chroot_path);
    if (chroot(".") != 0) fail(errno, "chroot to the container's root");
    close(g_chroot_fd);
    g_chroot_fd = -1;
  }
  if (p->setsid && setsid() < 0) fail(errno, "setsid");
  if (p->console_socket >= 0) setup_console(p);
  set_rlimits(p);
  set_scheduling(p);
  if (chdir(p->cwd) != 0) fail2(errno, "chdir to cwd (\"", p->cwd, "\") set in config.json");
  check_cwd_inside_root();
  resolve_exe(p);
  set_numa_and_cpus(p);
  send_msg(MSG_READY, 0);
  expect_msg(MSG_COMMIT);
  exec_process(p);
}

// Stage 1 enters the container's cgroups before it creates namespaces (a new cgroup namespace
// is rooted where its creator stands) and before it forks init (children inherit cgroups).
// Moving a process through cgroup.procs takes the kernel's global threadgroup lock for writing,
// and the first such write after a quiet spell waits for an RCU grace period (~10 ms). Neither
// way in here does: clone3 placed us in the cgroup2 directory at birth, and stage 1 is
// single-threaded, so writing "0" (this thread) to a v1 hierarchy's `tasks` moves all of it.
void join_cgroups(const Plan* p, bool in_cgroup2) {
  for (int i = 0; i < p->ncgroup_tasks; i++) {
    const CgroupTasks& t = p->cgroup_tasks[i];
    if (write(t.fd, "0", 1) != 1 && !p->cgroup_optional) fail2(errno, "join cgroup ", t.path);
    close(t.fd);
  }
  if (p->cgroup_procs >= 0) {
    // clone3 could not place us (an old kernel): fall back to the slow way in.
    if (!in_cgroup2 && write(p->cgroup_procs, "0", 1) != 1 && !p->cgroup_optional)
      fail2(errno, "join cgroup ", p->cgroup_path);
    close(p->cgroup_procs);
  }
  if (p->cgroup_dir >= 0) close(p->cgroup_dir);
}

}  // namespace

[[noreturn]] void run_stage1(const Plan* p, bool in_cgroup2) {
  g_sync = p->sync_fd;
  reset_signal_handlers();
  // Node's own fds are close-on-exec, but fds its caller leaked to it may not be: from here on
  // only stdio and the preserved fds may outlive an exec (the process's, or a hook's run
  // inside the container), so that no fd pointing at the host gets in (CVE-2024-21626).
  cloexec_from(3 + p->preserve_fds);
  // Joining a running container: the processes in it may look at us through /proc as soon as
  // we are in its pid namespace. Non-dumpable, /proc/PID/exe (the runtime's binary), fds and
  // memory stay closed to them (CVE-2019-5736); exec() resets it for the user process.
  if (!p->setup_rootfs && prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) fail(errno, "make the process non-dumpable");
  expect_msg(MSG_GO);
  join_cgroups(p, in_cgroup2);
  // Before any namespace is joined, while the host's /proc is the one we see.
  if (p->chroot_path) {
    g_chroot_fd = open(p->chroot_path, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (g_chroot_fd < 0) fail2(errno, "open the container's root ", p->chroot_path);
  }
  for (int i = 0; i < p->njoins; i++) {
    int fd = open(p->joins[i].path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) fail2(errno, "open namespace ", p->joins[i].path);
    if (setns(fd, p->joins[i].nstype) != 0) fail2(errno, "join namespace ", p->joins[i].path);
    close(fd);
  }
  bool joined_user = false;
  for (int i = 0; i < p->njoins; i++) joined_user |= p->joins[i].nstype == CLONE_NEWUSER;
  if (p->new_user) {
    if (unshare(CLONE_NEWUSER) != 0) fail(errno, "create user namespace");
    send_msg(MSG_USERNS_READY, 0);
    expect_msg(MSG_USERNS_MAPPED);
  }
  if (p->new_user || joined_user) {
    // Become the namespace's root so that the rest of the setup has its capabilities.
    if (syscall(SYS_setresgid, 0, 0, 0) != 0) fail(errno, "setgid 0 in user namespace");
    if (syscall(SYS_setresuid, 0, 0, 0) != 0) fail(errno, "setuid 0 in user namespace");
  }
  if (p->unshare_flags && unshare(p->unshare_flags) != 0) fail(errno, "create namespaces");
  if (p->timens_offsets) write_file("/proc/self/timens_offsets", p->timens_offsets, "write time offsets ");
  pid_t init = sys_clone_parent();
  if (init < 0) fail(errno, "clone init");
  if (init == 0) {
    if (p->setup_rootfs) run_init(p);
    run_exec(p);
  }
  send_msg(MSG_INIT_PID, init);
  _exit(0);
}

}  // namespace tsrun
