// SPDX-License-Identifier: MIT
// The choice between spread and packed (core/spread.h), fed with made-up
// times, run counts and CPU times: it tries the other mode after each dwell,
// keeps it only when it ran clearly more, or nearly as much for clearly less
// CPU while the cores are short, and probes a steady load less and less.
#include <gtest/gtest.h>

#include "core/spread.h"

#include <algorithm>

namespace {

constexpr int64_t kMs = 1'000'000;
// When the first probe has been measured, with the default parameters.
constexpr int64_t kFirstProbeEndsMs =
    (gh::SpreadParams{}.dwell_min_ns + gh::SpreadParams{}.settle_ns +
     gh::SpreadParams{}.measure_ns) /
        kMs +
    30;

// Feeds the controller a load that runs `rate(packed)` threads per second,
// each costing `cost(packed)` ns of CPU, in steps of 5 ms, for `ms`
// milliseconds. Its OS threads wait for a CPU `wait(packed)` times as long as
// they run (by default spread waits 30%, packed nothing: the cores are
// short). Returns the mode at the end.
struct Feed {
  gh::SpreadControl sc;
  int64_t now = 1'000 * kMs;
  uint64_t runs = 0;
  gh::SpreadSample used{0, 0};
  int samples = 0;
  explicit Feed(bool packed, gh::SpreadParams p = gh::SpreadParams{}) : sc(packed, p) {}
  static gh::SpreadSample sample(void* self) {
    auto* f = static_cast<Feed*>(self);
    f->samples++;
    return f->used;
  }
  template <class Rate, class Cost, class Wait>
  bool run(int64_t ms, Rate rate, Cost cost, Wait wait) {
    bool packed = sc.packed();
    for (int64_t t = 0; t < ms; t += 5) {
      now += 5 * kMs;
      uint64_t n = static_cast<uint64_t>(rate(packed) * 0.005);
      runs += n;
      double ran = static_cast<double>(n) * cost(packed);
      used.run_ns += static_cast<int64_t>(ran);
      used.wait_ns += static_cast<int64_t>(ran * wait(packed));
      packed = sc.step(now, runs, &Feed::sample, this);
    }
    return packed;
  }
  // `ms` with one carrier active: the pool calls pause() instead of step(),
  // and the threads run `rate` per second meanwhile.
  bool pause(int64_t ms, double rate) {
    bool packed = sc.packed();
    for (int64_t t = 0; t < ms; t += 5) {
      now += 5 * kMs;
      runs += static_cast<uint64_t>(rate * 0.005);
      packed = sc.pause(now);
    }
    return packed;
  }
  template <class Rate, class Cost>
  bool run(int64_t ms, Rate rate, Cost cost) {
    return run(ms, rate, cost, [](bool packed) { return packed ? 0.0 : 0.3; });
  }
  // The same CPU time per run in both modes.
  template <class Rate>
  bool run(int64_t ms, Rate rate) {
    return run(ms, rate, [](bool) { return 5'000.0; });
  }
};

TEST(SpreadControl, KeepsTheModeThatRunsClearlyMore) {
  // Packed runs 180k/s, spread 120k/s (an I/O-bound load sharing its cores).
  Feed f(false);
  auto io_bound = [](bool packed) { return packed ? 180'000.0 : 120'000.0; };
  // A dwell, a settle and a probe: packed, and why.
  EXPECT_TRUE(f.run(kFirstProbeEndsMs, io_bound));
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
  // third of the way into its measurement, so once the dwell has grown to
  // its longest the pool is packed for a small share of the time.
  Feed f(false);
  gh::SpreadParams p;
  auto cpu_bound = [](bool packed) { return packed ? 20'000.0 : 40'000.0; };
  f.run(60'000, cpu_bound);  // the dwell grows to dwell_max_ns
  uint64_t probes = f.sc.probes();
  int64_t packed_ms = 0, longest = 0, run = 0;
  for (int64_t t = 0; t < 60'000; t += 5) {
    if (f.run(5, cpu_bound)) {
      packed_ms += 5;
      run += 5;
      longest = std::max(longest, run);
    } else {
      run = 0;
    }
  }
  EXPECT_GE(f.sc.probes() - probes, 6u);
  EXPECT_LE(longest, (p.settle_ns + p.measure_ns / 3) / kMs + 10);
  EXPECT_LT(packed_ms, 60'000 * 3 / 100);  // under 3% of the time
  EXPECT_EQ(f.sc.changes(), 0u);
}

TEST(SpreadControl, AProbeThatEndsEarlyReportsNoCost) {
  // A probe measured in full reports its CPU cost; one that ends early was
  // not measured and reports 0, not the last probe's cost.
  Feed f(false);
  EXPECT_FALSE(f.run(kFirstProbeEndsMs, [](bool packed) { return packed ? 95'000.0 : 100'000.0; }));
  EXPECT_EQ(f.sc.probes(), 1u);
  EXPECT_NEAR(f.sc.probe_cost(), 5'000, 100);
  uint64_t probes = f.sc.probes();
  while (f.sc.probes() == probes || f.sc.packed())
    f.run(5, [](bool packed) { return packed ? 20'000.0 : 100'000.0; });
  EXPECT_EQ(f.sc.probe_cost(), 0);
  EXPECT_NEAR(f.sc.base_cost(), 5'000, 100);
}

TEST(SpreadControl, ASmallDifferenceIsNotAReasonToSwitch) {
  Feed f(false);
  EXPECT_FALSE(f.run(20'000, [](bool packed) { return packed ? 104'000.0 : 100'000.0; }));
  EXPECT_EQ(f.sc.changes(), 0u);
}

TEST(SpreadControl, KeepsTheModeThatDoesTheSameWorkForLessCpu) {
  // Both modes keep up with the load (an I/O-bound server at 10,000
  // connections), but packed costs 12% less CPU per run: packed, and why.
  Feed f(false);
  auto rate = [](bool packed) { return packed ? 98'000.0 : 100'000.0; };
  auto cost = [](bool packed) { return packed ? 8'800.0 : 10'000.0; };
  EXPECT_TRUE(f.run(kFirstProbeEndsMs, rate, cost));
  EXPECT_EQ(f.sc.changes(), 1u);
  EXPECT_NEAR(f.sc.probe_cost(), 8'800, 100);
  EXPECT_NEAR(f.sc.base_cost(), 10'000, 100);
  // Probes of spread find it costlier and go back.
  EXPECT_TRUE(f.run(20'000, rate, cost));
  EXPECT_EQ(f.sc.changes(), 1u);
  EXPECT_GT(f.sc.probes(), 2u);
}

TEST(SpreadControl, SavingCpuDoesNotBuyLessWork) {
  // Packed costs less CPU per run but runs clearly less: the CPU-heavy case,
  // where the saving is the idle second core. Stays spread.
  Feed f(false);
  auto rate = [](bool packed) { return packed ? 85'000.0 : 100'000.0; };
  auto cost = [](bool packed) { return packed ? 7'000.0 : 10'000.0; };
  EXPECT_FALSE(f.run(20'000, rate, cost));
  EXPECT_EQ(f.sc.changes(), 0u);
  // Nor is a small CPU saving a reason to switch.
  Feed g(false);
  EXPECT_FALSE(g.run(
      20'000, [](bool) { return 100'000.0; },
      [](bool packed) { return packed ? 9'600.0 : 10'000.0; }));
  EXPECT_EQ(g.sc.changes(), 0u);
}

TEST(SpreadControl, CpuCountsOnlyWhenTheCoresAreShort) {
  // Packed costs 12% less CPU per run for the same work, but spread never
  // waited for a CPU: the cores are idle and the saving buys nothing, while
  // packed would queue work behind one carrier. Stays spread.
  Feed f(false);
  auto rate = [](bool packed) { return packed ? 98'000.0 : 100'000.0; };
  auto cost = [](bool packed) { return packed ? 8'800.0 : 10'000.0; };
  EXPECT_FALSE(f.run(20'000, rate, cost, [](bool) { return 0.02; }));
  EXPECT_EQ(f.sc.changes(), 0u);
  EXPECT_GT(f.sc.probes(), 2u);
  EXPECT_NEAR(f.sc.base_wait(), 0.02, 0.005);
  // The sampler is asked only where a measurement starts or ends, not at
  // every step.
  EXPECT_LE(f.samples, 4 * static_cast<int>(f.sc.probes()));
}

TEST(SpreadControl, AModeKeptForItsCostIsLeftWhenTheOtherRunsMore) {
  // Packed is kept for its cost at 2% less work...
  Feed f(false);
  auto cost = [](bool packed) { return packed ? 8'800.0 : 10'000.0; };
  EXPECT_TRUE(f.run(
      kFirstProbeEndsMs, [](bool packed) { return packed ? 98'000.0 : 100'000.0; }, cost));
  EXPECT_TRUE(f.sc.kept_for_cost());
  // ...then the load changes and spread runs 8% more: more than the 5% the
  // saving may cost, if less than the 10% a switch otherwise needs. Back to
  // spread, kept for its rate.
  EXPECT_FALSE(f.run(
      20'000, [](bool packed) { return packed ? 98'000.0 : 106'000.0; }, cost));
  EXPECT_EQ(f.sc.changes(), 2u);
  EXPECT_FALSE(f.sc.kept_for_cost());
}

TEST(SpreadControl, UnknownCpuTimeLeavesTheRatesToDecide) {
  // No CPU times (sampler returns unknown): the rates alone decide.
  auto unknown = +[](void*) { return gh::SpreadSample{}; };
  auto drive = [&](double packed_rate, double spread_rate) {
    gh::SpreadControl sc(false);
    int64_t now = 1'000 * kMs;
    uint64_t runs = 0;
    bool packed = false;
    for (int t = 0; t < 20'000; t += 5) {
      now += 5 * kMs;
      runs += static_cast<uint64_t>((packed ? packed_rate : spread_rate) * 0.005);
      packed = sc.step(now, runs, unknown, nullptr);
    }
    EXPECT_EQ(sc.base_cost(), 0);
    EXPECT_EQ(sc.probe_cost(), 0);
    return sc.changes();
  };
  EXPECT_EQ(drive(130'000, 100'000), 1u);  // clearly more: kept
  EXPECT_EQ(drive(98'000, 100'000), 0u);   // as many: nothing to go by
}

TEST(SpreadControl, ClosedLoopTransientsDoNotDecide) {
  // Both modes run 110k/s at the same cost once settled. But what queued up
  // while packed runs in a burst after a switch to spread (200k/s for 60 ms,
  // as an echo server at 10,000 connections does), and a switch to packed
  // queues work up (70k/s for 100 ms). Measured after the settle, neither
  // mode looks better: no switch is kept, from either mode.
  for (bool start_packed : {false, true}) {
    gh::SpreadControl sc(start_packed);
    int64_t now = 1'000 * kMs, since_switch = 1'000 * kMs;
    uint64_t runs = 0;
    Feed cpu(start_packed);  // for its sampler: 9 us per run, contended
    bool packed = start_packed;
    for (int64_t t = 0; t < 30'000; t += 5) {
      now += 5 * kMs;
      since_switch += 5 * kMs;
      double rate = 110'000;
      if (!packed && since_switch <= 60 * kMs) rate = 200'000;
      if (packed && since_switch <= 100 * kMs) rate = 70'000;
      uint64_t n = static_cast<uint64_t>(rate * 0.005);
      runs += n;
      cpu.used.run_ns += static_cast<int64_t>(n) * 9'000;
      cpu.used.wait_ns += packed ? 0 : static_cast<int64_t>(n) * 3'000;
      bool was = packed;
      packed = sc.step(now, runs, &Feed::sample, &cpu);
      if (packed != was) since_switch = 0;
    }
    EXPECT_EQ(sc.changes(), 0u) << (start_packed ? "from packed" : "from spread");
    EXPECT_EQ(packed, start_packed);
    EXPECT_GT(sc.probes(), 3u);
  }
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

TEST(SpreadControl, NoMeasurementSpansAPause) {
  // The base measurement is under way when the pool drops to one carrier
  // for a second, which runs ten times the work meanwhile. After it, the
  // first probe compares what each mode runs from then on: the base runs
  // 100k/s as before the pause, and packed, which runs the same, is not kept.
  gh::SpreadParams p;
  auto same = [](bool) { return 100'000.0; };
  Feed f(false);
  f.run((p.dwell_min_ns - p.measure_ns) / kMs + 100, same);  // measuring the base
  EXPECT_EQ(f.sc.probes(), 0u);
  EXPECT_FALSE(f.pause(1'000, 1'000'000.0));
  while (f.sc.probes() == 0) f.run(5, same);
  EXPECT_NEAR(f.sc.base_rate(), 100'000, 2'000);
  f.run((p.settle_ns + p.measure_ns) / kMs + 30, same);
  EXPECT_EQ(f.sc.changes(), 0u);
  EXPECT_FALSE(f.sc.packed());
}

TEST(SpreadControl, APauseDropsAProbe) {
  // Packed runs clearly more, but the pool drops to one carrier while packed
  // is being tried: the probe is not judged, the mode goes back to spread,
  // and packed is kept only after a whole new dwell and probe.
  gh::SpreadParams p;
  auto io_bound = [](bool packed) { return packed ? 180'000.0 : 120'000.0; };
  Feed f(false);
  while (!f.sc.packed()) f.run(5, io_bound);  // settling into the probe
  EXPECT_FALSE(f.pause(200, 50'000.0));
  EXPECT_EQ(f.sc.changes(), 0u);
  EXPECT_FALSE(f.run((p.dwell_min_ns - p.measure_ns) / kMs, io_bound));
  EXPECT_TRUE(f.run(kFirstProbeEndsMs, io_bound));
  EXPECT_EQ(f.sc.changes(), 1u);
  EXPECT_NEAR(f.sc.probe_rate(), 180'000, 2'000);
}

}  // namespace
