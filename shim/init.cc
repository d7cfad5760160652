// SPDX-License-Identifier: MIT
// Start-up of the shim: resolve libc, read GREENHOUSE_*, configure logging.
#include <fcntl.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <termios.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "core/green.h"
#include "core/sys.h"
#include "core/log.h"
#include "shim/config.h"
#include "shim/glibc_tls.h"
#include "shim/stack_overflow.h"
#include "shim/control.h"
#include "shim/elf_symbols.h"
#include "shim/state.h"
#include "shim/thread_registry.h"

namespace gh::shim {

bool g_enabled = false;
bool g_init_done = false;
thread_local int t_bypass GH_TLS = 0;
thread_local bool t_runtime_fds GH_TLS = false;

namespace {
// Opens GREENHOUSE_LOG_FILE for appending. Returns the fd, or -1 with the
// reason in why.
int open_log_file(const char* path, char* why, size_t len) {
  // O_NONBLOCK: opening a FIFO must not wait for a reader (it is refused
  // below anyway). O_NOFOLLOW: a symlink planted in a shared directory must
  // not redirect a privileged process's appends. 0600: reports may name
  // paths and addresses. O_NOCTTY: a terminal named here must not become a
  // session leader's controlling terminal.
  long fd = gh::sys_ret(
      SYS_openat, AT_FDCWD, path,
      O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NONBLOCK | O_NOFOLLOW | O_NOCTTY, 0600);
  if (fd < 0) {
    int e = static_cast<int>(-fd);
    if (e == ELOOP)
      std::snprintf(why, len, "is a symbolic link (not followed)");
    else if (e == ENXIO)
      std::snprintf(why, len, "is a FIFO or socket");
    else
      std::snprintf(why, len, "cannot be opened for appending: %s", strerror(e));
    return -1;
  }
  struct stat st {};
  gh::sys(SYS_fstat, fd, &st);
  termios tio{};
  bool tty = S_ISCHR(st.st_mode) && gh::sys(SYS_ioctl, fd, TCGETS, &tio) == 0;
  // /dev/null: the usual way to silence a tool.
  bool null = S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3);
  if (!S_ISREG(st.st_mode) && !tty && !null) {
    gh::sys(SYS_close, fd);
    std::snprintf(why, len, "is another kind of file");
    return -1;
  }
  // Reports are written whole: a terminal under flow control may make us
  // wait, as it makes the program wait.
  if (tty) gh::sys(SYS_fcntl, fd, F_SETFL, O_WRONLY | O_APPEND);
  return static_cast<int>(fd);
}

// Valgrind runs one thread at a time, and a thread in a system call it does
// not know to block (io_uring_enter) keeps that turn: a carrier waiting in
// its ring would stop every other OS thread. Valgrind's preload libraries
// in LD_PRELOAD say that it runs the program.
bool under_valgrind() {
  const char* p = std::getenv("LD_PRELOAD");
  return p && std::strstr(p, "/vgpreload_core");
}
}  // namespace

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
    char why[160];
    fd = open_log_file(c.log_file, why, sizeof why);
    if (fd < 0) {
      log_error(
          "GREENHOUSE_LOG_FILE=%s %s; expected a regular file (created 0600), a terminal or "
          "/dev/null",
          c.log_file, why);
      gh::sys(SYS_exit_group, 2);
    }
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
  if (!c.off && main_program_is_go()) {
    // Inherited through exec (the launcher refuses a Go program it is given).
    log_info(
        "the program is a Go program: Go makes its system calls itself, not through libc; "
        "every call passes through");
    c.off = true;
    set_config(c);
  }
  if (!c.off && under_valgrind()) {
    c.valgrind = true;
    if (c.backend == BackendKind::kAuto) {
      log_info("running under valgrind: the carriers use epoll (docs/usage.md, \"Valgrind\")");
      c.backend = BackendKind::kEpoll;
    }
    set_config(c);
  }
  if (c.mprotect_guards) StackPool::force_mprotect_guards(true);
  // The stack of a green thread nobody chose one for: GREENHOUSE_STACK_SIZE,
  // else what glibc gives a thread (hook_thread.cc asks glibc per thread).
  if (c.stack_size) {
    set_default_stack_size(c.stack_size);
  } else {
    pthread_attr_t def;
    size_t size = 0;
    if (pthread_getattr_default_np(&def) == 0) {
      pthread_attr_getstacksize(&def, &size);
      pthread_attr_destroy(&def);
    }
    if (size) set_default_stack_size(size);
  }
  if (c.off) return;
  // Nothing of the program may fail because the runtime cannot start: with
  // no backend at all, every call passes through (decided before any hook
  // made green state).
  char why[256];
  if (backend_probe(c.backend, why, sizeof why) != 0) {
    log_error("no I/O backend can be set up here (%s); the program runs without green threads",
              why);
    return;
  }
  if (!c.shared_tls) {
    if (!glibc_tls_init(why, sizeof why)) {
      log_error("cannot give green threads their own thread-local storage: %s; the shim is off",
                why);
      return;
    }
    glibc_tls_enable();
  }
  threads_init();
  overflow_init();
  g_enabled = true;
  // A dump signal works in a program that never starts a thread, too.
  if (dump_signal_init()) control_start();
  log_debug("shim enabled (pid %ld)", static_cast<long>(gh::sys(SYS_getpid)));
}

namespace {
// Runs before the program's constructors (but possibly after those of other
// libraries, whose calls pass straight through until then).
__attribute__((constructor(101))) void shim_constructor() { shim_init(); }
}  // namespace

}  // namespace gh::shim
