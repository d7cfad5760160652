// SPDX-License-Identifier: MIT
// Green synchronisation primitives next to glibc's, one pair per operation:
//   BM_MutexUncontended_*  lock + unlock of a free mutex (the hot path)
//   BM_MutexHandoff_*      two threads on one CPU pass a contended mutex back
//                          and forth: each acquisition first blocks
//   BM_CondPingPong_*      two threads on one CPU take turns through one
//                          mutex + cond (signal / wait)
// Green threads run on the benchmark thread's carrier (gh::self() makes it
// one); native pthreads are pinned to the CPU the benchmark thread is on, so
// that both sides switch on one CPU. Named BM_<X>_Green / BM_<X>_Native so
// that scripts/bench puts the two side by side. Nothing here goes through the
// LD_PRELOAD shim.
#include <benchmark/benchmark.h>
#include <pthread.h>
#include <sched.h>

#include <atomic>
#include <chrono>
#include <cstdint>

#include "core/cond.h"
#include "core/green.h"
#include "core/mutex.h"

namespace {

int64_t steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

bool have_carrier(benchmark::State& state) {
  if (gh::self()) return true;
  state.SkipWithError("no carrier: io_uring setup failed");
  return false;
}

// Pins the calling thread to the CPU it runs on for its lifetime; restores
// the old mask on destruction. one() is the mask to give partner threads.
class PinToThisCpu {
 public:
  PinToThisCpu() {
    sched_getaffinity(0, sizeof old_, &old_);
    int cpu = sched_getcpu();
    CPU_ZERO(&one_);
    CPU_SET(cpu < 0 ? 0 : cpu, &one_);
    sched_setaffinity(0, sizeof one_, &one_);
  }
  ~PinToThisCpu() { sched_setaffinity(0, sizeof old_, &old_); }
  const cpu_set_t& one() const { return one_; }

 private:
  cpu_set_t old_, one_;
};

// Starts fn(arg) on a pthread pinned to `cpus`. Returns pthread_create's code.
int start_pinned(pthread_t* t, const cpu_set_t& cpus, void* (*fn)(void*), void* arg) {
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setaffinity_np(&attr, sizeof cpus, &cpus);
  int rc = pthread_create(t, &attr, fn, arg);
  pthread_attr_destroy(&attr);
  return rc;
}

// ---- uncontended lock + unlock ----

void BM_MutexUncontended_Green(benchmark::State& state) {
  if (!have_carrier(state)) return;
  gh::Mutex m{};
  for (auto _ : state) {
    m.lock();
    benchmark::DoNotOptimize(m);
    m.unlock();
  }
  state.SetLabel("gh::Mutex (normal) lock + unlock, never contended");
}
BENCHMARK(BM_MutexUncontended_Green);

void BM_MutexUncontended_Native(benchmark::State& state) {
  // glibc skips the bus lock while the process has never had a second
  // thread; the programs the shim is for have many, so make it have one.
  pthread_t t;
  if (pthread_create(
          &t, nullptr, [](void*) -> void* { return nullptr; }, nullptr) == 0)
    pthread_join(t, nullptr);
  pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
  for (auto _ : state) {
    pthread_mutex_lock(&m);
    benchmark::DoNotOptimize(m);
    pthread_mutex_unlock(&m);
  }
  state.SetLabel("pthread_mutex_lock + unlock (normal), never contended, multi-threaded process");
}
BENCHMARK(BM_MutexUncontended_Native);

// ---- contended hand-off ----
//
// Both threads run the same loop:  lock; yield; unlock; yield.
// While one holds the mutex and yields, the other runs into lock() and
// blocks; the unlock wakes it and the following yield lets it take the mutex
// before the first comes back for it. So every acquisition is a contended
// one that blocked, and the mutex changes hands twice per iteration of the
// benchmark thread.

struct GreenHandoff {
  gh::Mutex m{};
  std::atomic<bool> stop{false};
};

void BM_MutexHandoff_Green(benchmark::State& state) {
  if (!have_carrier(state)) return;
  GreenHandoff h;
  gh::GreenThread* partner;
  if (gh::spawn(
          [](void* arg) -> void* {
            auto* h = static_cast<GreenHandoff*>(arg);
            while (!h->stop.load(std::memory_order_relaxed)) {
              h->m.lock();
              gh::yield();
              h->m.unlock();
              gh::yield();
            }
            return nullptr;
          },
          &h, {}, &partner) != 0) {
    state.SkipWithError("spawn failed");
    return;
  }
  int64_t t0 = steady_ns();
  for (auto _ : state) {
    h.m.lock();
    gh::yield();
    h.m.unlock();
    gh::yield();
  }
  int64_t t1 = steady_ns();
  h.stop.store(true);
  gh::join(partner, nullptr);
  state.counters["ns_per_handoff"] =
      static_cast<double>(t1 - t0) / (2.0 * static_cast<double>(state.iterations()));
  state.SetLabel("iteration = 2 hand-offs of a contended gh::Mutex, 2 green threads, one carrier");
}
BENCHMARK(BM_MutexHandoff_Green);

struct NativeHandoff {
  pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
  std::atomic<bool> stop{false};
};

void BM_MutexHandoff_Native(benchmark::State& state) {
  PinToThisCpu pin;
  NativeHandoff h;
  pthread_t partner;
  if (start_pinned(
          &partner, pin.one(),
          [](void* arg) -> void* {
            auto* h = static_cast<NativeHandoff*>(arg);
            while (!h->stop.load(std::memory_order_relaxed)) {
              pthread_mutex_lock(&h->m);
              sched_yield();
              pthread_mutex_unlock(&h->m);
              sched_yield();
            }
            return nullptr;
          },
          &h) != 0) {
    state.SkipWithError("pthread_create failed");
    return;
  }
  int64_t t0 = steady_ns();
  for (auto _ : state) {
    pthread_mutex_lock(&h.m);
    sched_yield();
    pthread_mutex_unlock(&h.m);
    sched_yield();
  }
  int64_t t1 = steady_ns();
  h.stop.store(true);
  pthread_join(partner, nullptr);
  state.counters["ns_per_handoff"] =
      static_cast<double>(t1 - t0) / (2.0 * static_cast<double>(state.iterations()));
  state.SetLabel("iteration = 2 hand-offs of a contended pthread mutex, 2 pthreads on one CPU");
}
BENCHMARK(BM_MutexHandoff_Native)->UseRealTime();

// ---- cond ping-pong ----
//
// turn 0: the benchmark thread's move, 1: the partner's. Each side waits on
// the one cond until it is its turn, flips the turn and signals. One
// iteration is a round trip: 2 signals, 2 waits that block.

struct GreenPingPong {
  gh::Mutex m{};
  gh::Cond c{};
  int turn = 0;       // guarded by m
  bool stop = false;  // guarded by m
};

void BM_CondPingPong_Green(benchmark::State& state) {
  if (!have_carrier(state)) return;
  GreenPingPong p;
  gh::GreenThread* partner;
  if (gh::spawn(
          [](void* arg) -> void* {
            auto* p = static_cast<GreenPingPong*>(arg);
            p->m.lock();
            for (;;) {
              while (p->turn != 1 && !p->stop) p->c.wait(p->m);
              if (p->stop) break;
              p->turn = 0;
              p->c.signal();
            }
            p->m.unlock();
            return nullptr;
          },
          &p, {}, &partner) != 0) {
    state.SkipWithError("spawn failed");
    return;
  }
  int64_t t0 = steady_ns();
  p.m.lock();
  for (auto _ : state) {
    p.turn = 1;
    p.c.signal();
    while (p.turn != 0) p.c.wait(p.m);
  }
  p.stop = true;
  p.c.signal();
  p.m.unlock();
  int64_t t1 = steady_ns();
  gh::join(partner, nullptr);
  state.counters["ns_per_round_trip"] =
      static_cast<double>(t1 - t0) / static_cast<double>(state.iterations());
  state.SetLabel("iteration = round trip through gh::Cond + gh::Mutex, one carrier");
}
BENCHMARK(BM_CondPingPong_Green);

struct NativePingPong {
  pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
  pthread_cond_t c = PTHREAD_COND_INITIALIZER;
  int turn = 0;
  bool stop = false;
};

void BM_CondPingPong_Native(benchmark::State& state) {
  PinToThisCpu pin;
  NativePingPong p;
  pthread_t partner;
  if (start_pinned(
          &partner, pin.one(),
          [](void* arg) -> void* {
            auto* p = static_cast<NativePingPong*>(arg);
            pthread_mutex_lock(&p->m);
            for (;;) {
              while (p->turn != 1 && !p->stop) pthread_cond_wait(&p->c, &p->m);
              if (p->stop) break;
              p->turn = 0;
              pthread_cond_signal(&p->c);
            }
            pthread_mutex_unlock(&p->m);
            return nullptr;
          },
          &p) != 0) {
    state.SkipWithError("pthread_create failed");
    return;
  }
  int64_t t0 = steady_ns();
  pthread_mutex_lock(&p.m);
  for (auto _ : state) {
    p.turn = 1;
    pthread_cond_signal(&p.c);
    while (p.turn != 0) pthread_cond_wait(&p.c, &p.m);
  }
  p.stop = true;
  pthread_cond_signal(&p.c);
  pthread_mutex_unlock(&p.m);
  int64_t t1 = steady_ns();
  pthread_join(partner, nullptr);
  pthread_cond_destroy(&p.c);
  state.counters["ns_per_round_trip"] =
      static_cast<double>(t1 - t0) / static_cast<double>(state.iterations());
  state.SetLabel("iteration = round trip through pthread_cond + mutex, 2 pthreads on one CPU");
}
BENCHMARK(BM_CondPingPong_Native)->UseRealTime();

}  // namespace
