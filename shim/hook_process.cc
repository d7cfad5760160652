// Processes: fork gives the child a fresh runtime that holds only the forking
// green thread; vfork is a fork (POSIX allows it, and a vfork child must not
// touch the parent's runtime); exit marks the process as exiting so that no
// carrier waits for its green threads.
#include <sys/syscall.h>

#include "core/carrier.h"
#include "core/log.h"
#include "shim/fd_table.h"
#include "core/offload.h"
#include "shim/green_pthread.h"
#include "shim/state.h"

using namespace gh::shim;

GH_EXPORT pid_t fork(void) {
  ensure_real();
  if (!g_enabled) return real::fork();
  ShimThread* st = gh::Carrier::current() ? shim_self() : nullptr;
  pid_t pid = real::fork();
  // Parent and child now share every open file description: either may
  // change O_NONBLOCK on it.
  if (pid >= 0) fd_mark_all_shared();
  if (pid == 0 && gh::Carrier::current()) {
    gh::Carrier::forget_after_fork();
    gh::offload_forget_after_fork();
    // The running context becomes the root of the child's new carrier and
    // keeps its pthread_t and thread-specific data.
    if (gh::Carrier* c = gh::Carrier::get()) {
      if (st) {
        st->g = c->running();
        c->running()->user = st;
      }
    } else {
      gh::log_error("fork: cannot set up the child's runtime");
    }
  }
  return pid;
}

GH_EXPORT pid_t vfork(void) { return fork(); }

GH_EXPORT void exit(int status) {
  ensure_real();
  gh::Carrier::set_process_exiting();
  real::exit(status);
  __builtin_unreachable();
}
