// SPDX-License-Identifier: MIT
// Deferred cancellation of green threads (pthread_cancel; docs/design.md,
// "Cancellation"). A hook that is a cancellation point (pthreads(7)) opens
// with a CancelPoint and returns through done():
//
//   GH_EXPORT ssize_t read(int fd, void* buf, size_t n) {
//     CancelPoint cp;  // acts on a cancellation already requested
//     ...
//     return cp.done(r);  // acts if the call failed with EINTR meanwhile
//   }
//
// Acting means pthread_exit(PTHREAD_CANCELED): the stack unwinds through the
// hook's frame and the program's. Never from a destructor (they are
// noexcept, and a forced unwind through one terminates the process).
#pragma once

#include <atomic>
#include <cerrno>

#include "core/carrier.h"
#include "core/green_thread.h"
#include "shim/state.h"
#include "shim/thread_registry.h"

namespace gh::shim {

// The program thread (a green thread or a root such as main) running on
// this OS thread's carrier, or nullptr (no carrier, a scheduler context).
inline GreenThread* running_green_thread() {
  Carrier* c = Carrier::current();
  if (!c) return nullptr;
  GreenThread* g = c->running();
  return g->internal ? nullptr : g;
}

// The program thread whose cancellation code on this OS thread may act on
// now, or nullptr: the running one outside signal handlers; in a handler
// of the program's, only the thread it runs for and only if that is the
// running one (its stack is the one to unwind, as glibc acts in handlers).
inline GreenThread* cancellable_here() {
  GreenThread* g = running_green_thread();
  if (t_bypass == 0 || !g) return g;
  ShimThread* as = t_signal_self;
  if (t_bypass != 1 || !as) return nullptr;
  if (as == &g_root_self) return g->is_root() ? g : nullptr;
  return as->g == g ? g : nullptr;
}

// If g (the running thread) has a cancellation requested, enabled and not
// yet acted on, and it may act here (cancellable_here): ends the thread as
// pthread_exit(PTHREAD_CANCELED) does. Otherwise returns.
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
  // Acts on a request already pending. Inactive where nothing may act
  // (cancellable_here; docs/design.md, "Cancellation").
  // active: false makes it no cancellation point (a FILE opened with
  // fopen's "c" mode).
  explicit CancelPoint(bool active = true) : g_(active ? cancellable_here() : nullptr) {
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

  // Whether a cancellation is pending and acting on it is allowed here.
  bool will_act() const {
    return g_ && g_->cancel_requested.load(std::memory_order_acquire) && !g_->cancel_disabled &&
           !g_->exiting;
  }

  // Returns r; acts instead if the call failed with EINTR (-1, errno EINTR)
  // while a cancellation is pending: the request ended its wait, or came
  // during it. A call that completed returns its result (data read, an fd
  // accepted, a child reaped) and the request acts at the next cancellation
  // point, as glibc's would once the system call has returned.
  template <class T>
  T done(T r) {
    if (__builtin_expect(r == static_cast<T>(-1), 0) && errno == EINTR && will_act()) act();
    return r;
  }
  // For a call whose result nothing depends on (a sleep cut short): acts on
  // any pending request.
  template <class T>
  T done_any(T r) {
    if (will_act()) act();
    return r;
  }
  // pthread style: acts if the call returned EINTR (its wait was ended for
  // the cancellation).
  int done_rc(int rc) {
    if (rc == EINTR && will_act()) act();
    return rc;
  }

 private:
  void act() {
    g_->cancel_point = saved_;
    act_on_cancel(g_);
  }
  GreenThread* g_;
  bool saved_ = false;
};

}  // namespace gh::shim
