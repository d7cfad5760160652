// SPDX-License-Identifier: MIT
// greenhouse.h: Event and Pool (docs/api.md). Both park on the green futex
// (core/parking_lot.h); a pool's workers are detached green threads made by
// gh_spawn, fed through a channel, its slots a green semaphore.
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

// Waits until *w == 0 (a pool's running count, a map's tasks left) or the
// deadline (CLOCK_MONOTONIC ns, < 0 none). Returns 0 or ETIMEDOUT.
int wait_zero(std::atomic<uint32_t>* w, int64_t deadline) {
  for (;;) {
    uint32_t v = w->load(std::memory_order_acquire);
    if (v == 0) return 0;
    if (gh::futex_wait(w, v, deadline, "pool") == -ETIMEDOUT &&
        w->load(std::memory_order_acquire) != 0)
      return ETIMEDOUT;
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
//
// A pool keeps up to `size` worker green threads and hands each task to
// one through a channel; a worker idle for kWorkerIdleNs ends. `slots`
// bounds the tasks queued or running to `size`, so the channel (capacity
// `size`) never makes a sender wait.
//
// `idle` counts workers waiting for a task minus tasks queued for them, and
// may go below 0 (tasks waiting for a busy worker). A spawner takes one
// from it before queueing: if there was none to take, it makes a worker (up
// to `size`). A worker adds one before each wait. One that waited too long
// leaves only if it can take one back while the count is above 0; at 0 or
// below a task was queued counting on it, and it waits again. Every change is
// a read-modify-write of the one counter, so a spawner and a leaving worker
// cannot both think the other will run the task.

namespace {
constexpr int64_t kWorkerIdleNs = 1000 * 1000 * 1000;

struct MapResult {
  size_t index;
  void* result;
};

// One task: what to run and where its result goes. Copied into the channel.
struct Task {
  void* (*fn)(void*);
  void* arg;
  void** out;            // gh_pool_map: out[i]
  gh::Channel* results;  // gh_pool_map_unordered
  size_t index;
  std::atomic<uint32_t>* left;  // a map's tasks not yet done
};
}  // namespace

struct gh_pool : gh::ArenaObject {
  gh::Semaphore slots{};             // tasks that may still be queued or run
  std::atomic<uint32_t> running{0};  // tasks queued or running
  std::atomic<uint32_t> workers{0};  // worker threads alive
  std::atomic<int32_t> idle{0};      // waiting workers minus tasks queued for them
  gh::Channel* tasks = nullptr;
  uint32_t size = 0;
};

namespace {

void finish_task(gh_pool* p, const Task& t, void* r) {
  if (t.out) *t.out = r;
  if (t.results) {
    MapResult m{t.index, r};
    t.results->send(&m, gh::kNoDeadline);  // unbounded: never waits
  }
  // Nothing of a map is touched after its count drops: the waiter may
  // return then (a wake of a gone address is harmless).
  if (t.left && t.left->fetch_sub(1, std::memory_order_acq_rel) == 1)
    gh::futex_wake(t.left, INT_MAX);
  p->slots.post();
  if (p->running.fetch_sub(1, std::memory_order_acq_rel) == 1) gh::futex_wake(&p->running, INT_MAX);
}

// Takes one from p->idle if it is above 0.
bool take_idle(gh_pool* p) {
  int32_t v = p->idle.load(std::memory_order_acquire);
  while (v > 0)
    if (p->idle.compare_exchange_weak(v, v - 1, std::memory_order_acq_rel)) return true;
  return false;
}

void* worker(void* a) {
  auto* p = static_cast<gh_pool*>(a);
  gh::GreenThread* me = gh::self();
  Task t;
  for (;;) {
    p->idle.fetch_add(1, std::memory_order_acq_rel);
    int rc;
    for (;;) {
      rc = p->tasks->recv(&t, gh::deadline_after(kWorkerIdleNs));
      if (rc != ETIMEDOUT || take_idle(p)) break;
      // A task is queued (or about to be) counting on this worker.
    }
    if (rc != 0) break;  // idle too long, or the pool is being freed (EPIPE)
    void* r = t.fn(t.arg);
    if (me) me->deadline = gh::kNoDeadline;  // a scope the task left open ends with it
    finish_task(p, t, r);
  }
  if (p->workers.fetch_sub(1, std::memory_order_acq_rel) == 1) gh::futex_wake(&p->workers, INT_MAX);
  return nullptr;
}

// One more worker unless there are `size`. Returns false if none could be
// made (at the limit, or no memory).
bool add_worker(gh_pool* p) {
  uint32_t n = p->workers.load(std::memory_order_acquire);
  do {
    if (n >= p->size) return false;
  } while (!p->workers.compare_exchange_weak(n, n + 1, std::memory_order_acq_rel));
  gh_spawn_opts o = GH_SPAWN_OPTS_INIT;
  o.detached = 1;
  o.name = "gh-pool";
  gh_thread_t th;
  if (gh_spawn(&th, &worker, p, &o) == 0) return true;
  if (p->workers.fetch_sub(1, std::memory_order_acq_rel) == 1) gh::futex_wake(&p->workers, INT_MAX);
  return false;
}

// Takes a slot (waiting, up to the thread's gh_timeout) and queues t for a
// worker, making one if none is idle. Returns 0, ETIMEDOUT or EAGAIN (no
// worker at all could be made; t is not queued).
int start_task(gh_pool* p, const Task& t) {
  int64_t deadline = api_deadline(-1);
  int rc;
  if (deadline < 0) {
    rc = p->slots.wait();
  } else {
    timespec abs = gh::ns_timespec(deadline);
    rc = p->slots.clockwait(CLOCK_MONOTONIC, &abs);
  }
  if (rc != 0) return rc == ETIMEDOUT ? ETIMEDOUT : EAGAIN;
  if (p->idle.fetch_sub(1, std::memory_order_acq_rel) <= 0 && !add_worker(p) &&
      p->workers.load(std::memory_order_acquire) == 0) {
    // Nobody would ever run it.
    p->idle.fetch_add(1, std::memory_order_acq_rel);
    p->slots.post();
    return EAGAIN;
  }
  // (At the limit, or a worker could not be made while others live: one of
  // them takes it when it is done.)
  p->running.fetch_add(1, std::memory_order_acq_rel);
  p->tasks->send(&t, 0);  // a slot means room: never waits, never fails
  return 0;
}

Task make_task(void* (*fn)(void*), void* arg) {
  Task t{};
  t.fn = fn;
  t.arg = arg;
  return t;
}

}  // namespace

GH_EXPORT gh_pool_t* gh_pool_new(size_t size) {
  if (size == 0 || size > gh::Semaphore::kMax) {
    errno = EINVAL;
    return nullptr;
  }
  auto* p = new (std::nothrow) gh_pool;
  if (p) p->tasks = gh::Channel::create(sizeof(Task), size);
  if (!p || !p->tasks) {
    delete p;
    errno = ENOMEM;
    return nullptr;
  }
  p->size = static_cast<uint32_t>(size);
  p->slots.init(p->size);
  return p;
}

GH_EXPORT void gh_pool_free(gh_pool_t* p) {
  if (!p) return;
  // Not cut short by a Timeout scope: the pool must be idle to be freed.
  wait_zero(&p->running, gh::kNoDeadline);
  p->tasks->close();  // the workers leave
  wait_zero(&p->workers, gh::kNoDeadline);
  p->tasks->destroy();
  delete p;
}

GH_EXPORT int gh_pool_spawn(gh_pool_t* p, void* (*fn)(void*), void* arg) {
  if (!p || !fn) return EINVAL;
  return start_task(p, make_task(fn, arg));
}

GH_EXPORT int gh_pool_join(gh_pool_t* p, int64_t timeout_ns) {
  return wait_zero(&p->running, api_deadline(timeout_ns)) == 0 ? 0 : api_timed_out(timeout_ns);
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
    Task t = make_task(fn, in[i]);
    t.out = &out[i];
    t.left = &left;
    if ((rc = start_task(p, t)) != 0) break;
  }
  // Those that never started will not count down.
  if (i < n) {
    for (size_t k = i; k < n; k++) out[k] = nullptr;
    if (left.fetch_sub(static_cast<uint32_t>(n - i), std::memory_order_acq_rel) == n - i) return rc;
  }
  wait_zero(&left, gh::kNoDeadline);  // its tasks write into out[]: never cut short
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
    Task t = make_task(fn, in[started]);
    t.results = results;
    t.index = started;
    if ((rc = start_task(p, t)) != 0) break;
  }
  for (; delivered < started; delivered++) {
    results->recv(&m, gh::kNoDeadline);
    done(ctx, m.index, m.result);
  }
  results->destroy();
  return rc;
}
