// SPDX-License-Identifier: MIT
// Waiting: poll, select and epoll_wait. Each first asks the kernel without
// waiting (the native call with a zero timeout); if nothing is ready and the
// caller is willing to wait, the green thread parks on the fds in the ring
// (ioring/poll_many.h) or, for epoll, on the epoll fd itself; then the
// native zero-timeout call is made again, so results have the native form.
// Timeouts are honoured: never early, never a result the kernel did not give.
#include <sys/syscall.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "core/green.h"
#include "ioring/poll_many.h"
#include "shim/cancel.h"
#include "shim/signalfd.h"
#include "shim/state.h"
#include "shim/thread_registry.h"
#include "shim/user_mem.h"

using namespace gh::shim;

extern "C" void __chk_fail(void) __attribute__((noreturn));

namespace {

bool deadline_passed(int64_t deadline) { return deadline >= 0 && gh::mono_ns() >= deadline; }

// Parks until one of the polled fds may be ready or the deadline passes.
// Returns 0, or -EINTR when a signal handler interrupted the wait.
int wait_any(const pollfd* fds, nfds_t n, int64_t deadline) {
  std::vector<int, gh::ArenaAllocator<int>> f;
  std::vector<uint32_t, gh::ArenaAllocator<uint32_t>> ev;
  f.reserve(n);
  ev.reserve(n);
  for (nfds_t i = 0; i < n; i++) {
    if (fds[i].fd < 0) continue;
    f.push_back(fds[i].fd);
    ev.push_back(static_cast<uint16_t>(fds[i].events) | POLLERR | POLLHUP);
  }
  if (f.empty()) {
    // Nothing to watch: native poll just sleeps for the timeout.
    return gh::sleep_until_interruptible(deadline >= 0 ? deadline : INT64_MAX);
  }
  // A signal kept for this thread does not make a signalfd readable: look
  // again in a while (shim/signalfd.h).
  for (nfds_t i = 0; i < n; i++)
    if ((fds[i].events & POLLIN) && signalfd_mask(fds[i].fd)) {
      deadline = signalfd_slice(deadline);
      break;
    }
  int r = gh::io::poll_many(f.data(), ev.data(), static_cast<int>(f.size()), deadline);
  return r == -EINTR ? -EINTR : 0;
}

int eintr() {
  errno = EINTR;
  return -1;
}

// poll() with a CLOCK_MONOTONIC deadline (< 0: none). Returns like poll.
// Adds POLLIN to the signalfds among fds that have a signal kept for the
// calling thread (shim/signalfd.h). Returns how many fds became ready.
int kept_signals_ready(pollfd* fds, nfds_t n) {
  int more = 0;
  for (nfds_t i = 0; i < n; i++) {
    if (!(fds[i].events & POLLIN) || (fds[i].revents & POLLIN)) continue;
    if (!signalfd_pending(signalfd_mask(fds[i].fd))) continue;
    if (fds[i].revents == 0) more++;
    fds[i].revents = static_cast<short>(fds[i].revents | POLLIN);
  }
  return more;
}

int green_poll(pollfd* fds, nfds_t n, int64_t deadline) {
  for (;;) {
    int r = real::poll(fds, n, 0);
    if (r >= 0) r += kept_signals_ready(fds, n);
    if (r != 0 || deadline_passed(deadline)) return r;
    if (wait_any(fds, n, deadline) == -EINTR) return eintr();
  }
}

int64_t ms_deadline(int timeout_ms) {
  return timeout_ms < 0 ? gh::kNoDeadline : gh::deadline_after(int64_t{timeout_ms} * 1000000);
}

// Reads a caller's timespec timeout. Returns 0 and sets *deadline (none for
// a null pointer), or EFAULT / EINVAL.
int ts_deadline(const timespec* tmo, int64_t* deadline) {
  if (!tmo) {
    *deadline = gh::kNoDeadline;
    return 0;
  }
  timespec ts;
  if (copy_from_user(&ts, tmo, sizeof ts) != 0) return EFAULT;
  if (!gh::valid_interval(ts)) return EINVAL;
  *deadline = gh::deadline_after(gh::timespec_ns(ts));
  return 0;
}

// Applies a signal mask for the duration of a wait (ppoll/pselect/epoll_pwait).
// Not atomic with the wait, unlike the native calls: see docs/compatibility.md.
// The temporary mask is the green thread's own while it waits (other green
// threads of the carrier run with theirs meanwhile).
struct MaskScope {
  explicit MaskScope(const sigset_t* m) : on(m != nullptr) {
    if (on) pthread_sigmask(SIG_SETMASK, m, &old);
  }
  ~MaskScope() {
    if (on) pthread_sigmask(SIG_SETMASK, &old, nullptr);
  }
  bool on;
  sigset_t old;
};

}  // namespace

GH_EXPORT int poll(pollfd* fds, nfds_t n, int timeout) {
  CancelPoint cp;
  if (timeout == 0 || !may_park()) return cp.done(real::poll(fds, n, timeout));
  return cp.done(green_poll(fds, n, ms_deadline(timeout)));
}

GH_EXPORT int __poll_chk(pollfd* fds, nfds_t n, int timeout, size_t fdslen) {
  if (fdslen / sizeof(*fds) < n) __chk_fail();
  return poll(fds, n, timeout);
}

GH_EXPORT int ppoll(pollfd* fds, nfds_t n, const timespec* tmo, const sigset_t* mask) {
  CancelPoint cp;
  if (!may_park()) {
    CallMask cm(mask);
    return cp.done(real::ppoll(fds, n, tmo, mask));
  }
  int64_t deadline;
  if (int e = ts_deadline(tmo, &deadline)) {
    errno = e;
    return cp.done(-1);
  }
  if (tmo && tmo->tv_sec == 0 && tmo->tv_nsec == 0) {
    CallMask cm(mask);
    return cp.done(real::ppoll(fds, n, tmo, mask));
  }
  MaskScope m(mask);
  return cp.done(green_poll(fds, n, deadline));
}

GH_EXPORT int __ppoll_chk(pollfd* fds, nfds_t n, const timespec* tmo, const sigset_t* mask,
                          size_t fdslen) {
  if (fdslen / sizeof(*fds) < n) __chk_fail();
  return ppoll(fds, n, tmo, mask);
}

namespace {

// select() with a deadline. Works on copies of the sets and writes back only
// what the final zero-timeout native select reports.
int green_select(int nfds, fd_set* rd, fd_set* wr, fd_set* ex, int64_t deadline) {
  fd_set r0, w0, e0;
  if (rd) r0 = *rd;
  if (wr) w0 = *wr;
  if (ex) e0 = *ex;
  std::vector<pollfd, gh::ArenaAllocator<pollfd>> pf;
  for (int fd = 0; fd < nfds; fd++) {
    short ev = 0;
    if (rd && FD_ISSET(fd, &r0)) ev |= POLLIN;
    if (wr && FD_ISSET(fd, &w0)) ev |= POLLOUT;
    if (ex && FD_ISSET(fd, &e0)) ev |= POLLPRI;
    if (ev) pf.push_back(pollfd{fd, ev, 0});
  }
  for (;;) {
    if (rd) *rd = r0;
    if (wr) *wr = w0;
    if (ex) *ex = e0;
    timeval zero{0, 0};
    int r = real::select(nfds, rd, wr, ex, &zero);
    for (size_t i = 0; r >= 0 && rd && i < pf.size(); i++) {
      int fd = pf[i].fd;
      if (FD_ISSET(fd, &r0) && !FD_ISSET(fd, rd) && signalfd_pending(signalfd_mask(fd))) {
        FD_SET(fd, rd);
        r++;
      }
    }
    if (r != 0 || deadline_passed(deadline)) return r;
    if (wait_any(pf.data(), pf.size(), deadline) == -EINTR) {
      // Native select leaves the sets unspecified on EINTR; Linux leaves
      // them as passed in. Do the same.
      if (rd) *rd = r0;
      if (wr) *wr = w0;
      if (ex) *ex = e0;
      return eintr();
    }
  }
}

}  // namespace

GH_EXPORT int select(int nfds, fd_set* rd, fd_set* wr, fd_set* ex, timeval* tv) {
  CancelPoint cp;
  if (!may_park() || nfds < 0 || nfds > FD_SETSIZE)
    return cp.done(real::select(nfds, rd, wr, ex, tv));
  int64_t deadline = gh::kNoDeadline;
  if (tv) {
    timeval t;
    if (copy_from_user(&t, tv, sizeof t) != 0) {
      errno = EFAULT;
      return cp.done(-1);
    }
    if (t.tv_sec < 0 || t.tv_usec < 0) {
      errno = EINVAL;
      return cp.done(-1);
    }
    if (t.tv_sec == 0 && t.tv_usec == 0) return cp.done(real::select(nfds, rd, wr, ex, tv));
    int64_t ns = int64_t{t.tv_sec} * gh::kNsPerSec + int64_t{t.tv_usec} * 1000;
    deadline = gh::deadline_after(ns);
  }
  int r = green_select(nfds, rd, wr, ex, deadline);
  if (tv) {
    // Linux select reports the time left, also when it fails (EINTR after a
    // signal handler, EBADF): a caller that retries with the same timeval
    // waits only for the rest.
    int64_t left = deadline - gh::mono_ns();
    if (left < 0) left = 0;
    tv->tv_sec = static_cast<time_t>(left / gh::kNsPerSec);
    tv->tv_usec = static_cast<suseconds_t>((left % gh::kNsPerSec) / 1000);
  }
  return cp.done(r);
}

GH_EXPORT int pselect(int nfds, fd_set* rd, fd_set* wr, fd_set* ex, const timespec* tmo,
                      const sigset_t* mask) {
  CancelPoint cp;
  if (!may_park() || nfds < 0 || nfds > FD_SETSIZE) {
    CallMask cm(mask);
    return cp.done(real::pselect(nfds, rd, wr, ex, tmo, mask));
  }
  int64_t deadline;
  if (int e = ts_deadline(tmo, &deadline)) {
    errno = e;
    return cp.done(-1);
  }
  if (tmo && tmo->tv_sec == 0 && tmo->tv_nsec == 0) {
    CallMask cm(mask);
    return cp.done(real::pselect(nfds, rd, wr, ex, tmo, mask));
  }
  MaskScope m(mask);
  return cp.done(green_select(nfds, rd, wr, ex, deadline));
}

namespace {

int green_epoll(int epfd, epoll_event* evs, int max, int64_t deadline) {
  for (;;) {
    int r = real::epoll_wait(epfd, evs, max, 0);
    if (r != 0 || deadline_passed(deadline)) return r;
    // An epoll fd is readable while it has events to report.
    int fd = epfd;
    uint32_t ev = POLLIN;
    if (gh::io::poll_many(&fd, &ev, 1, deadline) == -EINTR) return eintr();
  }
}

}  // namespace

GH_EXPORT int epoll_wait(int epfd, epoll_event* evs, int max, int timeout) {
  CancelPoint cp;
  if (timeout == 0 || !may_park()) return cp.done(real::epoll_wait(epfd, evs, max, timeout));
  return cp.done(green_epoll(epfd, evs, max, ms_deadline(timeout)));
}

GH_EXPORT int epoll_pwait(int epfd, epoll_event* evs, int max, int timeout, const sigset_t* mask) {
  CancelPoint cp;
  if (timeout == 0 || !may_park()) {
    CallMask cm(mask);
    return cp.done(real::epoll_pwait(epfd, evs, max, timeout, mask));
  }
  MaskScope m(mask);
  return cp.done(green_epoll(epfd, evs, max, ms_deadline(timeout)));
}

GH_EXPORT int epoll_pwait2(int epfd, epoll_event* evs, int max, const timespec* tmo,
                           const sigset_t* mask) {
  CancelPoint cp;
  if (!may_park()) {
    CallMask cm(mask);
    return cp.done(real::epoll_pwait2(epfd, evs, max, tmo, mask));
  }
  int64_t deadline;
  if (int e = ts_deadline(tmo, &deadline)) {
    errno = e;
    return cp.done(-1);
  }
  if (tmo && tmo->tv_sec == 0 && tmo->tv_nsec == 0) {
    CallMask cm(mask);
    return cp.done(real::epoll_pwait2(epfd, evs, max, tmo, mask));
  }
  MaskScope m(mask);
  return cp.done(green_epoll(epfd, evs, max, deadline));
}
