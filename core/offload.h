// The offload pool: a few native OS threads for calls that cannot be made
// non-blocking (getaddrinfo and friends). The calling green thread parks
// while a pool thread makes the call; its carrier runs other green threads.
//
// Pool threads are started lazily (up to max_threads, default 4) through a
// starter the embedder provides, so that they can run outside interposition.
#pragma once

namespace gh {

// Starts a native thread running fn(arg). Returns 0 or an errno value.
using NativeThreadStarter = int (*)(void* (*fn)(void*), void* arg);

// Sets how pool threads are started and how many may exist. Call before use.
void offload_configure(NativeThreadStarter starter, int max_threads);

// Runs fn(arg) on a pool thread and parks the calling green thread until it
// returns. Falls back to running fn(arg) on the caller when no pool thread
// can be started or the caller has no carrier.
void offload_run(void (*fn)(void*), void* arg);

// In a fork child: the parent's pool threads do not exist there.
void offload_forget_after_fork();

}  // namespace gh
