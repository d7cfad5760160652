// SPDX-License-Identifier: MIT
#include "core/spread.h"

#include <algorithm>

namespace gh {

namespace {
double per_second(uint64_t runs, int64_t ns) {
  return ns > 0 ? static_cast<double>(runs) * 1e9 / static_cast<double>(ns) : 0;
}
// b - a when both are known and b >= a, else -1.
int64_t delta(int64_t a, int64_t b) { return a >= 0 && b >= a ? b - a : -1; }
}  // namespace

SpreadControl::SpreadControl(bool packed, const SpreadParams& p)
    : p_(p), packed_(packed), dwell_ns_(p.dwell_min_ns) {}

void SpreadControl::start_dwell(int64_t now_ns) {
  phase_ = Phase::kDwell;
  phase_at_ = now_ns;
  measure_at_ = -1;
}

void SpreadControl::start_measure(int64_t now_ns, uint64_t runs, SpreadSampler sample, void* ctx) {
  measure_at_ = now_ns;
  measure_runs_ = runs;
  measure_from_ = sample ? sample(ctx) : SpreadSample{};
}

void SpreadControl::end_measure(uint64_t runs, SpreadSampler sample, void* ctx, double* cost,
                                double* wait) {
  SpreadSample to = sample ? sample(ctx) : SpreadSample{};
  int64_t ran = delta(measure_from_.run_ns, to.run_ns);
  int64_t waited = delta(measure_from_.wait_ns, to.wait_ns);
  uint64_t n = runs - measure_runs_;
  *cost = ran > 0 && n > 0 ? static_cast<double>(ran) / static_cast<double>(n) : 0;
  *wait = ran > 0 && waited >= 0 ? static_cast<double>(waited) / static_cast<double>(ran) : 0;
}

bool SpreadControl::ran_more() const {
  return probe_rate_ >= base_rate_ * (kept_for_cost_ ? p_.back : p_.gain);
}

bool SpreadControl::keep(bool measured_all) const {
  if (!measured_all) return false;
  if (ran_more()) return true;
  // Cheaper for nearly the same work, where the cores are short: the spread
  // measurement (the probe when spreading now) waited for CPUs.
  const double spread_wait = packed_ ? base_wait_ : probe_wait_;
  return probe_rate_ >= base_rate_ * p_.same && base_cost_ > 0 && probe_cost_ > 0 &&
         probe_cost_ <= base_cost_ * p_.cheaper && spread_wait >= p_.contended;
}

bool SpreadControl::pause(int64_t now_ns) {
  if (!started_) return packed_;
  if (phase_ != Phase::kDwell) packed_ = !packed_;  // the probe is not judged
  start_dwell(now_ns);
  return packed_;
}

bool SpreadControl::step(int64_t now_ns, uint64_t runs, SpreadSampler sample, void* ctx) {
  if (!started_) {
    started_ = true;
    start_dwell(now_ns);
  }
  switch (phase_) {
    case Phase::kDwell:
      // The base is measured at the end of the dwell, when a switch back
      // has long settled.
      if (measure_at_ < 0) {
        if (now_ns - phase_at_ >= dwell_ns_ - p_.measure_ns)
          start_measure(now_ns, runs, sample, ctx);
        break;
      }
      if (now_ns - measure_at_ < p_.measure_ns) break;
      base_rate_ = per_second(runs - measure_runs_, now_ns - measure_at_);
      if (base_rate_ < p_.min_rate) {
        start_dwell(now_ns);
        break;
      }
      end_measure(runs, sample, ctx, &base_cost_, &base_wait_);
      packed_ = !packed_;
      probes_++;
      phase_ = Phase::kSettle;
      phase_at_ = now_ns;
      break;
    case Phase::kSettle:
      if (now_ns - phase_at_ < p_.settle_ns) break;
      phase_ = Phase::kProbe;
      phase_at_ = now_ns;
      start_measure(now_ns, runs, sample, ctx);
      break;
    case Phase::kProbe: {
      int64_t took = now_ns - measure_at_;
      if (took < p_.measure_ns / 3) break;
      probe_rate_ = per_second(runs - measure_runs_, took);
      if (took < p_.measure_ns && probe_rate_ >= base_rate_ * p_.give_up) break;
      const bool measured_all = took >= p_.measure_ns;
      if (measured_all) {
        end_measure(runs, sample, ctx, &probe_cost_, &probe_wait_);
      } else {
        probe_cost_ = probe_wait_ = 0;  // ended early: not measured
      }
      if (keep(measured_all)) {
        kept_for_cost_ = !ran_more();
        changes_++;
        dwell_ns_ = p_.dwell_min_ns;
      } else {
        packed_ = !packed_;
        dwell_ns_ = std::min(dwell_ns_ * 2, p_.dwell_max_ns);
      }
      start_dwell(now_ns);
      break;
    }
  }
  return packed_;
}

}  // namespace gh
