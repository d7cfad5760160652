// SPDX-License-Identifier: MIT
// The state of every green thread and carrier of the process, as text or
// JSON: what `greenhouse ps PID` prints (shim/control.cc) and what the dump
// signal writes to the log. See docs/usage.md, "Looking inside".
//
// A snapshot taken while the program runs: each thread's line is read
// without stopping the others, so a thread may have moved on by the time it
// is printed. A parked thread's backtrace is taken while that thread is held
// (no carrier resumes it until the walk is done).
#pragma once

#include <cstdint>
#include <string>

namespace gh::shim {

struct ReportOptions {
  bool stacks = false;  // a backtrace of each parked thread (libunwind)
  bool json = false;    // one JSON object instead of text
  bool rates = false;   // switches per second (measured over 100 ms first)
};

// Appends the report to out. Must be called on a thread whose hooks pass
// through (the control thread); allocates.
void write_report(std::string* out, const ReportOptions& opt);

// Whether the program has a function handler for an asynchronous signal
// (one may wake a thread: the deadlock check stands aside). hook_signal.cc.
bool program_has_async_handlers();

// Writes a report to the log, one line each (with the log's prefix).
void log_report(const std::string& report);

// The deadlock check, made once a second by the control thread: when every
// program green thread has been parked on synchronisation (mutex, condition
// variable, rwlock, barrier, semaphore, once, join, futex) across two checks
// with no context switch in between, and nothing else can wake one (no
// carrier busy, no ring request, timer or offload job, no handler the
// program installed for an asynchronous signal), writes
//   greenhouse: deadlock: ...
// and the report with stacks to the log, once per such episode. The
// program then waits on, as natively.
void deadlock_tick();

// The hog report, made by the control thread every tick when
// GREENHOUSE_HOG_MS is set: a program thread that has kept its carrier that
// long without a switch (a computation, or a call that blocks the carrier)
// is named, with where it is: a backtrace if it is computing (its carrier
// is sent the runtime's interrupt signal and walks its own stack in the
// handler), or the system call it is blocked in. At most one report every
// 10 s; each thread once per stretch.
void hog_tick(int64_t now_ns);

// In the runtime's interrupt signal handler: if the hog report asked this
// OS thread for its backtrace, takes it from the interrupted context uc.
// Async-signal-safe.
void hog_capture_here(void* uc);

}  // namespace gh::shim
