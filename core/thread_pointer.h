// SPDX-License-Identifier: MIT
// The thread pointer of a green thread: the whole contract a TLS backend
// implements so that each green thread has its own thread-local storage and
// thread control block, exactly like an OS thread of the C library, and can
// run on any OS thread (docs/design.md, "The thread pointer").
//
// The carrier loads a green thread's thread pointer (the %fs base on
// x86-64) on every switch to it when it differs from the loaded one. A
// green thread without one (tp == nullptr) runs on its carrier's: that is
// the "shared" mode, in which errno is saved and restored by the switch.
// The shim's backend (shim/glibc_tls.cc) builds blocks with the dynamic
// loader's own TLS allocator.
#pragma once

#include <cstddef>
#include <cstdint>

namespace gh {

struct ThreadPointerOps {
  // Makes the TLS block and thread control block of a new green thread at
  // the top of its stack [lo, *hi): returns its thread pointer and lowers
  // *hi to where the usable stack now ends. `creator_tp` is the thread
  // pointer of the creating thread (its TCB is the model: stack guard,
  // pointer guard, ...). `id` is the new thread's GreenThread::id: the
  // TCB's thread id is made from it, so that no two threads share one (the
  // C library's recursive locks know their owner by it). Sets *gen to the
  // TLS generation the new block is up to date with. Returns nullptr when
  // the stack is too small or memory is short.
  void* (*create)(void* creator_tp, void* lo, void** hi, uint64_t id, uint64_t* gen);
  // Frees what create() made (not the stack). Runs on another thread.
  void (*destroy)(void* tp);
  // Brings the block of a green thread that is not running up to date with
  // the modules loaded since generation `since` (their static TLS, which the
  // C library initialises only in its own threads). Called by the carrier
  // before it switches to the thread. Returns the generation the block is
  // now up to date with (the backend may have bumped it meanwhile).
  uint64_t (*refresh)(void* tp, uint64_t since);
  // The most create() takes from the top of a stack (the block and its
  // alignment): a stack made for the runtime's own use adds it.
  size_t (*block_bytes)();
};

// Sets the backend; nullptr (the default) means shared thread pointers.
// Once, at start-up, before any green thread exists.
void set_thread_pointer_ops(const ThreadPointerOps* ops);
// Whether green threads get their own thread pointer.
bool exact_tls();

// The TLS generation: bumped (by the backend) before each library load that
// may bring static TLS, and when it finds a module with static TLS that no
// generation covers yet; a green thread whose block is older is refreshed
// before it runs again.
uint64_t tls_generation();
void bump_tls_generation();

}  // namespace gh
