// SPDX-License-Identifier: MIT
// Data: read/write and the socket send/receive family, with the fortified
// __*_chk forms. Blocking calls on sockets, pipes and pollable devices park
// the green thread; everything else passes through (see docs/design.md,
// "What blocks what").
#include <limits.h>
#include <sys/syscall.h>
#include <sys/uio.h>

#include <cerrno>

#include "shim/cancel.h"
#include "shim/fd_table.h"
#include "core/sys.h"
#include "shim/green_io.h"
#include "shim/state.h"
#include "shim/user_mem.h"
#include "core/offload.h"
#include "ioring/ops.h"

using namespace gh::shim;

namespace {

// A socket call on an entry that says "socket" fails with ENOTSOCK only when
// the entry is stale: the fd was closed behind the shim's back (closefrom,
// a raw close system call, a close inside a library) and its number reused
// for something else. Such an entry is forgotten and the call made again.
// Receive flags with which the call never blocks: MSG_DONTWAIT, and
// MSG_ERRQUEUE (reading the error queue answers EAGAIN when it is empty).
constexpr int kRecvNoWait = MSG_DONTWAIT | MSG_ERRQUEUE;

inline bool stale(ssize_t r, int fd) {
  if (r != -ENOTSOCK) return false;
  fd_forget(fd);
  return true;
}

// A buffered write to a file on a local disk usually copies into the page
// cache and returns: it is made directly (docs/design.md, "Regular files").
// One that took longer than kWriteWaitedNs (dirty-page throttling, a
// journal) sends the fd's writes to the ring for kWritesToRingNs.
constexpr int64_t kWriteWaitedNs = 20000000;
constexpr int64_t kWritesToRingNs = 250000000;

inline bool writes_directly(const FdEntry* f) {
  if (!f->buffered_local.load(std::memory_order_relaxed)) return false;
  int64_t until = f->writes_wait_until.load(std::memory_order_relaxed);
  return until == 0 || gh::mono_ns() >= until;
}

template <class Real>
ssize_t timed_write(FdEntry* f, Real&& real_call) {
  int64_t t0 = gh::mono_ns();
  ssize_t r = real_call();
  int64_t t1 = gh::mono_ns();
  if (t1 - t0 > kWriteWaitedNs)
    f->writes_wait_until.store(t1 + kWritesToRingNs, std::memory_order_relaxed);
  return r;
}

// A call on a regular file, through the ring if it should go there
// (hook_file.cc), else real_call(). `off`: -1 for the file position; a
// positional call with another negative offset gets the kernel's EINVAL.
template <class Real>
ssize_t file_io(int fd, bool write, const iovec* iov, int iovcnt, int64_t off, Real&& real_call) {
  FdEntry* f = disk_file_fd(fd);
  if (!f || iovcnt < 0 || iovcnt > IOV_MAX || off < -1) return real_call();
  FilePosLock pos(f, off);
  if (write && writes_directly(f)) return timed_write(f, real_call);
  if (!file_on_ring(f, write, off)) return real_call();
  return ret_errno(green_file_io(fd, f, write, iov, iovcnt, off));
}

template <class Real>
ssize_t file_io1(int fd, bool write, const void* buf, size_t n, int64_t off, Real&& real_call) {
  iovec v{const_cast<void*>(buf), n};
  return file_io(fd, write, &v, 1, off, real_call);
}

}  // namespace

extern "C" void __chk_fail(void) __attribute__((noreturn));

GH_EXPORT ssize_t read(int fd, void* buf, size_t n) {
  CancelPoint cp;
  FdEntry* e = parking_fd(fd);
  if (!e) return cp.done(file_io1(fd, false, buf, n, -1, [&] { return real::read(fd, buf, n); }));
  ssize_t r = green_recv(fd, e, buf, n, 0);
  if (stale(r, fd)) return cp.done(read(fd, buf, n));
  return cp.done(ret_errno(r));
}

GH_EXPORT ssize_t __read_chk(int fd, void* buf, size_t n, size_t buflen) {
  if (n > buflen) __chk_fail();
  return read(fd, buf, n);
}

GH_EXPORT ssize_t readv(int fd, const iovec* iov, int iovcnt) {
  CancelPoint cp;
  FdEntry* e = parking_fd(fd);
  if (!e)
    return cp.done(
        file_io(fd, false, iov, iovcnt, -1, [&] { return real::readv(fd, iov, iovcnt); }));
  if (iovcnt < 0 || iovcnt > IOV_MAX) return cp.done(real::readv(fd, iov, iovcnt));
  msghdr m{};
  m.msg_iov = const_cast<iovec*>(iov);
  m.msg_iovlen = static_cast<size_t>(iovcnt);
  ssize_t r = green_recvmsg(fd, e, &m, 0);
  if (stale(r, fd)) return cp.done(readv(fd, iov, iovcnt));
  return cp.done(ret_errno(r));
}

// Positional I/O: only files accept it (through the ring, hook_file.cc);
// sockets and pipes fail at once with ESPIPE.
GH_EXPORT ssize_t pread(int fd, void* buf, size_t n, off_t off) {
  CancelPoint cp;
  ensure_real();
  return cp.done(file_io1(fd, false, buf, n, off < 0 ? -2 : off,
                          [&] { return real::pread(fd, buf, n, off); }));
}
GH_EXPORT ssize_t pread64(int fd, void* buf, size_t n, off64_t off) {
  CancelPoint cp;
  ensure_real();
  return cp.done(file_io1(fd, false, buf, n, off < 0 ? -2 : off,
                          [&] { return real::pread64(fd, buf, n, off); }));
}
GH_EXPORT ssize_t __pread_chk(int fd, void* buf, size_t n, off_t off, size_t buflen) {
  if (n > buflen) __chk_fail();
  return pread(fd, buf, n, off);
}
GH_EXPORT ssize_t __pread64_chk(int fd, void* buf, size_t n, off64_t off, size_t buflen) {
  if (n > buflen) __chk_fail();
  return pread64(fd, buf, n, off);
}
GH_EXPORT ssize_t preadv(int fd, const iovec* iov, int iovcnt, off_t off) {
  CancelPoint cp;
  ensure_real();
  return cp.done(file_io(fd, false, iov, iovcnt, off < 0 ? -2 : off,
                         [&] { return real::preadv(fd, iov, iovcnt, off); }));
}
GH_EXPORT ssize_t preadv2(int fd, const iovec* iov, int iovcnt, off_t off, int flags) {
  CancelPoint cp;
  // offset -1 with no flags is readv.
  if (off == -1 && flags == 0) return cp.done(readv(fd, iov, iovcnt));
  ensure_real();
  if (flags != 0) return cp.done(real::preadv2(fd, iov, iovcnt, off, flags));  // RWF_*: as asked
  return cp.done(file_io(fd, false, iov, iovcnt, off < 0 ? -2 : off,
                         [&] { return real::preadv2(fd, iov, iovcnt, off, flags); }));
}
GH_EXPORT ssize_t pwrite(int fd, const void* buf, size_t n, off_t off) {
  CancelPoint cp;
  ensure_real();
  return cp.done(file_io1(fd, true, buf, n, off < 0 ? -2 : off,
                          [&] { return real::pwrite(fd, buf, n, off); }));
}
GH_EXPORT ssize_t pwrite64(int fd, const void* buf, size_t n, off64_t off) {
  CancelPoint cp;
  ensure_real();
  return cp.done(file_io1(fd, true, buf, n, off < 0 ? -2 : off,
                          [&] { return real::pwrite64(fd, buf, n, off); }));
}
GH_EXPORT ssize_t pwritev(int fd, const iovec* iov, int iovcnt, off_t off) {
  CancelPoint cp;
  ensure_real();
  return cp.done(file_io(fd, true, iov, iovcnt, off < 0 ? -2 : off,
                         [&] { return real::pwritev(fd, iov, iovcnt, off); }));
}

GH_EXPORT ssize_t write(int fd, const void* buf, size_t n) {
  CancelPoint cp;
  FdEntry* e = parking_fd(fd);
  if (!e) return cp.done(file_io1(fd, true, buf, n, -1, [&] { return real::write(fd, buf, n); }));
  ssize_t r = green_send(fd, e, buf, n, 0);
  if (stale(r, fd)) return cp.done(write(fd, buf, n));
  return cp.done(ret_errno(r));
}

GH_EXPORT ssize_t writev(int fd, const iovec* iov, int iovcnt) {
  CancelPoint cp;
  FdEntry* e = parking_fd(fd);
  if (!e)
    return cp.done(
        file_io(fd, true, iov, iovcnt, -1, [&] { return real::writev(fd, iov, iovcnt); }));
  if (iovcnt < 0 || iovcnt > IOV_MAX) return cp.done(real::writev(fd, iov, iovcnt));
  msghdr m{};
  m.msg_iov = const_cast<iovec*>(iov);
  m.msg_iovlen = static_cast<size_t>(iovcnt);
  ssize_t r = green_sendmsg(fd, e, &m, 0);
  if (stale(r, fd)) return cp.done(writev(fd, iov, iovcnt));
  return cp.done(ret_errno(r));
}

GH_EXPORT ssize_t pwritev2(int fd, const iovec* iov, int iovcnt, off_t off, int flags) {
  CancelPoint cp;
  if (off == -1 && flags == 0) return cp.done(writev(fd, iov, iovcnt));
  ensure_real();
  if (flags != 0) return cp.done(real::pwritev2(fd, iov, iovcnt, off, flags));
  return cp.done(file_io(fd, true, iov, iovcnt, off < 0 ? -2 : off,
                         [&] { return real::pwritev2(fd, iov, iovcnt, off, flags); }));
}

GH_EXPORT ssize_t recv(int fd, void* buf, size_t n, int flags) {
  CancelPoint cp;
  FdEntry* e = (flags & kRecvNoWait) ? nullptr : parking_fd(fd);
  if (!e || !is_socket(e->kind.load())) return cp.done(real::recv(fd, buf, n, flags));
  ssize_t r = green_recv(fd, e, buf, n, flags);
  if (stale(r, fd)) return cp.done(recv(fd, buf, n, flags));
  return cp.done(ret_errno(r));
}

GH_EXPORT ssize_t __recv_chk(int fd, void* buf, size_t n, size_t buflen, int flags) {
  if (n > buflen) __chk_fail();
  return recv(fd, buf, n, flags);
}

GH_EXPORT ssize_t recvfrom(int fd, void* buf, size_t n, int flags, sockaddr* addr,
                           socklen_t* addrlen) {
  CancelPoint cp;
  FdEntry* e = (flags & kRecvNoWait) ? nullptr : parking_fd(fd);
  if (!e || !is_socket(e->kind.load()))
    return cp.done(real::recvfrom(fd, buf, n, flags, addr, addrlen));
  if (!addr) {
    ssize_t r = green_recv(fd, e, buf, n, flags);
    if (stale(r, fd)) return cp.done(recvfrom(fd, buf, n, flags, addr, addrlen));
    return cp.done(ret_errno(r));
  }
  if ((flags & MSG_WAITALL) && (flags & MSG_PEEK) && e->kind.load() == FdKind::kStream) {
    ssize_t r = green_recv(fd, e, buf, n, flags);  // waits until all is there
    if (r < 0) return cp.done(ret_errno(r));
    // then the same peek once more, now with the address
    return cp.done(
        ret_errno(gh::sys_ret(SYS_recvfrom, fd, buf, n, flags | MSG_DONTWAIT, addr, addrlen)));
  }
  // With an address: the first bytes come with it (what the kernel reports
  // for the sender); on a stream, MSG_WAITALL then waits for the rest.
  const bool waitall =
      (flags & MSG_WAITALL) && !(flags & MSG_PEEK) && e->kind.load() == FdKind::kStream;
  const int f = waitall ? flags & ~MSG_WAITALL : flags;
  ssize_t r = retry_when_ready(
      fd, e, POLLIN, fd_deadline(e, false),
      [&]() -> ssize_t {
        return gh::sys_ret(SYS_recvfrom, fd, buf, n, f | MSG_DONTWAIT, addr, addrlen);
      },
      [&]() -> ssize_t { return gh::sys_ret(SYS_recvfrom, fd, buf, n, f, addr, addrlen); });
  if (stale(r, fd)) return cp.done(recvfrom(fd, buf, n, flags, addr, addrlen));
  if (waitall && r > 0 && static_cast<size_t>(r) < n) {
    ssize_t more =
        green_recv(fd, e, static_cast<char*>(buf) + r, n - static_cast<size_t>(r), flags);
    if (more > 0) r += more;
  }
  return cp.done(ret_errno(r));
}

GH_EXPORT ssize_t __recvfrom_chk(int fd, void* buf, size_t n, size_t buflen, int flags,
                                 sockaddr* addr, socklen_t* addrlen) {
  if (n > buflen) __chk_fail();
  return recvfrom(fd, buf, n, flags, addr, addrlen);
}

GH_EXPORT ssize_t recvmsg(int fd, msghdr* msg, int flags) {
  CancelPoint cp;
  FdEntry* e = (flags & kRecvNoWait) ? nullptr : parking_fd(fd);
  if (!e || !is_socket(e->kind.load())) return cp.done(real::recvmsg(fd, msg, flags));
  ssize_t r = green_recvmsg(fd, e, msg, flags);
  if (stale(r, fd)) return cp.done(recvmsg(fd, msg, flags));
  return cp.done(ret_errno(r));
}

GH_EXPORT int recvmmsg(int fd, mmsghdr* vec, unsigned vlen, int flags, timespec* timeout) {
  CancelPoint cp;
  FdEntry* e = (flags & kRecvNoWait) ? nullptr : parking_fd(fd);
  if (!e || !is_socket(e->kind.load()))
    return cp.done(real::recvmmsg(fd, vec, vlen, flags, timeout));
  // Native blocking recvmmsg returns once vlen messages arrived, or after the
  // first with MSG_WAITFORONE; an error after some messages returns the count.
  // A timeout is only looked at after each message (recvmmsg(2), BUGS): the
  // first one is waited for without limit (but for SO_RCVTIMEO), and the time
  // left is written back.
  int64_t end = -1;
  if (timeout) {
    timespec ts;
    if (copy_from_user(&ts, timeout, sizeof ts) != 0)
      return cp.done(static_cast<int>(ret_errno(ssize_t{-EFAULT})));
    if (!gh::valid_interval(ts)) return cp.done(static_cast<int>(ret_errno(ssize_t{-EINVAL})));
    end = gh::clock_ns(CLOCK_MONOTONIC) + gh::timespec_ns(ts);
  }
  if (vlen > UIO_MAXIOV) vlen = UIO_MAXIOV;  // as the kernel clamps it
  unsigned got = 0;
  int64_t deadline = fd_deadline(e, false);
  while (got < vlen) {
    ssize_t r = retry_when_ready(
        fd, e, POLLIN, deadline,
        [&]() -> ssize_t {
          return gh::sys_ret(SYS_recvmmsg, fd, vec + got, vlen - got,
                             (flags & ~MSG_WAITFORONE) | MSG_DONTWAIT, nullptr);
        },
        [&]() -> ssize_t {
          return gh::sys_ret(SYS_recvmmsg, fd, vec + got, vlen - got, flags, nullptr);
        });
    if (got == 0 && stale(r, fd)) return cp.done(recvmmsg(fd, vec, vlen, flags, timeout));
    if (r < 0) {
      if (got > 0) break;
      return cp.done(static_cast<int>(ret_errno(r)));
    }
    got += static_cast<unsigned>(r);
    if (flags & MSG_WAITFORONE) break;
    if (timeout && gh::clock_ns(CLOCK_MONOTONIC) >= end) break;
  }
  if (timeout) {
    int64_t left = end - gh::clock_ns(CLOCK_MONOTONIC);
    timespec t = gh::ns_timespec(left > 0 ? left : 0);
    if (copy_to_user(timeout, &t, sizeof t) != 0)
      return cp.done(static_cast<int>(ret_errno(ssize_t{-EFAULT})));
  }
  return cp.done(static_cast<int>(got));
}

GH_EXPORT ssize_t send(int fd, const void* buf, size_t n, int flags) {
  CancelPoint cp;
  FdEntry* e = (flags & MSG_DONTWAIT) ? nullptr : parking_fd(fd);
  if (!e || !is_socket(e->kind.load())) return cp.done(real::send(fd, buf, n, flags));
  ssize_t r = green_send(fd, e, buf, n, flags);
  if (stale(r, fd)) return cp.done(send(fd, buf, n, flags));
  return cp.done(ret_errno(r));
}

GH_EXPORT ssize_t sendto(int fd, const void* buf, size_t n, int flags, const sockaddr* addr,
                         socklen_t addrlen) {
  CancelPoint cp;
  FdEntry* e = (flags & MSG_DONTWAIT) ? nullptr : parking_fd(fd);
  if (!e || !is_socket(e->kind.load()))
    return cp.done(real::sendto(fd, buf, n, flags, addr, addrlen));
  if (!addr) {
    ssize_t r = green_send(fd, e, buf, n, flags);
    if (stale(r, fd)) return cp.done(sendto(fd, buf, n, flags, addr, addrlen));
    return cp.done(ret_errno(r));
  }
  auto attempt = [&]() -> ssize_t {
    return gh::sys_ret(SYS_sendto, fd, buf, n, flags | MSG_DONTWAIT, addr, addrlen);
  };
  if (e->kind.load() != FdKind::kStream) {
    ssize_t r = retry_when_ready(fd, e, POLLOUT, fd_deadline(e, true), attempt, [&]() -> ssize_t {
      return gh::sys_ret(SYS_sendto, fd, buf, n, flags, addr, addrlen);
    });
    if (stale(r, fd)) return cp.done(sendto(fd, buf, n, flags, addr, addrlen));
    return cp.done(ret_errno(r));
  }
  // A stream ignores the address (TCP) or refuses it at once (Unix): the
  // first attempt tells which; the rest is a blocking stream write, which
  // writes everything.
  ssize_t r = attempt();
  if (stale(r, fd)) return cp.done(sendto(fd, buf, n, flags, addr, addrlen));
  if (r < 0 && r != -EAGAIN) return cp.done(ret_errno(r));
  size_t done = r > 0 ? static_cast<size_t>(r) : 0;
  if (done == n && r >= 0) return cp.done(static_cast<ssize_t>(done));
  ssize_t more = green_send(fd, e, static_cast<const char*>(buf) + done, n - done, flags);
  if (more < 0) return cp.done(done > 0 ? static_cast<ssize_t>(done) : ret_errno(more));
  return cp.done(static_cast<ssize_t>(done) + more);
}

GH_EXPORT ssize_t sendmsg(int fd, const msghdr* msg, int flags) {
  CancelPoint cp;
  FdEntry* e = (flags & MSG_DONTWAIT) ? nullptr : parking_fd(fd);
  ssize_t r;
  if (!e || !is_socket(e->kind.load())) {
    r = real::sendmsg(fd, msg, flags);
  } else {
    r = green_sendmsg(fd, e, msg, flags);
    if (stale(r, fd)) return cp.done(sendmsg(fd, msg, flags));
    r = ret_errno(r);
  }
  // The kernel has read msg when it accepted it.
  if (r >= 0 && msg->msg_controllen) mark_passed_fds(msg);
  return cp.done(r);
}

GH_EXPORT int sendmmsg(int fd, mmsghdr* vec, unsigned vlen, int flags) {
  CancelPoint cp;
  FdEntry* e = (flags & MSG_DONTWAIT) ? nullptr : parking_fd(fd);
  int r;
  if (!e || !is_socket(e->kind.load())) {
    r = real::sendmmsg(fd, vec, vlen, flags);
  } else {
    r = static_cast<int>(ret_errno(retry_when_ready(
        fd, e, POLLOUT, fd_deadline(e, true),
        [&]() -> ssize_t { return gh::sys_ret(SYS_sendmmsg, fd, vec, vlen, flags | MSG_DONTWAIT); },
        [&]() -> ssize_t { return gh::sys_ret(SYS_sendmmsg, fd, vec, vlen, flags); })));
  }
  for (int i = 0; i < r; i++)
    if (vec[i].msg_hdr.msg_controllen) mark_passed_fds(&vec[i].msg_hdr);
  return cp.done(r);
}

// sendfile and splice have no non-blocking form for a blocking socket or
// pipe (O_NONBLOCK of the file decides, and the shim never changes it), and
// a transfer larger than the free buffer space blocks in the middle. Making
// the real call on the carrier would block it until the peer drains the
// data: a deadlock when the peer is a green thread of the same carrier.
//
// sendfile: wait in the ring until out_fd is writable, then make the real,
// blocking call on the offload pool (core/offload.h) while the caller parks.
// splice: one side is a pipe, so io_uring's IORING_OP_SPLICE can make it; the
// kernel runs it in an io-wq worker, and the carrier goes on meanwhile.
// In both the kernel applies SO_RCVTIMEO / SO_SNDTIMEO as natively.
namespace {

template <class Off, class Real>
ssize_t green_sendfile(int out_fd, int in_fd, Off* offset, size_t count, Real real_fn) {
  FdEntry* e = parking_fd(out_fd);
  if (!e || nonblocking_now(out_fd, e)) return real_fn(out_fd, in_fd, offset, count);
  int w = wait_ready(out_fd, e, POLLOUT, fd_deadline(e, true));
  if (w < 0) return ret_errno(static_cast<ssize_t>(w));
  ParkedOn parked(e);
  return ret_errno(gh::offload_call([&]() -> ssize_t {
    ssize_t r = real_fn(out_fd, in_fd, offset, count);
    return r;
  }));
}

}  // namespace

GH_EXPORT ssize_t sendfile(int out_fd, int in_fd, off_t* offset, size_t count) {
  return green_sendfile(out_fd, in_fd, offset, count, real::sendfile);
}

GH_EXPORT ssize_t sendfile64(int out_fd, int in_fd, off64_t* offset, size_t count) {
  return green_sendfile(out_fd, in_fd, offset, count, real::sendfile64);
}

GH_EXPORT ssize_t splice(int fd_in, loff_t* off_in, int fd_out, loff_t* off_out, size_t len,
                         unsigned flags) {
  FdEntry* in = nullptr;
  FdEntry* out = nullptr;
  if (!(flags & SPLICE_F_NONBLOCK)) {
    in = parking_fd(fd_in);
    if (in && nonblocking_now(fd_in, in)) in = nullptr;
    out = parking_fd(fd_out);
    if (out && nonblocking_now(fd_out, out)) out = nullptr;
  }
  ensure_real();
  if (!in && !out) return real::splice(fd_in, off_in, fd_out, off_out, len, flags);
  // The offsets are passed by value and written back, as the kernel would.
  loff_t oin = -1, oout = -1;
  if (off_in && copy_from_user(&oin, off_in, sizeof oin) != 0) return ret_errno(ssize_t{-EFAULT});
  if (off_out && copy_from_user(&oout, off_out, sizeof oout) != 0)
    return ret_errno(ssize_t{-EFAULT});
  // A negative offset is EINVAL natively; -1 would mean "none" to the ring.
  if ((off_in && oin < 0) || (off_out && oout < 0)) return ret_errno(ssize_t{-EINVAL});
  FdEntry* e = out ? out : in;
  ParkedOn parked(e);
  int64_t in_off = oin, out_off = oout;
  ssize_t r = gh::io::splice(fd_in, off_in ? &in_off : nullptr, fd_out,
                             off_out ? &out_off : nullptr, len, flags);
  if (r == -ECANCELED) r = -EBADF;  // close() of one of the fds cancelled it
  if (r > 0) {
    if ((off_in && copy_to_user(off_in, &in_off, sizeof in_off) != 0) ||
        (off_out && copy_to_user(off_out, &out_off, sizeof out_off) != 0))
      return ret_errno(ssize_t{-EFAULT});
  }
  return ret_errno(static_cast<ssize_t>(r));
}
