// Entry point of the code that runs after clone(); see child.cc.
#pragma once

#include "plan.h"

namespace tsrun {

// Runs in the first child: namespaces, then forks the container's init. Never returns.
[[noreturn]] void run_stage1(const Plan* p);

}  // namespace tsrun
