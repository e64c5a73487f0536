// Terminal helpers exported to JavaScript (term.cc).
#pragma once

#include <napi.h>

namespace tsrun {

void RegisterTerm(Napi::Env env, Napi::Object exports);

}  // namespace tsrun
