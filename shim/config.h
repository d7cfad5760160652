// SPDX-License-Identifier: MIT
// GREENHOUSE_* configuration. Parsed once at start-up by the shim and, with the
// same code, by the launcher to fail fast before exec. Under secure execution
// (AT_SECURE: setuid/setgid/capabilities) the environment is ignored.
#pragma once

#include <cstddef>

#include "core/backend.h"
#include "core/spread.h"
#include "core/stack.h"

namespace gh::shim {

struct Config {
  bool off = false;                // GREENHOUSE_OFF
  size_t stack_size = 0;           // GREENHOUSE_STACK_SIZE; 0: glibc's default thread stack size
  int log_level = 1;               // GREENHOUSE_LOG_LEVEL: 0 error .. 3 debug
  const char* log_file = nullptr;  // GREENHOUSE_LOG_FILE
  bool shared_tls = false;         // GREENHOUSE_TLS=shared
  int carriers = 0;                // GREENHOUSE_CARRIERS; 0: one per usable CPU
  int handoff_ms = 5;              // GREENHOUSE_HANDOFF_MS; 0: no hand-off
  gh::SpreadMode spread = gh::SpreadMode::kAuto;     // GREENHOUSE_SPREAD
  gh::BackendKind backend = gh::BackendKind::kAuto;  // GREENHOUSE_BACKEND
  bool mprotect_guards = false;                      // GREENHOUSE_GUARD_PAGES=mprotect
  bool control = true;                               // GREENHOUSE_CONTROL
  int dump_signal = 0;                               // GREENHOUSE_DUMP_SIGNAL; 0: off
  int hog_ms = 0;                                    // GREENHOUSE_HOG_MS; 0: no hog report
  bool valgrind = false;  // not a variable: valgrind runs the process (shim/init.cc)
};

// CPUs the process may use: those of its affinity mask, capped by a cgroup
// v2 CPU quota (cpu.max), at least 1. Allocation-free.
int usable_cpus();

// One documented variable: name, accepted form, default, meaning.
struct ConfigVar {
  const char* name;
  const char* form;
  const char* def;
  const char* help;
};
extern const ConfigVar kConfigVars[];
extern const size_t kConfigVarCount;

// Parses the environment into *out. On an invalid value writes a message that
// names the variable and the accepted form into err (NUL-terminated) and
// returns false.
bool parse_config(Config* out, char* err, size_t errlen);

// Parses GREENHOUSE_DUMP_SIGNAL's value ("off", "QUIT", "SIGQUIT", "3", ...)
// into *out (0: off). Returns false if it names no signal that may be used.
bool parse_dump_signal(const char* v, int* out);

// Parses a size like 65536, 64k, 64K, 1m, 1M. Returns false if malformed.
bool parse_size(const char* s, size_t* out);

// The abstract Unix socket name (without its leading NUL) on which process
// pid answers `greenhouse ps` (shim/control.h). Shared with the launcher.
void control_socket_name(int pid, char* buf, size_t len);

const Config& config();
void set_config(const Config& c);

}  // namespace gh::shim
