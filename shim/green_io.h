// SPDX-License-Identifier: MIT
// The green forms of the blocking data calls, shared by the hooks.
// All return >= 0 or -errno and never touch errno; the hooks convert.
#pragma once

#include <poll.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <cstdint>

#include "core/clock.h"
#include "core/green.h"
#include "core/offload.h"
#include "ioring/ops.h"
#include "shim/fd_table.h"

namespace gh::shim {

// The deadline a blocking receive (in) or send (out) on e gets from
// SO_RCVTIMEO / SO_SNDTIMEO or the thread's gh_timeout scope (the earlier),
// or kNoDeadline.
int64_t fd_deadline(const FdEntry* e, bool out);
// A ring wait's result r with that deadline: -ETIME becomes -ETIMEDOUT when
// the gh_timeout scope's deadline has passed (docs/api.md, "Timeout"), else
// sock_timeout (what the native call reports for SO_*TIMEO: -EAGAIN, or
// -EINPROGRESS for connect). Other results are returned as they are.
long map_deadline(long r, long sock_timeout);

// Whether fd is in non-blocking mode now. For a private entry that is the
// cached flag; for a shared one the kernel's (one F_GETFL), which is cached.
// Called when an attempt would block, before parking: a fd that is
// non-blocking must report EAGAIN (or the partial count) instead.
bool nonblocking_now(int fd, FdEntry* e);

// Marks the fds a message passes in SCM_RIGHTS as shared (fd_table.h).
void mark_passed_fds(const msghdr* msg);

// Waits for `events` on fd in the ring. Returns the events that ended the
// wait (> 0), -EAGAIN when the deadline passed (what a timed-out socket call
// reports), or -errno.
int wait_events(int fd, FdEntry* e, uint32_t events, int64_t deadline);
// wait_events, returning 0 when ready.
int wait_ready(int fd, FdEntry* e, uint32_t events, int64_t deadline);

// Repeats a non-blocking attempt (returning -EAGAIN when it would block),
// waiting in the ring for `events` between attempts (unless the fd is
// non-blocking after all, see nonblocking_now()). `blocking` makes the call
// without MSG_DONTWAIT; it runs on an offload thread when poll says ready
// and the attempt still would block, where only the blocking call knows
// what happens (docs/design.md, "Ready, yet it would block"): a datagram
// socket shut down for reading (readable with POLLRDHUP; a blocking receive
// returns 0), an unconnected Unix datagram sender whose receiver's queue is
// full (always writable; a blocking send waits for room).
template <class Attempt, class Blocking>
ssize_t retry_when_ready(int fd, FdEntry* e, uint32_t events, int64_t deadline, Attempt&& attempt,
                         Blocking&& blocking) {
  const uint32_t ask = events & POLLIN ? events | POLLRDHUP : events;
  int64_t pause = 0;
  ssize_t r = attempt();
  for (;;) {
    if (r != -EAGAIN) return r;
    if (nonblocking_now(fd, e)) return r;
    int w = wait_events(fd, e, ask, deadline);
    if (w < 0) return w;
    r = attempt();
    // Ready, yet it would block: another thread may have taken what was
    // there (wait again), unless only the blocking call can tell.
    if (r != -EAGAIN || !(w & events) || !((events & POLLOUT) || (w & POLLRDHUP))) continue;
    // A receive shut down returns at once; the offloaded call would not
    // keep a send's deadline (SO_SNDTIMEO, a gh_timeout scope): that one
    // tries again after a pause, 1 ms doubling up to 64 ms.
    if ((w & POLLRDHUP) || deadline == kNoDeadline)
      return gh::offload_syscall_interruptible(io::restartable(deadline), blocking);
    // Poll keeps saying ready, so only the clock tells the deadline.
    if (gh::mono_ns() >= deadline) return map_deadline(-ETIME, -EAGAIN);
    pause = pause ? (pause < 64'000'000 ? pause * 2 : pause) : 1'000'000;
    int64_t until = gh::deadline_after(pause);
    if (gh::sleep_until_interruptible(until < deadline ? until : deadline) == -EINTR) return -EINTR;
  }
}

// Regular files on disk and network filesystems, and block devices
// (shim/hook_file.cc). disk_file_fd: the entry of fd if it is one and the
// caller is a green thread, else nullptr (pass through).
FdEntry* disk_file_fd(int fd);
// Whether a call on e made now goes through the ring: the caller may park,
// its carrier has a ring, and the call does not use the file position of a
// description other fds or processes may share (offset >= 0, or an O_APPEND
// write, which the kernel places itself). Else the system call.
bool file_on_ring(const FdEntry* e, bool write, int64_t off);
// Held around a call at the file position (off == -1) of e, ring or system
// call alike: the ring does not serialise the users of a file position as
// the system call does.
class FilePosLock {
 public:
  FilePosLock(FdEntry* e, int64_t off);
  ~FilePosLock();
  FilePosLock(const FilePosLock&) = delete;
  FilePosLock& operator=(const FilePosLock&) = delete;

 private:
  FdEntry* e_;
};
// Reads (write = false) or writes iov at offset off (-1: the file position)
// through the ring, with the system call's semantics. Returns >= 0 or -errno.
ssize_t green_file_io(int fd, FdEntry* e, bool write, const iovec* iov, int iovcnt, int64_t off);

// Writes out, parking, what a FILE on a parking fd has buffered, so that
// libc's final flush in fclose finds nothing to write (hook_stdio.cc).
void stdio_flush_before_close(FILE* f);

// Blocking receive into one buffer (read, recv, recvfrom without address).
ssize_t green_recv(int fd, FdEntry* e, void* buf, size_t len, int flags);
// Blocking vectored receive (readv, recvmsg).
ssize_t green_recvmsg(int fd, FdEntry* e, msghdr* msg, int flags);
// Blocking send with native semantics: streams and pipes write everything.
ssize_t green_send(int fd, FdEntry* e, const void* buf, size_t len, int flags);
// Blocking vectored send (writev, sendmsg).
ssize_t green_sendmsg(int fd, FdEntry* e, const msghdr* msg, int flags);

}  // namespace gh::shim
