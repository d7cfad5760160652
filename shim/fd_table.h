// SPDX-License-Identifier: MIT
// What the shim knows about each file descriptor of the process.
//
// An entry is filled lazily the first time a hook sees the fd (fstat +
// F_GETFL + SO_TYPE, raw system calls), and kept current by the hooks that
// create fds (socket, accept, pipe, dup), change their mode (fcntl F_SETFL,
// ioctl FIONBIO, setsockopt SO_RCVTIMEO/SO_SNDTIMEO) or end them (close, dup2
// over it, close_range). The shim never changes an fd's real flags: a fd the
// program made non-blocking stays non-blocking and keeps returning EAGAIN.
//
// O_NONBLOCK belongs to the open file description, which other fds (dup,
// SCM_RIGHTS) and other processes (fork, inheritance) may share and change
// behind the shim's back. An entry the shim cannot prove private is marked
// `shared`: its blocking calls still make the non-blocking attempt first, and
// when that would block, the kernel's current O_NONBLOCK decides between
// EAGAIN and parking (nonblocking_now() in green_io.h).
//
// Entries are plain atomics in chunks that are allocated once and never
// freed, so a lookup takes no lock; two threads racing on the same fd see the
// same answer a native program would get from the kernel.
#pragma once

#include <atomic>

#include "core/arena.h"
#include <cstdint>

namespace gh::shim {

enum class FdKind : uint8_t {
  kUnknown = 0,  // not looked at yet
  kStream,       // SOCK_STREAM socket: full-write semantics
  kPacket,       // SOCK_DGRAM / SOCK_SEQPACKET / SOCK_RAW socket
  kPipe,         // pipe or FIFO: full-write semantics (<= PIPE_BUF atomic)
  kPollable,     // eventfd, timerfd, signalfd, inotify, tty, char device
  kFile,         // regular file, directory, on a memory or pseudo filesystem: passes through
  kDiskFile,     // regular file on a disk or network filesystem, block device: the ring
  kBad,          // not open
};

struct FdEntry : gh::ArenaObject {
  std::atomic<FdKind> kind{FdKind::kUnknown};
  std::atomic<bool> nonblock{false};  // the program asked for O_NONBLOCK
  std::atomic<bool> append{false};    // O_APPEND (files)
  std::atomic<bool> shared{false};    // the description may be shared (see above)
  // Opened by a hook (a new description, which only this fd refers to): the
  // next classification leaves `shared` false. Set by fd_opened.
  std::atomic<bool> fresh{false};
  // An eventfd (kPollable): a blocking write waits only while the counter is
  // at its maximum, so green_send writes it directly (shim/green_io.cc).
  std::atomic<bool> eventfd{false};
  // A terminal (kPollable): a read that waits when it is hung up reports EIO
  // (shim/green_io.cc, tty_read).
  std::atomic<bool> tty{false};
  // A signalfd: the signals it reads (bit sig-1), from the hook that made
  // it or from /proc/self/fdinfo when it is classified; 0 for any other fd. Its reads and polls
  // also see the signals kept pending for the calling green thread alone (shim/signalfd.cc).
  std::atomic<uint64_t> sigfd_mask{0};
  // Regular files on a local disk without O_DIRECT, O_SYNC, O_DSYNC: a
  // write usually only copies into the page cache, so it is made directly
  // (shim/hook_data.cc, file_io), unless one waited lately: then, until
  // writes_wait_until (CLOCK_MONOTONIC ns), writes go to the ring.
  std::atomic<bool> buffered_local{false};
  std::atomic<int64_t> writes_wait_until{0};
  std::atomic<int64_t> rcvtimeo_ns{0};  // SO_RCVTIMEO, 0 = none
  std::atomic<int64_t> sndtimeo_ns{0};  // SO_SNDTIMEO, 0 = none
  std::atomic<int32_t> parked{0};       // green threads waiting on it in a ring
  // The last blocking receive had to wait (a request/response peer): the
  // next one skips the non-blocking attempt, which would only fail, and goes
  // to the ring at once. Cleared when a wait returned a full buffer.
  std::atomic<bool> recv_waits{false};
  // -errno that a call collected from the kernel after it had transferred
  // part of its data and so returned the count instead: the next data call
  // on the fd reports it, as the kernel would have (fd_take_late_error).
  std::atomic<int32_t> late_error{0};
  // Regular files: held (1; 2 with waiters) by a green thread whose read or
  // write at the file position is in the ring, which, unlike the system
  // call, does not serialise users of the position (shim/hook_file.cc).
  std::atomic<uint32_t> pos_lock{0};
};

// Counts a green thread as waiting on e in the ring for its lifetime, so that
// close() knows whether there is anything to cancel.
class ParkedOn {
 public:
  explicit ParkedOn(FdEntry* e) : e_(e) { e_->parked.fetch_add(1, std::memory_order_relaxed); }
  ~ParkedOn() { e_->parked.fetch_sub(1, std::memory_order_relaxed); }
  ParkedOn(const ParkedOn&) = delete;
  ParkedOn& operator=(const ParkedOn&) = delete;

 private:
  FdEntry* e_;
};

// Stores -errno (< 0) for the next data call on e to report.
void fd_set_late_error(FdEntry* e, int neg_errno);
// The stored late error of e (clearing it), or 0.
int fd_take_late_error(FdEntry* e);

// The entry for fd, classified if needed; nullptr for fd < 0 or beyond the
// table (such calls pass through and get the kernel's EBADF).
FdEntry* fd_get(int fd);
// fd's entry if one exists, without classifying the fd or making room.
FdEntry* fd_peek(int fd);

// Whether a blocking call on this entry parks the green thread (true) or
// passes through (false: non-blocking fds, files, unknown), by what the fd
// is, whatever its number (a socket at fd 0 parks too). A shared
// entry takes the green path whatever its cached O_NONBLOCK says.
bool fd_parks(int fd, const FdEntry* e);

// The entry of fd if a blocking call on it made now should park the calling
// green thread (may_park() and fd_parks()), else nullptr: pass through.
FdEntry* parking_fd(int fd);

// Records a new fd whose kind and mode are known (a fresh, private
// description).
void fd_created(int fd, FdKind kind, bool nonblock, bool eventfd = false);
// Whether fd is a terminal that is not hung up (TCGETS works): one ioctl.
bool is_tty(int fd);
// After a successful F_SETFL on fd: updates what depends on O_DIRECT.
void fd_status_flags_set(int fd, FdEntry* e);
// Marks fd's description as possibly shared with other fds or processes.
void fd_mark_shared(int fd);
// Marks every known fd shared (after fork both processes hold them all).
void fd_mark_all_shared();
// Forgets fd (closed or replaced): the next lookup classifies it again.
void fd_forget(int fd);
// fd was just opened by a hook (open, openat, creat, ...): a new open file
// description only it refers to. Classified on first use, as not shared.
void fd_opened(int fd);
// In a fork child: no file position lock is held there (the threads that
// held them stayed in the parent). Every entry is shared already.
void fd_after_fork_child();
// Forgets every fd in [lo, hi].
void fd_forget_range(unsigned lo, unsigned hi);

inline bool is_socket(FdKind k) { return k == FdKind::kStream || k == FdKind::kPacket; }

}  // namespace gh::shim
