// The contract between the addon and tsrun's exec helper (exec_helper/helper.cc).
//
// Why a helper: the container's processes are clones of the runtime, a Node process, so an
// execve() done by them directly leaves the kernel free to run /proc/self/exe, the host's node
// binary, inside the container: a script starting "#!/proc/self/exe" does exactly that, and
// the container can then reopen that binary for writing through /proc/PID/exe once it exits
// (CVE-2019-5736). So the last execve() is done by a tiny static program that the runtime
// copies into a sealed memfd: /proc/self/exe of everything the container can reach is then
// that read-only copy, never a host file.
//
// The helper is exec'd with execveat(fd, "", argv, envp, AT_EMPTY_PATH) and
//   argv[0] = kHelperArgv0
//   argv[1] = the sync socket's fd to report a failed exec on (MSG_ERROR), or "-1": stderr
//   argv[2] = an fd holding a SeccompBlob to load just before the exec, or "-1"; a filter's
//             listener (SECCOMP_FILTER_FLAG_NEW_LISTENER) goes to argv[1] as MSG_SECCOMP_FD
//   argv[3] = the path to exec
//   argv[4...] = the process's argv
// and the process's environment. It changes nothing else: the caller has set up everything.
#pragma once

#include <stdint.h>

namespace tsrun {

constexpr const char kHelperArgv0[] = "tsrun-exec";
constexpr int kHelperArgs = 4;  // argv slots before the process's own argv

constexpr uint32_t kSeccompBlobMagic = 0x74737363;  // "tssc"

// A seccomp filter handed to the helper: the header, then `count` struct sock_filter.
struct SeccompBlob {
  uint32_t magic;
  uint32_t flags;  // SECCOMP_FILTER_FLAG_*
  uint32_t count;
  uint32_t pad;
};

}  // namespace tsrun
