// SPDX-License-Identifier: MIT
#include "ioring/poll_many.h"

#include <cerrno>
#include <memory>
#include <new>

#include "core/green.h"
#include "ioring/ops_epoll.h"
#include "ioring/ring.h"

namespace gh::io {

using ioring::Request;
using ioring::Ring;

int poll_many(const int* fds, const uint32_t* events, int n, int64_t deadline) {
  Carrier* cur = Carrier::get();
  if (cur && cur->backend()->kind() == BackendKind::kEpoll)
    return epoll_impl::poll_many(fds, events, n, deadline);
  Ring* r = Ring::current();
  if (!r) return -ENOMEM;
  Carrier* c = Carrier::current();
  GreenThread* me = c->running();

  Request small[16];
  std::unique_ptr<Request[]> big;
  Request* reqs = small;
  if (n > 16) {
    big.reset(new (std::nothrow) Request[static_cast<size_t>(n)]);
    if (!big) return -ENOMEM;
    reqs = big.get();
  }

  Waiter first;
  first.g = me;
  // The requests are r's: whoever serves r's carrier (its own OS thread, or
  // one serving it while it is stuck) completes them, under its service lock.
  Carrier* owner = r->carrier();
  owner->with_service([&] {
    for (int i = 0; i < n; i++) {
      reqs[i].g = me;
      reqs[i].waiter = &first;
      io_uring_sqe* s = r->sqe();
      io_uring_prep_poll_add(s, fds[i], events[i]);
      r->track(s, &reqs[i]);
    }
  });
  // poll/select/epoll_wait are never restarted after a signal handler.
  int how = park_waiter_interruptible(first, deadline, false, "poll");

  // Cancel what is still pending, then wait until every Request completed.
  // We may be on another carrier now: r's are queued on r, which its
  // carrier submits when it next looks (woken if it sleeps).
  owner->with_service([&] {
    for (int i = 0; i < n; i++) {
      if (reqs[i].done) continue;
      io_uring_sqe* s = r->sqe();
      io_uring_prep_cancel(s, &reqs[i], 0);
      io_uring_sqe_set_data64(s, ioring::kUserIgnore);
    }
  });
  for (;;) {
    Waiter rest;
    rest.g = me;
    bool pending = false;
    // Under the lock: a completion dispatched meanwhile sees either the old
    // waiter (and we see done) or the new one.
    owner->with_service([&] {
      for (int i = 0; i < n; i++) {
        if (!reqs[i].done) {
          reqs[i].waiter = &rest;
          pending = true;
        }
      }
    });
    if (!pending) break;
    park_waiter(rest, kNoDeadline, "poll-cancel");
  }

  int completed = 0;
  for (int i = 0; i < n; i++)
    if (reqs[i].res != -ECANCELED) completed++;
  if (completed == 0 && how == Waiter::kInterrupted) return -EINTR;
  return completed;
}

}  // namespace gh::io
