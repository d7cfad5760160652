// SPDX-License-Identifier: MIT
// Start-up of the shim: resolve libc, read GREENHOUSE_*, configure logging.
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdlib>

#include "core/green.h"
#include "core/sys.h"
#include "core/log.h"
#include "shim/config.h"
#include "shim/glibc_tls.h"
#include "shim/state.h"
#include "shim/thread_registry.h"

namespace gh::shim {

bool g_enabled = false;
bool g_init_done = false;
thread_local int t_bypass GH_TLS = 0;

void shim_init() {
  if (g_init_done) return;
  g_init_done = true;
  ensure_real();
  Config c;
  char err[512];
  if (!parse_config(&c, err, sizeof err)) {
    log_error("%s", err);
    gh::sys(SYS_exit_group, 2);
  }
  set_config(c);
  int fd = 2;
  if (c.log_file) {
    long r =
        gh::sys(SYS_openat, AT_FDCWD, c.log_file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (r < 0) {
      log_error("GREENHOUSE_LOG_FILE=%s cannot be opened for appending", c.log_file);
      gh::sys(SYS_exit_group, 2);
    }
    fd = static_cast<int>(r);
  }
  log_configure(static_cast<LogLevel>(c.log_level), fd);
  for_each_real(
      [](const RealSymbol& s, void*) {
        if (!s.addr)
          log_debug("libc has no %s", s.name);
        else if (!s.version_found)
          log_debug("libc has no %s@%s; using its default version", s.name, s.version);
      },
      nullptr);
  set_default_stack_size(c.stack_size);
  if (c.off) return;
  if (!c.shared_tls) {
    char why[256];
    if (!glibc_tls_init(why, sizeof why)) {
      log_error("cannot give green threads their own thread-local storage: %s; the shim is off",
                why);
      return;
    }
    glibc_tls_enable();
  }
  threads_init();
  g_enabled = true;
  log_debug("shim enabled (pid %ld)", static_cast<long>(gh::sys(SYS_getpid)));
}

namespace {
// Runs before the program's constructors (but possibly after those of other
// libraries, whose calls pass straight through until then).
__attribute__((constructor(101))) void shim_constructor() { shim_init(); }
}  // namespace

}  // namespace gh::shim
