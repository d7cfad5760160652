// SPDX-License-Identifier: MIT
// The cost of exact TLS: the switch, create+join and parked-memory
// benchmarks of green_bench.cc again with every green thread given its own
// thread pointer, as the shim does by default (shim/glibc_tls.cc), next to
// the shared-TLS figures of BM_*_Green (GREENHOUSE_TLS=shared).
#include <benchmark/benchmark.h>

#include "core/green.h"
#include "core/thread_pointer.h"
#include "shim/glibc_tls.h"

// green_bench.cc
void run_spawn_join(benchmark::State& state);
void run_parked_memory(benchmark::State& state);
void run_switch_many(benchmark::State& state);

namespace {

// Exact TLS for the length of one benchmark (no green thread outlives it).
class ExactTls {
 public:
  explicit ExactTls(benchmark::State& state) {
    static bool ok = [] {
      char why[256];
      return gh::shim::glibc_tls_init(why, sizeof why);
    }();
    if (!ok || !gh::self()) {
      state.SkipWithError("exact TLS unavailable");
      return;
    }
    gh::shim::glibc_tls_enable();
    on_ = true;
  }
  ~ExactTls() {
    if (on_) gh::set_thread_pointer_ops(nullptr);
  }
  bool on() const { return on_; }

 private:
  bool on_ = false;
};

void BM_SwitchExactTls_Green(benchmark::State& state) {
  ExactTls tls(state);
  if (!tls.on()) return;
  static bool stop;
  stop = false;
  gh::GreenThread* partner;
  if (gh::spawn(
          [](void*) -> void* {
            while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) gh::yield();
            return nullptr;
          },
          nullptr, {}, &partner) != 0) {
    state.SkipWithError("spawn failed");
    return;
  }
  gh::yield();
  for (auto _ : state) gh::yield();
  __atomic_store_n(&stop, true, __ATOMIC_RELAXED);
  gh::join(partner, nullptr);
  state.SetLabel("round trip = 2 switches, each loading a thread pointer");
}
BENCHMARK(BM_SwitchExactTls_Green);

void BM_SwitchManyExactTls_Green(benchmark::State& state) {
  ExactTls tls(state);
  if (!tls.on()) return;
  run_switch_many(state);
  state.SetLabel("BM_SwitchMany_Green with a thread pointer of its own for every thread");
}
BENCHMARK(BM_SwitchManyExactTls_Green)->Arg(1000)->Arg(10000)->UseRealTime();

void BM_SpawnJoinExactTls_Green(benchmark::State& state) {
  ExactTls tls(state);
  if (!tls.on()) return;
  run_spawn_join(state);
  state.SetLabel("gh::spawn + gh::join with a TLS block and TCB of its own");
}
BENCHMARK(BM_SpawnJoinExactTls_Green);

void BM_ParkedMemoryExactTls_Green(benchmark::State& state) {
  ExactTls tls(state);
  if (tls.on()) run_parked_memory(state);
}
BENCHMARK(BM_ParkedMemoryExactTls_Green)
    ->Arg(100000)
    ->Iterations(1)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
