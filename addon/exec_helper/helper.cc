// tsrun's exec helper: the last step between the runtime and the container's process.
// The contract (argv layout, why it exists) is in ../exec_helper.h.
//
// It runs with the credentials, namespaces, root and fds that the runtime's child left it, so
// all it does is: keep the sync socket from reaching the process, load a seccomp filter that
// must see nothing but the final execve (no_new_privs containers, as runc orders it) and hand
// its listener to the runtime if it has one (SCMP_ACT_NOTIFY), unblock signals, and exec. Anything unexpected ends it at once: the container can run it (through
// /proc/self/exe, say), and then it must do nothing a container process could not do itself.
//
// No C library: only the system calls below, all on the stack. Built static by binding.gyp.
#include <linux/errno.h>
#include <linux/fcntl.h>
#include <linux/filter.h>
#include <linux/mman.h>
#include <linux/seccomp.h>
#include <stddef.h>

#include "../exec_helper.h"
#include "../proto.h"
#include "arch.h"

using namespace tsrun;

namespace {


bool str_eq(const char* a, const char* b) {
  while (*a && *a == *b) a++, b++;
  return *a == *b;
}

// A decimal fd or "-1"; anything else is -2 (refused).
int parse_fd(const char* s) {
  if (str_eq(s, "-1")) return -1;
  if (!*s) return -2;
  long v = 0;
  for (; *s; s++) {
    if (*s < '0' || *s > '9' || v > 1 << 20) return -2;
    v = v * 10 + (*s - '0');
  }
  return (int)v;
}

struct Text {
  char s[4200];
  size_t n = 0;
  Text& add(const char* t) {
    while (*t && n < sizeof s - 1) s[n++] = *t++;
    s[n] = 0;
    return *this;
  }
};

// glibc's texts for what execve and seccomp can fail with, as the runtime's other messages.
const char* describe(int err) {
  switch (err) {
    case EPERM: return "Operation not permitted";
    case ENOENT: return "No such file or directory";
    case EIO: return "Input/output error";
    case E2BIG: return "Argument list too long";
    case ENOEXEC: return "Exec format error";
    case EBADF: return "Bad file descriptor";
    case ENOMEM: return "Cannot allocate memory";
    case EACCES: return "Permission denied";
    case EFAULT: return "Bad address";
    case ENOTDIR: return "Not a directory";
    case EISDIR: return "Is a directory";
    case EINVAL: return "Invalid argument";
    case ENFILE: return "Too many open files in system";
    case EMFILE: return "Too many open files";
    case ETXTBSY: return "Text file busy";
    case ENAMETOOLONG: return "File name too long";
    case ENOSYS: return "Function not implemented";
    case ELOOP: return "Too many levels of symbolic links";
    case ELIBBAD: return "Accessing a corrupted shared library";
    default: return "Unknown error";
  }
}

[[noreturn]] void exit_now(int code) {
  for (;;) sys6(__NR_exit_group, code);
}

// As the runtime's child reports: a MSG_ERROR record while the runtime listens, else a line
// on stderr and the shell's exit codes (127: not found, 126: not executable).
[[noreturn]] void fail(int sync, int err, const char* what, const char* arg = "") {
  Text t;
  t.add(what).add(arg);
  if (sync >= 0) {
    struct {
      MsgHeader h;
      char payload[sizeof(Text::s)];
    } rec;
    rec.h = {MSG_ERROR, err, (int32_t)t.n, 0};
    for (size_t i = 0; i < t.n; i++) rec.payload[i] = t.s[i];
    sys6(__NR_write, sync, (long)&rec, (long)(sizeof rec.h + t.n));
    exit_now(1);
  }
  Text line;
  line.add("tsrun: ").add(t.s).add(": ").add(describe(err)).add("\n");
  sys6(__NR_write, 2, (long)line.s, (long)line.n);
  exit_now(err == ENOENT ? 127 : err == EACCES ? 126 : 1);
}

[[noreturn]] void refuse() {
  static const char kMsg[] = "tsrun-exec: tsrun's exec helper; it runs only as the runtime's last step\n";
  sys6(__NR_write, 2, (long)kMsg, sizeof kMsg - 1);
  exit_now(127);
}

// The kernel's struct msghdr and struct cmsghdr carrying one fd (linux/socket.h has neither).
struct KernelIovec {
  const void* base;
  unsigned long len;
};
struct KernelMsghdr {
  void* name;
  int namelen;
  KernelIovec* iov;
  unsigned long iovlen;
  void* control;
  unsigned long controllen;
  unsigned flags;
};
struct CmsgOneFd {
  unsigned long len;  // CMSG_LEN(sizeof(int))
  int level;
  int type;
  int fd;
  int pad;  // to CMSG_SPACE(sizeof(int))
};
constexpr int kSolSocket = 1, kScmRights = 1, kMsgNoSignal = 0x4000;

// A filter with SECCOMP_RET_USER_NOTIF actions: its listener goes to the runtime, which hands it
// to the seccomp agent (MSG_SECCOMP_FD, as the runtime's child sends it). The first syscall
// under the filter, which a profile may not notify for that reason.
void send_listener(int sync, int listener) {
  if (sync < 0) fail(sync, ENOTCONN, "hand the seccomp listener to the runtime");
  MsgHeader h = {MSG_SECCOMP_FD, 0, 0, 0};
  KernelIovec iov = {&h, sizeof h};
  CmsgOneFd c = {sizeof(unsigned long) + 2 * sizeof(int) + sizeof(int), kSolSocket, kScmRights, listener, 0};
  KernelMsghdr m = {nullptr, 0, &iov, 1, &c, sizeof c, 0};
  long r;
  do {
    r = sys6(__NR_sendmsg, sync, (long)&m, kMsgNoSignal);
  } while (r == -EINTR);
  if (r < 0) fail(sync, (int)-r, "hand the seccomp listener to the runtime");
  sys6(__NR_close, listener);
}

void load_filter(int sync, int fd) {
  long size = sys6(__NR_lseek, fd, 0, 2 /* SEEK_END */);
  if (size < (long)sizeof(SeccompBlob)) fail(sync, size < 0 ? (int)-size : EINVAL, "read seccomp filter");
  long map = sys6(__NR_mmap, 0, size, PROT_READ, MAP_PRIVATE, fd, 0);
  if (map < 0 && map > -4096) fail(sync, (int)-map, "map seccomp filter");
  sys6(__NR_close, fd);
  const SeccompBlob* b = (const SeccompBlob*)map;
  if (b->magic != kSeccompBlobMagic || b->count == 0 ||
      (long)(sizeof *b + b->count * sizeof(struct sock_filter)) != size)
    fail(sync, EINVAL, "read seccomp filter");
  struct sock_fprog prog = {(unsigned short)b->count, (struct sock_filter*)(b + 1)};
  long r = sys6(__NR_seccomp, SECCOMP_SET_MODE_FILTER, b->flags, (long)&prog);
  if (r < 0) fail(sync, (int)-r, "load seccomp filter");
  if (b->flags & SECCOMP_FILTER_FLAG_NEW_LISTENER) send_listener(sync, (int)r);
}

}  // namespace

extern "C" [[noreturn]] void helper_main(long* sp) {
  int argc = (int)sp[0];
  char** argv = (char**)(sp + 1);
  char** envp = argv + argc + 1;
  if (argc < kHelperArgs || !str_eq(argv[0], kHelperArgv0)) refuse();
  int sync = parse_fd(argv[1]);
  int filter = parse_fd(argv[2]);
  if (sync < -1 || filter < -1) refuse();
  // Close-on-exec again first: it stays open to report a failure, and goes with the exec.
  if (sync >= 0 && sys6(__NR_fcntl, sync, F_SETFD, FD_CLOEXEC) < 0) refuse();
  if (filter >= 0) load_filter(sync, filter);
  // The runtime blocked every signal across clone(); the process starts with none blocked.
  unsigned long none = 0;
  sys6(__NR_rt_sigprocmask, 2 /* SIG_SETMASK */, (long)&none, 0, sizeof none);
  long r = sys6(__NR_execve, (long)argv[3], (long)(argv + kHelperArgs), (long)envp);
  fail(sync, (int)-r, "exec ", argv[3]);
}

HELPER_ENTRY(helper_main)

// The compiler may call these for struct copies even in a freestanding build.
extern "C" void* memcpy(void* d, const void* s, size_t n) {
  char* dp = (char*)d;
  const char* sp = (const char*)s;
  while (n--) *dp++ = *sp++;
  return d;
}

extern "C" void* memset(void* d, int c, size_t n) {
  char* dp = (char*)d;
  while (n--) *dp++ = (char)c;
  return d;
}
