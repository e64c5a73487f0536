// Host-side filesystem calls for image layers and bundles (fsops.cc).
#pragma once
#include <napi.h>

namespace tsrun {
void RegisterFsOps(Napi::Env env, Napi::Object exports);
}
