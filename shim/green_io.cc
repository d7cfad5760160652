// SPDX-License-Identifier: MIT
#include "shim/green_io.h"
#include "core/sys.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <new>

#include "ioring/fastpath.h"
#include "shim/signalfd.h"
#include "shim/user_mem.h"

namespace gh::shim {

namespace {
int64_t sock_deadline(const FdEntry* e, bool out) {
  int64_t t = (out ? e->sndtimeo_ns : e->rcvtimeo_ns).load(std::memory_order_relaxed);
  if (t > 0) return deadline_after(t);
  // A negative timeval gives the socket a zero timeout: the kernel then
  // treats the call as non-blocking (EAGAIN at once).
  if (t < 0) return deadline_after(0);
  return kNoDeadline;
}

// The running thread's gh_timeout deadline (docs/api.md, "Timeout"), or
// kNoDeadline.
int64_t scope_deadline() {
  Carrier* c = Carrier::current();
  return c ? c->running()->deadline : kNoDeadline;
}
}  // namespace

int64_t fd_deadline(const FdEntry* e, bool out) {
  int64_t d = sock_deadline(e, out);
  int64_t scope = scope_deadline();
  return scope >= 0 && (d < 0 || scope < d) ? scope : d;
}

long map_deadline(long r, long sock_timeout) {
  if (r != -ETIME) return r;
  int64_t scope = scope_deadline();
  return scope >= 0 && mono_ns() >= scope ? -ETIMEDOUT : sock_timeout;
}

bool nonblocking_now(int fd, FdEntry* e) {
  if (!e->shared.load(std::memory_order_relaxed))
    return e->nonblock.load(std::memory_order_relaxed);
  long fl = io::file_status_flags(fd);  // not a toggle of the runtime's own
  if (fl < 0) return false;             // the operation itself reports the error
  bool nb = (fl & O_NONBLOCK) != 0;
  e->nonblock.store(nb, std::memory_order_relaxed);
  return nb;
}

// fds passed in SCM_RIGHTS messages: the receiver shares their descriptions.
void mark_passed_fds(const msghdr* msg) {
  if (!msg || !msg->msg_control || msg->msg_controllen < sizeof(cmsghdr)) return;
  for (cmsghdr* c = CMSG_FIRSTHDR(msg); c; c = CMSG_NXTHDR(const_cast<msghdr*>(msg), c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    const int* fds = reinterpret_cast<const int*>(CMSG_DATA(c));
    for (size_t i = 0; i < n; i++) fd_mark_shared(fds[i]);
  }
}

int wait_events(int fd, FdEntry* e, uint32_t events, int64_t deadline) {
  ParkedOn parked(e);
  int ev = io::poll(fd, events, deadline);
  if (ev == -ETIME) return static_cast<int>(map_deadline(ev, -EAGAIN));
  if (ev == -ECANCELED) return -EBADF;  // close() of the fd cancelled us
  return ev;
}

int wait_ready(int fd, FdEntry* e, uint32_t events, int64_t deadline) {
  int ev = wait_events(fd, e, events, deadline);
  return ev < 0 ? ev : 0;
}

namespace {

// A ring wait that hit the SO_*TIMEO deadline reports what the native call
// does (EAGAIN); one cancelled by close() of its fd reports EBADF.
ssize_t map_timeout(ssize_t r) {
  if (r == -ETIME) return map_deadline(r, -EAGAIN);
  if (r == -ECANCELED) return -EBADF;
  return r;
}

// Whether the terminal fd is hung up (its master closed, its session gone):
// every ioctl but TIOCSPGRP then fails with EIO.
bool tty_hung_up(int fd) {
  termios t;
  return gh::sys_ret(SYS_ioctl, fd, TCGETS, &t) == -EIO;
}

// A terminal's blocking read through the ring, which waits by polling and
// reads after the wake-up. Natively a read waiting when the terminal is hung
// up fails with EIO, and a read made after the hang-up returns 0; the
// ring's read, made after the wake-up, returns 0 for both. So a read that
// returns 0 from a terminal hung up since it began reports EIO.
ssize_t tty_read(int fd, void* buf, size_t len, int64_t deadline) {
  if (tty_hung_up(fd)) return gh::sys_ret(SYS_read, fd, buf, len);  // does not wait
  ssize_t r = map_timeout(io::read(fd, buf, len, -1, deadline));
  if (r == 0 && tty_hung_up(fd)) return -EIO;
  return r;
}

// One non-blocking attempt for a receive, by kind of fd. An eventfd's
// RWF_NOWAIT read is its blocking read when the counter is not 0; other
// pollable devices go straight to the ring (a terminal's non-blocking read
// ignores VMIN, for one).
ssize_t recv_once(int fd, const FdEntry* e, FdKind k, void* buf, size_t len, int flags) {
  if (is_socket(k)) return io::recv_nowait(fd, buf, len, flags);
  if (k == FdKind::kPipe || e->eventfd.load(std::memory_order_relaxed)) {
    iovec v{buf, len};
    ssize_t r = io::readv_nowait(fd, &v, 1);
    return r == -EOPNOTSUPP ? -EAGAIN : r;
  }
  return -EAGAIN;
}

// A blocking write to an eventfd (docs/design.md, "Eventfds"). The kernel's
// eventfd has no non-blocking write, so the ring would pass every such write
// to its worker threads, a thread wake-up each. But poll reports POLLOUT
// exactly when the counter has room for 1: a write of 1 (what notifying
// programs write) is made directly once poll says POLLOUT, and parks on
// POLLOUT before. Any other value, which may wait although poll says
// POLLOUT, goes through the ring. Returns what write returns, or -errno.
ssize_t eventfd_write(int fd, FdEntry* e, const void* buf, size_t len, int64_t deadline) {
  uint64_t v = 0;
  if (len < sizeof v || copy_from_user(&v, buf, sizeof v) != 0 || v == UINT64_MAX)
    return gh::sys_ret(SYS_write, fd, buf, len);  // EINVAL or EFAULT at once
  if (v != 1) return map_timeout(io::write(fd, buf, len, -1, deadline));
  for (;;) {
    pollfd p{fd, POLLOUT, 0};
    timespec zero{0, 0};
    // Writable, or an error (POLLNVAL) that the write itself reports.
    if (gh::sys_ret(SYS_ppoll, &p, 1, &zero, nullptr, 0) != 0)
      return gh::sys_ret(SYS_write, fd, buf, len);
    int w = wait_ready(fd, e, POLLOUT, deadline);
    if (w < 0) return w;
  }
}

}  // namespace

ssize_t green_recv(int fd, FdEntry* e, void* buf, size_t len, int flags) {
  ParkedOn parked(e);
  if (int late = fd_take_late_error(e)) return late;
  FdKind k = e->kind.load(std::memory_order_relaxed);
  int64_t deadline = kNoDeadline;
  bool have_deadline = false;
  char* p = static_cast<char*>(buf);
  size_t got = 0;
  if (k == FdKind::kPollable && e->sigfd_mask.load(std::memory_order_relaxed))
    return signalfd_read(fd, e, buf, len);
  const bool waitall = (flags & MSG_WAITALL) && k == FdKind::kStream;
  const int f = flags & ~MSG_WAITALL;
  if (waitall && (flags & MSG_PEEK)) {
    // Peek at len bytes once they are all there: nothing in the ring waits
    // for "more than is there now", so the blocking call runs offloaded.
    ssize_t r = io::recv_nowait(fd, buf, len, flags);
    if ((r >= 0 && static_cast<size_t>(r) == len) || r == 0 || (r < 0 && r != -EAGAIN)) return r;
    if (nonblocking_now(fd, e)) return r;
    return gh::offload_call([&]() -> ssize_t {
      long n = gh::sys_ret(SYS_recvfrom, fd, buf, len, flags, nullptr, nullptr);
      return n;
    });
  }
  for (;;) {
    // Skip the attempt that would fail when this fd's peer usually makes us
    // wait (see FdEntry::recv_waits); the ring op then costs no extra call.
    bool skip = got == 0 && e->recv_waits.load(std::memory_order_relaxed) &&
                !e->shared.load(std::memory_order_relaxed);
    ssize_t r = skip ? -EAGAIN : recv_once(fd, e, k, p + got, len - got, f);
    if (r == -EAGAIN && !skip && nonblocking_now(fd, e)) {
      // A shared fd that is non-blocking after all: what a non-blocking
      // call returns. recv_once tried no other device; the plain read can
      // not block now.
      if (got > 0) return static_cast<ssize_t>(got);
      if (is_socket(k)) return r;
      long n = gh::sys_ret(SYS_read, fd, p, len);
      return n;
    }
    if (r == -EAGAIN) {
      if (!have_deadline) {
        deadline = fd_deadline(e, false);
        have_deadline = true;
      }
      if (is_socket(k) && skip)
        r = map_timeout(io::recv_expecting_wait(fd, p + got, len - got, f, deadline));
      else if (is_socket(k))
        r = map_timeout(io::recv(fd, p + got, len - got, f, deadline));
      else if (e->tty.load(std::memory_order_relaxed))
        r = tty_read(fd, p + got, len - got, deadline);
      else
        r = map_timeout(io::read(fd, p + got, len - got, -1, deadline));
      // A full buffer means data is streaming in: try without waiting next.
      e->recv_waits.store(r >= 0 && static_cast<size_t>(r) < len - got, std::memory_order_relaxed);
    }
    if (r < 0) {
      if (got == 0) return r;
      if (is_socket(k) && io::error_reported_once(r)) fd_set_late_error(e, static_cast<int>(r));
      return static_cast<ssize_t>(got);
    }
    got += static_cast<size_t>(r);
    if (!waitall || r == 0 || got >= len || (f & MSG_PEEK)) return static_cast<ssize_t>(got);
  }
}

namespace {

// The rest of a MSG_WAITALL receive on a stream socket after `done` bytes
// arrived: fills what is left of msg's iovecs (without ancillary data, which
// came with the first bytes) until full, EOF, an error or the deadline.
// Returns the total received.
ssize_t recvmsg_rest(int fd, FdEntry* e, const msghdr* msg, int flags, size_t done,
                     int64_t deadline) {
  const int f = flags & ~MSG_WAITALL;
  size_t n = msg->msg_iovlen;
  iovec small[16];
  iovec* rest = n <= 16 ? small : gh::arena_alloc_array<iovec>(n);
  if (!rest) return static_cast<ssize_t>(done);
  size_t skip = done, cnt = 0;
  for (size_t i = 0; i < n; i++) {
    const iovec& v = msg->msg_iov[i];
    if (skip >= v.iov_len) {
      skip -= v.iov_len;
      continue;
    }
    rest[cnt].iov_base = static_cast<char*>(v.iov_base) + skip;
    rest[cnt].iov_len = v.iov_len - skip;
    skip = 0;
    cnt++;
  }
  size_t first = 0;  // index of the first iovec not yet full
  while (first < cnt) {
    msghdr m{};
    m.msg_iov = rest + first;
    m.msg_iovlen = cnt - first;
    ssize_t r = io::recvmsg_nowait(fd, &m, f);
    if (r == -EAGAIN) {
      if (nonblocking_now(fd, e)) break;
      r = map_timeout(io::recvmsg(fd, &m, f, deadline));
    }
    // An error after the first bytes ends the call with the count; the
    // kernel keeps it for the next call, and so do we (it was collected).
    if (io::error_reported_once(r)) fd_set_late_error(e, static_cast<int>(r));
    if (r <= 0) break;
    done += static_cast<size_t>(r);
    size_t left = static_cast<size_t>(r);
    while (first < cnt && left >= rest[first].iov_len) left -= rest[first++].iov_len;
    if (first < cnt) {
      rest[first].iov_base = static_cast<char*>(rest[first].iov_base) + left;
      rest[first].iov_len -= left;
    }
  }
  if (rest != small) gh::arena_free_array(rest, n);
  return static_cast<ssize_t>(done);
}

}  // namespace

ssize_t green_recvmsg(int fd, FdEntry* e, msghdr* msg, int flags) {
  ParkedOn parked(e);
  if (int late = fd_take_late_error(e)) return late;
  FdKind k = e->kind.load(std::memory_order_relaxed);
  ssize_t r;
  if (is_socket(k)) {
    // MSG_WAITALL is carried out here, not by the ring: a partial receive
    // that times out must return its count.
    const bool waitall = (flags & MSG_WAITALL) && !(flags & MSG_PEEK) && k == FdKind::kStream;
    const int f = waitall ? flags & ~MSG_WAITALL : flags;
    int64_t deadline = kNoDeadline;
    if ((flags & MSG_WAITALL) && (flags & MSG_PEEK) && k == FdKind::kStream) {
      // As in green_recv: peeking at everything asked for waits offloaded.
      r = io::recvmsg_nowait(fd, msg, flags);
      if (r != -EAGAIN && r <= 0) return r;
      size_t total = 0;
      for (size_t i = 0; i < msg->msg_iovlen; i++) total += msg->msg_iov[i].iov_len;
      if ((r >= 0 && static_cast<size_t>(r) == total) || nonblocking_now(fd, e)) return r;
      return gh::offload_call([&]() -> ssize_t {
        long n = gh::sys_ret(SYS_recvmsg, fd, msg, flags);
        return n;
      });
    }
    r = io::recvmsg_nowait(fd, msg, f);
    if (r == -EAGAIN && !nonblocking_now(fd, e)) {
      deadline = fd_deadline(e, false);
      r = map_timeout(io::recvmsg(fd, msg, f, deadline));
    }
    if (!waitall || r <= 0) return r;
    // The kernel has accepted msg and its iovecs: reading them is safe.
    size_t total = 0;
    for (size_t i = 0; i < msg->msg_iovlen; i++) total += msg->msg_iov[i].iov_len;
    if (static_cast<size_t>(r) >= total) return r;
    if (deadline == kNoDeadline) deadline = fd_deadline(e, false);
    return recvmsg_rest(fd, e, msg, flags, static_cast<size_t>(r), deadline);
  }
  if (k == FdKind::kPipe || e->eventfd.load(std::memory_order_relaxed)) {
    r = io::readv_nowait(fd, msg->msg_iov, static_cast<int>(msg->msg_iovlen));
    if (r != -EAGAIN && r != -EOPNOTSUPP) return r;
  }
  if (nonblocking_now(fd, e)) {
    // Only a shared fd gets here in non-blocking mode; a device without
    // RWF_NOWAIT needs the plain call, which the kernel makes non-blocking.
    return gh::sys_ret(SYS_readv, fd, msg->msg_iov, static_cast<int>(msg->msg_iovlen));
  }
  return map_timeout(
      io::readv(fd, msg->msg_iov, static_cast<int>(msg->msg_iovlen), -1, fd_deadline(e, false)));
}

ssize_t green_send(int fd, FdEntry* e, const void* buf, size_t len, int flags) {
  ParkedOn parked(e);
  if (int late = fd_take_late_error(e)) return late;
  FdKind k = e->kind.load(std::memory_order_relaxed);
  int64_t deadline = fd_deadline(e, true);
  if (k == FdKind::kStream || k == FdKind::kPipe) {
    // One non-blocking attempt; what it could not write goes through the
    // full-write loop, unless the fd turns out to be non-blocking.
    ssize_t first;
    if (k == FdKind::kStream) {
      first = io::send_nowait(fd, buf, len, flags);
    } else {
      iovec v{const_cast<void*>(buf), len};
      first = io::writev_nowait(fd, &v, 1);
      if (first == -EOPNOTSUPP) first = -EAGAIN;
    }
    if (first >= 0 && static_cast<size_t>(first) == len) return first;
    if (first < 0 && first != -EAGAIN) return first;
    size_t done = first > 0 ? static_cast<size_t>(first) : 0;
    if (nonblocking_now(fd, e)) return done > 0 ? static_cast<ssize_t>(done) : -EAGAIN;
    int late = 0;
    ssize_t r = io::write_all(fd, static_cast<const char*>(buf) + done, len - done,
                              k == FdKind::kStream, flags, deadline, done > 0, &late);
    if (late) fd_set_late_error(e, late);
    if (r < 0) return done > 0 ? static_cast<ssize_t>(done) : map_timeout(r);
    return static_cast<ssize_t>(done) + r;
  }
  if (k == FdKind::kPacket)
    return retry_when_ready(
        fd, e, POLLOUT, deadline, [&] { return io::send_nowait(fd, buf, len, flags); },
        [&]() -> ssize_t { return gh::sys_ret(SYS_sendto, fd, buf, len, flags, nullptr, 0); });
  if (nonblocking_now(fd, e)) {
    long r = gh::sys_ret(SYS_write, fd, buf, len);
    return r;
  }
  if (e->eventfd.load(std::memory_order_relaxed)) return eventfd_write(fd, e, buf, len, deadline);
  return map_timeout(io::write(fd, buf, len, -1, deadline));
}

ssize_t green_sendmsg(int fd, FdEntry* e, const msghdr* msg, int flags) {
  ParkedOn parked(e);
  if (int late = fd_take_late_error(e)) return late;
  FdKind k = e->kind.load(std::memory_order_relaxed);
  int64_t deadline = fd_deadline(e, true);
  if (k == FdKind::kPacket)
    return retry_when_ready(
        fd, e, POLLOUT, deadline, [&] { return io::sendmsg_nowait(fd, msg, flags); },
        [&]() -> ssize_t { return gh::sys_ret(SYS_sendmsg, fd, msg, flags); });
  if (k != FdKind::kStream && k != FdKind::kPipe) {
    if (nonblocking_now(fd, e)) {
      long r = gh::sys_ret(SYS_writev, fd, msg->msg_iov, static_cast<int>(msg->msg_iovlen));
      return r;
    }
    return map_timeout(
        io::writev(fd, msg->msg_iov, static_cast<int>(msg->msg_iovlen), -1, deadline));
  }
  // Streams and pipes: everything goes out. One non-blocking attempt with
  // the whole message first (it also lets the kernel validate msg and its
  // iovecs before we read them); then walk the iovecs, sending what is left
  // of the current one with the full-write loop.
  ssize_t first;
  bool nowait_ok = true;
  if (k == FdKind::kStream) {
    first = io::sendmsg_nowait(fd, msg, flags);
  } else {
    first = io::writev_nowait(fd, msg->msg_iov, static_cast<int>(msg->msg_iovlen));
    if (first == -EOPNOTSUPP) {
      first = -EAGAIN;
      nowait_ok = false;
    }
  }
  // Ancillary data travels with the first bytes: wait until the kernel
  // takes some of them, then send the rest without it.
  while (first == -EAGAIN && nowait_ok && msg->msg_controllen) {
    if (nonblocking_now(fd, e)) return -EAGAIN;
    int w = wait_ready(fd, e, POLLOUT, deadline);
    if (w < 0) return w;
    first = io::sendmsg_nowait(fd, msg, flags);
  }
  if (first < 0 && first != -EAGAIN) return first;
  size_t total = 0;
  for (size_t i = 0; i < msg->msg_iovlen; i++) total += msg->msg_iov[i].iov_len;
  size_t done = first > 0 ? static_cast<size_t>(first) : 0;
  if (done < total && nonblocking_now(fd, e))
    return done > 0 ? static_cast<ssize_t>(done) : -EAGAIN;
  size_t skip = done;
  for (size_t i = 0; i < msg->msg_iovlen && done < total; i++) {
    const iovec& v = msg->msg_iov[i];
    if (skip >= v.iov_len) {
      skip -= v.iov_len;
      continue;
    }
    const char* base = static_cast<const char*>(v.iov_base) + skip;
    size_t left = v.iov_len - skip;
    skip = 0;
    int late = 0;
    ssize_t r =
        io::write_all(fd, base, left, k == FdKind::kStream, flags, deadline, done > 0, &late);
    if (late) fd_set_late_error(e, late);
    if (r < 0) return done > 0 ? static_cast<ssize_t>(done) : map_timeout(r);
    done += static_cast<size_t>(r);
    if (static_cast<size_t>(r) < left) break;  // error after a partial write
  }
  return static_cast<ssize_t>(done);
}

}  // namespace gh::shim
