// SPDX-License-Identifier: MIT
// File locks: flock, lockf and fcntl's F_SETLKW / F_OFD_SETLKW wait until
// another process (or open file description) lets go, for as long as it
// likes, and io_uring has no operation for them. A green thread that may
// park first asks without waiting (LOCK_NB, F_TLOCK, F_SETLK, F_OFD_SETLK);
// only if the lock is taken does the waiting call run on the offload pool
// (core/offload.h, offload_call_interruptible) while the thread parks.
//
// Running the call on another OS thread changes nothing about the lock: flock
// and OFD locks belong to the open file description, fcntl and lockf record
// locks to the process, never to a thread. A signal handler that runs for the
// parked thread interrupts the wait as it would the native call; these calls
// restart after an SA_RESTART handler (signal(7)), and so does the wait.
#include "core/offload.h"
#include "shim/locks.h"
#include "shim/state.h"

using namespace gh::shim;

namespace {

inline bool busy(int err) { return err == EWOULDBLOCK || err == EAGAIN || err == EACCES; }

}  // namespace

GH_EXPORT int flock(int fd, int op) {
  if ((op & LOCK_NB) || (op & ~LOCK_NB) == LOCK_UN || !may_park()) return real::flock(fd, op);
  int saved = errno;
  int r = real::flock(fd, op | LOCK_NB);
  if (r == 0 || errno != EWOULDBLOCK) return r;
  errno = saved;
  return gh::offload_call_interruptible(true, [&] { return real::flock(fd, op); });
}

namespace {

template <class Off>
int green_lockf(int (*fn)(int, int, Off), int fd, int cmd, Off len) {
  if (cmd != F_LOCK || !may_park()) return fn(fd, cmd, len);
  int saved = errno;
  int r = fn(fd, F_TLOCK, len);
  if (r == 0 || !busy(errno)) return r;
  errno = saved;
  return gh::offload_call_interruptible(true, [&] { return fn(fd, cmd, len); });
}

}  // namespace

GH_EXPORT int lockf(int fd, int cmd, off_t len) {
  return green_lockf<off_t>(real::lockf, fd, cmd, len);
}
GH_EXPORT int lockf64(int fd, int cmd, off64_t len) {
  return green_lockf<off64_t>(real::lockf64, fd, cmd, len);
}

namespace gh::shim {

int fcntl_lock_wait(int (*fcntl_fn)(int, int, ...), int fd, int cmd, void* lock) {
  int saved = errno;
  int r = fcntl_fn(fd, cmd == F_SETLKW ? F_SETLK : F_OFD_SETLK, lock);
  if (r == 0 || !busy(errno)) return r;
  errno = saved;
  return gh::offload_call_interruptible(true, [&] { return fcntl_fn(fd, cmd, lock); });
}

}  // namespace gh::shim
