// Entry point of the code that runs after clone(); see child.cc.
#pragma once

#include "plan.h"

namespace tsrun {

// Runs in the first child: cgroups, namespaces, then forks the container's init. Never
// returns. in_cgroup2: clone3 already put it in p->cgroup_dir.
[[noreturn]] void run_stage1(const Plan* p, bool in_cgroup2);

}  // namespace tsrun
