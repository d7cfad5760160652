// SPDX-License-Identifier: MIT
// When a hook does green work and when it passes straight through.
//
// A hook passes the call to libc unchanged unless all of these hold:
//  - the shim is enabled (configuration, not under AT_SECURE's GREENHOUSE_OFF)
//  - the call does not come from the runtime itself or from a signal handler
//    (t_bypass == 0)
// Hooks then decide per fd (fd_table.h) whether the call can park.
#pragma once

#include "core/carrier.h"
#include "core/compiler.h"
#include "shim/real.h"

#define GH_EXPORT extern "C" __attribute__((visibility("default")))

namespace gh::shim {

extern bool g_enabled;    // written once in the constructor
extern bool g_init_done;  // shim_init() has run
extern thread_local int t_bypass GH_TLS;
// While set, fds made on this thread by the pipe hooks are the runtime's
// (libunwind's, loaded by shim/stack_overflow.cc): moved out of the program's
// range and kept from its close calls, like the rings (ioring/runtime_fd.h).
extern thread_local bool t_runtime_fds GH_TLS;

inline bool green_ok() { return g_enabled && t_bypass == 0; }

// A scope in which every hook on this thread passes through.
struct Bypass {
  Bypass() { t_bypass++; }
  ~Bypass() { t_bypass--; }
  Bypass(const Bypass&) = delete;
  Bypass& operator=(const Bypass&) = delete;
};

// True when the calling green thread is alone on its carrier (or the thread
// has no carrier yet): a blocking call may then use the real system call and
// block the OS thread, which is what native code would do anyway. Not with
// a gh_timeout scope open (docs/api.md): only a parked call honours it.
inline bool alone_on_carrier() {
  Carrier* c = Carrier::current();
  return !c || (c->live() <= 1 && c->backend()->inflight() == 0 && c->running()->deadline < 0);
}

// Whether a blocking call made now should park the calling green thread
// (rather than pass through to libc and block its OS thread). The one
// answer to "may this call park?"; fd calls add the fd's own test
// (parking_fd in fd_table.h).
inline bool may_park() {
  ensure_real();
  return green_ok() && !alone_on_carrier();
}

// Sets errno from a -errno result and returns -1, or returns r.
template <class T>
inline T ret_errno(T r) {
  if (r < 0) {
    errno = static_cast<int>(-r);
    return -1;
  }
  return r;
}

// Starts the shim (idempotent): resolves libc, reads the configuration.
void shim_init();

}  // namespace gh::shim
