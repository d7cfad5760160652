// SPDX-License-Identifier: MIT
#include "ioring/ops.h"

#include <sys/syscall.h>

#include <cerrno>

#include "core/carrier.h"
#include "core/green.h"
#include "core/sys.h"
#include "ioring/ops_epoll.h"

namespace gh::io {

using ioring::Request;
using ioring::Ring;

namespace {

// Largest transfer one SQE asks for, as Linux's MAX_RW_COUNT: sqe->len is 32
// bits, so a larger size_t would be silently truncated (a 4 GiB + 1 read
// would ask for 1 byte). The kernel caps every read/write at this anyway.
constexpr size_t kMaxRw = 0x7ffff000;
inline unsigned clamp_len(size_t len) { return static_cast<unsigned>(len > kMaxRw ? kMaxRw : len); }

// What a green thread parked in the ring waits for (diagnostics).
const char* op_name(uint8_t op) {
  switch (op) {
    case IORING_OP_READ:
    case IORING_OP_READV:
      return "read";
    case IORING_OP_WRITE:
    case IORING_OP_WRITEV:
      return "write";
    case IORING_OP_RECV:
    case IORING_OP_RECVMSG:
      return "recv";
    case IORING_OP_SEND:
    case IORING_OP_SENDMSG:
      return "send";
    case IORING_OP_ACCEPT:
      return "accept";
    case IORING_OP_CONNECT:
      return "connect";
    case IORING_OP_POLL_ADD:
      return "poll";
    case IORING_OP_TIMEOUT:
      return "timeout";
    case IORING_OP_ASYNC_CANCEL:
      return "cancel";
    default:
      return "io";
  }
}

// Whether the calling thread's carrier waits with epoll: the operations
// below then go to ops_epoll.cc.
inline bool on_epoll() {
  Carrier* c = Carrier::get();
  return c && c->backend()->kind() == BackendKind::kEpoll;
}

}  // namespace

int32_t wait_tracked(Ring* r, Request* req, io_uring_sqe* s, int64_t deadline) GH_NO_TSA {
  Carrier* c = r->carrier();
  req->g = c->running();
  r->track(s, req);
  __kernel_timespec ts{};
  if (deadline >= 0) {
    s->flags |= IOSQE_IO_LINK;
    io_uring_sqe* t = r->sqe();  // room was reserved by sqes(2)
    ts.tv_sec = deadline / kNsPerSec;
    ts.tv_nsec = deadline % kNsPerSec;
    io_uring_prep_link_timeout(t, &ts, IORING_TIMEOUT_ABS);
    io_uring_sqe_set_data64(t, ioring::kUserIgnore);
    // ts is read by the kernel at submission, which happens before this
    // green thread can resume: the frame outlives it.
  }
  GreenThread* me = c->running();
  me->wait.what = op_name(s->opcode);
  me->wait.fd = s->fd;
  me->wait.since_ns = coarse_ns();
  c->unlock_service();
  // A signal handler interrupts the wait by cancelling the request.
  struct RingInterrupt : InterruptHook {
    Ring* r;
    Request* req;
    bool fired = false;
  } hook;
  hook.fire = [](InterruptHook* h) {
    auto* ri = static_cast<RingInterrupt*>(h);
    ri->fired = true;
    ri->r->carrier()->with_service([ri] {
      io_uring_sqe* cs = ri->r->sqe();
      io_uring_prep_cancel(cs, ri->req, 0);
      io_uring_sqe_set_data64(cs, ioring::kUserIgnore);
    });
  };
  hook.restartable = restartable(deadline);
  hook.r = r;
  hook.req = req;
  bool interruptible = me->io_interruptible;
  // Cancelled already (in a cancellation point): cancel the request at once.
  if (interruptible && !c->set_interrupt(me, &hook)) hook.fire(&hook);
  c->park();
  // Resumed, perhaps on another carrier.
  if (interruptible) me->current_carrier()->set_interrupt(me, nullptr);
  me->wait = WaitInfo{};
  // A request cancelled by its linked timeout reports -ECANCELED, or -EINTR
  // when an io-wq worker was running it: either way, if the deadline has
  // passed and no signal handler asked for the interruption, it timed out.
  if (req->res == -ECANCELED || (req->res == -EINTR && !hook.fired)) {
    if (deadline >= 0 && mono_ns() >= deadline) return -ETIME;
    if (hook.fired) return -EINTR;
  }
  return req->res;
}

ssize_t read(int fd, void* buf, size_t len, int64_t offset, int64_t deadline) {
  if (on_epoll()) return epoll_impl::read(fd, buf, len, offset, deadline);
  return submit_and_wait(
      [&](io_uring_sqe* s) {
        io_uring_prep_read(s, fd, buf, clamp_len(len), static_cast<__u64>(offset));
      },
      deadline);
}

ssize_t write(int fd, const void* buf, size_t len, int64_t offset, int64_t deadline) {
  if (on_epoll()) return epoll_impl::write(fd, buf, len, offset, deadline);
  return submit_and_wait(
      [&](io_uring_sqe* s) {
        io_uring_prep_write(s, fd, buf, clamp_len(len), static_cast<__u64>(offset));
      },
      deadline);
}

ssize_t readv(int fd, const iovec* iov, int iovcnt, int64_t offset, int64_t deadline) {
  if (on_epoll()) return epoll_impl::readv(fd, iov, iovcnt, offset, deadline);
  return submit_and_wait(
      [&](io_uring_sqe* s) {
        io_uring_prep_readv(s, fd, iov, static_cast<unsigned>(iovcnt), static_cast<__u64>(offset));
      },
      deadline);
}

ssize_t writev(int fd, const iovec* iov, int iovcnt, int64_t offset, int64_t deadline) {
  if (on_epoll()) return epoll_impl::writev(fd, iov, iovcnt, offset, deadline);
  return submit_and_wait(
      [&](io_uring_sqe* s) {
        io_uring_prep_writev(s, fd, iov, static_cast<unsigned>(iovcnt), static_cast<__u64>(offset));
      },
      deadline);
}

int fsync(int fd, bool datasync) {
  if (on_epoll()) return static_cast<int>(sys_ret(datasync ? SYS_fdatasync : SYS_fsync, fd));
  return submit_and_wait(
      [&](io_uring_sqe* s) { io_uring_prep_fsync(s, fd, datasync ? IORING_FSYNC_DATASYNC : 0); });
}

int sync_file_range(int fd, int64_t offset, int64_t len, unsigned flags) {
  // The ring's length field has 32 bits.
  if (on_epoll() || len < 0 || len > int64_t{UINT32_MAX})
    return static_cast<int>(sys_ret(SYS_sync_file_range, fd, offset, len, flags));
  return submit_and_wait([&](io_uring_sqe* s) {
    io_uring_prep_sync_file_range(s, fd, static_cast<unsigned>(len), static_cast<__u64>(offset),
                                  static_cast<int>(flags));
  });
}

int fallocate(int fd, int mode, int64_t offset, int64_t len) {
  if (on_epoll()) return static_cast<int>(sys_ret(SYS_fallocate, fd, mode, offset, len));
  return submit_and_wait([&](io_uring_sqe* s) {
    io_uring_prep_fallocate(s, fd, mode, static_cast<__u64>(offset), static_cast<__u64>(len));
  });
}

ssize_t recv(int fd, void* buf, size_t len, int flags, int64_t deadline) {
  if (on_epoll()) return epoll_impl::recv(fd, buf, len, flags, deadline, false);
  return submit_and_wait(
      [&](io_uring_sqe* s) { io_uring_prep_recv(s, fd, buf, clamp_len(len), flags); }, deadline);
}

ssize_t recv_expecting_wait(int fd, void* buf, size_t len, int flags, int64_t deadline) {
  if (on_epoll()) return epoll_impl::recv(fd, buf, len, flags, deadline, true);
  return recv(fd, buf, len, flags, deadline);
}

ssize_t send(int fd, const void* buf, size_t len, int flags, int64_t deadline) {
  if (on_epoll()) return epoll_impl::send(fd, buf, len, flags, deadline);
  return submit_and_wait(
      [&](io_uring_sqe* s) { io_uring_prep_send(s, fd, buf, clamp_len(len), flags); }, deadline);
}

ssize_t recvmsg(int fd, msghdr* msg, int flags, int64_t deadline) {
  if (on_epoll()) return epoll_impl::recvmsg(fd, msg, flags, deadline);
  return submit_and_wait(
      [&](io_uring_sqe* s) { io_uring_prep_recvmsg(s, fd, msg, static_cast<unsigned>(flags)); },
      deadline);
}

ssize_t sendmsg(int fd, const msghdr* msg, int flags, int64_t deadline) {
  if (on_epoll()) return epoll_impl::sendmsg(fd, msg, flags, deadline);
  return submit_and_wait(
      [&](io_uring_sqe* s) { io_uring_prep_sendmsg(s, fd, msg, static_cast<unsigned>(flags)); },
      deadline);
}

int accept(int fd, sockaddr* addr, socklen_t* addrlen, int flags, int64_t deadline) {
  if (on_epoll()) return epoll_impl::accept(fd, addr, addrlen, flags, deadline);
  return submit_and_wait(
      [&](io_uring_sqe* s) { io_uring_prep_accept(s, fd, addr, addrlen, flags); }, deadline);
}

int connect(int fd, const sockaddr* addr, socklen_t addrlen, int64_t deadline) {
  if (on_epoll()) return epoll_impl::connect(fd, addr, addrlen, deadline);
  return submit_and_wait([&](io_uring_sqe* s) { io_uring_prep_connect(s, fd, addr, addrlen); },
                         deadline);
}

int poll(int fd, uint32_t events, int64_t deadline) {
  if (on_epoll()) return epoll_impl::poll(fd, events, deadline);
  return submit_and_wait([&](io_uring_sqe* s) { io_uring_prep_poll_add(s, fd, events); }, deadline);
}

int timeout(int64_t deadline) {
  if (on_epoll()) return epoll_impl::timeout(deadline);
  __kernel_timespec ts{};
  ts.tv_sec = deadline / kNsPerSec;
  ts.tv_nsec = deadline % kNsPerSec;
  int rc = submit_and_wait(
      [&](io_uring_sqe* s) { io_uring_prep_timeout(s, &ts, 0, IORING_TIMEOUT_ABS); });
  return rc == -ETIME ? 0 : rc;
}

int cancel_fd(int fd) {
  // Green threads of the pool parked on fd may wait on any carrier's
  // backend. Epoll waits end at once; each other ring with requests in
  // flight gets a cancellation (submitted by whoever serves it next; not
  // waited for).
  int ended = epoll_impl::cancel_fd_everywhere(fd);
  Carrier* me = Carrier::current();
  Pool* pool = me ? me->pool() : nullptr;
  for (int i = 0, n = pool ? pool->slots() : 0; i < n; i++) {
    Carrier* x = pool->slot(i);
    if (!x || x == me || !x->backend() || x->backend()->inflight() == 0) continue;
    if (x->backend()->kind() != BackendKind::kIoUring) continue;
    auto* r = static_cast<Ring*>(x->backend());
    x->with_service([&] {
      io_uring_sqe* s = r->sqe();
      io_uring_prep_cancel_fd(s, fd, IORING_ASYNC_CANCEL_ALL);
      io_uring_sqe_set_data64(s, ioring::kUserIgnore);
    });
  }
  if (on_epoll()) return ended;
  // With IORING_ASYNC_CANCEL_ALL the result is the number cancelled.
  int rc = submit_and_wait(
      [&](io_uring_sqe* s) { io_uring_prep_cancel_fd(s, fd, IORING_ASYNC_CANCEL_ALL); });
  return rc == -ENOENT ? ended : (rc < 0 ? rc : rc + ended);
}

long file_status_flags(int fd) { return epoll_impl::file_status_flags(fd); }
long set_file_status_flags(int fd, long flags) {
  return epoll_impl::set_file_status_flags(fd, flags);
}
bool nonblock_toggled(int fd) { return epoll_impl::nonblock_toggled(fd); }

ssize_t splice(int fd_in, int64_t* off_in, int fd_out, int64_t* off_out, size_t len,
               unsigned flags) {
  if (on_epoll()) return epoll_impl::splice(fd_in, off_in, fd_out, off_out, len, flags);
  int32_t r = submit_and_wait([&](io_uring_sqe* s) {
    io_uring_prep_splice(s, fd_in, off_in ? *off_in : -1, fd_out, off_out ? *off_out : -1,
                         clamp_len(len), flags);
  });
  if (r > 0) {
    if (off_in) *off_in += r;
    if (off_out) *off_out += r;
  }
  return r;
}

int cancel(ioring::Request* target) {
  if (on_epoll()) return -ENOENT;
  return submit_and_wait([&](io_uring_sqe* s) { io_uring_prep_cancel(s, target, 0); });
}

}  // namespace gh::io
