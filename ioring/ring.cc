// SPDX-License-Identifier: MIT
#include "ioring/ring.h"
#include "core/sys.h"

#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <new>
#include <utility>

#include "core/carrier.h"
#include "core/green.h"
#include "core/clock.h"
#include "core/log.h"
#include "ioring/runtime_fd.h"

#ifndef LIBURING_UDATA_TIMEOUT
#define LIBURING_UDATA_TIMEOUT ((__u64)-1)
#endif

namespace gh::ioring {

namespace {

RingOptions g_options;

// poll() enters the kernel only when the SQ holds something or the kernel
// flags pending completion work; every kForceEnterEvery polls it enters
// anyway, so that a completion is never stranded should a flag update be
// missed (the blocking wait always runs the kernel's pending work).
constexpr uint32_t kForceEnterEvery = 64;
// Bound on the io_uring_enter calls of one reap(): with DEFER_TASKRUN the
// kernel runs only a few (20 on 6.13+) deferred completions per enter.
constexpr unsigned kMaxReapRounds = 512;

void raw_close(int fd) { gh::sys(SYS_close, fd); }
void raw_sleep_ns(long ns) {
  timespec ts{0, ns};
  gh::sys(SYS_clock_nanosleep, CLOCK_MONOTONIC, 0, &ts, nullptr);
}

// Whether the kernel runs some CPUs without the scheduler tick (nohz_full=):
// there a carrier computing in a green thread would not run the completion
// work that COOP_TASKRUN leaves for its next kernel entry until the thread
// returns. The file lists those CPUs ("(null)" or nothing when none).
bool tickless_cpus() {
  long fd =
      gh::sys(SYS_openat, AT_FDCWD, "/sys/devices/system/cpu/nohz_full", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char buf[16];
  long n = gh::sys(SYS_read, fd, buf, sizeof buf);
  gh::sys(SYS_close, fd);
  return n > 0 && buf[0] >= '0' && buf[0] <= '9';
}

// io_uring_queue_init_params() in two steps, so that the ring's fd is the
// runtime's (ioring/runtime_fd.h) before anything else is done with it: a
// program thread closing a stale number must not close it between the
// setup and the mapping. Returns 0 or -errno.
int setup(io_uring* ring, unsigned flags, const RingOptions& o, io_uring_params* p) {
  *p = io_uring_params{};
  p->flags = flags;
  if (o.cq_entries == 0) p->flags &= ~IORING_SETUP_CQSIZE;
  p->cq_entries = o.cq_entries;
  // A ring whose fd a program thread closed before it was adopted is gone:
  // make_runtime_fd makes another.
  const io_uring_params asked = *p;
  int own = make_runtime_fd([&] {
    *p = asked;
    return gh::sys_ret(__NR_io_uring_setup, o.sq_entries, p);
  });
  if (own < 0) return own;
  int rc = io_uring_queue_mmap(own, p, ring);
  if (rc < 0) {
    unregister_runtime_fd(own);
    gh::sys_ret(SYS_close, own);
    ring->ring_fd = -1;  // the mapping zeroed *ring: no fd 0 to close later
    return rc;
  }
  // The rest of io_uring_queue_init_params(): SQ slot i is SQE i for good.
  for (unsigned i = 0; i < ring->sq.ring_entries; i++) ring->sq.array[i] = i;
  ring->features = p->features;
  return 0;
}

// Errors from io_uring_enter after which trying again later can succeed.
bool transient(int rc) { return rc == -EBUSY || rc == -EAGAIN || rc == -EINTR || rc == -ETIME; }

}  // namespace

void set_ring_options(const RingOptions& opts) { g_options = opts; }
RingOptions ring_options() { return g_options; }

Ring* Ring::create(Carrier* c, bool one_thread) {
  auto* r = new (std::nothrow) Ring;
  if (!r) {
    errno = ENOMEM;
    return nullptr;
  }
  r->carrier_ = c;
  // Best first; each fallback drops what an older kernel refuses (-EINVAL):
  // DEFER_TASKRUN (6.1), SINGLE_ISSUER (6.0), COOP_TASKRUN and TASKRUN_FLAG
  // (5.19), SUBMIT_ALL (5.18), CQSIZE (5.5).
  constexpr unsigned kS = IORING_SETUP_SINGLE_ISSUER, kD = IORING_SETUP_DEFER_TASKRUN,
                     kC = IORING_SETUP_COOP_TASKRUN, kT = IORING_SETUP_TASKRUN_FLAG,
                     kA = IORING_SETUP_SUBMIT_ALL, kQ = IORING_SETUP_CQSIZE;
  static const unsigned tries[] = {
      kS | kD | kC | kT | kA | kQ, kS | kC | kT | kA | kQ, kC | kT | kA | kQ, kA | kQ, kQ, 0,
  };
  RingOptions opts = g_options;
  // Completion work of a ring entered by several threads must not wait for
  // the submitter to enter it again (DEFER_TASKRUN, SINGLE_ISSUER): the
  // submitter may be stuck in a green thread, or blocked. COOP_TASKRUN
  // only spares the submitter an interrupt while it runs: its pending work
  // still runs at its next kernel entry or exit, the scheduler tick
  // included, and wakes it from any interruptible sleep, so a stuck
  // carrier's completions reach its CQ within a tick (docs/design.md,
  // "Hand-off"). Without the tick (nohz_full CPUs), only the interrupt
  // that COOP_TASKRUN saves gets them there.
  if (!one_thread) opts.setup_mask &= ~(kS | kD | (tickless_cpus() ? kC | kT : 0));
  io_uring_params p{};
  unsigned flags = 0;
  int rc = -EINVAL;
  for (unsigned t : tries) {
    t &= opts.setup_mask;
    rc = setup(&r->ring_, t, opts, &p);
    if (rc == 0) {
      flags = p.flags;
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
  RingFeatures& f = r->features_;
  f.single_issuer = flags & kS;
  f.defer_taskrun = flags & kD;
  f.coop_taskrun = flags & kC;
  f.taskrun_flag = flags & kT;
  f.submit_all = flags & kA;
  f.ext_arg = (p.features & IORING_FEAT_EXT_ARG) != 0;
  f.nodrop = (p.features & IORING_FEAT_NODROP) != 0;
  f.sq_entries = p.sq_entries;
  f.cq_entries = p.cq_entries;
  io_uring_ring_dontfork(&r->ring_);

  // With the fd registered, io_uring_enter no longer looks the file up, and
  // the ring keeps working even if the program closes our fd number. A
  // registration is the registering thread's own (an index in its table), so
  // a ring that other threads enter keeps its plain fd (the shim keeps the
  // program from closing it).
  if (one_thread) f.registered_fd = io_uring_register_ring_fd(&r->ring_) == 1;

  r->wake_fd_ = make_runtime_fd([] { return gh::sys_ret(SYS_eventfd2, 0, EFD_CLOEXEC); });
  if (r->wake_fd_ < 0) {
    int e = -r->wake_fd_;
    r->wake_fd_ = -1;
    delete r;
    errno = e;
    return nullptr;
  }
  log_debug("io_uring: flags %#x features %#x sq %u cq %u", flags, p.features, p.sq_entries,
            p.cq_entries);
  return r;
}

Ring::~Ring() {
  if (ring_.ring_fd >= 0) {
    unregister_runtime_fd(ring_.ring_fd);
    io_uring_queue_exit(&ring_);
  }
  if (wake_fd_ >= 0) {
    unregister_runtime_fd(wake_fd_);
    raw_close(wake_fd_);
  }
}

Ring* Ring::current() {
  Carrier* c = Carrier::get();
  if (!c || c->backend()->kind() != BackendKind::kIoUring) return nullptr;
  return static_cast<Ring*>(c->backend());
}

io_uring_sqe* Ring::sqe() {
  io_uring_sqe* s = io_uring_get_sqe(&ring_);
  if (!s) {
    make_room(1);
    s = io_uring_get_sqe(&ring_);
  }
  memset(s, 0, sizeof *s);
  return s;
}

io_uring_sqe* Ring::sqes(unsigned n) {
  // The n SQEs of a linked chain must fit together: had the SQ room for the
  // head only, the linked timeout would find it full and submit the head
  // alone, splitting the chain (the timeout then fails with -EINVAL and the
  // op has no deadline). make_room() loops until n SQEs fit.
  if (io_uring_sq_space_left(&ring_) < n) make_room(n);
  return sqe();
}

void Ring::make_room(unsigned n) {
  // When the kernel refuses a submission (-EBUSY while an older kernel
  // holds a CQ overflow backlog, -EAGAIN when it is short of memory) nothing
  // frees the SQ until completions are reaped: each round also reaps
  // (GETEVENTS flushes the overflow list and runs deferred work) and
  // dispatches, and backs off if the refusal persists.
  stats_.sq_full++;
  for (unsigned tries = 1; io_uring_sq_space_left(&ring_) < n; tries++) {
    int rc = enter_nowait();
    dispatch();
    if (rc >= 0 || io_uring_sq_space_left(&ring_) >= n) continue;
    if (!transient(rc)) {
      // -EEXIST (not the ring's thread), -EBADF...: a bug, never recoverable.
      log_error("io_uring_enter failed: errno %d; cannot queue I/O", -rc);
      abort();
    }
    if (tries % 16 == 0) raw_sleep_ns(100'000);
  }
}

void Ring::track(io_uring_sqe* s, Request* req) {
  io_uring_sqe_set_data(s, req);
  req->done = false;
  inflight_.store(inflight_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}

int Ring::submit() { return enter_nowait(); }

int Ring::enter_nowait() {
  stats_.enters++;
  polls_since_enter_ = 0;
  int rc = io_uring_submit_and_get_events(&ring_);
  if (rc >= 0)
    stats_.submitted += static_cast<unsigned>(rc);
  else if (rc != -EINTR)
    stats_.enter_errors++;
  return rc;
}

bool Ring::kernel_has_events() const {
  unsigned f = IO_URING_READ_ONCE(*ring_.sq.kflags);
  // Completions that did not fit the CQ; a GETEVENTS enter flushes them.
  if (f & IORING_SQ_CQ_OVERFLOW) return true;
  // Completion work is run by the thread that submitted the request, which
  // is the owner's unless a carrier serving this ring submitted: another
  // thread's enter cannot run the owner's.
  if (Carrier::current() != carrier_) return false;
  if (features_.taskrun_flag) return (f & IORING_SQ_TASKRUN) != 0;
  // Completion work runs only when we enter, and we cannot see whether
  // there is any: assume so.
  return features_.coop_taskrun || features_.defer_taskrun;
}

int Ring::dispatch() {
  if (io_uring_cq_has_overflow(&ring_)) stats_.overflow_seen++;
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
    inflight_.store(inflight_.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
    if (req->waiter)
      gh::wake(req->waiter);
    else
      Carrier::ready(req->g);
  }
  io_uring_cq_advance(&ring_, n);
  stats_.completions += n;
  return static_cast<int>(n);
}

int Ring::reap() {
  // One enter does not deliver everything the kernel holds. With
  // DEFER_TASKRUN a GETEVENTS enter runs only a bounded batch of deferred
  // completions (20 on 6.13+), and completions that overflowed the CQ come
  // back only through further GETEVENTS enters (and a busy carrier may go
  // long without a wait). Loop while
  // the kernel says more is pending (IORING_SQ_TASKRUN / IORING_SQ_CQ_OVERFLOW),
  // dispatching between enters so that the CQ has room.
  int total = dispatch();
  for (unsigned round = 0; round < kMaxReapRounds; round++) {
    if (io_uring_sq_ready(&ring_) == 0 && !kernel_has_events()) break;
    enter_nowait();  // an error delivers nothing, which ends the loop
    int n = dispatch();
    total += n;
    // An enter that delivered nothing: the flagged work (if any) is another
    // thread's, one that served this ring and submitted for it; it runs
    // on that thread, not here.
    if (n == 0) break;
    if (static_cast<unsigned>(total) >= features_.cq_entries) break;  // bound one call's latency
  }
  return total;
}

int Ring::poll() {
  if (++polls_since_enter_ >= kForceEnterEvery && io_uring_sq_ready(&ring_) == 0 &&
      (features_.defer_taskrun || features_.coop_taskrun)) {
    enter_nowait();
  }
  // Enters only when needed: with TASKRUN_FLAG a poll with nothing to
  // submit and nothing completed costs no system call.
  return reap();
}

void Ring::arm_wakeup() {
  if (wake_armed_) return;
  io_uring_sqe* s = sqe();
  io_uring_prep_read(s, wake_fd_, &wake_buf_, sizeof wake_buf_, 0);
  io_uring_sqe_set_data64(s, kUserWakeup);
  wake_armed_ = true;
}

void Ring::prepare_wait() {
  arm_wakeup();
  if (io_uring_sq_ready(&ring_) > 0) enter_nowait();
}

int Ring::wait(int64_t deadline_ns, const uint64_t* sigmask) {
  if (io_uring_cq_ready(&ring_) > 0) return 0;
  __kernel_timespec ts{};
  __kernel_timespec* tsp = nullptr;
  if (deadline_ns >= 0) {
    int64_t rel = ns_until(deadline_ns);
    ts.tv_sec = rel / kNsPerSec;
    ts.tv_nsec = rel % kNsPerSec;
    tsp = &ts;
  }
  io_uring_cqe* cqe = nullptr;
  stats_.enters++;
  stats_.blocking_enters++;
  polls_since_enter_ = 0;
  sigset_t set;
  sigset_t* setp = nullptr;
  if (sigmask) {
    // liburing passes _NSIG/8 bytes: the kernel's 64-bit set.
    sigemptyset(&set);
    memcpy(&set, sigmask, sizeof *sigmask);
    setp = &set;
  }
  // With IORING_FEAT_EXT_ARG the timeout goes with the enter and nothing is
  // submitted: the SQ stays untouched, so a carrier serving us may fill it
  // meanwhile (it cannot: we are idle; but a green thread that moved away
  // may queue a cancel through with_service). Without it liburing queues a
  // timeout SQE and submits.
  int rc = io_uring_wait_cqes(&ring_, &cqe, 1, tsp, setp);
  if (rc < 0 && rc != -ETIME && rc != -EINTR) {
    stats_.enter_errors++;
    // The kernel refused (-EBUSY, -EAGAIN): pause briefly instead of
    // letting the scheduler spin on wait().
    if (transient(rc) && io_uring_cq_ready(&ring_) == 0) raw_sleep_ns(1'000'000);
    return 0;
  }
  return rc == -EINTR ? -EINTR : 0;
}

void Ring::wake() {
  uint64_t one = 1;
  gh::sys(SYS_write, wake_fd_, &one, sizeof one);
}

}  // namespace gh::ioring
