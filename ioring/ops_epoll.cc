// SPDX-License-Identifier: MIT
#include "ioring/ops_epoll.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/syscall.h>

#include <cerrno>
#include <atomic>
#include <memory>
#include <new>
#include <type_traits>

#include "core/carrier.h"
#include "core/green.h"
#include "core/offload.h"
#include "core/pool.h"
#include "core/spinlock.h"
#include "core/sys.h"
#include "ioring/fastpath.h"
#include "ioring/ops.h"

#ifndef RWF_NOWAIT
#define RWF_NOWAIT 0x00000008
#endif

namespace gh::io::epoll_impl {

using ioring::Epoll;
using ioring::FdWait;

namespace {

constexpr int64_t kMsNs = 1'000'000;

// Removes the FdWaits f[0..n) from ep's lists, under the lock of ep's
// carrier `owner`.
void unregister(Carrier* owner, Epoll* ep, FdWait* f, int n) GH_NO_TSA {
  owner->lock_service();
  for (int i = 0; i < n; i++) ep->remove(&f[i]);
  owner->unlock_service();
}

// Parks the running green thread until fd has one of `events` (or an error
// or hang-up), the deadline passes, a signal handler ends the wait (unless
// `restartable` and the handler has SA_RESTART), or cancel_fd. Returns the
// events (> 0), -ETIME, -EINTR, -ECANCELED or -errno (-EBADF, -ENOMEM).
int wait_fd(int fd, uint32_t events, int64_t deadline, bool restartable, const char* what) {
  Epoll* ep = Epoll::current();
  if (!ep) return -ENOMEM;
  Carrier* owner = ep->carrier();
  GreenThread* me = owner->running();
  Waiter w;
  w.g = me;
  FdWait f;
  f.waiter = &w;
  f.fd = fd;
  f.events = events;
  int rc = 0;
  owner->with_service([&] { rc = ep->add(&f); });
  if (rc != 0) return rc > 0 ? static_cast<int>(f.revents) : rc;
  me->wait.fd = fd;
  int how = park_waiter_interruptible(w, deadline, restartable, what);
  // Woken by an event or cancel_fd: the dispatcher unlinked f before the
  // wake (whose compare-and-swap orders it before this). Otherwise (a
  // timeout, a signal) f may still be in ep's lists: take it out under the
  // lock of ep's carrier, perhaps another one's now.
  if (how != Waiter::kWoken) unregister(owner, ep, &f, 1);
  if (f.cancelled) return -ECANCELED;
  if (f.revents) return static_cast<int>(f.revents);
  return how == Waiter::kInterrupted ? -EINTR : -ETIME;
}

// Makes attempt() (a non-blocking call; -EAGAIN: would block) and, while it
// would block, parks until fd has `events` and tries again. With
// `wait_first` the park comes first (the caller expects to wait; a fd that
// is ready after all is reported by the level-triggered registration at
// once). A wait that reaches the deadline makes one last attempt: what
// arrived by then counts, as for the blocking call.
//
// `blocking`, when given, makes the call without MSG_DONTWAIT: it runs on an
// offload thread when the fd is ready and the attempt still would block,
// where only the blocking call knows what happens (docs/design.md, "Ready,
// yet it would block"): a datagram socket shut down for reading (readable
// with POLLRDHUP; a blocking receive returns 0), an unconnected Unix
// datagram sender whose receiver's queue is full (always writable).
template <class Attempt, class Blocking = std::nullptr_t>
ssize_t retry(int fd, uint32_t events, int64_t deadline, const char* what, Attempt&& attempt,
              bool wait_first = false, Blocking&& blocking = nullptr) {
  constexpr bool kHasBlocking = !std::is_same_v<std::decay_t<Blocking>, std::nullptr_t>;
  const bool restart = restartable(deadline);
  const uint32_t ask = kHasBlocking && (events & POLLIN) ? events | POLLRDHUP : events;
  int64_t backoff = 0;
  for (bool wait = wait_first;; wait = true) {
    uint32_t ev = 0;
    if (wait) {
      int w = wait_fd(fd, ask, deadline, restart, what);
      if (w == -ETIME) {
        ssize_t r = attempt();
        return r == -EAGAIN ? -ETIME : r;
      }
      if (w < 0) return w;
      ev = static_cast<uint32_t>(w);
    }
    ssize_t r = attempt();
    if (r != -EAGAIN) return r;
    // Ready, yet it would block (a receive shut down returns at once; the
    // offloaded call would not keep a send's deadline: that one pauses and
    // tries again, below).
    bool stuck = wait && (ev & events) && ((events & POLLOUT) || (ev & POLLRDHUP));
    if constexpr (kHasBlocking) {
      if (stuck && ((ev & POLLRDHUP) || deadline < 0))
        return offload_syscall_interruptible(restart, blocking);
    }
    // Woken only by POLLERR or POLLHUP, which stay (an error queue of
    // MSG_ZEROCOPY or IP_RECVERR notices the call does not read), and still
    // nothing to do: the next wait would end at once. Pause between tries
    // (1 ms, doubling up to 64 ms) instead of spinning.
    if ((wait && !(ev & events)) || stuck) {
      backoff = backoff ? (backoff < 64 * kMsNs ? backoff * 2 : backoff) : kMsNs;
      int64_t until = deadline_after(backoff);
      if (deadline >= 0 && deadline < until) until = deadline;
      Carrier* c = Carrier::get();
      Waiter pause;
      pause.g = c->running();
      if (park_waiter_interruptible(pause, until, restart, what) == Waiter::kInterrupted)
        return -EINTR;
    } else {
      backoff = 0;
    }
  }
}

// ---- O_NONBLOCK for a moment ----
//
// accept and connect have no per-call "don't wait" flag. On a blocking
// socket they are made non-blocking by setting O_NONBLOCK around the one
// call. O_NONBLOCK belongs to the open file description: green threads of
// this process doing the same on the same fd share one setting here
// (counted), and the first one's saved flags come back when the last is
// done. Another process sharing the description sees O_NONBLOCK for those
// few microseconds (docs/compatibility.md).
struct Toggle {
  int fd = -1;
  int users = 0;
  long saved = 0;
};
constexpr int kToggles = 64;
SpinLock g_toggle_lock;
Toggle g_toggles[kToggles] GH_GUARDED_BY(g_toggle_lock);

// Makes fd non-blocking until nonblock_end. Returns true if it must be
// ended, false if the fd already was non-blocking (or there is no room: the
// call then blocks its carrier, as it would natively block its thread).
std::atomic<int> g_toggled{0};  // Toggles in use: the fast test of toggled()

Toggle* find_locked(int fd) GH_REQUIRES(g_toggle_lock) {
  for (Toggle& t : g_toggles)
    if (t.users > 0 && t.fd == fd) return &t;
  return nullptr;
}

bool nonblock_begin(int fd) {
  SpinGuard guard(g_toggle_lock);
  Toggle* free_slot = nullptr;
  for (Toggle& t : g_toggles) {
    if (t.users > 0 && t.fd == fd) {
      t.users++;
      return true;
    }
    if (t.users == 0 && !free_slot) free_slot = &t;
  }
  long fl = gh::sys_ret(SYS_fcntl, fd, F_GETFL);
  if (fl < 0 || (fl & O_NONBLOCK) || !free_slot) return false;
  if (gh::sys_ret(SYS_fcntl, fd, F_SETFL, fl | O_NONBLOCK) < 0) return false;
  *free_slot = Toggle{fd, 1, fl};
  g_toggled.fetch_add(1, std::memory_order_relaxed);
  return true;
}

void nonblock_end(int fd) {
  SpinGuard guard(g_toggle_lock);
  if (Toggle* t = find_locked(fd)) {
    if (--t->users == 0) {
      gh::sys_ret(SYS_fcntl, fd, F_SETFL, t->saved);
      g_toggled.fetch_sub(1, std::memory_order_relaxed);
    }
  }
}

}  // namespace

bool nonblock_toggled(int fd) {
  if (g_toggled.load(std::memory_order_relaxed) == 0) return false;
  SpinGuard guard(g_toggle_lock);
  return find_locked(fd) != nullptr;
}

long file_status_flags(int fd) {
  if (g_toggled.load(std::memory_order_relaxed) == 0) return gh::sys_ret(SYS_fcntl, fd, F_GETFL);
  SpinGuard guard(g_toggle_lock);
  if (Toggle* t = find_locked(fd)) return t->saved;
  return gh::sys_ret(SYS_fcntl, fd, F_GETFL);
}

long set_file_status_flags(int fd, long flags) {
  if (g_toggled.load(std::memory_order_relaxed) == 0)
    return gh::sys_ret(SYS_fcntl, fd, F_SETFL, flags);
  SpinGuard guard(g_toggle_lock);
  Toggle* t = find_locked(fd);
  if (!t) return gh::sys_ret(SYS_fcntl, fd, F_SETFL, flags);
  // Toggled: the kernel keeps O_NONBLOCK until the last user is done, and
  // then gets what the program set meanwhile.
  long r = gh::sys_ret(SYS_fcntl, fd, F_SETFL, flags | O_NONBLOCK);
  if (r == 0) {
    long now = gh::sys_ret(SYS_fcntl, fd, F_GETFL);  // with the access mode
    t->saved = (now & ~static_cast<long>(O_NONBLOCK)) | (flags & O_NONBLOCK);
  }
  return r;
}

namespace {
// readv/writev at the file position: with RWF_NOWAIT (preadv2/pwritev2), or
// for devices without it the plain call (plain_nr) once poll says ready.
ssize_t vectored(int fd, const iovec* iov, int iovcnt, int64_t deadline, uint32_t events,
                 const char* what, long nowait_nr, long plain_nr) {
  bool nowait = true;
  return retry(fd, events, deadline, what, [&]() -> ssize_t {
    if (nowait) {
      ssize_t r = gh::sys_ret(nowait_nr, fd, iov, iovcnt, -1L, -1L, RWF_NOWAIT);
      if (r != -EOPNOTSUPP) return r;
      nowait = false;
      return -EAGAIN;
    }
    return gh::sys_ret(plain_nr, fd, iov, iovcnt);
  });
}
}  // namespace

ssize_t readv(int fd, const iovec* iov, int iovcnt, int64_t offset, int64_t deadline) {
  // Positional reads are for files, which never wait for readiness (and
  // anything else answers ESPIPE).
  if (offset >= 0) return gh::sys_ret(SYS_preadv, fd, iov, iovcnt, offset, 0);
  return vectored(fd, iov, iovcnt, deadline, POLLIN, "read", SYS_preadv2, SYS_readv);
}

ssize_t writev(int fd, const iovec* iov, int iovcnt, int64_t offset, int64_t deadline) {
  if (offset >= 0) return gh::sys_ret(SYS_pwritev, fd, iov, iovcnt, offset, 0);
  return vectored(fd, iov, iovcnt, deadline, POLLOUT, "write", SYS_pwritev2, SYS_writev);
}

ssize_t read(int fd, void* buf, size_t len, int64_t offset, int64_t deadline) {
  iovec v{buf, len};
  return readv(fd, &v, 1, offset, deadline);
}

ssize_t write(int fd, const void* buf, size_t len, int64_t offset, int64_t deadline) {
  iovec v{const_cast<void*>(buf), len};
  return writev(fd, &v, 1, offset, deadline);
}

ssize_t recv(int fd, void* buf, size_t len, int flags, int64_t deadline, bool wait_first) {
  return retry(
      fd, POLLIN, deadline, "recv", [&] { return recv_nowait(fd, buf, len, flags); }, wait_first,
      [&]() -> ssize_t {
        return gh::sys_ret(SYS_recvfrom, fd, buf, len, flags, nullptr, nullptr);
      });
}

ssize_t send(int fd, const void* buf, size_t len, int flags, int64_t deadline) {
  return retry(
      fd, POLLOUT, deadline, "send", [&] { return send_nowait(fd, buf, len, flags); }, false,
      [&]() -> ssize_t { return gh::sys_ret(SYS_sendto, fd, buf, len, flags, nullptr, 0); });
}

ssize_t recvmsg(int fd, msghdr* msg, int flags, int64_t deadline) {
  return retry(
      fd, POLLIN, deadline, "recv", [&] { return recvmsg_nowait(fd, msg, flags); }, false,
      [&]() -> ssize_t { return gh::sys_ret(SYS_recvmsg, fd, msg, flags); });
}

ssize_t sendmsg(int fd, const msghdr* msg, int flags, int64_t deadline) {
  return retry(
      fd, POLLOUT, deadline, "send", [&] { return sendmsg_nowait(fd, msg, flags); }, false,
      [&]() -> ssize_t { return gh::sys_ret(SYS_sendmsg, fd, msg, flags); });
}

int accept(int fd, sockaddr* addr, socklen_t* addrlen, int flags, int64_t deadline) {
  return static_cast<int>(retry(fd, POLLIN, deadline, "accept", [&]() -> ssize_t {
    bool toggled = nonblock_begin(fd);
    long r = gh::sys_ret(SYS_accept4, fd, addr, addrlen, flags);
    if (toggled) nonblock_end(fd);
    return r;
  }));
}

int connect(int fd, const sockaddr* addr, socklen_t addrlen, int64_t deadline) {
  bool toggled = nonblock_begin(fd);
  long r = gh::sys_ret(SYS_connect, fd, addr, addrlen);
  if (toggled) nonblock_end(fd);
  if (r == -EAGAIN && toggled) {
    // A Unix socket whose listener's backlog is full: the blocking connect
    // waits for room, which poll cannot announce. Wait off the carrier.
    return static_cast<int>(
        gh::offload_call([&]() -> long { return gh::sys_ret(SYS_connect, fd, addr, addrlen); }));
  }
  if (r != -EINPROGRESS || !toggled) return static_cast<int>(r);
  // Under way: done when writable; SO_ERROR says how it ended.
  int ev = wait_fd(fd, POLLOUT, deadline, restartable(deadline), "connect");
  if (ev < 0) return ev;
  int err = 0;
  socklen_t len = sizeof err;
  long g = gh::sys_ret(SYS_getsockopt, fd, SOL_SOCKET, SO_ERROR, &err, &len);
  if (g < 0) return static_cast<int>(g);
  return -err;
}

int poll(int fd, uint32_t events, int64_t deadline) {
  return wait_fd(fd, events, deadline, restartable(deadline), "poll");
}

int timeout(int64_t deadline) {
  Carrier* c = Carrier::get();
  if (!c) return -ENOMEM;
  Waiter w;
  w.g = c->running();
  int how = park_waiter_interruptible(w, deadline, restartable(-1), "timeout");
  return how == Waiter::kInterrupted ? -EINTR : 0;
}

ssize_t splice(int fd_in, int64_t* off_in, int fd_out, int64_t* off_out, size_t len,
               unsigned flags) {
  // SPLICE_F_NONBLOCK makes the pipe side non-blocking; the other side
  // waits for readiness first (in: readable, out: writable), and the call
  // is tried again until it does not answer EAGAIN. Should both sides be
  // ready and the call still refuse (a pipe with less room than a page),
  // the blocking form runs off the carrier.
  const bool restart = restartable(-1);
  loff_t* oin = reinterpret_cast<loff_t*>(off_in);
  loff_t* oout = reinterpret_cast<loff_t*>(off_out);
  for (int round = 0;; round++) {
    long r = gh::sys_ret(SYS_splice, fd_in, oin, fd_out, oout, len, flags | SPLICE_F_NONBLOCK);
    if (r != -EAGAIN) return r;
    if (round >= 2) {
      return gh::offload_call(
          [&]() -> long { return gh::sys_ret(SYS_splice, fd_in, oin, fd_out, oout, len, flags); });
    }
    int ev = wait_fd(fd_in, POLLIN, -1, restart, "splice");
    if (ev >= 0) ev = wait_fd(fd_out, POLLOUT, -1, restart, "splice");
    if (ev < 0) return ev;
  }
}

int poll_many(const int* fds, const uint32_t* events, int n, int64_t deadline) {
  Epoll* ep = Epoll::current();
  if (!ep) return -ENOMEM;
  Carrier* owner = ep->carrier();
  FdWait small[16];
  std::unique_ptr<FdWait[]> big;
  FdWait* f = small;
  if (n > 16) {
    big.reset(new (std::nothrow) FdWait[static_cast<size_t>(n)]);
    if (!big) return -ENOMEM;
    f = big.get();
  }
  Waiter first;
  first.g = owner->running();
  int ready_now = 0;
  owner->with_service([&] {
    for (int i = 0; i < n; i++) {
      f[i].waiter = &first;
      f[i].fd = fds[i];
      f[i].events = events[i];
      // Not pollable (a file: ready) or bad (poll(2) says POLLNVAL): the
      // caller's own zero-timeout poll reports it.
      if (ep->add(&f[i]) != 0) {
        ready_now++;
        f[i].revents = f[i].revents ? f[i].revents : POLLNVAL;
      }
    }
  });
  int how = Waiter::kWoken;
  if (ready_now == 0) how = park_waiter_interruptible(first, deadline, false, "poll");
  unregister(owner, ep, f, n);
  int completed = 0;
  for (int i = 0; i < n; i++)
    if (f[i].revents || f[i].cancelled) completed++;
  if (completed == 0 && how == Waiter::kInterrupted) return -EINTR;
  return completed;
}

int cancel_fd_everywhere(int fd) {
  int n = 0;
  Carrier* me = Carrier::current();
  Pool* pool = me ? me->pool() : nullptr;
  for (int i = 0, slots = pool ? pool->slots() : 0; i < slots; i++) {
    Carrier* x = pool->slot(i);
    if (!x || !x->backend() || x->backend()->kind() != BackendKind::kEpoll) continue;
    if (x != me && x->backend()->inflight() == 0) continue;
    auto* ep = static_cast<Epoll*>(x->backend());
    x->with_service([&] { n += ep->cancel_fd(fd); });
  }
  return n;
}

}  // namespace gh::io::epoll_impl
