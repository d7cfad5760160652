// SPDX-License-Identifier: MIT
// Operations a green thread waits for through its carrier's backend: the
// io_uring ring (here) or epoll (ops_epoll.cc, picked per call by the
// carrier's backend kind).
//
// Each call queues one SQE (plus a linked timeout when a deadline is given),
// parks the calling green thread, and returns the completion's result exactly
// as the kernel reports it: >= 0 on success, -errno on failure. When the
// CLOCK_MONOTONIC deadline (ns; < 0: none) expires first, the operation is
// cancelled and the call returns -ETIME.
//
// Must be called on a green thread (any OS thread: its carrier is created on
// first use). Returns -ENOMEM if no ring can be set up for the thread.
#pragma once

#include <poll.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <cstdint>

#include "core/carrier.h"
#include "core/clock.h"
#include "ioring/ring.h"

namespace gh::io {

// offset -1: the file position (read/write semantics); otherwise pread/pwrite.
ssize_t read(int fd, void* buf, size_t len, int64_t offset = -1, int64_t deadline = kNoDeadline);
ssize_t write(int fd, const void* buf, size_t len, int64_t offset = -1,
              int64_t deadline = kNoDeadline);
ssize_t readv(int fd, const iovec* iov, int iovcnt, int64_t offset = -1,
              int64_t deadline = kNoDeadline);
ssize_t writev(int fd, const iovec* iov, int iovcnt, int64_t offset = -1,
               int64_t deadline = kNoDeadline);
ssize_t recv(int fd, void* buf, size_t len, int flags, int64_t deadline = kNoDeadline);
// recv for a caller that skipped its own attempt because the fd usually
// makes it wait: on an epoll carrier it parks before the first attempt
// (saving the attempt that would fail); on io_uring it is recv (see
// docs/design.md, "Rejected designs", on IORING_RECVSEND_POLL_FIRST).
ssize_t recv_expecting_wait(int fd, void* buf, size_t len, int flags,
                            int64_t deadline = kNoDeadline);
ssize_t send(int fd, const void* buf, size_t len, int flags, int64_t deadline = kNoDeadline);
ssize_t recvmsg(int fd, msghdr* msg, int flags, int64_t deadline = kNoDeadline);
ssize_t sendmsg(int fd, const msghdr* msg, int flags, int64_t deadline = kNoDeadline);
// Returns the new fd. flags: SOCK_NONBLOCK / SOCK_CLOEXEC as accept4.
int accept(int fd, sockaddr* addr, socklen_t* addrlen, int flags, int64_t deadline = kNoDeadline);
int connect(int fd, const sockaddr* addr, socklen_t addrlen, int64_t deadline = kNoDeadline);
// fsync(2) (datasync: fdatasync(2)), sync_file_range(2) and fallocate(2).
// Files have no readiness: on an epoll carrier these make the system call,
// blocking the carrier for its duration.
int fsync(int fd, bool datasync);
int sync_file_range(int fd, int64_t offset, int64_t len, unsigned flags);
int fallocate(int fd, int mode, int64_t offset, int64_t len);
// One-shot poll of one fd. Returns the ready events (POLLIN, ...), or -ETIME.
int poll(int fd, uint32_t events, int64_t deadline = kNoDeadline);
// Waits until the deadline. Returns 0 (the kernel's -ETIME is success here).
int timeout(int64_t deadline);
// splice(2) with offsets passed by pointer (nullptr: none) and advanced by
// the count spliced, as the kernel does.
ssize_t splice(int fd_in, int64_t* off_in, int fd_out, int64_t* off_out, size_t len,
               unsigned flags);
// Cancels every request on fd: on this carrier's ring, waiting for the
// cancellation (returns the number cancelled, >= 0, or -errno), and on the
// rings of the pool's other carriers that have requests in flight (queued,
// not waited for: a green thread parked there sees its call end).
int cancel_fd(int fd);
// Cancels one tracked request. Returns 0, -ENOENT (already done; always on
// an epoll carrier, which has no requests) or -EALREADY.
int cancel(ioring::Request* req);

// accept and connect on an epoll carrier set O_NONBLOCK on a blocking socket
// for the one call (ops_epoll.cc). What the program sees of the flags must
// not show it: file_status_flags is F_GETFL as the program set the flags,
// set_file_status_flags is F_SETFL that a toggle in progress does not undo,
// and nonblock_toggled says whether the runtime has fd non-blocking now.
// Each returns what fcntl returns (>= 0, or -errno). Any thread.
long file_status_flags(int fd);
long set_file_status_flags(int fd, long flags);
bool nonblock_toggled(int fd);

// Every wait above can be ended by a signal handler (see
// Carrier::signal_arrived): the request is cancelled and the call returns
// -EINTR. Whether an SA_RESTART handler does so is set per green thread by
// RestartScope (default: restartable, i.e. left alone, like read/write).
struct RestartScope {
  explicit RestartScope(bool restartable) : g(Carrier::get()->running()), saved(g->io_restartable) {
    g->io_restartable = restartable;
  }
  ~RestartScope() { g->io_restartable = saved; }
  GreenThread* g;
  bool saved;
};

// Whether a handler installed with SA_RESTART leaves a blocking call of the
// running green thread with this deadline (< 0: none) alone. A blocking
// socket call restarts "unless a timeout has been set on the socket"
// (signal(7)): ring deadlines are exactly those, unless they are slices
// (SliceScope, below). Outside a green thread: as without a deadline.
inline bool restartable(int64_t deadline) {
  Carrier* c = Carrier::current();
  if (!c) return deadline < 0;
  const GreenThread* g = c->running();
  return g->io_restartable && (deadline < 0 || g->io_slice);
}

// For the length of a scope, the deadlines the running green thread's ring
// waits are given are slices of a longer wait (it looks at something the
// ring cannot see in between): SA_RESTART handlers leave them alone, as
// they leave a wait without a deadline.
struct SliceScope {
  SliceScope() : g(Carrier::get()->running()), saved(g->io_slice) { g->io_slice = true; }
  ~SliceScope() { g->io_slice = saved; }
  SliceScope(const SliceScope&) = delete;
  SliceScope& operator=(const SliceScope&) = delete;
  GreenThread* g;
  bool saved;
};

// Makes the running green thread's ring waits immune to signal handlers for
// the scope: a regular file's I/O is not interrupted natively (the request
// completes; the handler has run meanwhile).
struct UninterruptibleScope {
  UninterruptibleScope() : g(Carrier::get()->running()), saved(g->io_interruptible) {
    g->io_interruptible = false;
  }
  ~UninterruptibleScope() { g->io_interruptible = saved; }
  GreenThread* g;
  bool saved;
};

// Lower level: fill `prep` into an SQE, track `req`, park until it completes.
// Use for operations without a wrapper above.
template <class Prep>
int32_t submit_and_wait(Prep&& prep, int64_t deadline = kNoDeadline);

// ---- implementation of the template ----
// Called with r's carrier's service lock held (the SQE is r's); releases it
// (a hand-over the analysis cannot follow).
int32_t wait_tracked(ioring::Ring* r, ioring::Request* req, io_uring_sqe* s,
                     int64_t deadline) GH_NO_TSA;

template <class Prep>
int32_t submit_and_wait(Prep&& prep, int64_t deadline) GH_NO_TSA {
  ioring::Ring* r = ioring::Ring::current();
  if (!r) return -ENOMEM;
  ioring::Request req;
  r->carrier()->lock_service();
  io_uring_sqe* s = deadline >= 0 ? r->sqes(2) : r->sqe();
  prep(s);
  return wait_tracked(r, &req, s, deadline);
}

}  // namespace gh::io
