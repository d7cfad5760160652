// SPDX-License-Identifier: MIT
#include "ioring/fastpath.h"
#include "core/sys.h"

#include <poll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

#include "ioring/ops.h"

#ifndef RWF_NOWAIT
#define RWF_NOWAIT 0x00000008
#endif

namespace gh::io {

ssize_t recv_nowait(int fd, void* buf, size_t len, int flags) {
  return gh::sys_ret(SYS_recvfrom, fd, buf, len, flags | MSG_DONTWAIT, nullptr, nullptr);
}

ssize_t send_nowait(int fd, const void* buf, size_t len, int flags) {
  return gh::sys_ret(SYS_sendto, fd, buf, len, flags | MSG_DONTWAIT, nullptr, 0);
}

ssize_t recvmsg_nowait(int fd, msghdr* msg, int flags) {
  return gh::sys_ret(SYS_recvmsg, fd, msg, flags | MSG_DONTWAIT);
}

ssize_t sendmsg_nowait(int fd, const msghdr* msg, int flags) {
  return gh::sys_ret(SYS_sendmsg, fd, msg, flags | MSG_DONTWAIT);
}

ssize_t readv_nowait(int fd, const iovec* iov, int iovcnt) {
  // offset -1: use and advance the file position, like readv.
  return gh::sys_ret(SYS_preadv2, fd, iov, iovcnt, -1L, -1L, RWF_NOWAIT);
}

ssize_t writev_nowait(int fd, const iovec* iov, int iovcnt) {
  return gh::sys_ret(SYS_pwritev2, fd, iov, iovcnt, -1L, -1L, RWF_NOWAIT);
}

ssize_t write_all(int fd, const void* buf, size_t len, bool is_socket, int flags, int64_t deadline,
                  bool progressed, int* late_error) {
  const char* p = static_cast<const char*>(buf);
  size_t done = 0;
  bool nowait_ok = true;  // the fd takes RWF_NOWAIT (sockets: MSG_DONTWAIT)
  bool polled = false;    // POLLOUT was reported since the last progress
  do {
    const bool after_progress = progressed || done > 0;
    const int f = after_progress ? flags | MSG_NOSIGNAL : flags;
    size_t left = len - done;
    ssize_t n;
    if (nowait_ok) {
      if (is_socket) {
        n = send_nowait(fd, p + done, left, f);
      } else {
        iovec v{const_cast<char*>(p + done), left};
        n = writev_nowait(fd, &v, 1);
        if (n == -EOPNOTSUPP) {
          nowait_ok = false;
          continue;
        }
      }
      if (n == -EAGAIN) {
        if (!polled) {
          // Full: wait until writable, then try again without blocking.
          int ev = io::poll(fd, POLLOUT, deadline);
          // A reset (or another fatal error) while we waited ends this
          // call with the count written; the error stays with the socket
          // for the next call. POLLERR alone may be an error queue
          // (MSG_ZEROCOPY notices): not an end.
          if (ev >= 0 && (ev & POLLERR) && (ev & POLLHUP) && is_socket && after_progress) break;
          if (ev >= 0) {
            polled = true;
            continue;
          }
          n = ev;
        } else {
          // Writable by poll yet still -EAGAIN. For a socket or pipe
          // another writer took the room; for a regular file on a filesystem
          // whose RWF_NOWAIT writes refuse to block (xfs, btrfs), poll is
          // always "ready" and retrying would spin. Let the ring do this
          // chunk: it waits properly in every case.
          n = is_socket ? io::send(fd, p + done, left, f, deadline)
                        : io::write(fd, p + done, left, -1, deadline);
        }
      }
    } else {
      n = io::write(fd, p + done, left, -1, deadline);
    }
    if (n < 0) {
      if (!after_progress) return n;
      if (is_socket && late_error && error_reported_once(n)) *late_error = static_cast<int>(n);
      break;
    }
    done += static_cast<size_t>(n);
    polled = false;
  } while (done < len);
  return static_cast<ssize_t>(done);
}

}  // namespace gh::io
