// SPDX-License-Identifier: MIT
// One epoll set per carrier: the carrier's Backend (core/backend.h) where
// io_uring cannot be used.
//
// The kernel reports readiness, not completions: a green thread makes its
// call non-blocking (MSG_DONTWAIT, RWF_NOWAIT, ...), and when that would
// block it registers an FdWait for the events it needs and parks
// (ioring/ops_epoll.cc). A registration is one-shot (EPOLLONESHOT) and made
// again (EPOLL_CTL_MOD) for every wait: after a close the fd number may name
// another file, and MOD then fails with ENOENT instead of leaving a stale
// registration that never fires. Each ADD bumps the fd's generation, kept
// in the event's data, so that an event of an older registration (of a file
// that lives on in a dup) is recognised and ignored.
//
// Timers are the carrier's timer heap; cross-carrier wake-ups arrive through
// an eventfd in the set. Regular files and directories cannot be polled:
// epoll refuses them, and poll(2) calls them always ready, so add() reports
// them ready at once.
//
// Owner: whoever holds the carrier's service lock (add, remove, cancel_fd,
// poll, prepare_wait), or the carrier's own OS thread while it is idle
// (wait). wake() and inflight() from any thread.
#pragma once

#include <sys/epoll.h>

#include <atomic>
#include <cstdint>
#include <vector>

#include "core/arena.h"
#include "core/backend.h"
#include "core/green.h"

namespace gh::ioring {

// One green thread's wait for events on one fd. Lives on its stack.
struct FdWait {
  Waiter* waiter = nullptr;  // woken (gh::wake) when events arrive
  int fd = -1;
  uint32_t events = 0;     // poll(2) bits wanted; POLLERR and POLLHUP always
  uint32_t revents = 0;    // what arrived; 0 while waiting
  bool cancelled = false;  // cancel_fd(): the fd is being closed
  bool linked = false;     // in its fd's list
  FdWait* next = nullptr;
  FdWait* prev = nullptr;
};

// Counters, for tests, diagnostics and benchmarks. Service-lock owner only.
struct EpollStats {
  uint64_t polls = 0;           // epoll_wait calls that could not sleep
  uint64_t blocking_waits = 0;  // epoll_pwait2 calls that could sleep
  uint64_t events = 0;          // events dispatched (wake-ups included)
  uint64_t ctl = 0;             // epoll_ctl calls
  uint64_t stale = 0;           // events of older registrations, ignored
};

class Epoll final : public Backend, public ArenaObject {
 public:
  // Sets up the epoll set of carrier c. Returns nullptr and sets errno on
  // failure.
  static Epoll* create(Carrier* c);
  ~Epoll() override;
  // The calling OS thread's carrier's backend if it is an Epoll (creating
  // the carrier if needed), else nullptr.
  static Epoll* current();
  Carrier* carrier() const { return carrier_; }

  // Registers w. Returns 0; 1 when w->fd cannot be polled (a regular file
  // or directory) and so is ready now: w->revents is set, nothing is
  // registered; or -errno (-EBADF). Under the service lock.
  int add(FdWait* w);
  // Unregisters w if it still is. Under the service lock.
  void remove(FdWait* w);
  // Ends every wait on fd (cancelled, woken) and drops fd's registration:
  // the fd is about to be closed. Returns how many waits ended. Under the
  // service lock.
  int cancel_fd(int fd);

  // Backend contract.
  const char* name() const override { return "epoll"; }
  BackendKind kind() const override { return BackendKind::kEpoll; }
  int poll() override;
  void prepare_wait() override {}
  int wait(int64_t deadline_ns, const uint64_t* sigmask) override;
  void wake() override;
  uint32_t inflight() const override { return inflight_.load(std::memory_order_relaxed); }

  const EpollStats& stats() const { return stats_; }
  int epoll_fd() const { return epfd_; }

 private:
  // What this set knows about one fd number.
  struct Watch {
    FdWait* head = nullptr;
    FdWait* tail = nullptr;
    uint32_t gen = 0;         // of the current registration; see above
    bool registered = false;  // the kernel has (this fd's file, fd) in the set
  };
  Epoll() = default;
  Watch* watch(int fd, bool create);
  int arm(int fd, Watch* w);
  void link(Watch* w, FdWait* f);
  void unlink(Watch* w, FdWait* f);
  int dispatch(const epoll_event* ev, int n);
  int ctl(int op, int fd, uint32_t events, uint64_t data);

  static constexpr int kMaxEvents = 128;
  Carrier* carrier_ = nullptr;                         // [const]
  int epfd_ = -1;                                      // [const]
  int wake_fd_ = -1;                                   // [const] eventfd written by wake()
  std::vector<Watch, ArenaAllocator<Watch>> watches_;  // indexed by fd
  // Events wait() received, for the next poll() to dispatch.
  epoll_event pending_[kMaxEvents];
  int npending_ = 0;
  epoll_event polled_[kMaxEvents];     // poll()'s (not on a green thread's stack)
  uint32_t polls_since_syscall_ = 0;   // see poll()
  std::atomic<uint32_t> inflight_{0};  // linked FdWaits; read by any thread
  EpollStats stats_;
};

}  // namespace gh::ioring
