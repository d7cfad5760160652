// SPDX-License-Identifier: MIT
#include "core/spread.h"

#include <algorithm>

namespace gh {

namespace {
double per_second(uint64_t runs, int64_t ns) {
  return ns > 0 ? static_cast<double>(runs) * 1e9 / static_cast<double>(ns) : 0;
}
}  // namespace

SpreadControl::SpreadControl(bool packed, const SpreadParams& p)
    : p_(p), packed_(packed), dwell_ns_(p.dwell_min_ns) {}

void SpreadControl::start_dwell(int64_t now_ns) {
  phase_ = Phase::kDwell;
  phase_at_ = now_ns;
  measure_at_ = -1;
}

bool SpreadControl::step(int64_t now_ns, uint64_t runs) {
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
        }
        break;
      }
      if (now_ns - measure_at_ < p_.measure_ns) break;
      base_rate_ = per_second(runs - measure_runs_, now_ns - measure_at_);
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
      break;
    case Phase::kProbe: {
      int64_t took = now_ns - measure_at_;
      if (took < p_.measure_ns / 3) break;
      probe_rate_ = per_second(runs - measure_runs_, took);
      if (took < p_.measure_ns && probe_rate_ >= base_rate_ * p_.give_up) break;
      if (took >= p_.measure_ns && probe_rate_ >= base_rate_ * p_.gain) {
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
