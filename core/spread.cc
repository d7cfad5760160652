// SPDX-License-Identifier: MIT
#include "core/spread.h"

#include <algorithm>

namespace gh {

namespace {
double per_second(uint64_t runs, int64_t ns) {
  return ns > 0 ? static_cast<double>(runs) * 1e9 / static_cast<double>(ns) : 0;
}
// CPU time per run over a measurement, or 0 when unknown.
double per_run(int64_t cpu_from, int64_t cpu_to, uint64_t runs) {
  if (cpu_from < 0 || cpu_to < cpu_from || runs == 0) return 0;
  return static_cast<double>(cpu_to - cpu_from) / static_cast<double>(runs);
}
}  // namespace

SpreadControl::SpreadControl(bool packed, const SpreadParams& p)
    : p_(p), packed_(packed), dwell_ns_(p.dwell_min_ns) {}

void SpreadControl::start_dwell(int64_t now_ns) {
  phase_ = Phase::kDwell;
  phase_at_ = now_ns;
  measure_at_ = -1;
}

bool SpreadControl::step(int64_t now_ns, uint64_t runs, int64_t cpu_ns) {
  if (!started_) {
    started_ = true;
    start_dwell(now_ns);
  }
  switch (phase_) {
    case Phase::kDwell:
      // The base is measured at the end of the dwell, when a switch back
      // has long settled.
      if (measure_at_ < 0) {
        if (now_ns - phase_at_ >= dwell_ns_ - p_.measure_ns) {
          measure_at_ = now_ns;
          measure_runs_ = runs;
          measure_cpu_ = cpu_ns;
        }
        break;
      }
      if (now_ns - measure_at_ < p_.measure_ns) break;
      base_rate_ = per_second(runs - measure_runs_, now_ns - measure_at_);
      base_cost_ = per_run(measure_cpu_, cpu_ns, runs - measure_runs_);
      if (base_rate_ < p_.min_rate) {
        start_dwell(now_ns);
        break;
      }
      packed_ = !packed_;
      probes_++;
      phase_ = Phase::kSettle;
      phase_at_ = now_ns;
      break;
    case Phase::kSettle:
      if (now_ns - phase_at_ < p_.settle_ns) break;
      phase_ = Phase::kProbe;
      phase_at_ = now_ns;
      measure_at_ = now_ns;
      measure_runs_ = runs;
      measure_cpu_ = cpu_ns;
      break;
    case Phase::kProbe: {
      int64_t took = now_ns - measure_at_;
      if (took < p_.measure_ns / 3) break;
      probe_rate_ = per_second(runs - measure_runs_, took);
      probe_cost_ = per_run(measure_cpu_, cpu_ns, runs - measure_runs_);
      if (took < p_.measure_ns && probe_rate_ >= base_rate_ * p_.give_up) break;
      const bool more = probe_rate_ >= base_rate_ * p_.gain;
      const bool cheaper = probe_rate_ >= base_rate_ * p_.same && base_cost_ > 0 &&
                           probe_cost_ > 0 && probe_cost_ <= base_cost_ * p_.cheaper;
      if (took >= p_.measure_ns && (more || cheaper)) {
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
