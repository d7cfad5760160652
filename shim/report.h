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

#include <string>

namespace gh::shim {

struct ReportOptions {
  bool stacks = false;  // a backtrace of each parked thread (libunwind)
  bool json = false;    // one JSON object instead of text
};

// Appends the report to out. Must be called on a thread whose hooks pass
// through (the control thread); allocates.
void write_report(std::string* out, const ReportOptions& opt);

}  // namespace gh::shim
