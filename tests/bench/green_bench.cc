// SPDX-License-Identifier: MIT
// Green threads next to OS threads, one pair per operation:
//   BM_Switch_*        a context switch between two threads that take turns
//   BM_SpawnJoin_*     create a thread that returns at once, join it
//   BM_ParkedMemory_*  memory held by N threads that are all blocked
// Each pair is named BM_<X>_Green / BM_<X>_Native so that scripts/bench can put
// the two side by side and print their ratio. Counters carry their unit in
// their name; the label says what one iteration is.
//
// The benchmark thread is the root green thread of its carrier (gh::self()
// makes it one); nothing here goes through the LD_PRELOAD shim.
#include <benchmark/benchmark.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#include "core/green.h"

namespace {

// N for the parked-memory pair. MemAvailable moves in steps of up to some MiB
// (free pages sitting in per-CPU lists do not count as free), so N is large to
// make that error small per thread. Native N is smaller because each pthread
// stack costs 2 VMAs (stack + guard): 100,000 would pass vm.max_map_count
// (65530 by default) and pthread_create would fail. The per-thread figures are
// comparable; the table names both N.
constexpr int kParkedGreen = 100000;
constexpr int kParkedNative = 20000;

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

bool need_carrier(benchmark::State& state) {
  if (gh::self()) return true;
  state.SkipWithError("no carrier: io_uring setup failed");
  return false;
}

// ---- context switch ----

// Two green threads on one carrier yield to each other. One iteration is one
// round trip: benchmark thread -> partner -> benchmark thread, two switches.
void BM_Switch_Green(benchmark::State& state) {
  if (!need_carrier(state)) return;
  static std::atomic<bool> stop;
  stop.store(false);
  gh::GreenThread* partner;
  if (gh::spawn(
          [](void*) -> void* {
            while (!stop.load(std::memory_order_relaxed)) gh::yield();
            return nullptr;
          },
          nullptr, {}, &partner) != 0) {
    state.SkipWithError("spawn failed");
    return;
  }
  gh::yield();  // let the partner start
  int64_t t0 = now_ns();
  for (auto _ : state) gh::yield();
  int64_t t1 = now_ns();
  stop.store(true);
  gh::join(partner, nullptr);
  state.counters["ns_per_switch"] =
      static_cast<double>(t1 - t0) / (2.0 * static_cast<double>(state.iterations()));
  state.SetLabel("iteration = round trip, 2 switches (gh::yield)");
}
BENCHMARK(BM_Switch_Green);

// Two pthreads pinned to the CPU the benchmark thread is on take turns through
// a pair of POSIX semaphores (each sem_wait blocks in the kernel), which is
// what one OS-thread switch costs a program written the blocking way. One
// iteration is one round trip, two switches.
// Keeps the calling thread (and the threads it creates with attr()) on the
// CPU it runs on, for as long as it lives.
class OneCpu {
 public:
  OneCpu() {
    int cpu = sched_getcpu();
    sched_getaffinity(0, sizeof old_, &old_);
    CPU_ZERO(&one_);
    CPU_SET(cpu < 0 ? 0 : cpu, &one_);
    sched_setaffinity(0, sizeof one_, &one_);
  }
  ~OneCpu() { sched_setaffinity(0, sizeof old_, &old_); }
  OneCpu(const OneCpu&) = delete;
  OneCpu& operator=(const OneCpu&) = delete;
  void pin(pthread_attr_t* attr) const { pthread_attr_setaffinity_np(attr, sizeof one_, &one_); }

 private:
  cpu_set_t old_, one_;
};

struct SemPingPong {
  sem_t ping, pong;
  std::atomic<bool> stop{false};
};

void BM_Switch_Native(benchmark::State& state) {
  OneCpu one;

  SemPingPong pp;
  sem_init(&pp.ping, 0, 0);
  sem_init(&pp.pong, 0, 0);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  one.pin(&attr);
  pthread_t partner;
  int rc = pthread_create(
      &partner, &attr,
      [](void* arg) -> void* {
        auto* p = static_cast<SemPingPong*>(arg);
        for (;;) {
          while (sem_wait(&p->ping) != 0) {
          }
          if (p->stop.load(std::memory_order_relaxed)) return nullptr;
          sem_post(&p->pong);
        }
      },
      &pp);
  pthread_attr_destroy(&attr);
  if (rc != 0) {
    state.SkipWithError("pthread_create failed");
    return;
  }
  int64_t t0 = now_ns();
  for (auto _ : state) {
    sem_post(&pp.ping);
    while (sem_wait(&pp.pong) != 0) {
    }
  }
  int64_t t1 = now_ns();
  pp.stop.store(true);
  sem_post(&pp.ping);
  pthread_join(partner, nullptr);
  sem_destroy(&pp.ping);
  sem_destroy(&pp.pong);
  state.counters["ns_per_switch"] =
      static_cast<double>(t1 - t0) / (2.0 * static_cast<double>(state.iterations()));
  state.SetLabel("iteration = round trip, 2 switches (sem_post/sem_wait, both on one CPU)");
}
BENCHMARK(BM_Switch_Native)->UseRealTime();

}  // namespace

// ---- context switch among many threads ----

// Shared with tls_bench.cc. N green threads and the benchmark thread take
// turns on one carrier: each switch goes to the thread that ran longest
// ago, whose saved context, stack and record (and with exact TLS its TLS
// block) have left the cache, and with thousands of threads the TLB, as in
// a server with a thread per connection. Stacks of 8 MiB, as glibc gives
// threads by default. One iteration is one turn: N + 1 switches.
void run_switch_many(benchmark::State& state) {
  if (!need_carrier(state)) return;
  static std::atomic<bool> stop;
  stop.store(false);
  const int n = static_cast<int>(state.range(0));
  std::vector<gh::GreenThread*> threads;
  gh::SpawnOptions opts;
  opts.stack_size = 8 << 20;
  for (int i = 0; i < n; i++) {
    gh::GreenThread* g;
    if (gh::spawn(
            [](void*) -> void* {
              while (!stop.load(std::memory_order_relaxed)) gh::yield();
              return nullptr;
            },
            nullptr, opts, &g) != 0) {
      state.SkipWithError("spawn failed");
      break;
    }
    threads.push_back(g);
  }
  if (threads.size() == static_cast<size_t>(n)) {
    gh::yield();
    int64_t t0 = now_ns();
    for (auto _ : state) gh::yield();
    int64_t t1 = now_ns();
    state.counters["ns_per_switch"] =
        static_cast<double>(t1 - t0) / (static_cast<double>(state.iterations()) * (n + 1));
  }
  stop.store(true);
  for (gh::GreenThread* g : threads) gh::join(g, nullptr);
}

namespace {

void BM_SwitchMany_Green(benchmark::State& state) {
  run_switch_many(state);
  state.SetLabel("iteration = one turn of N+1 green threads (gh::yield), one carrier");
}
BENCHMARK(BM_SwitchMany_Green)->Arg(1000)->Arg(10000)->UseRealTime();

// N threads in a ring on one CPU, each waiting on its semaphore and posting
// the next one's; the benchmark thread closes the ring.
struct SemRing {
  std::vector<sem_t> sems;
  std::atomic<bool> stop{false};
  int n = 0;
};
struct RingSeat {
  SemRing* ring;
  int i;
};

void BM_SwitchMany_Native(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  OneCpu one;
  SemRing ring;
  ring.n = n;
  ring.sems.resize(n + 1);
  for (sem_t& s : ring.sems) sem_init(&s, 0, 0);
  std::vector<RingSeat> seats(n);
  std::vector<pthread_t> threads;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  one.pin(&attr);
  for (int i = 0; i < n; i++) {
    seats[i] = RingSeat{&ring, i};
    pthread_t t;
    if (pthread_create(
            &t, &attr,
            [](void* arg) -> void* {
              auto* seat = static_cast<RingSeat*>(arg);
              SemRing* r = seat->ring;
              for (;;) {
                while (sem_wait(&r->sems[seat->i]) != 0) {
                }
                // Read before passing the turn on: set only before the last
                // turn starts, so every thread goes round that one too.
                bool last = r->stop.load(std::memory_order_relaxed);
                sem_post(&r->sems[seat->i + 1]);
                if (last) return nullptr;
              }
            },
            &seats[i]) != 0) {
      state.SkipWithError("pthread_create failed");
      break;
    }
    threads.push_back(t);
  }
  pthread_attr_destroy(&attr);
  if (threads.size() == static_cast<size_t>(n)) {
    int64_t t0 = now_ns();
    for (auto _ : state) {
      sem_post(&ring.sems[0]);
      while (sem_wait(&ring.sems[n]) != 0) {
      }
    }
    int64_t t1 = now_ns();
    state.counters["ns_per_switch"] =
        static_cast<double>(t1 - t0) / (static_cast<double>(state.iterations()) * (n + 1));
  }
  // One last turn with stop set ends every thread of the ring in order.
  ring.stop.store(true);
  if (!threads.empty()) {
    sem_post(&ring.sems[0]);
    if (threads.size() == static_cast<size_t>(n)) sem_wait(&ring.sems[n]);
  }
  for (pthread_t t : threads) pthread_join(t, nullptr);
  for (sem_t& s : ring.sems) sem_destroy(&s);
  state.SetLabel("iteration = one turn of N+1 threads through a ring of semaphores, one CPU");
}
BENCHMARK(BM_SwitchMany_Native)->Arg(1000)->Arg(10000)->UseRealTime();

// ---- spawn + join ----

void* return_null(void*) { return nullptr; }

}  // namespace

// Shared with tls_bench.cc (the same with exact TLS).
void run_spawn_join(benchmark::State& state) {
  if (!need_carrier(state)) return;
  for (auto _ : state) {
    gh::GreenThread* g;
    if (gh::spawn(&return_null, nullptr, {}, &g) != 0) {
      state.SkipWithError("spawn failed");
      return;
    }
    gh::join(g, nullptr);
  }
}

namespace {

void BM_SpawnJoin_Green(benchmark::State& state) {
  run_spawn_join(state);
  state.SetLabel("gh::spawn + gh::join, default stack");
}
BENCHMARK(BM_SpawnJoin_Green);

void BM_SpawnJoin_Native(benchmark::State& state) {
  for (auto _ : state) {
    pthread_t t;
    if (pthread_create(&t, nullptr, &return_null, nullptr) != 0) {
      state.SkipWithError("pthread_create failed");
      return;
    }
    pthread_join(t, nullptr);
  }
  state.SetLabel("pthread_create + pthread_join, default attributes");
}
BENCHMARK(BM_SpawnJoin_Native)->UseRealTime();

// ---- memory per parked thread ----

// Memory the whole system lost, in KiB: MemAvailable from /proc/meminfo. Unlike
// RSS it includes what the kernel spends per thread (kernel stack, task,
// page tables).
long mem_available_kib() {
  FILE* f = std::fopen("/proc/meminfo", "re");
  if (!f) return -1;
  char line[256];
  long v = -1;
  while (std::fgets(line, sizeof line, f)) {
    if (std::sscanf(line, "MemAvailable: %ld kB", &v) == 1) break;
  }
  std::fclose(f);
  return v;
}

long rss_kib() {
  FILE* f = std::fopen("/proc/self/statm", "re");
  if (!f) return -1;
  long size = 0, resident = -1;
  if (std::fscanf(f, "%ld %ld", &size, &resident) != 2) resident = -1;
  std::fclose(f);
  return resident < 0 ? -1 : resident * (sysconf(_SC_PAGESIZE) / 1024);
}

long vma_count() {
  FILE* f = std::fopen("/proc/self/maps", "re");
  if (!f) return -1;
  long n = 0;
  int c;
  while ((c = std::fgetc(f)) != EOF)
    if (c == '\n') n++;
  std::fclose(f);
  return n;
}

struct MemSample {
  long avail, rss, vmas;
  static MemSample take() { return {mem_available_kib(), rss_kib(), vma_count()}; }
};

void report_memory(benchmark::State& state, const MemSample& before, const MemSample& after,
                   int n) {
  double d = n;
  state.counters["mem_KiB_per_thread"] = static_cast<double>(before.avail - after.avail) / d;
  state.counters["rss_KiB_per_thread"] = static_cast<double>(after.rss - before.rss) / d;
  state.counters["vmas_per_thread"] = static_cast<double>(after.vmas - before.vmas) / d;
}

struct Parked {
  gh::Waiter w;
  gh::GreenThread* g = nullptr;
};

// N green threads (default stack) each park on a Waiter; memory is measured
// once all of them are parked, then they are woken and joined. The time is
// that of spawning the N and running each up to its park.
}  // namespace

// Shared with tls_bench.cc (the same with exact TLS).
void run_parked_memory(benchmark::State& state) {
  if (!need_carrier(state)) return;
  const int n = static_cast<int>(state.range(0));
  for (auto _ : state) {
    std::vector<Parked> ps(static_cast<size_t>(n));
    MemSample before = MemSample::take();
    int64_t t0 = now_ns();
    for (Parked& p : ps) {
      int rc = gh::spawn(
          [](void* arg) -> void* {
            auto* p = static_cast<Parked*>(arg);
            p->w.g = gh::self();
            gh::park_waiter(p->w, gh::kNoDeadline, "bench");
            return nullptr;
          },
          &p, {}, &p.g);
      if (rc != 0) {
        state.SkipWithError("spawn failed");
        return;  // the spawned ones are never woken; the process is done anyway
      }
    }
    gh::yield();  // FIFO: every spawned thread runs up to its park first
    int64_t made_ns = now_ns() - t0;
    state.SetIterationTime(static_cast<double>(made_ns) * 1e-9);
    state.counters["ns_to_park_per_thread"] = static_cast<double>(made_ns) / n;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // as the native one
    MemSample after = MemSample::take();
    report_memory(state, before, after, n);
    for (Parked& p : ps) gh::wake(&p.w);
    for (Parked& p : ps) gh::join(p.g, nullptr);
  }
  state.SetLabel(
      "time = spawn N until all parked (stacks come from the pool after the first "
      "repetition); counters = memory while parked");
}

namespace {

void BM_ParkedMemory_Green(benchmark::State& state) { run_parked_memory(state); }
BENCHMARK(BM_ParkedMemory_Green)
    ->Arg(kParkedGreen)
    ->Iterations(1)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

long futex(std::atomic<uint32_t>* word, int op, uint32_t val) {
  return syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), op, val, nullptr, nullptr, 0);
}

struct NativeParking {
  std::atomic<uint32_t> released{0};
  std::atomic<int> parked{0};
};

// N pthreads (default attributes, so the default-size stack) each block in
// FUTEX_WAIT; memory is measured once all of them have arrived, then they are
// released and joined. The time is that of creating the N until each arrived.
void BM_ParkedMemory_Native(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  for (auto _ : state) {
    NativeParking np;
    std::vector<pthread_t> ts(static_cast<size_t>(n));
    MemSample before = MemSample::take();
    int64_t t0 = now_ns();
    int made = 0;
    for (; made < n; made++) {
      if (pthread_create(
              &ts[static_cast<size_t>(made)], nullptr,
              [](void* arg) -> void* {
                auto* np = static_cast<NativeParking*>(arg);
                np->parked.fetch_add(1);
                while (np->released.load() == 0) futex(&np->released, FUTEX_WAIT_PRIVATE, 0);
                return nullptr;
              },
              &np) != 0)
        break;
    }
    while (np.parked.load() < made) std::this_thread::sleep_for(std::chrono::microseconds(100));
    int64_t made_ns = now_ns() - t0;
    state.SetIterationTime(static_cast<double>(made_ns) * 1e-9);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // let the last ones block
    MemSample after = MemSample::take();
    np.released.store(1);
    futex(&np.released, FUTEX_WAKE_PRIVATE, INT_MAX);
    for (int i = 0; i < made; i++) pthread_join(ts[static_cast<size_t>(i)], nullptr);
    if (made < n) {
      state.SkipWithError("pthread_create failed before N threads");
      return;
    }
    report_memory(state, before, after, n);
    state.counters["ns_to_park_per_thread"] = static_cast<double>(made_ns) / n;
  }
  state.SetLabel("time = create N until all reached FUTEX_WAIT; counters = memory while parked");
}
BENCHMARK(BM_ParkedMemory_Native)
    ->Arg(kParkedNative)
    ->Iterations(1)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
