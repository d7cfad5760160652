// SPDX-License-Identifier: MIT
// Cancellation: pthread_cancel, pthread_testcancel, pthread_setcancelstate
// and pthread_setcanceltype for green threads (docs/design.md,
// "Cancellation"). glibc's own implementation signals the OS thread
// (SIGCANCEL) and unwinds whatever runs there; a green thread keeps its
// cancellation state in its GreenThread instead, is woken from a wait at a
// cancellation point by Carrier::cancel_wait, and acts on the request in
// the hook (shim/cancel.h). Roots (main) are cancelled the same way; OS
// threads outside the runtime keep glibc's.
#include <dlfcn.h>
#include <link.h>
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>

#include <cerrno>

#include "core/green_thread.h"
#include "core/parking_lot.h"
#include "core/log.h"
#include "core/sys.h"
#include "shim/cancel.h"
#include "shim/real.h"
#include "shim/state.h"
#include "shim/thread_registry.h"

using namespace gh::shim;

namespace gh::shim {

void act_on_cancel(GreenThread* g) {
  if (g->cancel_disabled || g->exiting || cancellable_here() != g) return;
  if (!g->cancel_requested.load(std::memory_order_acquire)) return;
  g->cancel_point = false;
  // In a handler (on the thread's own stack): the unwinding skips sigreturn,
  // so the thread ends with its own mask back on the OS thread, which its
  // carrier's bookkeeping (applied_sigmask_) expects.
  if (t_bypass != 0)
    gh::sys(SYS_rt_sigprocmask, SIG_SETMASK, &g->sigmask, nullptr, sizeof g->sigmask);
  // The shim's pthread_exit: marks the thread exiting (no second
  // cancellation in its cleanup handlers) and unwinds its stack.
  pthread_exit(PTHREAD_CANCELED);
}

namespace {
// The runtime's executable code ([lo, hi): libgreenhouse.so's), where an
// asynchronous cancellation must not act: its locks and scheduler state
// would be left mid-change.
uintptr_t g_text_lo = 0, g_text_hi = 0;
}  // namespace

void note_runtime_text() {
  Dl_info info{};
  if (!dladdr(reinterpret_cast<void*>(&note_runtime_text), &info) || !info.dli_fbase) return;
  auto base = reinterpret_cast<uintptr_t>(info.dli_fbase);
  auto* eh = reinterpret_cast<const ElfW(Ehdr)*>(base);
  auto* ph = reinterpret_cast<const ElfW(Phdr)*>(base + eh->e_phoff);
  uintptr_t lo = UINTPTR_MAX, hi = 0;
  for (int i = 0; i < eh->e_phnum; i++) {
    if (ph[i].p_type != PT_LOAD || !(ph[i].p_flags & PF_X)) continue;
    lo = std::min<uintptr_t>(lo, base + ph[i].p_vaddr);
    hi = std::max<uintptr_t>(hi, base + ph[i].p_vaddr + ph[i].p_memsz);
  }
  if (hi > lo) {
    g_text_lo = lo;
    g_text_hi = hi;
  }
}

extern "C" void gh_async_cancel_stub() __attribute__((visibility("hidden")));

// Called by gh_async_cancel_stub, on the thread's own stack.
extern "C" __attribute__((visibility("hidden"), noreturn)) void gh_async_cancel_act() {
  if (GreenThread* g = running_green_thread()) act_on_cancel(g);
  // Not acted on (it cannot be: cancel_async_here checked the same state,
  // and nothing ran in between): there is no context to return to.
  gh::log_error("asynchronous cancellation could not act");
  abort();
}

void cancel_async_here(void* uc) {
  Carrier* c = Carrier::current();
  if (!c || !g_text_hi) return;
  GreenThread* g = c->signal_safe_running();
  if (!g || g->internal) return;
  if (!g->cancel_requested.load(std::memory_order_acquire) ||
      !g->cancel_async.load(std::memory_order_relaxed) || g->cancel_disabled || g->exiting)
    return;
  auto* ctx = static_cast<ucontext_t*>(uc);
  auto pc = static_cast<uintptr_t>(ctx->uc_mcontext.gregs[REG_RIP]);
  // In the runtime (a hook, a switch): it acts at its next cancellation
  // point instead.
  if (pc >= g_text_lo && pc < g_text_hi) return;
  // Continue in gh_async_cancel_stub, on the thread's own stack, once the
  // handler has returned (and sigreturn restored the thread's mask and left
  // the alternate stack): as if the interrupted instruction had called it.
  greg_t& rsp = ctx->uc_mcontext.gregs[REG_RSP];
  greg_t& rip = ctx->uc_mcontext.gregs[REG_RIP];
  rsp -= sizeof(greg_t);
  *reinterpret_cast<greg_t*>(rsp) = rip;
  rip = reinterpret_cast<greg_t>(&gh_async_cancel_stub);
}

}  // namespace gh::shim

namespace {

// The program thread the calling code runs as: in a signal handler of the
// program's, the thread it runs for (t_signal_self); else the running one.
// nullptr outside the runtime.
gh::GreenThread* cancel_self() {
  if (!threads_green()) return nullptr;
  if (t_bypass != 0) {
    ShimThread* s = t_signal_self;
    if (!s) return nullptr;
    if (s != &g_root_self) return s->g;
  }
  return running_green_thread();
}

// The root (a program thread the shim did not create: main) whose
// pthread_t is t, in the calling thread's pool, or nullptr.
gh::GreenThread* root_of(pthread_t t) {
  gh::Carrier* c = gh::Carrier::current();
  if (!c) return nullptr;
  gh::Pool* p = c->pool();
  for (int i = 0; i < p->slots(); i++) {
    gh::Carrier* x = p->slot(i);
    if (!x || x->root()->internal) continue;
    void* tp = x->root()->tp ? x->root()->tp : x->os_tp();
    if (reinterpret_cast<pthread_t>(tp) == t) return x->root();
  }
  return nullptr;
}

}  // namespace

GH_EXPORT int pthread_cancel(pthread_t t) {
  if (!threads_green()) return real::pthread_cancel(t);
  ShimThread* st = shim_from_handle(t);
  gh::GreenThread* g = st ? st->g : root_of(t);
  // Not a thread of the runtime's: glibc's (it signals that OS thread).
  if (!g) return real::pthread_cancel(t);
  // Under g's lock: a thread that has not exited cannot be freed (its
  // joiner, or detach, frees it only after exit_current set `exited` under
  // this lock), so g outlives the wake-up below.
  g->lock.lock();
  if (g->exited || g->cancel_requested.exchange(true, std::memory_order_seq_cst)) {
    // Ended already (its outcome is decided; glibc returns 0 too), or
    // cancelled already.
    g->lock.unlock();
    return 0;
  }
  unsigned long long id = g->id;
  if (g == cancellable_here()) {
    g->lock.unlock();
    // Self-cancellation acts at once only when asynchronous.
    if (g->cancel_async.load(std::memory_order_relaxed)) act_on_cancel(g);
    return 0;
  }
  // Parked in a cancellation point: end that wait; the hook then acts.
  // Running, or in any other wait: it acts at its next cancellation point.
  bool ended = gh::cancel_wait(g);
  // Asynchronous and running: interrupt its carrier, whose handler acts if
  // it finds the thread in the program's code (cancel_async_here).
  if (!ended && g->cancel_async.load(std::memory_order_relaxed) && !g->cancel_disabled &&
      !g->exiting && g->state.load(std::memory_order_acquire) == gh::GreenState::kRunning &&
      offload_interrupt_installed()) {
    if (gh::Carrier* c = g->current_carrier())
      gh::sys(SYS_tgkill, getpid(), c->os_tid(), kOffloadInterruptSignal);
  }
  g->lock.unlock();
  gh::log_debug("pthread_cancel: thread %llu %s", id,
                ended ? "woken from its wait" : "acts at its next cancellation point");
  return 0;
}

GH_EXPORT void pthread_testcancel(void) {
  gh::GreenThread* g = cancel_self();
  if (!g) {
    ensure_real();
    return real::pthread_testcancel();
  }
  CancelPoint cp;
}

GH_EXPORT int pthread_setcancelstate(int state, int* old) {
  gh::GreenThread* g = cancel_self();
  if (!g) {
    ensure_real();
    return real::pthread_setcancelstate(state, old);
  }
  if (state != PTHREAD_CANCEL_ENABLE && state != PTHREAD_CANCEL_DISABLE) return EINVAL;
  if (old) *old = g->cancel_disabled ? PTHREAD_CANCEL_DISABLE : PTHREAD_CANCEL_ENABLE;
  g->cancel_disabled = state == PTHREAD_CANCEL_DISABLE;
  if (g->cancel_disabled) g->async_wait = false;  // a lock wait under way goes on
  // As glibc: enabling an asynchronous cancellation that is pending acts.
  if (!g->cancel_disabled && g->cancel_async) act_on_cancel(g);
  return 0;
}

GH_EXPORT int pthread_setcanceltype(int type, int* old) {
  gh::GreenThread* g = cancel_self();
  if (!g) {
    ensure_real();
    return real::pthread_setcanceltype(type, old);
  }
  if (type != PTHREAD_CANCEL_DEFERRED && type != PTHREAD_CANCEL_ASYNCHRONOUS) return EINVAL;
  if (old) *old = g->cancel_async ? PTHREAD_CANCEL_ASYNCHRONOUS : PTHREAD_CANCEL_DEFERRED;
  g->cancel_async = type == PTHREAD_CANCEL_ASYNCHRONOUS;
  if (!g->cancel_async) g->async_wait = false;  // a lock wait under way goes on
  if (g->cancel_async) act_on_cancel(g);
  return 0;
}
