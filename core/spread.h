// SPDX-License-Identifier: MIT
// Whether a pool spreads its green threads over every carrier or packs them
// on one (docs/design.md, "Spread or packed").
//
// Spread: a carrier with more runnable threads than it is about to run wakes
// an idle carrier, which steals half of its queue. Packed: runnable threads
// go to the pool's first carrier that is not stuck (Pool::primary()); the
// others sleep, and wake only to serve a stuck carrier or take its queue.
// Neither is always better. Spreading uses every core for work that needs
// them (a CPU-heavy server); but a carrier that sleeps is woken for each small
// batch of completions of the I/O it submitted, so when the cores are shared
// with other processes (a load generator, a database) I/O-bound work costs
// less CPU per request packed.
//
// SpreadControl chooses for SpreadMode::kAuto by trying: after a dwell in the
// current mode it measures the rate at which green threads ran (runs per
// second, the pool's unit of work), switches, lets the switch settle,
// measures again, and keeps the new mode if it ran at least `gain` times as
// many, or about as many (`same`) for clearly less CPU time per run
// (`cheaper`): with the same work done, the mode that leaves the cores to
// other processes wins. That is the usual case of an I/O-bound server whose
// clients share its machine: both modes keep up, and packed costs 10-15% less
// CPU per request. A probe that runs less than `give_up` times the base
// after a third of its measurement ends then: the worse mode costs little
// time. A kept switch starts the next dwell short; a switch back doubles it
// (up to dwell_max_ns), so a steady load is probed rarely. Below min_rate
// nothing is tried (there is no work to compare).
//
// The settle is long because the load is usually a closed loop: threads
// queued in one mode run in a burst after a switch to spread (at 10,000 echo
// connections, at twice the steady rate for 60 ms), and queue up after a
// switch to packed. Measured too soon, every probe of spread looks better
// and every probe of packed worse.
//
// Pure arithmetic on the times and counts it is given: the pool's monitor
// thread calls step(); tests call it with made-up numbers.
#pragma once

#include <cstdint>

namespace gh {

enum class SpreadMode : uint8_t {
  kAuto,    // SpreadControl decides
  kAlways,  // always spread (wake idle carriers eagerly)
  kNever,   // always packed (idle carriers only serve stuck ones)
};

struct SpreadParams {
  int64_t dwell_min_ns = 250'000'000;    // first dwell, and after a kept switch
  int64_t dwell_max_ns = 8'000'000'000;  // longest dwell between probes
  int64_t settle_ns = 100'000'000;       // after a switch, not measured
  int64_t measure_ns = 150'000'000;      // each of the two measurements
  double gain = 1.10;                    // how much better the probe must run
  double same = 0.95;                    // or this close to the base rate, and
  double cheaper = 0.92;                 // at most this much CPU per run
  double give_up = 0.80;                 // a probe this far below ends after a third
  double min_rate = 2000;                // runs/s below which nothing is tried
};

class SpreadControl {
 public:
  explicit SpreadControl(bool packed, const SpreadParams& p = SpreadParams{});
  // Called periodically with the monotonic time (ns), the runs so far and
  // the CPU time (ns) the process has used so far (< 0: unknown; then only
  // the rates count). Returns the mode to be in now: true for packed.
  bool step(int64_t now_ns, uint64_t runs, int64_t cpu_ns = -1);
  bool packed() const { return packed_; }
  // Switches tried, and switches kept.
  uint64_t probes() const { return probes_; }
  uint64_t changes() const { return changes_; }
  // Runs per second measured in the mode before the last probe, and in the
  // probe (0 before the first).
  double base_rate() const { return base_rate_; }
  double probe_rate() const { return probe_rate_; }
  // CPU time per run (ns) in the same two measurements (0: unknown).
  double base_cost() const { return base_cost_; }
  double probe_cost() const { return probe_cost_; }

 private:
  enum class Phase : uint8_t { kDwell, kSettle, kProbe };
  void start_dwell(int64_t now_ns);

  SpreadParams p_;
  bool packed_;
  bool started_ = false;
  Phase phase_ = Phase::kDwell;
  int64_t dwell_ns_;
  int64_t phase_at_ = 0;     // when the phase began
  int64_t measure_at_ = -1;  // when the current measurement began (-1: not yet)
  uint64_t measure_runs_ = 0;
  int64_t measure_cpu_ = -1;
  double base_rate_ = 0;
  double probe_rate_ = 0;
  double base_cost_ = 0;
  double probe_cost_ = 0;
  uint64_t probes_ = 0;
  uint64_t changes_ = 0;
};

}  // namespace gh
