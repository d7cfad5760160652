// SPDX-License-Identifier: MIT
// The offload pool: a few native OS threads for calls that cannot be made
// non-blocking (getaddrinfo and friends). The calling green thread parks
// while a pool thread makes the call; its carrier runs other green threads.
//
// Pool threads are started lazily (up to max_threads, default 4) through a
// starter the embedder provides, so that they can run outside interposition.
#pragma once

#include <cerrno>

namespace gh {

// Starts a native thread running fn(arg). Returns 0 or an errno value.
using NativeThreadStarter = int (*)(void* (*fn)(void*), void* arg);

// Pool threads unless offload_configure says otherwise.
constexpr int kDefaultOffloadThreads = 4;

// Sets how pool threads are started and how many may exist. Call before use.
void offload_configure(NativeThreadStarter starter, int max_threads);

// Runs fn(arg) on a pool thread and parks the calling green thread until it
// returns. Falls back to running fn(arg) on the caller when no pool thread
// can be started or the caller has no carrier.
void offload_run(void (*fn)(void*), void* arg);

// offload_run for a callable: runs call() on a pool thread, parking the
// caller, and returns what it returned. errno travels with the call: the
// pool thread starts with the caller's errno and the caller ends with the
// pool thread's, so the caller sees errno exactly as if it made the call.
template <class Call>
auto offload_call(Call&& call) -> decltype(call()) {
  using R = decltype(call());
  int err = errno;
  if constexpr (__is_same(R, void)) {
    auto run = [&] {
      errno = err;
      call();
      err = errno;
    };
    offload_run([](void* p) { (*static_cast<decltype(run)*>(p))(); }, &run);
    errno = err;
  } else {
    R r{};
    auto run = [&] {
      errno = err;
      r = call();
      err = errno;
    };
    offload_run([](void* p) { (*static_cast<decltype(run)*>(p))(); }, &run);
    errno = err;
    return r;
  }
}

// In a fork child: the parent's pool threads do not exist there.
void offload_forget_after_fork();

}  // namespace gh
