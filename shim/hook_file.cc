// SPDX-License-Identifier: MIT
// Regular files on disk and network filesystems (FdKind::kDiskFile, see
// fd_table.cc), and block devices: their reads, writes and syncs wait for
// the disk, which poll cannot report, so they go through the ring (io_uring
// does file I/O asynchronously). A read first tries the page cache without waiting
// (RWF_NOWAIT); what it does not find there is read in the ring. Buffered
// writes to a local disk are made directly (hook_data.cc, file_io); other
// writes, fsync, fdatasync, sync_file_range and fallocate go to the ring. On an
// epoll carrier, or for a green thread alone on its carrier, they pass
// through (docs/design.md, "What blocks what").
//
// Semantics are the system call's: offset -1 is the file position, advanced
// by the kernel; O_APPEND writes append; a read is short only at end of
// file; signal handlers do not interrupt file I/O. The one thing the ring
// does not do as the system call does is serialise the users of a file
// position: calls at the position take the ring only on a description no
// other fd or process may share (FdEntry::shared; O_APPEND writes excepted,
// the kernel places them), and hold the entry's pos_lock (FilePosLock), as
// lseek does, whether they go to the ring or make the system call.
#include <fcntl.h>
#include <sys/syscall.h>
#include <sys/uio.h>

#include <cerrno>
#include <climits>
#include <vector>

#include "core/arena.h"
#include "core/parking_lot.h"
#include "core/sys.h"
#include "ioring/ops.h"
#include "ioring/ring.h"
#include "shim/cancel.h"
#include "shim/fd_table.h"
#include "shim/green_io.h"
#include "shim/state.h"

using namespace gh::shim;

namespace {

// pos_lock: 0 free, 1 held, 2 held with waiters.
void lock_pos(FdEntry* e) {
  uint32_t c = 0;
  if (e->pos_lock.compare_exchange_strong(c, 1, std::memory_order_acquire)) return;
  if (c != 2) c = e->pos_lock.exchange(2, std::memory_order_acquire);
  while (c != 0) {
    gh::futex_wait(&e->pos_lock, 2, gh::kNoDeadline, "file position");
    c = e->pos_lock.exchange(2, std::memory_order_acquire);
  }
}

void unlock_pos(FdEntry* e) {
  if (e->pos_lock.exchange(0, std::memory_order_release) == 2) gh::futex_wake(&e->pos_lock, 1);
}

size_t total_len(const iovec* iov, int n) {
  size_t t = 0;
  for (int i = 0; i < n; i++) t += iov[i].iov_len;
  return t;
}

// The ring's part of a read: iov from `done` bytes on, until the end of the
// file or all of it is read.
ssize_t ring_read_rest(int fd, const iovec* iov, int n, int64_t off, size_t done) {
  size_t want = total_len(iov, n);
  std::vector<iovec, gh::ArenaAllocator<iovec>> cur;
  for (;;) {
    // The buffers past the first `done` bytes.
    cur.clear();
    size_t skip = done;
    for (int i = 0; i < n; i++) {
      if (skip >= iov[i].iov_len) {
        skip -= iov[i].iov_len;
        continue;
      }
      cur.push_back({static_cast<char*>(iov[i].iov_base) + skip, iov[i].iov_len - skip});
      skip = 0;
    }
    int64_t at = off == -1 ? -1 : off + static_cast<int64_t>(done);
    ssize_t r = gh::io::readv(fd, cur.data(), static_cast<int>(cur.size()), at);
    if (r < 0) return done > 0 ? static_cast<ssize_t>(done) : r;
    done += static_cast<size_t>(r);
    if (r == 0 || done >= want) return static_cast<ssize_t>(done);
  }
}

}  // namespace

namespace gh::shim {

FdEntry* disk_file_fd(int fd) {
  if (!green_ok() || !Carrier::current()) return nullptr;
  FdEntry* e = fd_get(fd);
  if (!e || e->kind.load(std::memory_order_relaxed) != FdKind::kDiskFile) return nullptr;
  return e;
}

bool file_on_ring(const FdEntry* e, bool write, int64_t off) {
  if (off == -1 && !(write && e->append.load(std::memory_order_relaxed)) &&
      e->shared.load(std::memory_order_relaxed))
    return false;
  return may_park() && gh::ioring::Ring::current() != nullptr;
}

FilePosLock::FilePosLock(FdEntry* e, int64_t off) : e_(off == -1 ? e : nullptr) {
  if (e_) lock_pos(e_);
}
FilePosLock::~FilePosLock() {
  if (e_) unlock_pos(e_);
}

ssize_t green_file_io(int fd, FdEntry* e, bool write, const iovec* iov, int iovcnt, int64_t off) {
  gh::io::UninterruptibleScope no_eintr;
  if (write) {
    // The ring's write at the file position leaves the position where it
    // was when the write comes back short (a write cut at RLIMIT_FSIZE or a
    // full disk, which the kernel finishes in a worker): the program's next
    // write would land on the bytes just written. So the ring writes at an
    // explicit offset, the position read before and set after (pos_lock is
    // held and no other fd shares the description, see file_on_ring).
    // O_APPEND writes stay at -1: the kernel places them, and a short one
    // gets the position set to the end of the file.
    int64_t at = off;
    if (off == -1 && !e->append.load(std::memory_order_relaxed)) {
      at = gh::sys_ret(SYS_lseek, fd, 0, SEEK_CUR);
      if (at < 0) return at;
    }
    ssize_t r = gh::io::writev(fd, iov, iovcnt, at);
    if (r > 0 && at >= 0 && off == -1) gh::sys(SYS_lseek, fd, at + r, SEEK_SET);
    // A short append: the position is the end of what it wrote, the end of
    // the file (the kernel moves it on a whole write only).
    if (r >= 0 && at < 0 && static_cast<size_t>(r) < total_len(iov, iovcnt))
      gh::sys(SYS_lseek, fd, 0, SEEK_END);
    // Past RLIMIT_FSIZE: the system call gives the native answer, EFBIG and
    // SIGXFSZ to this thread (a ring worker's SIGXFSZ goes nowhere).
    if (r == -EFBIG)
      return at >= 0 && off != -1 ? gh::sys_ret(SYS_pwritev, fd, iov, iovcnt, at, 0)
                                  : gh::sys_ret(SYS_writev, fd, iov, iovcnt);
    return r;
  }
  // The page cache first, without waiting; then the ring for the rest.
  long r = gh::sys_ret(SYS_preadv2, fd, iov, iovcnt, off, 0, RWF_NOWAIT);
  if (r == -EOPNOTSUPP) {
    // A file that cannot say "not cached" (O_DIRECT, some filesystems): the
    // ring does all of it.
    r = 0;
  } else if (r == -EAGAIN) {
    r = 0;
  } else if (r <= 0 || static_cast<size_t>(r) == total_len(iov, iovcnt)) {
    return r;
  }
  return ring_read_rest(fd, iov, iovcnt, off, static_cast<size_t>(r));
}

}  // namespace gh::shim

// A file's position moves only under the same lock as calls at the position
// in the ring, which set it when they complete.
GH_EXPORT off_t lseek(int fd, off_t off, int whence) {
  ensure_real();
  FdEntry* e = disk_file_fd(fd);
  if (!e) return real::lseek(fd, off, whence);
  FilePosLock pos(e, -1);
  return real::lseek(fd, off, whence);
}

GH_EXPORT off64_t lseek64(int fd, off64_t off, int whence) {
  ensure_real();
  FdEntry* e = disk_file_fd(fd);
  if (!e) return real::lseek64(fd, off, whence);
  FilePosLock pos(e, -1);
  return real::lseek64(fd, off, whence);
}

namespace {
// The entry of fd if a sync call on it made now goes to the ring.
FdEntry* sync_on_ring(int fd) {
  FdEntry* e = disk_file_fd(fd);
  return e && file_on_ring(e, true, 0) ? e : nullptr;
}
}  // namespace

// The sync calls: only regular files (and block devices) take the ring;
// other fds get the system call's answer (EINVAL for a socket or pipe).
// Never interrupted by a signal handler, as natively.

GH_EXPORT int fsync(int fd) {
  CancelPoint cp;
  if (!sync_on_ring(fd)) return cp.done(real::fsync(fd));
  gh::io::UninterruptibleScope no_eintr;
  return cp.done(static_cast<int>(ret_errno(gh::io::fsync(fd, false))));
}

GH_EXPORT int fdatasync(int fd) {
  CancelPoint cp;
  if (!sync_on_ring(fd)) return cp.done(real::fdatasync(fd));
  gh::io::UninterruptibleScope no_eintr;
  return cp.done(static_cast<int>(ret_errno(gh::io::fsync(fd, true))));
}

GH_EXPORT int sync_file_range(int fd, off64_t off, off64_t len, unsigned flags) {
  if (!sync_on_ring(fd)) return real::sync_file_range(fd, off, len, flags);
  gh::io::UninterruptibleScope no_eintr;
  return static_cast<int>(ret_errno(gh::io::sync_file_range(fd, off, len, flags)));
}

GH_EXPORT int fallocate(int fd, int mode, off_t off, off_t len) {
  if (!sync_on_ring(fd)) return real::fallocate(fd, mode, off, len);
  gh::io::UninterruptibleScope no_eintr;
  return static_cast<int>(ret_errno(gh::io::fallocate(fd, mode, off, len)));
}

GH_EXPORT int fallocate64(int fd, int mode, off64_t off, off64_t len) {
  if (!sync_on_ring(fd)) return real::fallocate64(fd, mode, off, len);
  gh::io::UninterruptibleScope no_eintr;
  return static_cast<int>(ret_errno(gh::io::fallocate(fd, mode, off, len)));
}
