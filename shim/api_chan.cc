// SPDX-License-Identifier: MIT
// greenhouse.h: channels, select and queues, on core/channel.h (docs/api.md).
#include <cerrno>

#include "core/channel.h"
#include "shim/api.h"
#include "shim/include/greenhouse.h"
#include "shim/state.h"

using namespace gh::shim;

namespace {
gh::Channel* chan(gh_chan_t* c) { return reinterpret_cast<gh::Channel*>(c); }
gh::Channel* chan(gh_queue_t* q) { return reinterpret_cast<gh::Channel*>(q); }

// A channel wait's result as the API reports it.
int finish(int rc, int64_t timeout_ns) { return rc == ETIMEDOUT ? api_timed_out(timeout_ns) : rc; }
}  // namespace

GH_EXPORT gh_chan_t* gh_chan_new(size_t elem_size, size_t capacity) {
  if (elem_size == 0 || elem_size > gh::Channel::kMaxElemSize) {
    errno = EINVAL;
    return nullptr;
  }
  gh::Channel* c =
      gh::Channel::create(elem_size, capacity == GH_UNBOUNDED ? gh::Channel::kUnbounded : capacity);
  if (!c) errno = ENOMEM;
  return reinterpret_cast<gh_chan_t*>(c);
}

GH_EXPORT void gh_chan_free(gh_chan_t* c) {
  if (c) chan(c)->destroy();
}

GH_EXPORT int gh_chan_send(gh_chan_t* c, const void* value, int64_t timeout_ns) {
  return finish(chan(c)->send(value, api_deadline(timeout_ns)), timeout_ns);
}

GH_EXPORT int gh_chan_recv(gh_chan_t* c, void* value, int64_t timeout_ns) {
  return finish(chan(c)->recv(value, api_deadline(timeout_ns)), timeout_ns);
}

GH_EXPORT int gh_chan_close(gh_chan_t* c) { return chan(c)->close(); }
GH_EXPORT size_t gh_chan_len(gh_chan_t* c) { return chan(c)->size(); }
GH_EXPORT size_t gh_chan_cap(gh_chan_t* c) {
  size_t cap = chan(c)->capacity();
  return cap == gh::Channel::kUnbounded ? GH_UNBOUNDED : cap;
}

GH_EXPORT int gh_select(gh_select_case* cases, size_t n, int64_t timeout_ns) {
  if (!cases || n == 0 || n > GH_SELECT_MAX) return -EINVAL;
  gh::SelectCase cs[GH_SELECT_MAX];
  for (size_t i = 0; i < n; i++) {
    if (!cases[i].chan || (cases[i].op != GH_RECV && cases[i].op != GH_SEND)) return -EINVAL;
    cs[i].chan = chan(cases[i].chan);
    cs[i].send = cases[i].op == GH_SEND;
    cs[i].value = cases[i].value;
  }
  int r = gh::Channel::select(cs, n, api_deadline(timeout_ns));
  if (r == -ETIMEDOUT) return -api_timed_out(timeout_ns);
  if (r >= 0) cases[r].status = cs[r].status;
  return r;
}

// A queue is a channel of pointers: maxsize 0 is unbounded, as in Python.
GH_EXPORT gh_queue_t* gh_queue_new(size_t maxsize) {
  gh::Channel* c =
      gh::Channel::create(sizeof(void*), maxsize == 0 ? gh::Channel::kUnbounded : maxsize);
  if (!c) errno = ENOMEM;
  return reinterpret_cast<gh_queue_t*>(c);
}

GH_EXPORT void gh_queue_free(gh_queue_t* q) {
  if (q) chan(q)->destroy();
}

GH_EXPORT int gh_queue_put(gh_queue_t* q, void* item, int64_t timeout_ns) {
  return finish(chan(q)->send(&item, api_deadline(timeout_ns)), timeout_ns);
}

GH_EXPORT int gh_queue_get(gh_queue_t* q, void** item, int64_t timeout_ns) {
  return finish(chan(q)->recv(item, api_deadline(timeout_ns)), timeout_ns);
}

GH_EXPORT int gh_queue_close(gh_queue_t* q) { return chan(q)->close(); }
GH_EXPORT size_t gh_queue_size(gh_queue_t* q) { return chan(q)->size(); }
