// SPDX-License-Identifier: MIT
// greenhouse.h: Event and Pool (docs/api.md). Both park on the green futex
// (core/parking_lot.h); a pool's tasks are detached green threads made by
// gh_spawn, its slots a green semaphore.
#include <climits>
#include <cerrno>
#include <new>

#include "core/arena.h"
#include "core/channel.h"
#include "core/parking_lot.h"
#include "core/semaphore.h"
#include "shim/api.h"
#include "shim/include/greenhouse.h"
#include "shim/state.h"

using namespace gh::shim;

// ---- Event ----

namespace {
std::atomic_ref<uint32_t> word(gh_event_t* e) { return std::atomic_ref<uint32_t>(e->word_); }

// Waits until *w == 0 (a pool's running count, a map's tasks left). Returns
// 0, or api_timed_out(timeout_ns).
int wait_zero(std::atomic<uint32_t>* w, int64_t timeout_ns) {
  int64_t deadline = api_deadline(timeout_ns);
  for (;;) {
    uint32_t v = w->load(std::memory_order_acquire);
    if (v == 0) return 0;
    if (gh::futex_wait(w, v, deadline == gh::kNoDeadline ? -1 : deadline, "pool") == -ETIMEDOUT &&
        w->load(std::memory_order_acquire) != 0)
      return api_timed_out(timeout_ns);
  }
}
}  // namespace

GH_EXPORT void gh_event_set(gh_event_t* e) {
  word(e).store(1, std::memory_order_release);
  gh::futex_wake(&e->word_, INT_MAX);
}

GH_EXPORT void gh_event_clear(gh_event_t* e) { word(e).store(0, std::memory_order_release); }

GH_EXPORT int gh_event_is_set(const gh_event_t* e) {
  return word(const_cast<gh_event_t*>(e)).load(std::memory_order_acquire) ? 1 : 0;
}

GH_EXPORT int gh_event_wait(gh_event_t* e, int64_t timeout_ns) {
  int64_t deadline = api_deadline(timeout_ns);
  while (!word(e).load(std::memory_order_acquire)) {
    if (deadline >= 0 && deadline <= gh::mono_ns()) return api_timed_out(timeout_ns);
    gh::futex_wait(&e->word_, 0, deadline, "event");
  }
  return 0;
}

// ---- Pool ----

struct gh_pool : gh::ArenaObject {
  gh::Semaphore slots{};             // free slots
  std::atomic<uint32_t> running{0};  // tasks started and not finished
};

namespace {

struct MapResult {
  size_t index;
  void* result;
};

// One task: what to run and where its result goes.
struct Task : gh::ArenaObject {
  gh_pool* pool;
  void* (*fn)(void*);
  void* arg;
  void** out = nullptr;            // gh_pool_map: out[i]
  gh::Channel* results = nullptr;  // gh_pool_map_unordered
  size_t index = 0;
  std::atomic<uint32_t>* left = nullptr;  // a map's tasks not yet done
};

void* run_task(void* a) {
  auto* t = static_cast<Task*>(a);
  void* r = t->fn(t->arg);
  if (t->out) *t->out = r;
  if (t->results) {
    MapResult m{t->index, r};
    t->results->send(&m, gh::kNoDeadline);  // unbounded: never waits
  }
  gh_pool* p = t->pool;
  std::atomic<uint32_t>* left = t->left;
  delete t;
  // Nothing of the map or the pool is touched after its count drops: the
  // waiter may free it then (a wake of a freed address is harmless).
  if (left && left->fetch_sub(1, std::memory_order_acq_rel) == 1) gh::futex_wake(left, INT_MAX);
  p->slots.post();
  if (p->running.fetch_sub(1, std::memory_order_acq_rel) == 1) gh::futex_wake(&p->running, INT_MAX);
  return nullptr;
}

// Takes a slot (waiting, up to the thread's gh_timeout) and starts t.
// Returns 0, ETIMEDOUT or EAGAIN; on failure t is freed.
int start_task(gh_pool* p, Task* t) {
  int64_t deadline = api_deadline(-1);
  int rc;
  if (deadline < 0) {
    rc = p->slots.wait();
  } else {
    timespec abs = gh::ns_timespec(deadline);
    rc = p->slots.clockwait(CLOCK_MONOTONIC, &abs);
  }
  if (rc != 0) {
    delete t;
    return rc == ETIMEDOUT ? ETIMEDOUT : EAGAIN;
  }
  p->running.fetch_add(1, std::memory_order_acq_rel);
  gh_spawn_opts o = GH_SPAWN_OPTS_INIT;
  o.detached = 1;
  gh_thread_t th;
  rc = gh_spawn(&th, &run_task, t, &o);
  if (rc != 0) {
    delete t;
    p->slots.post();
    if (p->running.fetch_sub(1, std::memory_order_acq_rel) == 1)
      gh::futex_wake(&p->running, INT_MAX);
    return EAGAIN;
  }
  return 0;
}

Task* new_task(gh_pool* p, void* (*fn)(void*), void* arg) {
  auto* t = new (std::nothrow) Task;
  if (!t) return nullptr;
  t->pool = p;
  t->fn = fn;
  t->arg = arg;
  return t;
}

}  // namespace

GH_EXPORT gh_pool_t* gh_pool_new(size_t size) {
  if (size == 0 || size > gh::Semaphore::kMax) {
    errno = EINVAL;
    return nullptr;
  }
  auto* p = new (std::nothrow) gh_pool;
  if (!p) {
    errno = ENOMEM;
    return nullptr;
  }
  p->slots.init(static_cast<uint32_t>(size));
  return p;
}

GH_EXPORT void gh_pool_free(gh_pool_t* p) {
  if (!p) return;
  wait_zero(&p->running, GH_FOREVER);
  delete p;
}

GH_EXPORT int gh_pool_spawn(gh_pool_t* p, void* (*fn)(void*), void* arg) {
  if (!p || !fn) return EINVAL;
  Task* t = new_task(p, fn, arg);
  if (!t) return EAGAIN;
  return start_task(p, t);
}

GH_EXPORT int gh_pool_join(gh_pool_t* p, int64_t timeout_ns) {
  return wait_zero(&p->running, timeout_ns);
}

GH_EXPORT size_t gh_pool_running(gh_pool_t* p) {
  return p->running.load(std::memory_order_acquire);
}

GH_EXPORT int gh_pool_map(gh_pool_t* p, void* (*fn)(void*), void* const* in, void** out, size_t n) {
  if (!p || !fn || (n && (!in || !out)) || n > UINT32_MAX) return EINVAL;
  std::atomic<uint32_t> left{static_cast<uint32_t>(n)};
  int rc = 0;
  size_t i = 0;
  for (; i < n; i++) {
    out[i] = nullptr;
    Task* t = new_task(p, fn, in[i]);
    if (!t) {
      rc = EAGAIN;
      break;
    }
    t->out = &out[i];
    t->left = &left;
    if ((rc = start_task(p, t)) != 0) break;
  }
  // Those that never started will not count down.
  if (i < n) {
    for (size_t k = i; k < n; k++) out[k] = nullptr;
    if (left.fetch_sub(static_cast<uint32_t>(n - i), std::memory_order_acq_rel) == n - i) return rc;
  }
  wait_zero(&left, GH_FOREVER);
  return rc;
}

GH_EXPORT int gh_pool_map_unordered(gh_pool_t* p, void* (*fn)(void*), void* const* in, size_t n,
                                    void (*done)(void* ctx, size_t i, void* result), void* ctx) {
  if (!p || !fn || !done || (n && !in)) return EINVAL;
  gh::Channel* results = gh::Channel::create(sizeof(MapResult), gh::Channel::kUnbounded);
  if (!results) return EAGAIN;
  int rc = 0;
  size_t started = 0, delivered = 0;
  MapResult m;
  for (; started < n; started++) {
    // Hand over what has finished so far, then start the next.
    while (results->recv(&m, 0) == 0) {
      done(ctx, m.index, m.result);
      delivered++;
    }
    Task* t = new_task(p, fn, in[started]);
    if (!t) {
      rc = EAGAIN;
      break;
    }
    t->results = results;
    t->index = started;
    if ((rc = start_task(p, t)) != 0) break;
  }
  for (; delivered < started; delivered++) {
    results->recv(&m, gh::kNoDeadline);
    done(ctx, m.index, m.result);
  }
  results->destroy();
  return rc;
}
