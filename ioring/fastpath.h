// SPDX-License-Identifier: MIT
// The fast path: one attempt that cannot block, made with raw system calls so
// that it never re-enters interposed functions. Only when it would block
// (-EAGAIN) does the caller go to the ring (ioring/ops.h).
//
// All return the byte count (>= 0) or -errno; -EAGAIN means "would block".
#pragma once

#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <cerrno>
#include <cstdint>

#include "core/clock.h"

namespace gh::io {

// Sockets: recvfrom/sendto with MSG_DONTWAIT added to flags.
ssize_t recv_nowait(int fd, void* buf, size_t len, int flags);
ssize_t send_nowait(int fd, const void* buf, size_t len, int flags);
ssize_t recvmsg_nowait(int fd, msghdr* msg, int flags);
ssize_t sendmsg_nowait(int fd, const msghdr* msg, int flags);
// Pipes, FIFOs, ttys, files: preadv2/pwritev2 with RWF_NOWAIT at the file
// position. -EOPNOTSUPP when the file does not support RWF_NOWAIT.
ssize_t readv_nowait(int fd, const iovec* iov, int iovcnt);
ssize_t writev_nowait(int fd, const iovec* iov, int iovcnt);

// Whether a socket call's error -errno is one the kernel reports once
// (sock_error() clears sk_err: ECONNRESET, ETIMEDOUT, ...), unlike EPIPE (the
// shutdown stays), the call's own timeout or interruption, or a closed fd.
inline bool error_reported_once(ssize_t n) {
  return n < 0 && n != -EPIPE && n != -EAGAIN && n != -ETIME && n != -EINTR && n != -ECANCELED &&
         n != -EBADF;
}

// Blocking-stream write semantics on a socket (is_socket, send flags) or a
// pipe: returns only when all len bytes are written or an error occurs. On an
// error after some bytes went out returns the count written, else -errno.
// Tries the non-blocking form first and waits in the ring only when full.
//
// An error after progress (`progressed`: the caller already wrote part of
// this call) is left for the next call, as the kernel leaves it: a socket
// error the poll reports (POLLERR) is not collected at all, and one that a
// retry collected anyway (ECONNRESET, ...) is stored in *late_error (-errno)
// for the caller to report next. Retries after progress never raise SIGPIPE
// (the kernel returns the short count without one).
ssize_t write_all(int fd, const void* buf, size_t len, bool is_socket, int flags,
                  int64_t deadline = kNoDeadline, bool progressed = false,
                  int* late_error = nullptr);

}  // namespace gh::io
