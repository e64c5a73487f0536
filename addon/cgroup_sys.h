// Syscalls the cgroup code needs that Node does not offer: eventfd (v1 OOM notifications) and
// bpf(2) for cgroup v2 device programs. They only execute; the program itself is generated in
// TypeScript (packages/runtime/src/cgroups/bpf-devices.ts).
#pragma once

#include <napi.h>

namespace tsrun {

void RegisterCgroupExports(Napi::Env env, Napi::Object exports);

}  // namespace tsrun
