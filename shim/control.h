// SPDX-License-Identifier: MIT
// The control socket and the dump signal: how `greenhouse ps PID` and
// GREENHOUSE_DUMP_SIGNAL see inside a running program (docs/usage.md,
// "Looking inside").
//
// The control thread (a runtime OS thread, gh-control) listens on the
// abstract Unix socket "@greenhouse-control-PID". A client must run as the
// process's user or as root (SO_PEERCRED); others are refused with a line
// that says so. Nothing listens for setuid/setgid programs (AT_SECURE) or
// with GREENHOUSE_CONTROL=0. A request is one line: "ps", optionally with
// " --stacks" and " --json"; the answer is the report (shim/report.h), then
// the connection is closed.
#pragma once

#include "shim/config.h"  // control_socket_name

namespace gh::shim {

// Starts the control thread once per process (again in a fork child), if the
// configuration allows. Called when the first green thread is created and
// at start-up when a dump signal is configured.
void control_start();
// In a fork child whose inherited runtime fds were closed already
// (ioring::close_runtime_fds_after_fork): forgets the parent's socket and
// eventfd numbers, which may name the child's own fds by now.
void control_forget_fds_after_fork();

// At start-up: installs the dump signal's handler if GREENHOUSE_DUMP_SIGNAL
// names one. Returns that signal, or 0.
int dump_signal_init();

// The signal the runtime takes for dumps (0: none): the program's sigaction
// for it is recorded but not installed (shim/hook_signal.cc).
int dump_signal();

}  // namespace gh::shim
