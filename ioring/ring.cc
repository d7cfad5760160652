#include "ioring/ring.h"

#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <new>

#include "core/carrier.h"
#include "core/clock.h"
#include "core/log.h"

#ifndef LIBURING_UDATA_TIMEOUT
#define LIBURING_UDATA_TIMEOUT ((__u64)-1)
#endif

namespace gh {
Backend* backend_create(Carrier*) { return ioring::Ring::create(); }
}  // namespace gh

namespace gh::ioring {

namespace {

constexpr unsigned kSqEntries = 256;
constexpr unsigned kCqEntries = 4096;

long raw_fcntl(int fd, int cmd, long arg) { return syscall(SYS_fcntl, fd, cmd, arg); }
void raw_close(int fd) { syscall(SYS_close, fd); }

// Moves fd to the lowest free number >= runtime_fd_floor(), close-on-exec.
// Returns the new fd (or the old one if it cannot be moved).
int move_high(int fd) {
  long hi = raw_fcntl(fd, F_DUPFD_CLOEXEC, runtime_fd_floor());
  if (hi < 0) return fd;
  raw_close(fd);
  return static_cast<int>(hi);
}

int setup(io_uring* ring, unsigned flags) {
  io_uring_params p{};
  p.flags = flags | IORING_SETUP_CQSIZE;
  p.cq_entries = kCqEntries;
  return io_uring_queue_init_params(kSqEntries, ring, &p);
}

}  // namespace

int runtime_fd_floor() {
  static const int floor = [] {
    rlimit rl{};
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return 1024;
    long soft = static_cast<long>(rl.rlim_cur);
    long f = soft >= 1024 ? soft - 256 : soft / 2;
    return static_cast<int>(f < 3 ? 3 : f);
  }();
  return floor;
}

Ring* Ring::create() {
  auto* r = new (std::nothrow) Ring;
  if (!r) {
    errno = ENOMEM;
    return nullptr;
  }
  // Best first; each fallback drops what an older kernel refuses (-EINVAL).
  struct Try {
    unsigned flags;
    bool single, deferred, coop;
  };
  static const Try tries[] = {
      {IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_COOP_TASKRUN,
       true, true, true},
      {IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN, true, true, false},
      {IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN, true, false, true},
      {IORING_SETUP_COOP_TASKRUN, false, false, true},
      {0, false, false, false},
  };
  int rc = -EINVAL;
  for (const Try& t : tries) {
    rc = setup(&r->ring_, t.flags);
    if (rc == 0) {
      r->features_.single_issuer = t.single;
      r->features_.defer_taskrun = t.deferred;
      r->features_.coop_taskrun = t.coop;
      break;
    }
    if (rc != -EINVAL) break;
  }
  if (rc < 0) {
    log_debug("io_uring setup failed: errno %d", -rc);
    delete r;
    errno = -rc;
    return nullptr;
  }
  r->features_.ext_arg = (r->ring_.features & IORING_FEAT_EXT_ARG) != 0;
  io_uring_ring_dontfork(&r->ring_);

  int hi = move_high(r->ring_.ring_fd);
  r->ring_.ring_fd = hi;
  r->ring_.enter_ring_fd = hi;
  // With the fd registered, io_uring_enter no longer looks the file up, and
  // the ring keeps working even if the program closes our fd number.
  r->features_.registered_fd = io_uring_register_ring_fd(&r->ring_) == 1;

  long efd = syscall(SYS_eventfd2, 0, EFD_CLOEXEC);
  if (efd < 0) {
    int e = errno;
    delete r;
    errno = e;
    return nullptr;
  }
  r->wake_fd_ = move_high(static_cast<int>(efd));
  return r;
}

Ring::~Ring() {
  if (ring_.ring_fd > 0) io_uring_queue_exit(&ring_);
  if (wake_fd_ >= 0) raw_close(wake_fd_);
}

Ring* Ring::current() {
  Carrier* c = Carrier::get();
  return c ? static_cast<Ring*>(c->backend()) : nullptr;
}

io_uring_sqe* Ring::sqe() {
  io_uring_sqe* s = io_uring_get_sqe(&ring_);
  while (!s) {
    io_uring_submit(&ring_);
    s = io_uring_get_sqe(&ring_);
  }
  return s;
}

io_uring_sqe* Ring::sqes(unsigned n) {
  if (io_uring_sq_space_left(&ring_) < n) io_uring_submit(&ring_);
  return sqe();
}

void Ring::track(io_uring_sqe* s, Request* req) {
  io_uring_sqe_set_data(s, req);
  req->done = false;
  inflight_++;
}

int Ring::submit() { return io_uring_submit(&ring_); }

int Ring::dispatch() {
  unsigned head;
  io_uring_cqe* cqe;
  unsigned n = 0;
  io_uring_for_each_cqe(&ring_, head, cqe) {
    n++;
    uint64_t ud = cqe->user_data;
    if (ud == kUserIgnore || ud == LIBURING_UDATA_TIMEOUT) continue;
    if (ud == kUserWakeup) {
      wake_armed_ = false;
      continue;
    }
    auto* req = reinterpret_cast<Request*>(ud);
    req->res = cqe->res;
    req->cqe_flags = cqe->flags;
    req->done = true;
    inflight_--;
    Carrier::ready(req->g);
  }
  io_uring_cq_advance(&ring_, n);
  return static_cast<int>(n);
}

int Ring::poll() {
  if (io_uring_sq_ready(&ring_) > 0 || features_.defer_taskrun) {
    io_uring_submit_and_get_events(&ring_);
  }
  return dispatch();
}

void Ring::arm_wakeup() {
  if (wake_armed_) return;
  io_uring_sqe* s = sqe();
  io_uring_prep_read(s, wake_fd_, &wake_buf_, sizeof wake_buf_, 0);
  io_uring_sqe_set_data64(s, kUserWakeup);
  wake_armed_ = true;
}

int Ring::wait(int64_t deadline_ns) {
  arm_wakeup();
  if (io_uring_cq_ready(&ring_) > 0) {
    poll();
    return 0;
  }
  __kernel_timespec ts{};
  __kernel_timespec* tsp = nullptr;
  if (deadline_ns >= 0) {
    int64_t rel = deadline_ns - mono_ns();
    if (rel < 0) rel = 0;
    ts.tv_sec = rel / kNsPerSec;
    ts.tv_nsec = rel % kNsPerSec;
    tsp = &ts;
  }
  io_uring_cqe* cqe = nullptr;
  int rc = io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, tsp, nullptr);
  dispatch();
  return rc == -EINTR ? -EINTR : 0;
}

void Ring::wake() {
  uint64_t one = 1;
  syscall(SYS_write, wake_fd_, &one, sizeof one);
}

}  // namespace gh::ioring
