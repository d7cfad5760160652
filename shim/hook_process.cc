// SPDX-License-Identifier: MIT
// Processes: fork gives the child a fresh runtime that holds only the forking
// green thread; vfork is a fork (POSIX allows it, and a vfork child must not
// touch the parent's runtime); exit marks the process as exiting so that no
// carrier waits for its green threads. The wait family (waitpid, wait, wait3,
// wait4, waitid) parks only the calling green thread: a child that needs the
// other green threads of its parent to make progress (reading its output,
// say) must not deadlock against a carrier blocked in waitpid.
#include <sys/resource.h>
#include <sys/syscall.h>
#include <errno.h>
#include <cstring>
#include <sys/prctl.h>
#include <sys/wait.h>

#include <cerrno>

#include "core/carrier.h"
#include "core/sys.h"
#include "core/log.h"
#include "shim/cancel.h"
#include "shim/fd_table.h"
#include "core/offload.h"
#include "ioring/runtime_fd.h"
#include "shim/control.h"
#include "shim/hook_ptrace.h"
#include "shim/thread_registry.h"
#include "shim/state.h"

using namespace gh::shim;

GH_EXPORT pid_t fork(void) {
  ensure_real();
  if (!g_enabled) return real::fork();
  ShimThread* st = gh::Carrier::current() ? shim_self() : nullptr;
  gh::Carrier* on = gh::Carrier::current();
  pid_t pid = real::fork();
  // Parent and child now share every open file description: either may
  // change O_NONBLOCK on it.
  if (pid >= 0) fd_mark_all_shared();
  // The child may ask to be traced by the OS thread that forked it.
  if (pid > 0 && on) ptrace_forked(pid, on);
  if (pid == 0) {
    forget_handlers_after_fork();
    // The parent's rings and eventfds: of no use here, and their numbers
    // may be what the child's own runtime needs.
    if (g_enabled) {
      gh::ioring::close_runtime_fds_after_fork();
      control_forget_fds_after_fork();
    }
    fd_after_fork_child();
    if (g_enabled) registry_after_fork_child(st);
    kept_signals_after_fork_child(st);
    // The parent's control thread is not here; a dump signal needs one.
    if (dump_signal()) control_start();
    // A parent that had made no thread yet has no runtime, but its process
    // pool names the parent's main thread as the one whose first thread
    // starts the carriers: the child's first thread must start them too
    // (every core, hand-off), not a private one-carrier pool.
    if (g_enabled && !gh::Carrier::current()) new_process_pool();
  }
  if (pid == 0 && gh::Carrier::current()) {
    gh::Carrier::forget_after_fork();
    gh::offload_forget_after_fork();
    // A fresh runtime: the parent's other carriers do not exist here.
    new_process_pool();
    // The child's one OS thread is the one the forking green thread ran on,
    // maybe a carrier named gh-*: give it the thread's own name, as the
    // kernel gives a child the name of the thread that forked.
    char comm[16] = {};
    gh::sys(SYS_prctl, PR_GET_NAME, comm, 0, 0, 0);
    if (std::strncmp(comm, "gh-", 3) == 0) {
      const char* name =
          st && st->g && st->g->name[0] ? st->g->name : program_invocation_short_name;
      gh::sys(SYS_prctl, PR_SET_NAME, name, 0, 0, 0);
    }
    // The running context becomes the root of the child's new carrier and
    // keeps its pthread_t and thread-specific data.
    if (gh::Carrier* c = gh::Carrier::get()) {
      if (st) {
        // Its cancellation state goes with it, as glibc's goes with the
        // forking thread's descriptor.
        gh::GreenThread* was = st->g;
        gh::GreenThread* now = c->running();
        now->cancel_requested.store(was->cancel_requested.load(std::memory_order_relaxed));
        now->cancel_disabled = was->cancel_disabled.load();
        now->exiting = was->exiting;
        now->cancel_async.store(was->cancel_async.load(std::memory_order_relaxed));
        st->g = now;
        now->user = st;
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

// ---- the wait family ----

namespace {

// A blocking wait: first without blocking (a child that has already changed
// state is reaped at once, and errors such as ECHILD come back at once);
// otherwise the blocking call runs on the offload pool (any thread of the
// process may wait for its children) while the caller parks, as an
// interruptible job: a handler (SIGCHLD's, typically) ends it with EINTR
// unless SA_RESTART, as natively (signal(7)), and any number of threads may
// wait at once.
pid_t green_wait4(pid_t pid, int* status, int options, rusage* ru) {
  long r = gh::sys(SYS_wait4, pid, status, options | WNOHANG, ru);
  if (r != 0) return static_cast<pid_t>(r);
  return static_cast<pid_t>(gh::offload_call_interruptible(
      true, [&] { return gh::sys(SYS_wait4, pid, status, options, ru); }));
}

}  // namespace

GH_EXPORT pid_t waitpid(pid_t pid, int* status, int options) {
  CancelPoint cp;
  if ((options & WNOHANG) || !may_park()) return cp.done(real::waitpid(pid, status, options));
  return cp.done(green_wait4(pid, status, options, nullptr));
}

GH_EXPORT pid_t wait(int* status) {
  CancelPoint cp;
  if (!may_park()) return cp.done(real::wait(status));
  return cp.done(green_wait4(-1, status, 0, nullptr));
}

GH_EXPORT pid_t wait3(int* status, int options, rusage* ru) {
  CancelPoint cp;
  if ((options & WNOHANG) || !may_park()) return cp.done(real::wait3(status, options, ru));
  return cp.done(green_wait4(-1, status, options, ru));
}

GH_EXPORT pid_t wait4(pid_t pid, int* status, int options, rusage* ru) {
  CancelPoint cp;
  if ((options & WNOHANG) || !may_park()) return cp.done(real::wait4(pid, status, options, ru));
  return cp.done(green_wait4(pid, status, options, ru));
}

GH_EXPORT int waitid(idtype_t idtype, id_t id, siginfo_t* info, int options) {
  CancelPoint cp;
  if ((options & WNOHANG) || !may_park()) return cp.done(real::waitid(idtype, id, info, options));
  long r;
  if (info) {
    // With WNOHANG the kernel zeroes si_pid when no child is ready (and has
    // then written info, so reading it is safe).
    r = gh::sys(SYS_waitid, idtype, id, info, options | WNOHANG, nullptr);
    if (r != 0 || info->si_pid != 0) return cp.done(static_cast<int>(r));
  }
  return cp.done(static_cast<int>(gh::offload_call_interruptible(
      true, [&] { return gh::sys(SYS_waitid, idtype, id, info, options, nullptr); })));
}

// ---- system and pclose ----
//
// Both wait for a child inside libc (an internal waitpid the shim cannot
// see). Made on the carrier they would block it for as long as the child
// runs: a child that needs a green thread of this process (reading what it
// writes, answering its requests) would then never finish. They run on the
// offload pool instead while the caller parks, as long waits (never queued
// behind other jobs) that no handler interrupts: libc's own wait inside
// them retries after EINTR.

GH_EXPORT int system(const char* command) {
  auto fn = real::system;
  if (!may_park()) return fn(command);
  return gh::offload_call([&] { return fn(command); }, true);
}

GH_EXPORT int pclose(FILE* stream) {
  auto fn = real::pclose;
  // The stream's fd is closed inside libc: forget it first.
  if (stream && g_enabled) {
    int fd = fileno(stream);
    if (fd >= 0) fd_forget(fd);
  }
  if (!may_park()) return fn(stream);
  return gh::offload_call([&] { return fn(stream); }, true);
}
