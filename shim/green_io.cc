#include "shim/green_io.h"

#include <cerrno>
#include <cstring>

#include "ioring/fastpath.h"

namespace gh::shim {

int64_t fd_deadline(const FdEntry* e, bool out) {
  int64_t t = (out ? e->sndtimeo_ns : e->rcvtimeo_ns).load(std::memory_order_relaxed);
  return t > 0 ? deadline_after(t) : kNoDeadline;
}

int wait_ready(int fd, FdEntry* e, uint32_t events, int64_t deadline) {
  ParkedOn parked(e);
  int ev = io::poll(fd, events, deadline);
  if (ev == -ETIME) return -EAGAIN;
  if (ev == -ECANCELED) return -EBADF;  // close() of the fd cancelled us
  return ev < 0 ? ev : 0;
}

namespace {

// A ring wait that hit the SO_*TIMEO deadline reports what the native call
// does (EAGAIN); one cancelled by close() of its fd reports EBADF.
ssize_t map_timeout(ssize_t r) {
  if (r == -ETIME) return -EAGAIN;
  if (r == -ECANCELED) return -EBADF;
  return r;
}

// One non-blocking attempt for a receive, by kind of fd.
ssize_t recv_once(int fd, FdKind k, void* buf, size_t len, int flags) {
  if (is_socket(k)) return io::recv_nowait(fd, buf, len, flags);
  if (k == FdKind::kPipe) {
    iovec v{buf, len};
    ssize_t r = io::readv_nowait(fd, &v, 1);
    return r == -EOPNOTSUPP ? -EAGAIN : r;
  }
  return -EAGAIN;  // pollable devices: straight to the ring
}

}  // namespace

ssize_t green_recv(int fd, FdEntry* e, void* buf, size_t len, int flags) {
  ParkedOn parked(e);
  FdKind k = e->kind.load(std::memory_order_relaxed);
  int64_t deadline = kNoDeadline;
  bool have_deadline = false;
  char* p = static_cast<char*>(buf);
  size_t got = 0;
  const bool waitall = (flags & MSG_WAITALL) && k == FdKind::kStream;
  const int f = flags & ~MSG_WAITALL;
  for (;;) {
    ssize_t r = recv_once(fd, k, p + got, len - got, f);
    if (r == -EAGAIN) {
      if (!have_deadline) {
        deadline = fd_deadline(e, false);
        have_deadline = true;
      }
      if (is_socket(k))
        r = map_timeout(io::recv(fd, p + got, len - got, f, deadline));
      else
        r = map_timeout(io::read(fd, p + got, len - got, -1, deadline));
    }
    if (r < 0) return got > 0 ? static_cast<ssize_t>(got) : r;
    got += static_cast<size_t>(r);
    if (!waitall || r == 0 || got >= len || (f & MSG_PEEK)) return static_cast<ssize_t>(got);
  }
}

ssize_t green_recvmsg(int fd, FdEntry* e, msghdr* msg, int flags) {
  ParkedOn parked(e);
  FdKind k = e->kind.load(std::memory_order_relaxed);
  ssize_t r;
  if (is_socket(k)) {
    r = io::recvmsg_nowait(fd, msg, flags);
    if (r == -EAGAIN) r = map_timeout(io::recvmsg(fd, msg, flags, fd_deadline(e, false)));
    return r;
  }
  if (k == FdKind::kPipe) {
    r = io::readv_nowait(fd, msg->msg_iov, static_cast<int>(msg->msg_iovlen));
    if (r != -EAGAIN && r != -EOPNOTSUPP) return r;
  }
  return map_timeout(io::readv(fd, msg->msg_iov, static_cast<int>(msg->msg_iovlen), -1,
                               fd_deadline(e, false)));
}

ssize_t green_send(int fd, FdEntry* e, const void* buf, size_t len, int flags) {
  ParkedOn parked(e);
  FdKind k = e->kind.load(std::memory_order_relaxed);
  int64_t deadline = fd_deadline(e, true);
  if (k == FdKind::kStream || k == FdKind::kPipe)
    return map_timeout(io::write_all(fd, buf, len, k == FdKind::kStream, flags, deadline));
  if (k == FdKind::kPacket)
    return retry_when_ready(fd, e, POLLOUT, deadline,
                            [&] { return io::send_nowait(fd, buf, len, flags); });
  return map_timeout(io::write(fd, buf, len, -1, deadline));
}

ssize_t green_sendmsg(int fd, FdEntry* e, const msghdr* msg, int flags) {
  ParkedOn parked(e);
  FdKind k = e->kind.load(std::memory_order_relaxed);
  int64_t deadline = fd_deadline(e, true);
  if (k == FdKind::kPacket)
    return retry_when_ready(fd, e, POLLOUT, deadline,
                            [&] { return io::sendmsg_nowait(fd, msg, flags); });
  if (k != FdKind::kStream && k != FdKind::kPipe)
    return map_timeout(io::writev(fd, msg->msg_iov, static_cast<int>(msg->msg_iovlen), -1,
                                  deadline));
  // Streams and pipes: everything goes out. Walk the iovecs, sending what is
  // left of the current one with the full-write loop once the vector as a
  // whole would block.
  size_t total = 0;
  for (size_t i = 0; i < msg->msg_iovlen; i++) total += msg->msg_iov[i].iov_len;
  ssize_t first;
  if (k == FdKind::kStream) {
    first = io::sendmsg_nowait(fd, msg, flags);
  } else {
    first = io::writev_nowait(fd, msg->msg_iov, static_cast<int>(msg->msg_iovlen));
    if (first == -EOPNOTSUPP) first = -EAGAIN;
  }
  if (first < 0 && first != -EAGAIN) return first;
  size_t done = first > 0 ? static_cast<size_t>(first) : 0;
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
    ssize_t r = io::write_all(fd, base, left, k == FdKind::kStream, flags, deadline);
    if (r < 0) return done > 0 ? static_cast<ssize_t>(done) : map_timeout(r);
    done += static_cast<size_t>(r);
    if (static_cast<size_t>(r) < left) break;  // error after a partial write
  }
  return static_cast<ssize_t>(done);
}

}  // namespace gh::shim
