// SPDX-License-Identifier: MIT
// ptrace(2). The kernel takes requests on a tracee only from its tracer:
// the OS thread that attached to it (PTRACE_ATTACH, PTRACE_SEIZE) or, for a
// child that asked with PTRACE_TRACEME, the thread that forked it. A green
// thread may move between OS threads (docs/design.md, "Moving between OS
// threads"): the tracer's next request would come from another one and fail
// with ESRCH (gdb: "Couldn't get registers: No such process"). So a green
// thread's ptrace request first takes it to the carrier whose OS thread
// traces the tracee, and pins it there for good, as a debugger's thread
// that traces is one OS thread natively.
#include "shim/hook_ptrace.h"

#include <stdarg.h>
#include <sys/ptrace.h>

#include "core/carrier.h"
#include "core/green_thread.h"
#include "core/spinlock.h"
#include "shim/real.h"
#include "shim/state.h"

using namespace gh::shim;

namespace gh::shim {

namespace {

// Children forked by green threads, and where: the last kForks, enough for
// a debugger that starts its inferiors one after another.
struct Fork {
  pid_t pid = 0;
  gh::Carrier* carrier = nullptr;
};
constexpr int kForks = 64;
gh::SpinLock g_forks_lock;
Fork g_forks[kForks] GH_GUARDED_BY(g_forks_lock);
int g_forks_next GH_GUARDED_BY(g_forks_lock) = 0;

// The newest record of pid (a pid is reused only after its child was
// reaped, and then it is a new child).
gh::Carrier* forked_on(pid_t pid) {
  gh::SpinGuard guard(g_forks_lock);
  for (int i = 1; i <= kForks; i++) {
    const Fork& f = g_forks[(g_forks_next - i + kForks) % kForks];
    if (f.pid == pid) return f.carrier;
  }
  return nullptr;
}

// Takes the running green thread to the carrier whose OS thread traces
// `pid` (or, not knowing one, keeps it on this one) and pins it there.
void stay_with_tracee(pid_t pid) {
  gh::Carrier* c = gh::Carrier::current();
  if (!c) return;
  gh::GreenThread* g = c->running();
  // In a signal handler the running context is a frame, not the thread:
  // its request goes from here.
  if (g->internal || g->frame_of) return;
  gh::Carrier* want = forked_on(pid);
  // A carrier no longer running green threads (a spare that retired, one
  // whose OS thread left) would never run the thread: its request goes from
  // here, as it would have.
  if (want && !want->runs_here()) return;
  if (!want) want = g->pinned.load(std::memory_order_relaxed) && g->home ? g->home : c;
  if (g->is_root()) {
    // A root belongs to its own carrier (it exits that OS thread): it can
    // only go home. Elsewhere its request fails as it would have.
    if (want == g->home) c->go_home();
    return;
  }
  // Only the thread itself changes its home, while it runs: no one readies
  // it meanwhile (ready() reads home of a pinned thread).
  g->home = want;
  c->go_home();
}

}  // namespace

void ptrace_forked(pid_t pid, gh::Carrier* on) {
  gh::SpinGuard guard(g_forks_lock);
  g_forks[g_forks_next] = Fork{pid, on};
  g_forks_next = (g_forks_next + 1) % kForks;
}

}  // namespace gh::shim

GH_EXPORT long ptrace(enum __ptrace_request request, ...) {
  va_list ap;
  va_start(ap, request);
  pid_t pid = va_arg(ap, pid_t);
  void* addr = va_arg(ap, void*);
  void* data = va_arg(ap, void*);
  va_end(ap);
  ensure_real();
  // PTRACE_TRACEME: the caller is the tracee.
  bool green = green_ok() && request != PTRACE_TRACEME;
  if (green) stay_with_tracee(pid);
  long r = real::ptrace(request, pid, addr, data);
  // Attached: this OS thread is its tracer from now on.
  if (green && r == 0 && (request == PTRACE_ATTACH || request == PTRACE_SEIZE)) {
    if (gh::Carrier* c = gh::Carrier::current()) ptrace_forked(pid, c);
  }
  return r;
}
