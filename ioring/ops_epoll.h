// SPDX-License-Identifier: MIT
// The operations of ioring/ops.h and ioring/poll_many.h on a carrier whose
// backend is epoll (ioring/epoll.h). Same contracts, same results: the
// non-blocking call, and while it would block, a park until the fd is
// ready. Called by ops.cc / poll_many.cc, which pick the backend per call.
#pragma once

#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <cstdint>

#include "ioring/epoll.h"

namespace gh::io::epoll_impl {

ssize_t read(int fd, void* buf, size_t len, int64_t offset, int64_t deadline);
ssize_t write(int fd, const void* buf, size_t len, int64_t offset, int64_t deadline);
ssize_t readv(int fd, const iovec* iov, int iovcnt, int64_t offset, int64_t deadline);
ssize_t writev(int fd, const iovec* iov, int iovcnt, int64_t offset, int64_t deadline);
ssize_t recv(int fd, void* buf, size_t len, int flags, int64_t deadline, bool wait_first);
ssize_t send(int fd, const void* buf, size_t len, int flags, int64_t deadline);
ssize_t recvmsg(int fd, msghdr* msg, int flags, int64_t deadline);
ssize_t sendmsg(int fd, const msghdr* msg, int flags, int64_t deadline);
int accept(int fd, sockaddr* addr, socklen_t* addrlen, int flags, int64_t deadline);
int connect(int fd, const sockaddr* addr, socklen_t addrlen, int64_t deadline);
int poll(int fd, uint32_t events, int64_t deadline);
int timeout(int64_t deadline);
ssize_t splice(int fd_in, int64_t* off_in, int fd_out, int64_t* off_out, size_t len,
               unsigned flags);
int poll_many(const int* fds, const uint32_t* events, int n, int64_t deadline);
// See ops.h (file_status_flags and friends).
bool nonblock_toggled(int fd);
long file_status_flags(int fd);
long set_file_status_flags(int fd, long flags);
// Ends the waits on fd of every epoll carrier of the pool (the caller's
// included). Returns how many ended.
int cancel_fd_everywhere(int fd);

}  // namespace gh::io::epoll_impl
