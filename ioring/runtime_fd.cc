// SPDX-License-Identifier: MIT
#include "ioring/runtime_fd.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/syscall.h>

#include <atomic>
#include <cerrno>
#include <utility>

#include "core/sys.h"

namespace gh::ioring {

namespace {
// Slots hold fd + 1 (0 = free).
constexpr int kRuntimeFdSlots = kMaxRuntimeFds;
std::atomic<int> g_runtime_fds[kRuntimeFdSlots];
// How many recorded fds lie below runtime_fd_floor(): while none does,
// is_runtime_fd() answers for low numbers without a look.
std::atomic<int> g_low_fds{0};
}  // namespace

int runtime_fd_floor() {
  static const int floor = [] {
    rlimit rl{};
    if (gh::sys(SYS_getrlimit, RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
      return 1024;
    long soft = static_cast<long>(rl.rlim_cur);
    long f = soft >= 1024 ? soft - 256 : soft / 2;
    return static_cast<int>(f < 3 ? 3 : f);
  }();
  return floor;
}

int adopt_runtime_fd(int fd) {
  if (fd < 0) return fd;
  register_runtime_fd(fd);
  if (fd >= runtime_fd_floor()) return fd;
  long hi = gh::sys_ret(SYS_fcntl, fd, F_DUPFD_CLOEXEC, runtime_fd_floor());
  if (hi == -EBADF) {
    unregister_runtime_fd(fd);
    return -EBADF;
  }
  if (hi < 0) return fd;  // a limit lowered since start-up: stays low, still ours
  register_runtime_fd(static_cast<int>(hi));
  unregister_runtime_fd(fd);
  gh::sys_ret(SYS_close, fd);
  return static_cast<int>(hi);
}

void register_runtime_fd(int fd) {
  if (fd < 0) return;
  // Counted before it is recorded: is_runtime_fd() must not skip it.
  bool low = fd < runtime_fd_floor();
  if (low) g_low_fds.fetch_add(1, std::memory_order_seq_cst);
  for (auto& slot : g_runtime_fds) {
    int expected = 0;
    if (slot.compare_exchange_strong(expected, fd + 1)) return;
  }
  if (low) g_low_fds.fetch_sub(1, std::memory_order_relaxed);
}

void unregister_runtime_fd(int fd) {
  for (auto& slot : g_runtime_fds) {
    int expected = fd + 1;
    if (slot.compare_exchange_strong(expected, 0)) {
      if (fd < runtime_fd_floor()) g_low_fds.fetch_sub(1, std::memory_order_relaxed);
      return;
    }
  }
}

bool is_runtime_fd(int fd) {
  if (fd < runtime_fd_floor() && g_low_fds.load(std::memory_order_relaxed) == 0) return false;
  for (const auto& slot : g_runtime_fds)
    if (slot.load(std::memory_order_relaxed) == fd + 1) return true;
  return false;
}

void close_runtime_fds_after_fork() {
  int fds[kMaxRuntimeFds];
  int n = runtime_fds(fds, kMaxRuntimeFds);
  for (int i = 0; i < n; i++) {
    unregister_runtime_fd(fds[i]);
    sys_ret(SYS_close, fds[i]);
  }
}

int runtime_fds(int* out, int max) {
  int n = 0;
  for (const auto& slot : g_runtime_fds) {
    int v = slot.load(std::memory_order_relaxed);
    if (v > 0 && n < max) out[n++] = v - 1;
  }
  for (int i = 1; i < n; i++)  // insertion sort: n is tiny
    for (int j = i; j > 0 && out[j - 1] > out[j]; j--) std::swap(out[j - 1], out[j]);
  return n;
}

}  // namespace gh::ioring
