// SPDX-License-Identifier: MIT
// A green thread: a stackful coroutine that runs on one carrier for its whole
// life. Field comments say who may touch each field:
//   [carrier]  only the owning carrier's OS thread
//   [lock]     under `lock`, from any thread
//   [const]    set at creation, read-only afterwards
#pragma once

#include <atomic>
#include <cstdint>

#include "core/arena.h"
#include "core/spinlock.h"
#include "core/stack.h"

namespace gh {

class Carrier;
struct Waiter;

enum class GreenState : uint8_t {
  kRunnable,  // in a ready queue, or about to be
  kRunning,   // the carrier's current thread
  kParked,    // waiting for ready()
  kExited,    // finished; waiting to be joined (unless detached)
};

// What a parked green thread waits on, for diagnostics and debugging.
struct WaitInfo {
  const char* what = nullptr;  // "read", "mutex", "sleep", ...
  int fd = -1;
  const void* object = nullptr;
  int64_t since_ns = 0;
};

using GreenEntry = void* (*)(void* arg);

// Set by a green thread for the length of a wait that a signal handler may
// interrupt (sleep, poll, a ring operation, ...). The carrier calls fire()
// on its own thread, after the handler ran, to end the wait early.
struct InterruptHook {
  void (*fire)(InterruptHook* self) = nullptr;
  bool restartable = false;  // SA_RESTART handlers leave this wait alone
};

struct GreenThread : ArenaObject {
  void* sp = nullptr;           // [carrier] saved context when not running
  GreenThread* next = nullptr;  // [carrier]/[remote queue lock] queue link
  Carrier* carrier = nullptr;   // [const]
  uint64_t id = 0;              // [const] process-unique, never reused
  std::atomic<GreenState> state{GreenState::kRunnable};
  int saved_errno = 0;         // [carrier] errno while switched out
  Stack stack;                 // [const] empty for a carrier's root thread
  bool pooled_stack = true;    // [const] stack came from the carrier's pool
  GreenEntry entry = nullptr;  // [const]
  void* arg = nullptr;         // [const]
  char name[16] = {};          // [carrier] NUL-terminated, like pthread names
  WaitInfo wait;               // [carrier]
  void* user = nullptr;        // [any] owned by the embedder (the shim)

  SpinLock lock;  // guards the fields below
  bool detached GH_GUARDED_BY(lock) = false;
  bool exited GH_GUARDED_BY(lock) = false;
  void* result GH_GUARDED_BY(lock) = nullptr;    // valid once exited
  Waiter* joiner GH_GUARDED_BY(lock) = nullptr;  // the one thread waiting in join

  InterruptHook* interrupt = nullptr;  // [carrier] set while in an interruptible wait
  GreenThread* intr_prev = nullptr;    // [carrier] links among the carrier's
  GreenThread* intr_next = nullptr;    //   threads with `interrupt` set
  bool io_restartable = true;          // [carrier] ring waits survive SA_RESTART handlers
  uint64_t sigmask = 0;                // [carrier] blocked signals (kernel sigset, 64 bits)
  void* tp = nullptr;    // [const] thread pointer; nullptr: the carrier's (core/thread_pointer.h)
  uint64_t tls_gen = 0;  // [carrier] TLS generation its block is up to date with
  void* asan_fake_stack = nullptr;  // [carrier] sanitizer bookkeeping
  bool is_root() const { return stack.lo == nullptr; }
};

}  // namespace gh
