// SPDX-License-Identifier: MIT
// ptrace(2) from green threads (shim/hook_ptrace.cc).
#pragma once

#include <sys/types.h>

namespace gh {
class Carrier;
}

namespace gh::shim {

// Records that a green thread on carrier `on` forked child `pid`: if the
// child asks to be traced (PTRACE_TRACEME), its tracer is that carrier's OS
// thread. Called by the fork hook in the parent (and after an attach).
void ptrace_forked(pid_t pid, Carrier* on);

}  // namespace gh::shim
