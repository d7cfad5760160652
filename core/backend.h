// SPDX-License-Identifier: MIT
// The contract between a carrier's scheduler and its I/O backend.
//
// A carrier blocks in exactly one place: Backend::wait. A backend implements
// the calls below for one carrier. poll() and prepare_wait() are made under
// the carrier's service lock, by the carrier's OS thread or by a carrier
// serving it; wait() by the carrier's own OS thread without the lock (no
// other thread touches the backend's queues meanwhile: the carrier is marked
// idle, and idle carriers are not served); wake() and inflight() from any
// thread. Completions are delivered by calling Carrier::ready() on the green
// thread that waits for them, from inside poll() (never wait()).
//
// Two implementations, both in ioring/: io_uring (ring.h: the kernel does
// the I/O and reports completions) and epoll (epoll.h: the kernel reports
// readiness and the green thread makes the non-blocking call itself). The
// operations green threads wait for (ioring/ops.h) work on either;
// backend_create (ioring/backend.cc) picks one per carrier.
#pragma once

#include <cstddef>
#include <cstdint>

namespace gh {

class Carrier;

// Which backend a pool's carriers use.
enum class BackendKind : uint8_t {
  kAuto,     // io_uring if the kernel lets us set up a ring, else epoll
  kIoUring,  // io_uring or nothing
  kEpoll,    // epoll, even where io_uring works
};

class Backend {
 public:
  virtual ~Backend() = default;
  // "io_uring" or "epoll".
  virtual const char* name() const = 0;
  virtual BackendKind kind() const = 0;
  // Submits queued requests and dispatches the completions already there,
  // without blocking. Returns the number of completions dispatched.
  virtual int poll() = 0;
  // Submits queued requests and arms what wake() needs, so that wait() only
  // has to block.
  virtual void prepare_wait() = 0;
  // Blocks until a completion is ready to dispatch, wake() is called, or
  // the CLOCK_MONOTONIC deadline (ns; < 0: none) passes. Dispatches
  // nothing: poll() does, afterwards. With sigmask, the OS thread's signal
  // mask is *sigmask (kernel sigset, bit sig-1) for the wait only, set and
  // restored atomically with it as ppoll does; nullptr keeps the thread's
  // mask. Returns 0, or -EINTR when a signal handler ran meanwhile.
  virtual int wait(int64_t deadline_ns, const uint64_t* sigmask) = 0;
  // Any thread, async-signal-safe: makes the current or the next wait()
  // return soon.
  virtual void wake() = 0;
  // Number of requests queued or in flight that will produce a completion.
  virtual uint32_t inflight() const = 0;
};

// Creates the backend of carrier c, of the kind its pool's options ask for
// (ioring/backend.cc). Returns nullptr with errno set when the kernel
// refuses.
Backend* backend_create(Carrier* c);

// Whether a backend of kind k can be set up in this process (seccomp,
// sysctls, limits). Returns 0, or -errno with the reasons in why. Cheap
// (no ring is kept); a refusal of io_uring is remembered, so that carriers
// of kind kAuto go straight to epoll.
int backend_probe(BackendKind k, char* why, size_t len);

// The kind PoolOptions{} start with (tests use it to run on epoll).
// Process-wide; set before the carriers it should affect are created.
void set_default_backend(BackendKind k);
BackendKind default_backend();

}  // namespace gh
