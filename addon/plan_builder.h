// Copies a launch plan from its JavaScript form into the C structs of plan.h.
// All memory is owned by a PlanStorage that the parent frees after clone(); the child keeps
// its own copy-on-write pages.
#pragma once

#include <napi.h>

#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "plan.h"

namespace tsrun {

struct PlanStorage {
  Plan plan{};
  std::deque<std::string> strings;              // stable addresses
  std::deque<std::vector<char*>> string_arrays;
  std::deque<std::vector<const char*>> const_arrays;
  std::vector<JoinNs> joins;
  std::vector<CgroupTasks> cgroup_tasks;
  std::vector<MountOp> ops;
  std::vector<Hook> create_hooks, start_hooks;
  std::vector<Rlimit> rlimits;
  std::vector<Sysctl> sysctls;
  std::vector<ExecAttr> exec_attrs;
  std::vector<gid_t> groups;
  std::vector<char> seccomp;
  std::vector<unsigned char> cpus_initial;  // exec: the CPUs to clone stage 1 on (the parent's thread runs there meanwhile)
};

// Returns nullptr with a pending JS exception when the plan is malformed.
std::unique_ptr<PlanStorage> BuildPlan(Napi::Env env, Napi::Object obj);

}  // namespace tsrun
