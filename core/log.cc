// SPDX-License-Identifier: MIT
#include "core/log.h"
#include "core/sys.h"

#include <signal.h>

#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>

#include "core/check.h"

namespace gh {

namespace {
LogLevel g_level = LogLevel::kWarn;
int g_fd = 2;

void vlog(LogLevel lvl, const char* fmt, va_list ap) {
  if (lvl > g_level) return;
  char buf[1024];
  int n = std::snprintf(buf, sizeof buf, "greenhouse: ");
  int m = std::vsnprintf(buf + n, sizeof buf - n - 1, fmt, ap);
  if (m < 0) m = 0;
  size_t len = static_cast<size_t>(n) + static_cast<size_t>(m);
  if (len > sizeof buf - 2) len = sizeof buf - 2;
  buf[len++] = '\n';
  int saved = errno;
  raw_write_all(g_fd, buf, len);
  errno = saved;
}
}  // namespace

void log_configure(LogLevel level, int fd) {
  g_level = level;
  g_fd = fd;
}

LogLevel log_level() { return g_level; }

int raw_write_all(int fd, const void* buf, unsigned long len) {
  const char* p = static_cast<const char*>(buf);
  while (len > 0) {
    long r = gh::sys(SYS_write, fd, p, len);
    if (r < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    p += r;
    len -= static_cast<unsigned long>(r);
  }
  return 0;
}

#define GH_DEFINE_LOG(name, lvl)    \
  void name(const char* fmt, ...) { \
    va_list ap;                     \
    va_start(ap, fmt);              \
    vlog(lvl, fmt, ap);             \
    va_end(ap);                     \
  }
GH_DEFINE_LOG(log_error, LogLevel::kError)
GH_DEFINE_LOG(log_warn, LogLevel::kWarn)
GH_DEFINE_LOG(log_info, LogLevel::kInfo)
GH_DEFINE_LOG(log_debug, LogLevel::kDebug)
#undef GH_DEFINE_LOG

void check_failed(const char* cond, const char* state, const char* file, int line) {
  log_error("internal check failed: %s (%s) at %s:%d", state, cond, file, line);
  gh::sys(SYS_kill, gh::sys(SYS_getpid), SIGABRT);
  gh::sys(SYS_exit_group, 134);
  __builtin_unreachable();
}

}  // namespace gh
