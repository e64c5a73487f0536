// Copying a directory tree after clone(): used for tmpcopyup (the contents a new tmpfs covers
// are copied into it). Raw syscalls and stack buffers only; see sys.h.
#pragma once

namespace tsrun {

// Copies the contents of the directory src_dir into dst_dir, both open directory fds:
// directories, regular files, symlinks, fifos and device nodes, with their modes and owners.
// Never follows a symlink of the source (it may be a hostile image). Returns 0, or -1 with
// errno set and `where` (capacity where_len) naming the entry that failed.
int copy_tree(int src_dir, int dst_dir, char* where, unsigned where_len);

}  // namespace tsrun
