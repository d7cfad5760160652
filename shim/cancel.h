// SPDX-License-Identifier: MIT
// Deferred cancellation of green threads (pthread_cancel; docs/design.md,
// "Cancellation"). A hook that is a cancellation point (pthreads(7)) opens
// with a CancelPoint and returns through done():
//
//   GH_EXPORT ssize_t read(int fd, void* buf, size_t n) {
//     CancelPoint cp;  // acts on a cancellation already requested
//     ...
//     return cp.done(r);  // acts on one that came during the call
//   }
//
// Acting means pthread_exit(PTHREAD_CANCELED): the stack unwinds through the
// hook's frame and the program's. Never from a destructor (they are
// noexcept, and a forced unwind through one terminates the process).
#pragma once

#include <atomic>

#include "core/carrier.h"
#include "core/green_thread.h"

namespace gh::shim {

// The running green thread of this OS thread's carrier, or nullptr (no
// carrier, a scheduler context, or a root: roots keep glibc's cancellation).
inline GreenThread* running_green_thread() {
  Carrier* c = Carrier::current();
  if (!c) return nullptr;
  GreenThread* g = c->running();
  return g->internal || g->is_root() ? nullptr : g;
}

// If g (the running thread) has a cancellation requested, enabled and not
// yet acted on: ends the thread as pthread_exit(PTHREAD_CANCELED) does.
// Otherwise returns.
void act_on_cancel(GreenThread* g);

// In the runtime's interrupt signal's handler (uc: its ucontext): if the
// green thread this carrier runs was interrupted in the program's code (not
// the runtime's) with an asynchronous cancellation pending, acts on it:
// unwinds from the handler, as glibc's SIGCANCEL handler does.
void cancel_async_here(void* uc);
// Records where the runtime's code lies (once, at start-up; not in a
// signal handler), for cancel_async_here.
void note_runtime_text();

class CancelPoint {
 public:
  CancelPoint() : g_(running_green_thread()) {
    if (!g_) return;
    if (__builtin_expect(g_->cancel_requested.load(std::memory_order_relaxed), 0))
      act_on_cancel(g_);
    saved_ = g_->cancel_point;
    g_->cancel_point = !g_->cancel_disabled && !g_->exiting;
  }
  ~CancelPoint() {
    if (g_) g_->cancel_point = saved_;
  }
  CancelPoint(const CancelPoint&) = delete;
  CancelPoint& operator=(const CancelPoint&) = delete;

  // Whether a cancellation of the thread was requested (acted on or not).
  bool requested() const { return g_ && g_->cancel_requested.load(std::memory_order_acquire); }

  // Returns r, unless a cancellation came during the call.
  template <class T>
  T done(T r) {
    if (g_ && __builtin_expect(g_->cancel_requested.load(std::memory_order_acquire), 0)) {
      g_->cancel_point = saved_;
      act_on_cancel(g_);
    }
    return r;
  }

 private:
  GreenThread* g_;
  bool saved_ = false;
};

}  // namespace gh::shim
