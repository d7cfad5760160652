// One io_uring per carrier: the carrier's Backend (core/backend.h).
//
// A green thread that must wait for the kernel fills an SQE through sqe(),
// points its user_data at a Request on its own stack, and parks. SQEs are not
// submitted one by one: they wait in the SQ until the carrier runs out of
// runnable green threads (or polls, see core/carrier.cc), so the SQEs of many
// green threads go to the kernel in one io_uring_enter. Each completion sets
// the Request's result and readies its green thread.
//
// Owner: the carrier's OS thread (IORING_SETUP_SINGLE_ISSUER), except wake().
#pragma once

#include <liburing.h>

#include <cstdint>

#include "core/backend.h"
#include "core/green_thread.h"

namespace gh::ioring {

// One awaited operation. Lives on the stack of the green thread that waits.
struct Request {
  GreenThread* g = nullptr;  // readied when the completion arrives
  int32_t res = 0;           // cqe->res: result or -errno, as the kernel says
  uint32_t cqe_flags = 0;
  bool done = false;
};

// user_data values that are not Request pointers.
enum : uint64_t {
  kUserIgnore = 0,    // completion nobody waits for (linked timeouts, cancels)
  kUserWakeup = 1,    // the cross-thread wake-up eventfd read
};

struct RingFeatures {
  bool single_issuer = false;
  bool defer_taskrun = false;
  bool coop_taskrun = false;
  bool registered_fd = false;
  bool ext_arg = false;
};

class Ring final : public Backend {
 public:
  // Sets up the ring with the best flags the kernel accepts. Returns nullptr
  // and sets errno on failure.
  static Ring* create();
  ~Ring() override;

  // The calling OS thread's ring (creating its carrier if needed), or nullptr.
  static Ring* current();

  // A zeroed SQE. When the SQ is full, submits what is queued to make room.
  // Never returns nullptr.
  io_uring_sqe* sqe();
  // Like sqe(), but first makes sure n SQEs fit without an intervening
  // submit, so that a linked chain of n is submitted whole.
  io_uring_sqe* sqes(unsigned n);
  // Marks req as waited for: sets its user_data on `sqe` and counts it.
  void track(io_uring_sqe* sqe, Request* req);

  // Submits queued SQEs now (rarely needed: the scheduler batches).
  int submit();

  // Backend contract.
  int poll() override;
  int wait(int64_t deadline_ns) override;
  void wake() override;
  uint32_t inflight() const override { return inflight_; }

  const RingFeatures& features() const { return features_; }
  int ring_fd() const { return ring_.ring_fd; }
  int wake_fd() const { return wake_fd_; }

 private:
  Ring() = default;
  int dispatch();
  void arm_wakeup();

  io_uring ring_{};
  RingFeatures features_;
  uint32_t inflight_ = 0;     // tracked Requests without a completion yet
  int wake_fd_ = -1;          // eventfd written by wake()
  bool wake_armed_ = false;   // a read on wake_fd_ is queued or in flight
  uint64_t wake_buf_ = 0;     // target of that read
};

// Lowest fd number the runtime uses for its own descriptors (ring, eventfd),
// chosen high so that they stay out of the program's usual range.
int runtime_fd_floor();

}  // namespace gh::ioring
