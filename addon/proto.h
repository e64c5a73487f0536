// The sync protocol between the runtime (TypeScript, parent) and the container's children.
// Messages travel over a SOCK_SEQPACKET socketpair, one record per send. The TypeScript
// mirror is packages/runtime/src/launch/protocol.ts: keep the two in step.
#pragma once

#include <stdint.h>

namespace tsrun {

enum MsgType : int32_t {
  // parent -> child
  MSG_GO = 1,            // stage 1: cgroup joined, go on; stage 2: payload = state JSON for hooks
  MSG_USERNS_MAPPED = 2, // uid/gid maps written
  MSG_HOOKS_DONE = 3,    // createRuntime/prestart hooks ran
  MSG_COMMIT = 4,        // state saved; payload = state JSON for startContainer hooks
  // child -> parent
  MSG_USERNS_READY = 10, // stage 1 unshared the user namespace: write its maps
  MSG_INIT_PID = 11,     // value = host pid of the container's init
  MSG_RUNTIME_HOOKS = 12,// init reached the createRuntime point (mounts done, before pivot_root);
                        // sent only when the plan has prestart/createRuntime hooks
  MSG_READY = 13,        // init is set up and waits on the exec fifo
  MSG_ERROR = 14,        // value = errno, payload = the failing step, e.g. "mount proc on /proc"
  MSG_CONSOLE = 15,      // the pty master was sent over the console socket
  MSG_SECCOMP_FD = 16,   // the listener of a seccomp filter with SECCOMP_RET_USER_NOTIF actions
                        // comes with this record (SCM_RIGHTS), for the runtime to hand to the
                        // seccomp agent; the sender goes on at once (a notified syscall waits
                        // for the agent's answer)
};

struct MsgHeader {
  int32_t type;
  int32_t value;
  int32_t len;   // payload bytes following the header
  int32_t pad;
};

// Payloads are small (a state JSON, an error text); this bounds the child's static buffer.
constexpr int kMaxPayload = 64 * 1024;

}  // namespace tsrun
