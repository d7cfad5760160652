// SPDX-License-Identifier: MIT
// One io_uring per carrier: the carrier's Backend (core/backend.h).
//
// A green thread that must wait for the kernel fills an SQE through sqe(),
// points its user_data at a Request on its own stack, and parks. SQEs are not
// submitted one by one: they wait in the SQ until the carrier runs out of
// runnable green threads (or polls, see core/carrier.cc), so the SQEs of many
// green threads go to the kernel in one io_uring_enter. Each completion sets
// the Request's result and readies its green thread.
//
// Owner: whoever holds the carrier's service lock (Carrier::with_service):
// the carrier's own OS thread, or, while that thread is stuck in a green
// thread, a carrier of the same pool that serves it. wake() and inflight()
// from any thread. A ring that may be served by others is set up without
// IORING_SETUP_SINGLE_ISSUER and DEFER_TASKRUN, which bind it to one thread.
#pragma once

#include <liburing.h>

#include <atomic>
#include <cstdint>

#include "core/backend.h"
#include "core/green_thread.h"
#include "ioring/runtime_fd.h"

namespace gh::ioring {

// One awaited operation. Lives on the stack of the green thread that waits.
struct Request : ArenaObject {
  GreenThread* g = nullptr;  // readied when the completion arrives
  int32_t res = 0;           // cqe->res: result or -errno, as the kernel says
  uint32_t cqe_flags = 0;
  bool done = false;
  // When set, the completion calls gh::wake(waiter) instead of readying g:
  // several Requests can then share one park (the first completion wins).
  Waiter* waiter = nullptr;
};

// user_data values that are not Request pointers.
enum : uint64_t {
  kUserIgnore = 0,  // completion nobody waits for (linked timeouts, cancels)
  kUserWakeup = 1,  // the cross-thread wake-up eventfd read
};

// What Ring::create() obtained from the kernel.
struct RingFeatures {
  bool single_issuer = false;  // IORING_SETUP_SINGLE_ISSUER (6.0)
  bool defer_taskrun = false;  // IORING_SETUP_DEFER_TASKRUN (6.1)
  bool coop_taskrun = false;   // IORING_SETUP_COOP_TASKRUN (5.19)
  bool taskrun_flag = false;   // IORING_SETUP_TASKRUN_FLAG (5.19): IORING_SQ_TASKRUN is reliable
  bool submit_all = false;     // IORING_SETUP_SUBMIT_ALL (5.18)
  bool registered_fd = false;  // io_uring_register_ring_fd succeeded
  bool ext_arg = false;        // IORING_FEAT_EXT_ARG: waits with a timeout need no SQE
  bool nodrop = false;         // IORING_FEAT_NODROP: CQ overflow is kept, not dropped
  unsigned sq_entries = 0;
  unsigned cq_entries = 0;
};

// Counters, for tests, diagnostics and benchmarks. Owner thread only.
struct RingStats {
  uint64_t enters = 0;           // io_uring_enter calls (submit, reap or wait)
  uint64_t blocking_enters = 0;  // of which could sleep waiting for a completion
  uint64_t submitted = 0;        // SQEs the kernel consumed
  uint64_t completions = 0;      // CQEs dispatched (Requests, wake-ups, ignored)
  uint64_t sq_full = 0;          // sqe()/sqes() found no room and submitted early
  uint64_t overflow_seen = 0;    // times the kernel flagged a CQ overflow backlog
  uint64_t enter_errors = 0;     // io_uring_enter refusals (-EBUSY, -EAGAIN, ...)
};

class Ring final : public Backend, public ArenaObject {
 public:
  // Sets up the ring of carrier c with the best flags the kernel accepts
  // (those that bind it to one thread only if `one_thread`). Returns nullptr
  // and sets errno on failure.
  static Ring* create(Carrier* c, bool one_thread);
  // The carrier whose ring this is.
  Carrier* carrier() const { return carrier_; }
  ~Ring() override;

  // The calling OS thread's ring (creating its carrier if needed), or nullptr
  // (no carrier, or its backend is epoll).
  static Ring* current();

  // A zeroed SQE. When the SQ is full, submits what is queued to make room
  // (and, if the kernel refuses the submission, reaps completions until it
  // accepts). Never returns nullptr. May ready other green threads.
  io_uring_sqe* sqe();
  // Like sqe(), but first makes sure n SQEs fit without an intervening
  // submit, so that a linked chain of n is submitted whole.
  io_uring_sqe* sqes(unsigned n);
  // Marks req as waited for: sets its user_data on `sqe` and counts it.
  void track(io_uring_sqe* sqe, Request* req);

  // Submits queued SQEs now (rarely needed: the scheduler batches).
  int submit();

  // Backend contract.
  const char* name() const override { return "io_uring"; }
  BackendKind kind() const override { return BackendKind::kIoUring; }
  int poll() override;
  void prepare_wait() override;
  int wait(int64_t deadline_ns, const uint64_t* sigmask) override;
  void wake() override;
  uint32_t inflight() const override { return inflight_.load(std::memory_order_relaxed); }

  const RingFeatures& features() const { return features_; }
  const RingStats& stats() const { return stats_; }
  // CQEs the kernel had to drop (CQ overflow without room for the backlog).
  // Always 0 unless the kernel is out of memory or lacks IORING_FEAT_NODROP.
  uint32_t dropped() const { return *ring_.cq.koverflow; }
  int ring_fd() const { return ring_.ring_fd; }
  // Whether the kernel flags pending completion work (IORING_SQ_TASKRUN),
  // of whichever thread. Tests.
  bool work_flagged() const { return IO_URING_READ_ONCE(*ring_.sq.kflags) & IORING_SQ_TASKRUN; }
  int wake_fd() const { return wake_fd_; }

 private:
  Ring() { ring_.ring_fd = -1; }  // no ring until create() has set one up
  int dispatch();
  int reap();
  int enter_nowait();
  bool kernel_has_events() const;
  void make_room(unsigned n);
  void arm_wakeup();

  io_uring ring_{};
  RingFeatures features_;
  RingStats stats_;
  uint32_t polls_since_enter_ = 0;  // see poll()
  // Tracked Requests without a completion yet. Written under the service
  // lock; read by the monitor.
  std::atomic<uint32_t> inflight_{0};
  Carrier* carrier_ = nullptr;  // [const]
  int wake_fd_ = -1;            // eventfd written by wake()
  bool wake_armed_ = false;     // a read on wake_fd_ is queued or in flight
  uint64_t wake_buf_ = 0;       // target of that read
};

// Sizes and allowed setup flags of rings created from now on. Process-wide;
// set before the threads whose carriers it should affect are created. Tests
// use it to force the fallbacks of older kernels and tiny queues.
struct RingOptions {
  unsigned sq_entries = 256;
  unsigned cq_entries = 4096;  // 0: the kernel's default (2 * sq_entries)
  unsigned setup_mask = ~0u;   // IORING_SETUP_* flags create() may try
};
void set_ring_options(const RingOptions& opts);
RingOptions ring_options();

}  // namespace gh::ioring
