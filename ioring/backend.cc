// SPDX-License-Identifier: MIT
// Picks each carrier's backend (core/backend.h): io_uring where the kernel
// lets us set up a ring, epoll where it does not (seccomp profiles of
// container runtimes, gVisor, kernel.io_uring_disabled) or where asked.
#include <atomic>
#include <cerrno>

#include "core/backend.h"
#include "core/carrier.h"
#include "core/log.h"
#include "core/pool.h"
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
