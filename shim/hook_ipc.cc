// SPDX-License-Identifier: MIT
// System V and POSIX message queues and System V semaphores: msgsnd, msgrcv,
// semop, semtimedop, mq_send, mq_receive, mq_timedsend and mq_timedreceive
// wait for another thread or process, and io_uring has no operation for
// them. A green thread that may park first makes the call in a form that
// cannot wait (IPC_NOWAIT; for POSIX queues a deadline already past); only
// if that would have waited does the call itself run on the offload pool
// (core/offload.h, offload_call_interruptible) while the thread parks.
//
// Signals as natively (signal(7)): a handler that runs for the parked thread
// ends the System V calls with EINTR whatever its SA_RESTART, and the POSIX
// queue calls unless SA_RESTART.
#include <time.h>

#include "core/offload.h"
#include "shim/cancel.h"
#include "shim/state.h"
#include "shim/user_mem.h"

using namespace gh::shim;

namespace {

// A semop with more operations than this is made on the offload pool at once.
constexpr size_t kSemopsOnStack = 64;

// The semop/semtimedop fast path: the operations with IPC_NOWAIT added, made
// at once. Returns 1 if they would have waited (nothing was done), else the
// call's result with its errno (0 or -1).
int semop_now(int id, sembuf* sops, size_t n) {
  if (n == 0 || n > kSemopsOnStack) return 1;
  sembuf now[kSemopsOnStack];
  if (copy_from_user(now, sops, n * sizeof *sops) != 0) return 1;  // the call reports EFAULT
  bool all_nowait = true;
  for (size_t i = 0; i < n; i++) {
    all_nowait &= (now[i].sem_flg & IPC_NOWAIT) != 0;
    now[i].sem_flg = static_cast<short>(now[i].sem_flg | IPC_NOWAIT);
  }
  int saved = errno;
  int r = real::semtimedop(id, now, n, nullptr);
  if (r == 0 || errno != EAGAIN || all_nowait) return r;
  errno = saved;
  return 1;
}

const timespec kPast{0, 0};

// Whether a caller's timeout (relative for semtimedop, absolute for the
// POSIX queues; null: none) is one the kernel accepts. It checks it before
// anything else, so with a bad one the call goes straight to the kernel for
// its EINVAL or EFAULT, never through a fast path that would do the work.
bool timeout_ok(const timespec* t) {
  if (!t) return true;
  timespec v;
  if (copy_from_user(&v, t, sizeof v) != 0) return false;
  return v.tv_sec >= 0 && v.tv_nsec >= 0 && v.tv_nsec < 1'000'000'000;
}

}  // namespace

GH_EXPORT int msgsnd(int id, const void* msg, size_t size, int flags) {
  CancelPoint cp;
  if ((flags & IPC_NOWAIT) || !may_park()) return cp.done(real::msgsnd(id, msg, size, flags));
  int saved = errno;
  int r = real::msgsnd(id, msg, size, flags | IPC_NOWAIT);
  if (r == 0 || errno != EAGAIN) return cp.done(r);
  errno = saved;
  return cp.done(
      gh::offload_call_interruptible(false, [&] { return real::msgsnd(id, msg, size, flags); }));
}

GH_EXPORT ssize_t msgrcv(int id, void* msg, size_t size, long type, int flags) {
  CancelPoint cp;
  // MSG_COPY never waits (it requires IPC_NOWAIT).
  if ((flags & (IPC_NOWAIT | MSG_COPY)) || !may_park())
    return cp.done(real::msgrcv(id, msg, size, type, flags));
  int saved = errno;
  ssize_t r = real::msgrcv(id, msg, size, type, flags | IPC_NOWAIT);
  if (r >= 0 || errno != ENOMSG) return cp.done(r);
  errno = saved;
  return cp.done(gh::offload_call_interruptible(
      false, [&] { return real::msgrcv(id, msg, size, type, flags); }));
}

GH_EXPORT int semop(int id, sembuf* sops, size_t n) {
  if (!may_park()) return real::semop(id, sops, n);
  int r = semop_now(id, sops, n);
  if (r != 1) return r;
  return gh::offload_call_interruptible(false, [&] { return real::semop(id, sops, n); });
}

GH_EXPORT int semtimedop(int id, sembuf* sops, size_t n, const timespec* timeout) {
  if (!may_park() || !timeout_ok(timeout)) return real::semtimedop(id, sops, n, timeout);
  int r = semop_now(id, sops, n);
  if (r != 1) return r;
  return gh::offload_call_interruptible(false,
                                        [&] { return real::semtimedop(id, sops, n, timeout); });
}

// A POSIX queue opened without O_NONBLOCK answers a deadline in the past
// with ETIMEDOUT when it would wait; one with O_NONBLOCK says EAGAIN, which
// is the answer to return.

GH_EXPORT int mq_timedsend(mqd_t q, const char* msg, size_t len, unsigned prio,
                           const timespec* deadline) {
  CancelPoint cp;
  if (!may_park() || !timeout_ok(deadline))
    return cp.done(real::mq_timedsend(q, msg, len, prio, deadline));
  int saved = errno;
  int r = real::mq_timedsend(q, msg, len, prio, &kPast);
  if (r == 0 || errno != ETIMEDOUT) return cp.done(r);
  errno = saved;
  return cp.done(gh::offload_call_interruptible(
      true, [&] { return real::mq_timedsend(q, msg, len, prio, deadline); }));
}

GH_EXPORT int mq_send(mqd_t q, const char* msg, size_t len, unsigned prio) {
  CancelPoint cp;
  if (!may_park()) return cp.done(real::mq_send(q, msg, len, prio));
  int saved = errno;
  int r = real::mq_timedsend(q, msg, len, prio, &kPast);
  if (r == 0 || errno != ETIMEDOUT) return cp.done(r);
  errno = saved;
  return cp.done(
      gh::offload_call_interruptible(true, [&] { return real::mq_send(q, msg, len, prio); }));
}

GH_EXPORT ssize_t mq_timedreceive(mqd_t q, char* msg, size_t len, unsigned* prio,
                                  const timespec* deadline) {
  CancelPoint cp;
  if (!may_park() || !timeout_ok(deadline))
    return cp.done(real::mq_timedreceive(q, msg, len, prio, deadline));
  int saved = errno;
  ssize_t r = real::mq_timedreceive(q, msg, len, prio, &kPast);
  if (r >= 0 || errno != ETIMEDOUT) return cp.done(r);
  errno = saved;
  return cp.done(gh::offload_call_interruptible(
      true, [&] { return real::mq_timedreceive(q, msg, len, prio, deadline); }));
}

GH_EXPORT ssize_t mq_receive(mqd_t q, char* msg, size_t len, unsigned* prio) {
  CancelPoint cp;
  if (!may_park()) return cp.done(real::mq_receive(q, msg, len, prio));
  int saved = errno;
  ssize_t r = real::mq_timedreceive(q, msg, len, prio, &kPast);
  if (r >= 0 || errno != ETIMEDOUT) return cp.done(r);
  errno = saved;
  return cp.done(
      gh::offload_call_interruptible(true, [&] { return real::mq_receive(q, msg, len, prio); }));
}
