// SPDX-License-Identifier: MIT
// Debug checks of the runtime's invariants. GH_DCHECK(cond, state) names
// the broken state in words ("ready() on a thread that is already
// runnable"), prints it with the condition and the place, and aborts. On in
// Debug and sanitizer builds (GH_DCHECKS, set by CMake), compiled out
// otherwise: the condition is then not evaluated.
#pragma once

namespace gh {
[[noreturn]] void check_failed(const char* cond, const char* state, const char* file, int line);
}  // namespace gh

#if defined(GH_DCHECKS)
#define GH_DCHECK(cond, state) \
  ((cond) ? (void)0 : ::gh::check_failed(#cond, state, __FILE__, __LINE__))
#else
#define GH_DCHECK(cond, state) ((void)0)
#endif
