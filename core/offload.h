// SPDX-License-Identifier: MIT
// The offload pool: a few native OS threads for calls that cannot be made
// non-blocking (getaddrinfo and friends). The calling green thread parks
// while a pool thread makes the call; its carrier runs other green threads.
//
// Pool threads are started lazily (up to max_threads, default 4) through a
// starter the embedder provides, so that they can run outside interposition.
#pragma once

#include <cerrno>
#include <type_traits>

namespace gh {

// Starts a native thread running fn(arg), named `name` (the runtime's
// threads are gh-*). Returns 0 or an errno value.
using NativeThreadStarter = int (*)(void* (*fn)(void*), void* arg, const char* name);

// Pool threads unless offload_configure says otherwise.
constexpr int kDefaultOffloadThreads = 4;

// Sets how pool threads are started, how many may serve offload_run at once,
// and the signal that interrupts a pool thread's call for
// offload_run_interruptible (0: none; the embedder installs a handler for it
// without SA_RESTART). Call before use.
void offload_configure(NativeThreadStarter starter, int max_threads, int interrupt_signal = 0);

// Runs fn(arg) on a pool thread and parks the calling green thread until it
// returns. Falls back to running fn(arg) on the caller when no pool thread
// can be started or the caller has no carrier. `long_wait`: the call may
// wait for as long as another party decides (a child process to end): it
// never waits behind other jobs, as offload_run_interruptible's (below), but
// no signal handler ends it.
void offload_run(void (*fn)(void*), void* arg, bool long_wait = false);

// offload_run for a callable: runs call() on a pool thread, parking the
// caller, and returns what it returned. errno travels with the call: the
// pool thread starts with the caller's errno and the caller ends with the
// pool thread's, so the caller sees errno exactly as if it made the call.
template <class Call>
auto offload_call(Call&& call, bool long_wait = false) -> decltype(call()) {
  using R = decltype(call());
  int err = errno;
  if constexpr (__is_same(R, void)) {
    auto run = [&] {
      errno = err;
      call();
      err = errno;
    };
    offload_run([](void* p) { (*static_cast<decltype(run)*>(p))(); }, &run, long_wait);
    errno = err;
  } else {
    R r{};
    auto run = [&] {
      errno = err;
      r = call();
      err = errno;
    };
    offload_run([](void* p) { (*static_cast<decltype(run)*>(p))(); }, &run, long_wait);
    errno = err;
    return r;
  }
}

// Runs fn(arg) on a pool thread, as offload_run, for a call that waits for as
// long as another party decides (a lock, a message queue, a FIFO's peer):
//  - it never waits behind other jobs: a pool thread is started for it when
//    none is idle, beyond max_threads (natively the caller is an OS thread
//    of its own, and the party it waits for may need the pool meanwhile);
//  - it is interruptible as the native call is: when a signal handler runs
//    for the caller meanwhile (other than an SA_RESTART one, if
//    `restartable`), the pool thread is sent the interrupt signal until fn
//    returns, so that the call in it fails with EINTR (or completes, if it
//    got there first).
// Returns 0 once fn(arg) has run, -EINTR if the interruption came before a
// pool thread started it (fn did not run). Without a carrier, fn runs on the
// caller.
int offload_run_interruptible(void (*fn)(void*), void* arg, bool restartable);

// offload_run_interruptible for a callable returning -1 (or a null pointer)
// and errno on failure (a system call's wrapper, fopen): returns what it
// returned, with its errno; -1 (nullptr) and EINTR if it was interrupted
// before it started.
template <class Call>
auto offload_call_interruptible(bool restartable, Call&& call) -> decltype(call()) {
  using R = decltype(call());
  int err = errno;
  R r{};
  auto run = [&] {
    errno = err;
    r = call();
    err = errno;
  };
  if (offload_run_interruptible([](void* p) { (*static_cast<decltype(run)*>(p))(); }, &run,
                                restartable) != 0) {
    errno = EINTR;
    if constexpr (std::is_pointer_v<R>)
      return nullptr;  // fopen's failure
    else
      return R(-1);
  }
  errno = err;
  return r;
}

// offload_run_interruptible for a system call made with gh::sys_ret
// (returning >= 0 or -errno, errno untouched): returns what it returned, or
// -EINTR if a signal handler interrupted the wait before it started.
template <class Call>
long offload_syscall_interruptible(bool restartable, Call&& call) {
  long r = -EINTR;
  auto run = [&] { r = call(); };
  if (offload_run_interruptible([](void* p) { (*static_cast<decltype(run)*>(p))(); }, &run,
                                restartable) != 0)
    return -EINTR;
  return r;
}

// Jobs queued or running now (for the deadlock check: a running job may
// wake a parked thread). Any thread.
int offload_busy();

// In a fork child: the parent's pool threads do not exist there.
void offload_forget_after_fork();

}  // namespace gh
