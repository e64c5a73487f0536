// The sealed memfds that the container's last exec goes through (see exec_helper.h).
#pragma once

#include <string>

namespace tsrun {

// A close-on-exec fd of the exec helper, sealed read-only, from the copy this process made
// of the helper built beside the addon. Made once per process; -1 with `err` set on failure.
int ExecHelperFd(std::string* err);

// A close-on-exec memfd holding `count` struct sock_filter as a SeccompBlob, for the helper to
// load; -1 with `err` set on failure.
int SeccompBlobFd(const void* filter, unsigned count, unsigned flags, std::string* err);

}  // namespace tsrun
