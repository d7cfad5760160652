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
// many. It also keeps it if it ran nearly as many (`same`) for clearly less
// CPU time per run (`cheaper`), but only while the cores are contended: in
// the spread measurement the pool's OS threads waited for a CPU at least
// `contended` times as long as they ran. That is an I/O-bound server whose
// clients share its machine: both modes keep up, packed costs 10-15% less
// CPU per request, and the CPU it leaves is wanted. On idle cores saving CPU
// buys nothing, and packed would only queue work behind one carrier. A mode
// kept for its lower cost is left again for a probe that runs `back` times
// as many: more than the rate it gave up.
//
// A probe that runs less than `give_up` times the base after a third of its
// measurement ends then: the worse mode costs little time. A kept switch
// starts the next dwell short; a switch back doubles it (up to dwell_max_ns),
// so a steady load is probed rarely. Below min_rate nothing is tried (there
// is no work to compare).
//
// The settle is long because the load is usually a closed loop: threads
// queued in one mode run in a burst after a switch to spread (at 10,000 echo
// connections, at twice the steady rate for 60 ms), and queue up after a
// switch to packed (a dip of about 100 ms). Measured too soon, every probe of
// spread looks better and every probe of packed worse.
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
  int64_t dwell_min_ns = 500'000'000;    // first dwell, and after a kept switch
  int64_t dwell_max_ns = 8'000'000'000;  // longest dwell between probes
  int64_t settle_ns = 100'000'000;       // after a switch, not measured
  int64_t measure_ns = 300'000'000;      // each of the two measurements
  double gain = 1.10;                    // how much better the probe must run
  double same = 0.95;                    // or this close to the base rate, and
  double cheaper = 0.92;                 // at most this much CPU per run, when
  double contended = 0.10;               // waiting for a CPU / running, spread
  double back = 1.075;                   // leaving a mode kept for its cost
  double give_up = 0.80;                 // a probe this far below ends after a third
  double min_rate = 2000;                // runs/s below which nothing is tried
};

// What the pool's OS threads have used so far: CPU time run, and time spent
// runnable but waiting for a CPU (ns). < 0: unknown.
struct SpreadSample {
  int64_t run_ns = -1;
  int64_t wait_ns = -1;
};
// Takes a sample; called only when a measurement starts or ends.
using SpreadSampler = SpreadSample (*)(void* ctx);

class SpreadControl {
 public:
  explicit SpreadControl(bool packed, const SpreadParams& p = SpreadParams{});
  // Called periodically with the monotonic time (ns) and the runs so far;
  // `sample(ctx)` gives the CPU times (without one, only the rates count).
  // Returns the mode to be in now: true for packed.
  bool step(int64_t now_ns, uint64_t runs, SpreadSampler sample = nullptr, void* ctx = nullptr);
  // Called instead of step() while there is nothing to choose between (one
  // carrier active): a probe in progress is dropped and the mode before it
  // restored, and the next step() starts a new dwell, so that no measurement
  // spans the pause. Returns the mode to be in now: true for packed.
  bool pause(int64_t now_ns);
  bool packed() const { return packed_; }
  // Switches tried, and switches kept.
  uint64_t probes() const { return probes_; }
  uint64_t changes() const { return changes_; }
  // Runs per second measured in the mode before the last probe, and in the
  // probe (0 before the first).
  double base_rate() const { return base_rate_; }
  double probe_rate() const { return probe_rate_; }
  // CPU time per run (ns) in the same two measurements, and time waited for
  // a CPU per CPU time run (0: unknown).
  double base_cost() const { return base_cost_; }
  double probe_cost() const { return probe_cost_; }
  double base_wait() const { return base_wait_; }
  double probe_wait() const { return probe_wait_; }
  // Whether the current mode was kept for its lower cost.
  bool kept_for_cost() const { return kept_for_cost_; }

 private:
  enum class Phase : uint8_t { kDwell, kSettle, kProbe };
  void start_dwell(int64_t now_ns);
  void start_measure(int64_t now_ns, uint64_t runs, SpreadSampler sample, void* ctx);
  // CPU time per run and wait per CPU time since start_measure (0: unknown).
  void end_measure(uint64_t runs, SpreadSampler sample, void* ctx, double* cost, double* wait);
  // Whether the probe ran clearly more than the base (by `back` when the
  // base was kept for its cost, else by `gain`).
  bool ran_more() const;
  bool keep(bool measured_all) const;

  SpreadParams p_;
  bool packed_;
  bool started_ = false;
  Phase phase_ = Phase::kDwell;
  int64_t dwell_ns_;
  int64_t phase_at_ = 0;     // when the phase began
  int64_t measure_at_ = -1;  // when the current measurement began (-1: not yet)
  uint64_t measure_runs_ = 0;
  SpreadSample measure_from_;
  double base_rate_ = 0;
  double probe_rate_ = 0;
  double base_cost_ = 0;
  double probe_cost_ = 0;
  double base_wait_ = 0;
  double probe_wait_ = 0;
  bool kept_for_cost_ = false;
  uint64_t probes_ = 0;
  uint64_t changes_ = 0;
};

}  // namespace gh
