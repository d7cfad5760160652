// SPDX-License-Identifier: MIT
// The work of the signal calls that other names share (shim/hook_signal.cc):
// every name a program may install a handler or change its mask under lands
// here, never in the global symbol, which a program may define itself.
// Each returns as the libc call does: 0 or -1 with errno.
#pragma once

#include <signal.h>

namespace gh::shim {

// sigaction(2) with the program's handler behind the trampoline.
int sigaction_impl(int sig, const struct sigaction* act, struct sigaction* oact);

// sigprocmask(2), the mask being the calling green thread's.
int sigprocmask_impl(int how, const sigset_t* set, sigset_t* old);

// sigsuspend(2): parks the green thread until a handler runs for it.
// A cancellation point.
int sigsuspend_impl(const sigset_t* mask);

// Whether the hooks pass through on this OS thread only because a program's
// signal handler runs on it (not for the runtime's own calls): its
// pthread_kill is still the program's, for a green thread.
bool bypass_is_handlers_only();

}  // namespace gh::shim
