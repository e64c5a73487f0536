// Idmapped mounts: user namespaces made only to lend their id maps, and the mounts using them.
#pragma once

#include <string>

namespace tsrun {

// A close-on-exec fd of a new user namespace with these uid_map/gid_map texts ("inside
// outside count" lines), or -1 with `err` set. The namespace's only process is gone on return.
int MakeUserns(const std::string& uid_map, const std::string& gid_map, std::string* err);

// A close-on-exec fd of a detached copy of `source` (its whole tree when `rbind`) whose files
// show their owners through those maps (MOUNT_ATTR_IDMAP; on every mount of the tree when
// `recursive`), ready for move_mount(2); -1 with `err` set. Filesystems without idmapping
// support are an error, never a plain copy.
int IdmappedTree(const std::string& source, const std::string& uid_map, const std::string& gid_map, bool rbind,
                 bool recursive, std::string* err);

}  // namespace tsrun
