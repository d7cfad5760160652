// SPDX-License-Identifier: MIT
// Runtime diagnostics. Every line starts with "greenhouse: " and goes to the
// log fd (stderr unless configured) through the raw write syscall, so logging
// never re-enters interposed functions and is safe on any stack.
#pragma once

namespace gh {

enum class LogLevel { kError = 0, kWarn = 1, kInfo = 2, kDebug = 3 };

// Defaults: level kWarn, fd 2. Set once at start-up, before other threads run.
void log_configure(LogLevel level, int fd);
LogLevel log_level();

void log_error(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

// Writes the whole buffer to fd with raw syscalls, retrying on EINTR and
// short writes. Returns 0 or -errno.
int raw_write_all(int fd, const void* buf, unsigned long len);

}  // namespace gh
