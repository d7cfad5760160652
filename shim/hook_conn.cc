// SPDX-License-Identifier: MIT
// Connections: creating, connecting, accepting, duplicating and closing fds,
// and the mode changes the fd table must know of (fcntl F_SETFL, ioctl
// FIONBIO, SO_RCVTIMEO/SO_SNDTIMEO). accept and connect park; the rest pass
// through after updating the table.
#include <dirent.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <linux/sockios.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include <cerrno>
#include <cstring>

#include "ioring/ops.h"
#include "core/offload.h"
#include "core/sys.h"
#include "shim/cancel.h"
#include "shim/signalfd.h"
#include "shim/fd_table.h"
#include "shim/green_io.h"
#include "ioring/runtime_fd.h"
#include "core/log.h"
#include "shim/locks.h"
#include "shim/proc_task.h"
#include "shim/state.h"
#include "shim/user_mem.h"

using namespace gh::shim;

namespace {

FdKind socket_kind(int type) {
  return (type & 0xf) == SOCK_STREAM ? FdKind::kStream : FdKind::kPacket;
}

// Before fd is closed or replaced: green threads of this carrier parked on
// it in the ring are cancelled (they see EBADF), so that no queued request
// can reach whatever file gets the number next.
void retire_fd(int fd) {
  if (!green_ok()) {
    fd_forget(fd);
    return;
  }
  FdEntry* e = fd_get(fd);
  if (e && e->parked.load(std::memory_order_relaxed) > 0 && gh::Carrier::current())
    gh::io::cancel_fd(fd);
  fd_forget(fd);
}

// After dup-like calls: `to` refers to the same open file description as
// `from`, so both now share its O_NONBLOCK (and a socket's timeouts).
void copy_entry(int from, int to) {
  FdEntry* src = fd_get(from);
  if (!src || src->kind.load() == FdKind::kUnknown) {
    fd_forget(to);
    return;
  }
  fd_created(to, src->kind.load(), src->nonblock.load(), src->eventfd.load());
  if (FdEntry* dst = fd_get(to)) {
    dst->tty.store(src->tty.load());
    dst->sigfd_mask.store(src->sigfd_mask.load());
  }
  fd_mark_shared(to);
  fd_mark_shared(from);
  if (FdEntry* dst = fd_get(to)) {
    dst->append.store(src->append.load());
    dst->buffered_local.store(src->buffered_local.load());
    dst->rcvtimeo_ns.store(src->rcvtimeo_ns.load());
    dst->sndtimeo_ns.store(src->sndtimeo_ns.load());
  }
}

// SO_RCVTIMEO / SO_SNDTIMEO as the fd table keeps it: ns, 0 for none, -1
// for the zero timeout a negative tv_sec gives (the kernel then treats
// calls as non-blocking). Called after the kernel accepted the value.
int64_t timeval_ns(const void* v, socklen_t len) {
  if (len >= sizeof(timeval)) {
    const auto* tv = static_cast<const timeval*>(v);
    if (tv->tv_sec < 0) return -1;
    return int64_t{tv->tv_sec} * gh::kNsPerSec + int64_t{tv->tv_usec} * 1000;
  }
  return 0;
}

bool is_timeo(int name) {
#ifdef SO_RCVTIMEO_NEW
  if (name == SO_RCVTIMEO_NEW || name == SO_SNDTIMEO_NEW) return true;
#endif
  return name == SO_RCVTIMEO || name == SO_SNDTIMEO;
}

bool is_rcvtimeo(int name) {
#ifdef SO_RCVTIMEO_NEW
  if (name == SO_RCVTIMEO_NEW) return true;
#endif
  return name == SO_RCVTIMEO;
}

}  // namespace

GH_EXPORT int socket(int domain, int type, int protocol) {
  ensure_real();
  int fd = real::socket(domain, type, protocol);
  if (fd >= 0) fd_created(fd, socket_kind(type), type & SOCK_NONBLOCK);
  return fd;
}

GH_EXPORT int socketpair(int domain, int type, int protocol, int sv[2]) {
  ensure_real();
  int r = real::socketpair(domain, type, protocol, sv);
  if (r == 0) {
    fd_created(sv[0], socket_kind(type), type & SOCK_NONBLOCK);
    fd_created(sv[1], socket_kind(type), type & SOCK_NONBLOCK);
  }
  return r;
}

namespace {
// A pipe made for the runtime itself (t_runtime_fds) by make(fds) (0 or -1
// with errno): numbered high, made again (up to 8 times) while a program
// thread's close takes an end before it is adopted. Returns 0 or -1.
template <typename Make>
int runtime_pipe(int fds[2], Make&& make) {
  for (int tries = 0;; tries++) {
    int made[2];
    if (make(made) != 0) return -1;
    int own[2];
    for (int i = 0; i < 2; i++) own[i] = gh::ioring::adopt_runtime_fd(made[i]);
    if (own[0] >= 0 && own[1] >= 0) {
      fds[0] = own[0];
      fds[1] = own[1];
      return 0;
    }
    for (int fd : own) {
      if (fd < 0) continue;
      gh::ioring::unregister_runtime_fd(fd);
      gh::sys_ret(SYS_close, fd);
    }
    if (tries == 8) {
      errno = EMFILE;  // what pipe() may say; EBADF it never does
      return -1;
    }
  }
}
}  // namespace

GH_EXPORT int pipe(int fds[2]) {
  ensure_real();
  if (t_runtime_fds) return runtime_pipe(fds, [](int* p) { return real::pipe(p); });
  int r = real::pipe(fds);
  if (r == 0) {
    fd_created(fds[0], FdKind::kPipe, false);
    fd_created(fds[1], FdKind::kPipe, false);
  }
  return r;
}

GH_EXPORT int pipe2(int fds[2], int flags) {
  ensure_real();
  if (t_runtime_fds) return runtime_pipe(fds, [flags](int* p) { return real::pipe2(p, flags); });
  int r = real::pipe2(fds, flags);
  if (r == 0) {
    fd_created(fds[0], FdKind::kPipe, flags & O_NONBLOCK);
    fd_created(fds[1], FdKind::kPipe, flags & O_NONBLOCK);
  }
  return r;
}

GH_EXPORT int accept4(int fd, sockaddr* addr, socklen_t* addrlen, int flags) {
  CancelPoint cp;
  FdEntry* e = parking_fd(fd);
  // A listener the epoll backend holds non-blocking for another green
  // thread's accept: the real call would answer EAGAIN. Wait as they do.
  if (!e && green_ok() && gh::io::nonblock_toggled(fd) && gh::Carrier::current()) {
    e = fd_get(fd);
    if (e && !is_socket(e->kind.load())) e = nullptr;
  }
  int r;
  if (!e || nonblocking_now(fd, e)) {
    r = real::accept4(fd, addr, addrlen, flags);
  } else {
    // Straight to the ring: an accept that can complete at once does so when
    // the carrier next submits, batched with the other green threads' SQEs.
    ParkedOn parked(e);
    long res = gh::io::accept(fd, addr, addrlen, flags, fd_deadline(e, false));
    res = map_deadline(res, -EAGAIN);
    if (res == -ECANCELED) res = -EBADF;
    r = static_cast<int>(ret_errno(res));
  }
  if (r >= 0) {
    FdEntry* l = fd_get(fd);
    FdKind k = l && l->kind.load() != FdKind::kUnknown ? l->kind.load() : FdKind::kUnknown;
    if (k == FdKind::kUnknown) {
      fd_forget(r);
    } else {
      fd_created(r, k, flags & SOCK_NONBLOCK);
      // The accepted socket is a clone of the listener: it inherits the
      // listener's SO_RCVTIMEO and SO_SNDTIMEO.
      if (FdEntry* n = fd_get(r)) {
        n->rcvtimeo_ns.store(l->rcvtimeo_ns.load());
        n->sndtimeo_ns.store(l->sndtimeo_ns.load());
      }
    }
  }
  return cp.done(r);
}

GH_EXPORT int accept(int fd, sockaddr* addr, socklen_t* addrlen) {
  return accept4(fd, addr, addrlen, 0);
}

GH_EXPORT int connect(int fd, const sockaddr* addr, socklen_t len) {
  CancelPoint cp;
  FdEntry* e = parking_fd(fd);
  if (!e || nonblocking_now(fd, e)) return cp.done(real::connect(fd, addr, len));
  ParkedOn parked(e);
  long r = gh::io::connect(fd, addr, len, fd_deadline(e, true));
  // A connect that outlives SO_SNDTIMEO reports EINPROGRESS natively.
  r = map_deadline(r, -EINPROGRESS);
  if (r == -ECANCELED) r = -EBADF;
  return cp.done(static_cast<int>(ret_errno(r)));
}

GH_EXPORT int shutdown(int fd, int how) {
  ensure_real();
  return real::shutdown(fd, how);
}

GH_EXPORT int close(int fd) {
  CancelPoint cp;
  ensure_real();
  // The runtime's ring and eventfd are not the program's to close (a
  // close-all-fds loop would otherwise break its carrier): report success as
  // the native close would, and keep them.
  if (gh::ioring::is_runtime_fd(fd)) return cp.done(0);
  retire_fd(fd);
  return cp.done(real::close(fd));
}

GH_EXPORT int fclose(FILE* f) {
  ensure_real();
  if (f) {
    stdio_flush_before_close(f);  // libc's own final flush would block
    int fd = fileno(f);
    if (fd >= 0) retire_fd(fd);
  }
  return real::fclose(f);
}

GH_EXPORT int close_range(unsigned first, unsigned last, int flags) {
  ensure_real();
  auto range = [&](unsigned lo, unsigned hi) {
    int r = real::close_range ? real::close_range(lo, hi, flags)
                              : static_cast<int>(gh::sys(SYS_close_range, lo, hi, flags));
    if (r == 0 && !(flags & CLOSE_RANGE_CLOEXEC)) fd_forget_range(lo, hi);
    return r;
  };
  if (first > last) return range(first, last);  // the kernel's EINVAL
  // Close around the runtime's own fds (see close()).
  int keep[gh::ioring::kMaxRuntimeFds];
  int n = gh::ioring::runtime_fds(keep, gh::ioring::kMaxRuntimeFds);
  unsigned lo = first;
  for (int i = 0; i < n; i++) {
    unsigned k = static_cast<unsigned>(keep[i]);
    if (k < lo || k > last) continue;
    if (k > lo) {
      int r = range(lo, k - 1);
      if (r != 0) return r;
    }
    lo = k + 1;
    if (k == last) return 0;
  }
  return range(lo, last);
}

GH_EXPORT int dup(int fd) {
  ensure_real();
  int r = real::dup(fd);
  if (r >= 0) copy_entry(fd, r);
  return r;
}

// dup2/dup3 over an open fd2 retire it first, but not when they will fail
// on a bad fd (fd2 then stays open, its waiters untouched).
namespace {
bool valid_fd(int fd) { return gh::sys_ret(SYS_fcntl, fd, F_GETFD) >= 0; }
}  // namespace

GH_EXPORT int dup2(int fd, int fd2) {
  ensure_real();
  if (fd != fd2 && valid_fd(fd)) retire_fd(fd2);
  int r = real::dup2(fd, fd2);
  if (r >= 0 && fd != fd2) copy_entry(fd, r);
  return r;
}

GH_EXPORT int dup3(int fd, int fd2, int flags) {
  ensure_real();
  if (fd != fd2 && valid_fd(fd)) retire_fd(fd2);
  int r = real::dup3(fd, fd2, flags);
  if (r >= 0) copy_entry(fd, r);
  return r;
}

namespace {
int do_fcntl(decltype(real::fcntl) fn, int fd, int cmd, va_list ap) {
  // Every fcntl command takes at most one argument, an int or a pointer;
  // reading it as a pointer-sized value is what glibc itself does.
  void* arg = va_arg(ap, void*);
  // The flags as the program set them, not O_NONBLOCK the runtime holds on
  // the fd for an accept or connect of the epoll backend (ops.h).
  if (cmd == F_GETFL && gh::io::nonblock_toggled(fd))
    return static_cast<int>(ret_errno(gh::io::file_status_flags(fd)));
  if (cmd == F_SETFL && gh::io::nonblock_toggled(fd)) {
    long r = ret_errno(gh::io::set_file_status_flags(fd, reinterpret_cast<long>(arg)));
    if (r == 0) {
      FdEntry* e = fd_get(fd);
      if (e) e->nonblock.store(reinterpret_cast<long>(arg) & O_NONBLOCK);
      if (e) e->append.store(reinterpret_cast<long>(arg) & O_APPEND);
      if (e) fd_status_flags_set(fd, e);
    }
    return static_cast<int>(r);
  }
  if ((cmd == F_SETLKW || cmd == F_OFD_SETLKW) && may_park())
    return fcntl_lock_wait(fn, fd, cmd, arg);
  if (cmd == F_SETFL) {
    int r = fn(fd, cmd, arg);
    if (r == 0) {
      FdEntry* e = fd_get(fd);
      if (e) e->nonblock.store(reinterpret_cast<long>(arg) & O_NONBLOCK);
      if (e) e->append.store(reinterpret_cast<long>(arg) & O_APPEND);
      if (e) fd_status_flags_set(fd, e);
    }
    return r;
  }
  int r = fn(fd, cmd, arg);
  if (r >= 0 && (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC)) copy_entry(fd, r);
  return r;
}
}  // namespace

GH_EXPORT int fcntl(int fd, int cmd, ...) {
  ensure_real();
  va_list ap;
  va_start(ap, cmd);
  int r = do_fcntl(real::fcntl, fd, cmd, ap);
  va_end(ap);
  return r;
}

GH_EXPORT int fcntl64(int fd, int cmd, ...) {
  ensure_real();
  va_list ap;
  va_start(ap, cmd);
  int r = do_fcntl(real::fcntl64 ? real::fcntl64 : real::fcntl, fd, cmd, ap);
  va_end(ap);
  return r;
}

GH_EXPORT int ioctl(int fd, unsigned long req, ...) {
  ensure_real();
  va_list ap;
  va_start(ap, req);
  void* arg = va_arg(ap, void*);
  va_end(ap);
  if (req == FIONBIO && arg && gh::io::nonblock_toggled(fd)) {
    // As F_SETFL: kept for when the runtime's toggle ends (ops.h).
    int on = 0;
    if (copy_from_user(&on, arg, sizeof on) != 0) return static_cast<int>(ret_errno(long{-EFAULT}));
    long fl = gh::io::file_status_flags(fd);
    if (fl < 0) return static_cast<int>(ret_errno(fl));
    long r = gh::io::set_file_status_flags(
        fd, on ? fl | O_NONBLOCK : fl & ~static_cast<long>(O_NONBLOCK));
    if (r == 0) {
      if (FdEntry* e = fd_get(fd)) e->nonblock.store(on != 0);
    }
    return static_cast<int>(ret_errno(r));
  }
  int r = real::ioctl(fd, req, arg);
  if (r == 0 && req == FIONBIO && arg) {
    if (FdEntry* e = fd_get(fd)) e->nonblock.store(*static_cast<int*>(arg) != 0);
  }
  return r;
}

GH_EXPORT int setsockopt(int fd, int level, int name, const void* val, socklen_t len) {
  ensure_real();
  int r = real::setsockopt(fd, level, name, val, len);
  if (r == 0 && level == SOL_SOCKET && is_timeo(name)) {
    // (SO_*TIMEO_NEW's __kernel_sock_timeval has timeval's layout on LP64)
    if (FdEntry* e = fd_get(fd)) {
      int64_t ns = timeval_ns(val, len);
      (is_rcvtimeo(name) ? e->rcvtimeo_ns : e->sndtimeo_ns).store(ns);
    }
  }
  return r;
}

GH_EXPORT int getsockopt(int fd, int level, int name, void* val, socklen_t* len) {
  ensure_real();
  return real::getsockopt(fd, level, name, val, len);
}

// ---- fds made or closed by calls the shim does not otherwise intercept ----
//
// The table caches each fd's kind and mode; an entry must not outlive its
// fd. Calls that create fds (open, eventfd, ...) forget (or record) the new
// number, so that an entry left behind by an fd closed behind the shim's back
// (a raw close system call, a close inside a library) is not applied to the
// new file; closefrom() forgets the range it closes. None changes what the
// call does. An entry that is stale anyway is caught when a socket call on it
// fails with ENOTSOCK (hook_data.cc).

namespace {

inline bool open_needs_mode(int flags) {
  return (flags & O_CREAT) != 0 || (flags & O_TMPFILE) == O_TMPFILE;
}

inline int opened(int fd) {
  if (fd >= 0) fd_opened(fd);  // a new description; classified when a hook first sees it
  return fd;
}

// Pollable fds made with a known mode: a fresh private description.
inline int made_pollable(int fd, int flags) {
  if (fd >= 0) fd_created(fd, FdKind::kPollable, (flags & O_NONBLOCK) != 0);
  return fd;
}

mode_t mode_arg(int flags, va_list ap) {
  return open_needs_mode(flags) ? static_cast<mode_t>(va_arg(ap, int)) : 0;
}

// What one fstatat of path (relative to dirfd) says before a green
// thread's open in a mode that may wait: a FIFO opened without O_NONBLOCK
// waits for its other end (fifo(7)), so its open runs on the offload pool;
// a path that does not resolve (ENOENT, ENOTDIR) fails as the open would,
// by the same path walk, and is not walked twice (servers probe for files
// that are not there: Apache's .htaccess, several per request). Other
// errors leave the answer to the open itself.
enum class OpenPath { kOpen, kFifo, kFails };

OpenPath look_before_open(int dirfd, const char* path, int flags, int* err) {
  // O_RDWR: Linux opens a FIFO at once (fifo(7)).
  if ((flags & (O_NONBLOCK | O_PATH)) || (flags & O_ACCMODE) == O_RDWR ||
      (flags & O_TMPFILE) == O_TMPFILE || !may_park())
    return OpenPath::kOpen;
  struct stat st;
  long r = gh::sys_ret(SYS_newfstatat, dirfd, path, &st, 0);
  if (r == 0) return S_ISFIFO(st.st_mode) ? OpenPath::kFifo : OpenPath::kOpen;
  // O_CREAT would make the file; O_NOFOLLOW fails on a symlink (ELOOP)
  // that fstatat follows.
  if ((r == -ENOENT || r == -ENOTDIR) && !(flags & (O_CREAT | O_NOFOLLOW))) {
    *err = static_cast<int>(-r);
    return OpenPath::kFails;
  }
  return OpenPath::kOpen;
}

// A green thread's /proc/self/task entry (proc_task.h): returns true with
// the path to open in *path, or false with the open's result in *fd (a comm
// file, or -1 with errno set).
bool task_path(const char** path, int flags, char* buf, size_t len, int* fd) {
  ProcTaskPath t = proc_task_path(*path, flags, buf, len);
  switch (t.kind) {
    case ProcTaskPath::kAsIs:
      return true;
    case ProcTaskPath::kRewritten:
      *path = t.path;
      return true;
    case ProcTaskPath::kComm:
      *fd = t.fd;
      return false;
    case ProcTaskPath::kGone:
      errno = ENOENT;
      break;
    case ProcTaskPath::kRefused:
      errno = EACCES;
      break;
  }
  *fd = -1;
  return false;
}

// Opens path with call(path): on the offload pool, parking the caller, if
// the open may wait for a FIFO's peer (interruptible; restarted after an
// SA_RESTART handler, as open is natively), else at once. A green thread's
// /proc/self/task entry is found first (proc_task.h).
template <class Call>
int open_with(int dirfd, const char* path, int flags, Call&& call) {
  char buf[128];
  int fd;
  if (!task_path(&path, flags, buf, sizeof buf, &fd)) return opened(fd);
  int err = 0;
  switch (look_before_open(dirfd, path, flags, &err)) {
    case OpenPath::kFails:
      errno = err;
      return -1;
    case OpenPath::kFifo:
      return opened(gh::offload_call_interruptible(true, [&] { return call(path); }));
    case OpenPath::kOpen:
      break;
  }
  return opened(call(path));
}

}  // namespace

GH_EXPORT int open(const char* path, int flags, ...) {
  CancelPoint cp;
  va_list ap;
  va_start(ap, flags);
  mode_t mode = mode_arg(flags, ap);
  va_end(ap);
  return cp.done(
      open_with(AT_FDCWD, path, flags, [&](const char* p) { return real::open(p, flags, mode); }));
}

GH_EXPORT int open64(const char* path, int flags, ...) {
  CancelPoint cp;
  va_list ap;
  va_start(ap, flags);
  mode_t mode = mode_arg(flags, ap);
  va_end(ap);
  return cp.done(open_with(AT_FDCWD, path, flags,
                           [&](const char* p) { return real::open64(p, flags, mode); }));
}

GH_EXPORT int openat(int dirfd, const char* path, int flags, ...) {
  CancelPoint cp;
  va_list ap;
  va_start(ap, flags);
  mode_t mode = mode_arg(flags, ap);
  va_end(ap);
  return cp.done(open_with(dirfd, path, flags,
                           [&](const char* p) { return real::openat(dirfd, p, flags, mode); }));
}

GH_EXPORT int openat64(int dirfd, const char* path, int flags, ...) {
  CancelPoint cp;
  va_list ap;
  va_start(ap, flags);
  mode_t mode = mode_arg(flags, ap);
  va_end(ap);
  return cp.done(open_with(dirfd, path, flags,
                           [&](const char* p) { return real::openat64(dirfd, p, flags, mode); }));
}

GH_EXPORT int __open_2(const char* path, int flags) {
  return open_with(AT_FDCWD, path, flags, [&](const char* p) { return real::__open_2(p, flags); });
}
GH_EXPORT int __open64_2(const char* path, int flags) {
  return open_with(AT_FDCWD, path, flags,
                   [&](const char* p) { return real::__open64_2(p, flags); });
}
GH_EXPORT int __openat_2(int dirfd, const char* path, int flags) {
  return open_with(dirfd, path, flags,
                   [&](const char* p) { return real::__openat_2(dirfd, p, flags); });
}
GH_EXPORT int __openat64_2(int dirfd, const char* path, int flags) {
  return open_with(dirfd, path, flags,
                   [&](const char* p) { return real::__openat64_2(dirfd, p, flags); });
}
GH_EXPORT int creat(const char* path, mode_t mode) {
  CancelPoint cp;
  return cp.done(open_with(AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC,
                           [&](const char* p) { return real::creat(p, mode); }));
}
GH_EXPORT int creat64(const char* path, mode_t mode) {
  CancelPoint cp;
  return cp.done(open_with(AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC,
                           [&](const char* p) { return real::creat64(p, mode); }));
}

namespace {
// fopen opens inside libc, past the open hooks: a FIFO and a green
// thread's /proc/self/task entry are looked for here.
template <class Call>
FILE* fopen_with(const char* path, const char* mode, Call&& call) {
  // "r+", "w+", "a+" open read-write: at once, even a FIFO.
  int flags = !mode                    ? O_RDONLY
              : std::strchr(mode, '+') ? O_RDWR
              : mode[0] == 'r'         ? O_RDONLY
                                       : O_WRONLY;
  if (mode && std::strchr(mode, 'e')) flags |= O_CLOEXEC;
  char buf[128];
  int fd;
  if (!task_path(&path, flags, buf, sizeof buf, &fd)) {
    if (fd < 0) return nullptr;
    FILE* f = fdopen(fd, mode);
    if (!f) {
      int e = errno;
      gh::sys(SYS_close, fd);
      errno = e;
      return nullptr;
    }
    opened(fd);
    return f;
  }
  // Only "r" opens fail on a missing path: "w" and "a" create it, and a
  // mode fopen refuses gets its EINVAL from fopen.
  int err = 0;
  int look_flags = flags | (mode && mode[0] == 'r' ? 0 : O_CREAT);
  OpenPath look = look_before_open(AT_FDCWD, path, look_flags, &err);
  if (look == OpenPath::kFails) {
    errno = err;
    return nullptr;
  }
  FILE* f = look == OpenPath::kFifo
                ? gh::offload_call_interruptible(true, [&] { return call(path); })
                : call(path);
  if (f) opened(fileno(f));
  return f;
}
}  // namespace

GH_EXPORT FILE* fopen(const char* path, const char* mode) {
  return fopen_with(path, mode, [&](const char* p) { return real::fopen(p, mode); });
}
GH_EXPORT FILE* fopen64(const char* path, const char* mode) {
  return fopen_with(path, mode, [&](const char* p) { return real::fopen64(p, mode); });
}

// glibc's eventfd_read/eventfd_write call its internal read/write, which
// the shim does not see: as glibc, through the hooked calls.
GH_EXPORT int eventfd_read(int fd, eventfd_t* value) {
  return read(fd, value, sizeof *value) != static_cast<ssize_t>(sizeof *value) ? -1 : 0;
}
GH_EXPORT int eventfd_write(int fd, eventfd_t value) {
  return write(fd, &value, sizeof value) != static_cast<ssize_t>(sizeof value) ? -1 : 0;
}

GH_EXPORT int eventfd(unsigned count, int flags) {
  int fd = real::eventfd(count, flags);
  if (fd >= 0) fd_created(fd, FdKind::kPollable, (flags & O_NONBLOCK) != 0, true);
  return fd;
}
GH_EXPORT int timerfd_create(int clk, int flags) {
  return made_pollable(real::timerfd_create(clk, flags), flags);
}
GH_EXPORT int signalfd(int fd, const sigset_t* mask, int flags) {
  int r = real::signalfd(fd, mask, flags);
  // fd != -1 changes the mask of an existing signalfd: its mode stays.
  if (fd == -1) made_pollable(r, flags);
  if (r >= 0) signalfd_made(r, mask);
  return r;
}
GH_EXPORT int inotify_init(void) { return made_pollable(real::inotify_init(), 0); }
GH_EXPORT int inotify_init1(int flags) { return made_pollable(real::inotify_init1(flags), flags); }
GH_EXPORT int epoll_create(int size) { return opened(real::epoll_create(size)); }
GH_EXPORT int epoll_create1(int flags) { return opened(real::epoll_create1(flags)); }
GH_EXPORT int memfd_create(const char* name, unsigned flags) {
  return opened(real::memfd_create(name, flags));
}

// glibc's closefrom is close_range(lowfd, ~0U, 0) through its own internal
// call, which would take the runtime's fds along: here it goes through the
// interposed close_range, which closes around them. If close_range fails
// (ENOSYS before Linux 5.9, EPERM under some seccomp profiles) it closes
// what /proc/self/fd lists, as glibc's fallback does; if /proc cannot be
// read, glibc's closefrom runs.
GH_EXPORT void closefrom(int lowfd) {
  ensure_real();
  const unsigned lo = lowfd < 0 ? 0u : static_cast<unsigned>(lowfd);
  int saved = errno;
  if (close_range(lo, ~0u, 0) == 0) {
    errno = saved;
    return;
  }
  errno = saved;
  long dir = gh::sys(SYS_openat, AT_FDCWD, "/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) {
    real::closefrom(lowfd);
    fd_forget_range(lo, ~0u);
    return;
  }
  // Entries are read a buffer at a time and closed as they come: closing
  // does not disturb the directory's position.
  alignas(8) char buf[1024];
  for (;;) {
    long n = gh::sys(SYS_getdents64, dir, buf, sizeof buf);
    if (n <= 0) break;
    for (long off = 0; off < n;) {
      const auto* d = reinterpret_cast<const dirent64*>(buf + off);
      off += d->d_reclen;
      long fd = 0;
      const char* c = d->d_name;
      for (; *c >= '0' && *c <= '9' && fd < (1L << 31); c++) fd = fd * 10 + (*c - '0');
      if (c == d->d_name || *c || fd < static_cast<long>(lo) || fd == dir) continue;
      if (gh::ioring::is_runtime_fd(static_cast<int>(fd))) continue;
      gh::sys(SYS_close, fd);
      fd_forget_range(static_cast<unsigned>(fd), static_cast<unsigned>(fd));
    }
  }
  gh::sys(SYS_close, dir);
}
