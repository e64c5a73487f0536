// The launch plan in C form.
//
// TypeScript decides everything (packages/runtime/src/plan); the addon copies the plan into
// these plain structs *before* clone(), so that the child can walk them without allocating.
// Every pointer here stays valid and unmodified until the child has exec'd or exited.
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

namespace tsrun {

// One namespace the first child joins by path (setns), in plan order (user first).
struct JoinNs {
  int nstype;        // CLONE_NEW* constant
  const char* path;  // e.g. /proc/123/ns/net
};

enum OpKind : int {
  OP_MOUNT = 1,    // mount(source, target, fstype, flags, data), then remount/propagation
  OP_BIND = 2,     // bind (or rbind) a host path, then remount with flags if any
  OP_SYMLINK = 3,  // symlink(linkTarget) at target
  OP_MKNOD = 4,    // device node at target (mknod, or bind from host in a user namespace)
  OP_MKDIR = 5,    // make sure a directory exists
};

// One step of the rootfs setup, executed in order before pivot_root.
// Every `target` is a path inside the rootfs, opened without leaving it (openat2 RESOLVE_IN_ROOT).
struct MountOp {
  int kind;
  const char* source;     // OP_MOUNT/OP_BIND: source; OP_SYMLINK: link contents; OP_MKNOD: host path for bind fallback
  const char* target;     // path inside the rootfs
  const char* fstype;     // OP_MOUNT
  const char* data;       // OP_MOUNT: fs options string ("" for none)
  unsigned long flags;    // mount flags for the first mount(2)
  unsigned long remount;  // OP_BIND/OP_MOUNT: flags for a MS_REMOUNT|MS_BIND pass (0 = none)
  unsigned long propagation[4];  // MS_SHARED/MS_SLAVE/MS_PRIVATE/MS_UNBINDABLE (|MS_REC), applied in order
  int npropagation;
  int file_target;        // create the target as a file, not a directory
  mode_t mode;            // OP_MKNOD: S_IFCHR|perm etc; OP_MKDIR: permissions
  dev_t dev;              // OP_MKNOD
  uid_t uid;              // OP_MKNOD owner
  gid_t gid;
  int bind_device;        // OP_MKNOD: bind-mount `source` instead of mknod (user namespaces)
  int copy_mode;          // OP_MOUNT: give the new mount's root the mode of the directory it covers (runc's tmpfs)
  int copy_up;            // OP_MOUNT: copy what the new mount covers into it (tmpcopyup)
  int idmap_tree;         // OP_BIND: a detached, idmapped copy of the source (open_tree) to move onto the target, or -1
};

struct Hook {
  const char* path;
  char* const* argv;  // exec helper's argv: its kHelperArgs slots, then the hook's args (NULL-terminated)
  char* const* envp;  // NULL-terminated
  int timeout_sec;    // 0 = none
};

struct Rlimit {
  int resource;
  uint64_t soft;
  uint64_t hard;
};

// A cgroup v1 hierarchy's `tasks` file, opened by the runtime, that stage 1 writes itself into.
struct CgroupTasks {
  int fd;
  const char* path;  // for error messages
};

struct Sysctl {
  const char* path;   // /proc/sys/... (container view)
  const char* value;
};

// A write to one of the process's LSM attributes (/proc/self/attr/...) just before execve:
// the AppArmor profile or SELinux label the kernel applies at the exec.
struct ExecAttr {
  const char* path;
  const char* value;
  const char* what;   // error message prefix, e.g. "apply apparmor profile: write "
};

struct Plan {
  // Stage 1 (first child): namespaces.
  JoinNs* joins;
  int njoins;
  int unshare_flags;     // CLONE_NEW* to create, CLONE_NEWUSER excluded
  int new_user;          // unshare a user namespace; the parent writes the id maps
  const char* timens_offsets;  // written to /proc/self/timens_offsets when a time namespace is new (or NULL)
  // The container's cgroups, which stage 1 enters itself before anything else (child.cc
  // join_cgroups). Every fd here is the runtime's, open across clone and closed by stage 1.
  int cgroup_dir;              // cgroup2 directory: stage 1 is cloned straight into it (CLONE_INTO_CGROUP), or -1
  int cgroup_procs;            // its cgroup.procs, written instead when clone3 could not do that, or -1
  const char* cgroup_path;     // the cgroup2 directory's path, for error messages
  CgroupTasks* cgroup_tasks;   // v1 hierarchies
  int ncgroup_tasks;
  int cgroup_optional;         // rootless: a cgroup we may not enter is skipped, as runc does
  // exec into a container without a mount namespace: its init's root (/proc/PID/root), opened
  // by stage 1 before it joins anything, which the process chroots into (NULL: none).
  const char* chroot_path;

  // Stage 2: the container's init, or a process exec'd into a running container.
  // 0 for `exec`: stage 1 joined every namespace of the container (its mount namespace, or
  // chroot_path without one, puts us at the container's root), so stage 2 skips everything
  // below up to "The process".
  int setup_rootfs;
  const char* rootfs;    // absolute host path (NULL for exec)
  // No mount namespace: an empty directory of the runtime's where a copy of the rootfs tree is
  // bound, rslave, in the runtime's mount namespace; init chroots into it (no pivot_root).
  const char* root_mount;
  unsigned long root_propagation;  // applied to "/" first (MS_SLAVE|MS_REC by default)
  const char* private_parent;      // mount point to make private so pivot_root works (shared rootfs), or NULL
  unsigned long final_root_propagation;  // applied to "/" once it is the root (shared, unbindable), or 0
  MountOp* ops;
  int nops;
  int no_pivot;
  int readonly_root;
  int loopback_up;         // bring "lo" up (a new network namespace)
  const char* session_keyring;  // join a new session keyring of this name (NULL: --no-new-keyring)
  const char* hostname;    // NULL = leave
  const char* domainname;  // NULL = leave
  Sysctl* sysctls;
  int nsysctls;
  const char** masked;     // NULL-terminated container paths
  const char** readonly;   // NULL-terminated container paths
  const char* fifo_path;   // host path of the exec fifo (NULL: start at once)
  int pause_for_runtime_hooks;  // stop after the mounts while the runtime runs prestart/createRuntime
  Hook* create_container_hooks;
  int ncreate_container_hooks;
  Hook* start_container_hooks;
  int nstart_container_hooks;

  // The process.
  char* const* argv;     // the process's args (NULL-terminated), inside exec_argv
  char** exec_argv;      // kHelperArgs slots for the exec helper, filled by the child, then argv
  char* const* envp;
  const char* path_env;  // value of PATH in the process env, for resolving argv[0]
  const char* cwd;
  uid_t uid;
  gid_t gid;
  gid_t* groups;
  int ngroups;
  int set_groups;        // 0 when setgroups is denied in the user namespace
  int umask;             // -1 = leave
  Rlimit* rlimits;
  int nrlimits;
  uint64_t cap_bounding, cap_effective, cap_permitted, cap_inheritable, cap_ambient;
  int set_caps;          // 0 = leave capabilities as they are
  int last_cap;          // highest capability number the kernel knows
  int no_new_privs;
  ExecAttr* exec_attrs;
  int nexec_attrs;
  const void* seccomp_filter;  // struct sock_filter array, or NULL
  int seccomp_len;             // number of instructions
  unsigned int seccomp_flags;  // SECCOMP_FILTER_FLAG_* (NEW_LISTENER: its listener goes to the runtime, MSG_SECCOMP_FD)
  int seccomp_fd;              // with no_new_privs: the filter as a SeccompBlob for the exec helper, or -1
  int exec_helper;             // the sealed exec helper (exec_helper.h) that every exec goes through
  int preserve_fds;      // fds 3..3+n-1 stay open for the process
  int console_socket;    // fd of a connected unix socket to send the pty master to, or -1
  unsigned short console_rows, console_cols;  // process.consoleSize (0 = leave)
  int setsid;
  int personality;       // -1 = leave
  int ioprio;            // ioprio_set(IOPRIO_WHO_PROCESS) value (class << 13 | level), or -1
  int sched_set;         // apply the sched_* fields below with sched_setattr(2)
  uint32_t sched_policy;
  uint64_t sched_flags;
  int32_t sched_nice;
  uint32_t sched_priority;
  uint64_t sched_runtime, sched_deadline, sched_period;  // SCHED_DEADLINE, nanoseconds

  int mempolicy_set;     // linux.memoryPolicy: set_mempolicy(mempolicy_mode, mempolicy_nodes) before the exec
  int mempolicy_mode;    // mode | flags
  unsigned long mempolicy_nodes[1024 / (8 * sizeof(unsigned long))];
  int cpus_final_set;    // process.execCPUAffinity.final: sched_setaffinity before the exec
  unsigned char cpus_final[1024 / 8];

  int sync_fd;           // the child's end of the sync socket
};

constexpr unsigned kSeccompNewListener = 8;  // SECCOMP_FILTER_FLAG_NEW_LISTENER

// A filter whose listener the seccomp agent gets (SCMP_ACT_NOTIFY rules) is loaded by init
// before it reports ready, whatever no_new_privs says, so that the listener reaches the runtime,
// and the agent, during `create`, as with runc; once `create` has returned nobody could take
// it. (An exec'd process's runtime listens until the exec: its filter goes in where any other's
// would, and the exec helper hands the listener over when it loads it.)
inline bool seccomp_loaded_before_ready(const Plan& p) {
  return p.seccomp_filter && p.setup_rootfs && (p.seccomp_flags & kSeccompNewListener);
}

}  // namespace tsrun
