// Terminal plumbing Node lacks: receiving an fd over a unix socket (the pty master a
// container sends to a console socket) and the window size of a tty.
#include "term.h"

#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

namespace tsrun {
namespace {

Napi::Value Throw(Napi::Env env, int err, const char* what) {
  Napi::Error e = Napi::Error::New(env, std::string(what) + ": " + strerror(err));
  e.Set("errno", Napi::Number::New(env, err));
  e.Set("syscall", Napi::String::New(env, what));
  e.ThrowAsJavaScriptException();
  return env.Undefined();
}

// socketPair(seqpacket = false) -> [fd, fd]: a connected AF_UNIX pair, both close-on-exec; a
// stream pair, or with `seqpacket` a SOCK_SEQPACKET one (records: CRIU's RPC, `criu swrk`).
Napi::Value SocketPair(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  bool seqpacket = info.Length() > 0 && info[0].IsBoolean() && info[0].As<Napi::Boolean>().Value();
  int sv[2];
  if (socketpair(AF_UNIX, (seqpacket ? SOCK_SEQPACKET : SOCK_STREAM) | SOCK_CLOEXEC, 0, sv) != 0) return Throw(env, errno, "socketpair");
  Napi::Array a = Napi::Array::New(env, 2);
  a.Set(0u, Napi::Number::New(env, sv[0]));
  a.Set(1u, Napi::Number::New(env, sv[1]));
  return a;
}

// recvFd(sock) -> { fd, name }: blocks for one message carrying one fd (SCM_RIGHTS), as runc
// sends a pty master: the payload is the pty's name. The fd arrives close-on-exec.
Napi::Value RecvFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int sock = info[0].As<Napi::Number>().Int32Value();
  char name[4096];
  char cbuf[CMSG_SPACE(sizeof(int))];
  struct iovec iov = {name, sizeof name - 1};
  struct msghdr m = {};
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  m.msg_control = cbuf;
  m.msg_controllen = sizeof cbuf;
  ssize_t n;
  do {
    n = recvmsg(sock, &m, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return Throw(env, errno, "recvmsg");
  int fd = -1;
  for (struct cmsghdr* c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS && c->cmsg_len >= CMSG_LEN(sizeof(int)))
      memcpy(&fd, CMSG_DATA(c), sizeof(int));
  }
  if (fd < 0) return Throw(env, n == 0 ? EPIPE : EBADMSG, "recvmsg: no file descriptor received");
  Napi::Object o = Napi::Object::New(env);
  o.Set("fd", Napi::Number::New(env, fd));
  o.Set("name", Napi::String::New(env, name, (size_t)n));
  return o;
}

// getWinsize(fd) -> { rows, cols } (undefined when fd is not a terminal).
Napi::Value GetWinsize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  struct winsize ws = {};
  if (ioctl(info[0].As<Napi::Number>().Int32Value(), TIOCGWINSZ, &ws) != 0) return env.Undefined();
  Napi::Object o = Napi::Object::New(env);
  o.Set("rows", Napi::Number::New(env, ws.ws_row));
  o.Set("cols", Napi::Number::New(env, ws.ws_col));
  return o;
}

// setWinsize(fd, rows, cols)
Napi::Value SetWinsize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  struct winsize ws = {};
  ws.ws_row = (unsigned short)info[1].As<Napi::Number>().Uint32Value();
  ws.ws_col = (unsigned short)info[2].As<Napi::Number>().Uint32Value();
  if (ioctl(info[0].As<Napi::Number>().Int32Value(), TIOCSWINSZ, &ws) != 0) return Throw(env, errno, "TIOCSWINSZ");
  return env.Undefined();
}

// makeRaw(fd) -> Buffer | undefined: puts the terminal in raw mode as cfmakeraw(3) does (what
// runc does to its terminal; libuv's raw mode keeps output processing, so "\r\n" from the
// container would arrive as "\r\r\n") and returns the previous settings for restoreTerminal.
Napi::Value MakeRaw(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = info[0].As<Napi::Number>().Int32Value();
  struct termios old;
  if (tcgetattr(fd, &old) != 0) return env.Undefined();
  struct termios raw = old;
  cfmakeraw(&raw);
  if (tcsetattr(fd, TCSANOW, &raw) != 0) return Throw(env, errno, "tcsetattr");
  return Napi::Buffer<char>::Copy(env, (const char*)&old, sizeof old);
}

// restoreTerminal(fd, saved)
Napi::Value RestoreTerminal(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto saved = info[1].As<Napi::Buffer<char>>();
  struct termios t;
  if (saved.Length() != sizeof t) return Throw(env, EINVAL, "restoreTerminal");
  memcpy(&t, saved.Data(), sizeof t);
  if (tcsetattr(info[0].As<Napi::Number>().Int32Value(), TCSANOW, &t) != 0) return Throw(env, errno, "tcsetattr");
  return env.Undefined();
}

}  // namespace

void RegisterTerm(Napi::Env env, Napi::Object exports) {
  exports.Set("socketPair", Napi::Function::New(env, SocketPair));
  exports.Set("recvFd", Napi::Function::New(env, RecvFd));
  exports.Set("getWinsize", Napi::Function::New(env, GetWinsize));
  exports.Set("setWinsize", Napi::Function::New(env, SetWinsize));
  exports.Set("makeRaw", Napi::Function::New(env, MakeRaw));
  exports.Set("restoreTerminal", Napi::Function::New(env, RestoreTerminal));
}

}  // namespace tsrun
