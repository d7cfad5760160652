// SPDX-License-Identifier: MIT
#include "ioring/epoll.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>

#include <cerrno>
#include <new>

#include "core/carrier.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/sys.h"
#include "ioring/runtime_fd.h"

#ifndef SYS_epoll_pwait2
#define SYS_epoll_pwait2 441
#endif

namespace gh::ioring {

namespace {

// Event data of the wake-up eventfd; an fd's is (generation << 32) | fd.
constexpr uint64_t kWakeData = ~uint64_t{0};
// poll() makes an epoll_wait system call at most every kPollEvery calls by
// the owner (a carrier polls between green threads); the idle wait always
// asks the kernel, so nothing waits longer than the carrier's run queue.
constexpr uint32_t kPollEvery = 8;
// What poll(2) reports for a file it cannot wait on (DEFAULT_POLLMASK).
constexpr uint32_t kAlwaysReady = POLLIN | POLLOUT | POLLRDNORM | POLLWRNORM;
// The events a registration may ask for (the rest are reported anyway).
constexpr uint32_t kAskable =
    POLLIN | POLLPRI | POLLOUT | POLLRDNORM | POLLRDBAND | POLLWRNORM | POLLWRBAND | POLLRDHUP;
// epoll_pwait2 (5.11) refused once (an older kernel, a seccomp profile that
// predates it, valgrind): no carrier asks again.
std::atomic<bool> g_pwait2_refused{false};

}  // namespace

Epoll* Epoll::create(Carrier* c) {
  auto* e = new (std::nothrow) Epoll;
  if (!e) {
    errno = ENOMEM;
    return nullptr;
  }
  e->carrier_ = c;
  e->epfd_ = make_runtime_fd([] { return gh::sys_ret(SYS_epoll_create1, EPOLL_CLOEXEC); });
  if (e->epfd_ < 0) {
    int err = -e->epfd_;
    e->epfd_ = -1;
    log_debug("epoll_create1 failed: errno %d", err);
    delete e;
    errno = err;
    return nullptr;
  }
  e->wake_fd_ =
      make_runtime_fd([] { return gh::sys_ret(SYS_eventfd2, 0, EFD_CLOEXEC | EFD_NONBLOCK); });
  if (e->wake_fd_ < 0) {
    int err = -e->wake_fd_;
    e->wake_fd_ = -1;
    delete e;
    errno = err;
    return nullptr;
  }
  // Level-triggered and never re-armed: a wake() written while nobody
  // waits is seen by the next wait.
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kWakeData;
  if (gh::sys(SYS_epoll_ctl, e->epfd_, EPOLL_CTL_ADD, e->wake_fd_, &ev) < 0) {
    int err = errno;
    delete e;
    errno = err;
    return nullptr;
  }
  log_debug("carrier backend: epoll (set %d, wake-up %d)", e->epfd_, e->wake_fd_);
  return e;
}

Epoll::~Epoll() {
  if (epfd_ >= 0) {
    unregister_runtime_fd(epfd_);
    gh::sys(SYS_close, epfd_);
  }
  if (wake_fd_ >= 0) {
    unregister_runtime_fd(wake_fd_);
    gh::sys(SYS_close, wake_fd_);
  }
}

Epoll* Epoll::current() {
  Carrier* c = Carrier::get();
  if (!c || c->backend()->kind() != BackendKind::kEpoll) return nullptr;
  return static_cast<Epoll*>(c->backend());
}

Epoll::Watch* Epoll::watch(int fd, bool create) {
  size_t i = static_cast<size_t>(fd);
  if (i < watches_.size()) return &watches_[i];
  if (!create) return nullptr;
  size_t n = watches_.size() < 64 ? 64 : watches_.size();
  while (n <= i) n *= 2;
  watches_.resize(n);
  return &watches_[i];
}

int Epoll::ctl(int op, int fd, uint32_t events, uint64_t data) {
  stats_.ctl++;
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = data;
  long r = gh::sys_ret(SYS_epoll_ctl, epfd_, op, fd, &ev);
  return static_cast<int>(r);
}

void Epoll::link(Watch* w, FdWait* f) {
  f->prev = w->tail;
  f->next = nullptr;
  if (w->tail)
    w->tail->next = f;
  else
    w->head = f;
  w->tail = f;
  f->linked = true;
  inflight_.store(inflight_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}

void Epoll::unlink(Watch* w, FdWait* f) {
  if (f->prev)
    f->prev->next = f->next;
  else
    w->head = f->next;
  if (f->next)
    f->next->prev = f->prev;
  else
    w->tail = f->prev;
  f->next = f->prev = nullptr;
  f->linked = false;
  inflight_.store(inflight_.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
}

// (Re-)registers fd for what its waiters want. Returns 0, 1 (cannot be
// polled) or -errno.
int Epoll::arm(int fd, Watch* w) {
  uint32_t want = 0;
  for (FdWait* f = w->head; f; f = f->next) want |= f->events;
  want = (want & kAskable) | EPOLLONESHOT;
  if (w->registered) {
    uint64_t data = (uint64_t{w->gen} << 32) | static_cast<uint32_t>(fd);
    int r = ctl(EPOLL_CTL_MOD, fd, want, data);
    if (r == 0) return 0;
    if (r != -ENOENT) return r;
    // The file registered under this number is gone (closed behind our
    // back, the number reused): register the one there now.
    w->registered = false;
  }
  w->gen++;
  uint64_t data = (uint64_t{w->gen} << 32) | static_cast<uint32_t>(fd);
  int r = ctl(EPOLL_CTL_ADD, fd, want, data);
  if (r == -EEXIST) r = ctl(EPOLL_CTL_MOD, fd, want, data);
  if (r == -EPERM) return 1;
  if (r < 0) return r;
  w->registered = true;
  return 0;
}

int Epoll::add(FdWait* f) {
  if (f->fd < 0) return -EBADF;
  Watch* w = watch(f->fd, true);
  f->revents = 0;
  f->cancelled = false;
  link(w, f);
  int r = arm(f->fd, w);
  if (r != 0) {
    unlink(w, f);
    if (r == 1) f->revents = f->events & kAlwaysReady;
  }
  return r;
}

void Epoll::remove(FdWait* f) {
  if (!f->linked) return;
  unlink(watch(f->fd, false), f);
  // The registration stays armed for what f wanted; should it fire with
  // nobody waiting, dispatch() ignores it. Cheaper than a MOD now.
}

int Epoll::cancel_fd(int fd) {
  Watch* w = fd >= 0 ? watch(fd, false) : nullptr;
  if (!w) return 0;
  int n = 0;
  while (FdWait* f = w->head) {
    unlink(w, f);
    f->cancelled = true;
    gh::wake(f->waiter);
    n++;
  }
  if (w->registered) {
    ctl(EPOLL_CTL_DEL, fd, 0, 0);
    w->registered = false;
  }
  return n;
}

int Epoll::dispatch(const epoll_event* ev, int n) {
  for (int i = 0; i < n; i++) {
    uint64_t data = ev[i].data.u64;
    if (data == kWakeData) {
      uint64_t v;
      gh::sys_ret(SYS_read, wake_fd_, &v, sizeof v);
      continue;
    }
    int fd = static_cast<int>(static_cast<uint32_t>(data));
    Watch* w = watch(fd, false);
    if (!w || !w->registered || w->gen != static_cast<uint32_t>(data >> 32)) {
      stats_.stale++;
      continue;
    }
    uint32_t got = ev[i].events;
    for (FdWait* f = w->head; f;) {
      FdWait* next = f->next;
      uint32_t mine = got & (f->events | POLLERR | POLLHUP);
      if (mine) {
        unlink(w, f);
        f->revents = mine;
        gh::wake(f->waiter);
      }
      f = next;
    }
    // One-shot: whoever still waits needs the registration armed again.
    if (w->head && arm(fd, w) != 0) {
      // The fd went bad under the waiters: let them find out by trying.
      while (FdWait* f = w->head) {
        unlink(w, f);
        f->revents = POLLERR;
        gh::wake(f->waiter);
      }
    }
  }
  stats_.events += static_cast<uint64_t>(n);
  return n;
}

int Epoll::poll() {
  int n = 0;
  if (npending_ > 0) {
    n = dispatch(pending_, npending_);
    npending_ = 0;
  }
  // The owner polls between green threads: ask the kernel every few calls
  // only (its idle wait always asks). Another carrier serving us asks at
  // once.
  if (Carrier::current() == carrier_ && ++polls_since_syscall_ < kPollEvery) return n;
  polls_since_syscall_ = 0;
  stats_.polls++;
  long got = gh::sys_ret(SYS_epoll_wait, epfd_, polled_, kMaxEvents, 0);
  if (got > 0) n += dispatch(polled_, static_cast<int>(got));
  return n;
}

int Epoll::wait(int64_t deadline_ns, const uint64_t* sigmask) {
  if (npending_ > 0) return 0;
  polls_since_syscall_ = 0;
  stats_.blocking_waits++;
  long got;
  if (!g_pwait2_refused.load(std::memory_order_relaxed)) {
    timespec ts = ns_timespec(deadline_ns >= 0 ? ns_until(deadline_ns) : 0);
    timespec* tsp = deadline_ns >= 0 ? &ts : nullptr;
    got = gh::sys_ret(SYS_epoll_pwait2, epfd_, pending_, kMaxEvents, tsp, sigmask,
                      sigmask ? sizeof *sigmask : 0);
    if (got != -ENOSYS && got != -EPERM) {
      if (got == -EINTR) return -EINTR;
      if (got > 0) npending_ = static_cast<int>(got);
      return 0;
    }
    // Before 5.11, or refused by a seccomp profile that predates it.
    g_pwait2_refused.store(true, std::memory_order_relaxed);
  }
  int ms = -1;
  // Rounded up: waking before the deadline would only make us wait again.
  if (deadline_ns >= 0) ms = static_cast<int>((ns_until(deadline_ns) + 999'999) / 1'000'000);
  got = gh::sys_ret(SYS_epoll_pwait, epfd_, pending_, kMaxEvents, ms, sigmask,
                    sigmask ? sizeof *sigmask : 0);
  if (got == -EINTR) return -EINTR;
  if (got > 0) npending_ = static_cast<int>(got);
  return 0;
}

void Epoll::wake() {
  uint64_t one = 1;
  gh::sys_ret(SYS_write, wake_fd_, &one, sizeof one);
}

}  // namespace gh::ioring
