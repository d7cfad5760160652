// SPDX-License-Identifier: MIT
#include "core/green.h"

#include <cerrno>

namespace gh {

namespace {
std::atomic<size_t> g_default_stack{kDefaultStackSize};

struct WaiterTimer : Timer {
  Waiter* w;
};

void waiter_timeout(Timer* t) {
  Waiter* w = static_cast<WaiterTimer*>(t)->w;
  int expected = Waiter::kWaiting;
  if (w->state.compare_exchange_strong(expected, Waiter::kTimedOut, std::memory_order_acq_rel))
    Carrier::ready(w->g);
}

Carrier* carrier_or_die() {
  Carrier* c = Carrier::get();
  return c;
}
}  // namespace

bool wake(Waiter* w) {
  GreenThread* g = w->g;  // read before the CAS: w may vanish right after it
  int expected = Waiter::kWaiting;
  if (!w->state.compare_exchange_strong(expected, Waiter::kWoken, std::memory_order_acq_rel))
    return false;
  Carrier::ready(g);
  return true;
}

int park_waiter(Waiter& w, int64_t deadline_ns, const char* what, const void* object) {
  GreenThread* g = w.g;
  Carrier* c = g->current_carrier();
  WaiterTimer t;
  if (deadline_ns >= 0) {
    if (deadline_ns <= mono_ns()) {
      int expected = Waiter::kWaiting;
      if (w.state.compare_exchange_strong(expected, Waiter::kTimedOut, std::memory_order_acq_rel))
        return Waiter::kTimedOut;
      // Someone woke us first and will ready() us: take that park.
      c->park();
      return w.state.load(std::memory_order_acquire);
    }
    t.deadline = deadline_ns;
    t.fire = &waiter_timeout;
    t.w = &w;
    c->arm_timer(&t);
  }
  g->wait.what = what;
  g->wait.object = object;
  g->wait.since_ns = coarse_ns();
  c->park();
  // We may be on another carrier now; the timer stays where it was armed.
  if (deadline_ns >= 0) Carrier::cancel_timer(&t);
  g->wait = WaitInfo{};
  return w.state.load(std::memory_order_acquire);
}

namespace {
struct WaiterInterrupt : InterruptHook {
  Waiter* w;
};
void waiter_interrupt(InterruptHook* h) {
  Waiter* w = static_cast<WaiterInterrupt*>(h)->w;
  int expected = Waiter::kWaiting;
  if (w->state.compare_exchange_strong(expected, Waiter::kInterrupted, std::memory_order_acq_rel))
    Carrier::ready(w->g);
}
}  // namespace

namespace {
int park_hooked(Waiter& w, int64_t deadline_ns, WaiterInterrupt& hook, const char* what,
                const uint32_t* handlers_since, const void* object = nullptr) {
  hook.fire = &waiter_interrupt;
  hook.w = &w;
  if (handlers_since) {
    hook.since = *handlers_since;
    hook.since_given = true;
  }
  bool may_wait = w.g->current_carrier()->set_interrupt(w.g, &hook);
  int r;
  int expected = Waiter::kWaiting;
  if ((!may_wait ||
       (handlers_since && w.g->handlers_ran.load(std::memory_order_acquire) != *handlers_since)) &&
      w.state.compare_exchange_strong(expected, Waiter::kInterrupted, std::memory_order_acq_rel)) {
    // Cancelled already, or a handler ran before the hook was up (and its
    // carrier may have found no wait to end).
    r = Waiter::kInterrupted;
  } else {
    // (If the hook fired meanwhile, it readied us: the park takes that.)
    r = park_waiter(w, deadline_ns, what, object);
  }
  w.g->current_carrier()->set_interrupt(w.g, nullptr);
  return r;
}
}  // namespace

int park_waiter_interruptible(Waiter& w, int64_t deadline_ns, bool restartable, const char* what,
                              const uint32_t* handlers_since) {
  WaiterInterrupt hook;
  hook.restartable = restartable;
  return park_hooked(w, deadline_ns, hook, what, handlers_since);
}

int park_waiter_cancellable(Waiter& w, int64_t deadline_ns, const char* what, const void* object) {
  if (!w.g->cancel_point) return park_waiter(w, deadline_ns, what, object);
  WaiterInterrupt hook;
  hook.by_signal = false;
  return park_hooked(w, deadline_ns, hook, what, nullptr, object);
}

int sleep_until_interruptible(int64_t deadline_ns, const uint32_t* handlers_since) {
  Carrier* c = Carrier::get();
  if (!c) return 0;
  Waiter w;
  w.g = c->running();
  return park_waiter_interruptible(w, deadline_ns, false, "sleep", handlers_since) ==
                 Waiter::kInterrupted
             ? -EINTR
             : 0;
}

size_t default_stack_size() { return g_default_stack.load(std::memory_order_relaxed); }
void set_default_stack_size(size_t bytes) {
  g_default_stack.store(bytes, std::memory_order_relaxed);
}

int spawn(GreenEntry entry, void* arg, const SpawnOptions& opts, GreenThread** out) {
  Carrier* c = carrier_or_die();
  if (!c) return -EAGAIN;
  GreenThread* g;
  Stack user;
  if (opts.stack_addr) {
    if (opts.stack_size < 4096) return -EINVAL;
    user.lo = opts.stack_addr;
    user.size = opts.stack_size;
  }
  int rc = c->spawn(entry, arg, opts.stack_size ? opts.stack_size : default_stack_size(), &g,
                    opts.stack_addr ? &user : nullptr);
  if (rc < 0) return rc;
  // Set up before the thread is queued: another carrier may run it at once.
  if (opts.detached) {
    g->lock.lock();
    g->detached = true;
    g->lock.unlock();
  }
  if (opts.name) {
    size_t i = 0;
    for (; i + 1 < sizeof g->name && opts.name[i]; i++) g->name[i] = opts.name[i];
    g->name[i] = '\0';
  }
  g->user = opts.user;
  if (out) *out = opts.detached && !opts.suspended ? nullptr : g;
  if (!opts.suspended) c->start(g);
  return 0;
}

void start(GreenThread* g) {
  Carrier* c = Carrier::current();
  // A thread pinned elsewhere goes to its home carrier (ready() sends it).
  bool elsewhere = g->pinned.load(std::memory_order_relaxed) && g->home != c;
  if (c && c->pool() == g->pool && !elsewhere)
    c->start(g);
  else
    Carrier::ready(g);
}

int join(GreenThread* g, void** result, int64_t deadline_ns) {
  Carrier* c = carrier_or_die();
  if (!c) return EAGAIN;
  GreenThread* me = c->running();
  if (g == me) return EDEADLK;
  g->lock.lock();
  if (g->detached || g->joiner) {
    g->lock.unlock();
    return EINVAL;
  }
  if (!g->exited) {
    Waiter w;
    w.g = me;
    g->joiner = &w;
    g->lock.unlock();
    int r = park_waiter_cancellable(w, deadline_ns, "join", g);
    g->lock.lock();
    if (r != Waiter::kWoken && g->joiner == &w) {
      // Not exited: exit_current clears joiner before waking it.
      g->joiner = nullptr;
      g->lock.unlock();
      return r == Waiter::kInterrupted ? EINTR : ETIMEDOUT;
    }
  }
  void* res = g->result;
  g->lock.unlock();
  if (result) *result = res;
  delete g;
  return 0;
}

int try_join(GreenThread* g, void** result) {
  Carrier* c = Carrier::current();
  if (c && g == c->running()) return EDEADLK;
  g->lock.lock();
  if (g->detached || g->joiner) {
    g->lock.unlock();
    return EINVAL;
  }
  if (!g->exited) {
    g->lock.unlock();
    return EBUSY;
  }
  void* res = g->result;
  g->lock.unlock();
  if (result) *result = res;
  delete g;
  return 0;
}

int detach(GreenThread* g) {
  g->lock.lock();
  if (g->detached) {
    g->lock.unlock();
    return EINVAL;
  }
  if (g->joiner) {
    // Someone is already waiting in join: the thread stays theirs to free
    // (what glibc does too).
    g->lock.unlock();
    return 0;
  }
  if (g->exited) {
    // A zombie nobody will join: free it now (its stack is already gone).
    g->lock.unlock();
    delete g;
    return 0;
  }
  g->detached = true;
  g->lock.unlock();
  return 0;
}

void yield() {
  if (Carrier* c = Carrier::current()) c->yield();
}

void sleep_until(int64_t deadline_ns) {
  Carrier* c = carrier_or_die();
  if (!c) return;
  Waiter w;
  w.g = c->running();
  park_waiter(w, deadline_ns, "sleep");
}

}  // namespace gh
