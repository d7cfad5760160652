// SPDX-License-Identifier: MIT
// Picks each carrier's backend (core/backend.h): io_uring where the kernel
// lets us set up a ring, epoll where it does not (seccomp profiles of
// container runtimes, gVisor, kernel.io_uring_disabled) or where asked.
#include <linux/io_uring.h>
#include <sys/epoll.h>
#include <sys/syscall.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "core/backend.h"
#include "core/carrier.h"
#include "core/log.h"
#include "core/pool.h"
#include "core/sys.h"
#include "ioring/epoll.h"
#include "ioring/ring.h"

namespace gh {

namespace {
std::atomic<BackendKind> g_default{BackendKind::kAuto};
// errno of the first refused io_uring setup in kAuto mode: later carriers go
// straight to epoll instead of asking the kernel again.
std::atomic<int> g_uring_refused{0};
}  // namespace

void set_default_backend(BackendKind k) { g_default.store(k, std::memory_order_relaxed); }
BackendKind default_backend() { return g_default.load(std::memory_order_relaxed); }

int backend_probe(BackendKind k, char* why, size_t len) {
  auto uring = [&]() -> int {
    io_uring_params p{};
    long fd = gh::sys_ret(__NR_io_uring_setup, 1, &p);
    if (fd >= 0) {
      gh::sys(SYS_close, fd);
      return 0;
    }
    int e = static_cast<int>(-fd);
    if (e == EPERM || e == ENOSYS || e == EACCES || e == EINVAL) {
      int expected = 0;
      g_uring_refused.compare_exchange_strong(expected, e);
    }
    return -e;
  };
  auto epoll = []() -> int {
    long fd = gh::sys_ret(SYS_epoll_create1, EPOLL_CLOEXEC);
    if (fd < 0) return static_cast<int>(fd);
    gh::sys(SYS_close, fd);
    return 0;
  };
  int u = 0, e = 0;
  if (k == BackendKind::kIoUring) {
    u = uring();
    if (u == 0) return 0;
    std::snprintf(why, len, "io_uring: %s", strerror(-u));
    return u;
  }
  e = epoll();
  // kAuto: epoll is the fallback; where it works, nothing more to know now
  // (the first carrier tries io_uring).
  if (e == 0) return 0;
  if (k == BackendKind::kAuto && (u = uring()) == 0) return 0;
  if (k == BackendKind::kEpoll)
    std::snprintf(why, len, "epoll: %s", strerror(-e));
  else
    std::snprintf(why, len, "io_uring: %s; epoll: %s", strerror(-u), strerror(-e));
  return e;
}

Backend* backend_create(Carrier* c) {
  const PoolOptions& o = c->pool()->options();
  if (o.backend == BackendKind::kIoUring ||
      (o.backend == BackendKind::kAuto && g_uring_refused.load(std::memory_order_relaxed) == 0)) {
    // A ring that other carriers may serve (hand-off) or queue on (a green
    // thread that moved cancelling its requests) must not be bound to one
    // thread: only a lone carrier's may be.
    Backend* r = ioring::Ring::create(c, o.carriers <= 1 && o.handoff_ns <= 0);
    if (r || o.backend == BackendKind::kIoUring) return r;
    int e = errno;
    // A policy refusal (seccomp, io_uring_disabled, no such system call)
    // holds for every later carrier too; a shortage (RLIMIT_MEMLOCK on
    // older kernels, fds) may not.
    if (e == EPERM || e == ENOSYS || e == EACCES || e == EINVAL) {
      int expected = 0;
      if (g_uring_refused.compare_exchange_strong(expected, e))
        log_debug("io_uring unavailable (errno %d): carriers use epoll", e);
    } else {
      log_debug("io_uring setup failed (errno %d): this carrier uses epoll", e);
    }
  }
  return ioring::Epoll::create(c);
}

}  // namespace gh
