// SPDX-License-Identifier: MIT
// The choice between spread and packed (core/spread.h), fed with made-up
// times and run counts: it tries the other mode after each dwell, keeps it
// only when it ran clearly more, and probes a steady load less and less.
#include <gtest/gtest.h>

#include "core/spread.h"

#include <algorithm>

namespace {

constexpr int64_t kMs = 1'000'000;

// Feeds the controller a load that runs `rate(packed)` threads per second,
// in steps of 5 ms, for `ms` milliseconds. Returns the mode at the end.
struct Feed {
  gh::SpreadControl sc;
  int64_t now = 1'000 * kMs;
  uint64_t runs = 0;
  explicit Feed(bool packed, gh::SpreadParams p = gh::SpreadParams{}) : sc(packed, p) {}
  template <class Rate>
  bool run(int64_t ms, Rate rate) {
    bool packed = sc.packed();
    for (int64_t t = 0; t < ms; t += 5) {
      now += 5 * kMs;
      runs += static_cast<uint64_t>(rate(packed) * 0.005);
      packed = sc.step(now, runs);
    }
    return packed;
  }
};

TEST(SpreadControl, KeepsTheModeThatRunsClearlyMore) {
  // Packed runs 180k/s, spread 120k/s (an I/O-bound load sharing its cores).
  Feed f(false);
  auto io_bound = [](bool packed) { return packed ? 180'000.0 : 120'000.0; };
  // A dwell, a settle and a probe: packed, and why.
  EXPECT_TRUE(f.run(450, io_bound));
  EXPECT_EQ(f.sc.changes(), 1u);
  EXPECT_NEAR(f.sc.probe_rate(), 180'000, 2'000);
  EXPECT_NEAR(f.sc.base_rate(), 120'000, 2'000);
  // Later probes of spread find it worse and go back to packed.
  EXPECT_TRUE(f.run(20'000, io_bound));
  EXPECT_EQ(f.sc.changes(), 1u);
  EXPECT_GT(f.sc.probes(), 2u);
}

TEST(SpreadControl, StaysSpreadWhenPackingHalvesTheWork) {
  // A CPU-heavy load: two carriers run twice what one does.
  Feed f(false);
  auto cpu_bound = [](bool packed) { return packed ? 20'000.0 : 40'000.0; };
  EXPECT_FALSE(f.run(20'000, cpu_bound));
  EXPECT_EQ(f.sc.changes(), 0u);
  EXPECT_GT(f.sc.probes(), 0u);
}

TEST(SpreadControl, AClearlyWorseProbeEndsEarly) {
  // Packing a CPU-heavy load halves its work: each probe of packed ends a
  // third of the way into its measurement, so over 20 s the pool is packed
  // for a small share of the time.
  Feed f(false);
  gh::SpreadParams p;
  int64_t packed_ms = 0, longest = 0, run = 0;
  for (int64_t t = 0; t < 20'000; t += 5) {
    if (f.run(5, [](bool packed) { return packed ? 20'000.0 : 40'000.0; })) {
      packed_ms += 5;
      run += 5;
      longest = std::max(longest, run);
    } else {
      run = 0;
    }
  }
  EXPECT_GT(f.sc.probes(), 3u);
  EXPECT_LE(longest, (p.settle_ns + p.measure_ns / 3) / kMs + 10);
  EXPECT_LT(packed_ms, 20'000 * 3 / 100);  // under 3% of the time
}

TEST(SpreadControl, ASmallDifferenceIsNotAReasonToSwitch) {
  Feed f(false);
  EXPECT_FALSE(f.run(20'000, [](bool packed) { return packed ? 104'000.0 : 100'000.0; }));
  EXPECT_EQ(f.sc.changes(), 0u);
}

TEST(SpreadControl, ProbesASteadyLoadLessAndLess) {
  // Each failed probe doubles the dwell, up to dwell_max_ns: over 20 s a
  // steady load sees far fewer probes than 20 s / dwell_min_ns.
  Feed f(false);
  f.run(20'000, [](bool packed) { return packed ? 50'000.0 : 100'000.0; });
  gh::SpreadParams p;
  uint64_t at_min = static_cast<uint64_t>(20'000 * kMs / p.dwell_min_ns);
  EXPECT_GT(f.sc.probes(), 3u);
  EXPECT_LT(f.sc.probes(), at_min / 4);
  // While probing, the mode is the other one for settle_ns + measure_ns
  // only: the time spent in the worse mode is a small share.
}

TEST(SpreadControl, NothingIsTriedWithoutWork) {
  Feed f(false);
  EXPECT_FALSE(f.run(10'000, [](bool) { return 500.0; }));
  EXPECT_EQ(f.sc.probes(), 0u);
  // Packed stays packed too.
  Feed g(true);
  EXPECT_TRUE(g.run(10'000, [](bool) { return 0.0; }));
  EXPECT_EQ(g.sc.probes(), 0u);
}

TEST(SpreadControl, FollowsALoadThatChanges) {
  Feed f(false);
  auto io_bound = [](bool packed) { return packed ? 180'000.0 : 120'000.0; };
  auto cpu_bound = [](bool packed) { return packed ? 20'000.0 : 40'000.0; };
  f.run(5'000, io_bound);
  EXPECT_EQ(f.sc.changes(), 1u);
  // The load turns CPU-heavy: the next kept switch is to spread, within two
  // longest dwells and probes (a probe whose base straddles the change may
  // fail first).
  gh::SpreadParams p;
  int64_t limit = (2 * p.dwell_max_ns + 2 * (p.settle_ns + p.measure_ns)) / kMs + 100;
  int64_t waited = 0;
  while (f.sc.changes() == 1 && waited < limit) {
    f.run(5, cpu_bound);
    waited += 5;
  }
  EXPECT_EQ(f.sc.changes(), 2u) << "after " << waited << " ms";
  EXPECT_FALSE(f.sc.packed());
  EXPECT_NEAR(f.sc.probe_rate(), 40'000, 1'000);
}

}  // namespace
