// SPDX-License-Identifier: MIT
// The io_uring backend's setup (ioring/ring.h): the flags, features and
// runtime fds a ring gets on this kernel, one ring per carrier, and the
// fallbacks of older kernels (setup flags masked off with RingOptions), each
// of which must still run reads, deadlines, timeouts and busy-carrier polls.
// Each test runs on a fresh std::thread, so it gets a fresh carrier and ring
// (clean stats, options applied), destroyed when the thread exits.
#include <fcntl.h>
#include <unistd.h>

#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "core/carrier.h"
#include "core/clock.h"
#include "core/green.h"
#include "ioring/ops.h"
#include "ioring/ring.h"
#include "ring_util.h"
#include "test_util.h"

namespace {

using gh::ioring::Ring;
using gh::ioring::RingOptions;
using namespace gh_test;

// ---------------------------------------------------------------- setup ----

TEST(Ring, SetupFlagsFdsAndFeatures) {
  on_fresh_carrier([] {
    RING_OR_SKIP(r);
    const auto& f = r->features();
    if (kernel_at_least(6, 1)) {
      EXPECT_TRUE(f.single_issuer);
      EXPECT_TRUE(f.defer_taskrun);
      EXPECT_TRUE(f.coop_taskrun);
      EXPECT_TRUE(f.taskrun_flag);
      EXPECT_TRUE(f.submit_all);
      EXPECT_TRUE(f.registered_fd);
    }
    EXPECT_TRUE(f.nodrop);
    EXPECT_EQ(f.sq_entries, RingOptions{}.sq_entries);
    EXPECT_EQ(f.cq_entries, RingOptions{}.cq_entries);

    // Runtime fds out of the program's way, and not inherited across exec.
    int floor = gh::ioring::runtime_fd_floor();
    EXPECT_GE(floor, 3);
    EXPECT_GE(r->ring_fd(), floor);
    EXPECT_GE(r->wake_fd(), floor);
    EXPECT_NE(fcntl(r->ring_fd(), F_GETFD) & FD_CLOEXEC, 0);
    EXPECT_NE(fcntl(r->wake_fd(), F_GETFD) & FD_CLOEXEC, 0);
    // The program's next fd is still a low one.
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    EXPECT_LT(fd, floor);
    close(fd);
    // One ring per carrier: the same one again.
    EXPECT_EQ(Ring::current(), r);
  });
}

TEST(Ring, OneRingPerCarrier) {
  Ring* a = nullptr;
  Ring* b = nullptr;
  on_fresh_carrier([&] { a = Ring::current(); });
  std::thread t1([&] {
    b = Ring::current();
    std::thread t2([&] { EXPECT_NE(Ring::current(), b); });
    t2.join();
  });
  t1.join();
  if (!a || !b) GTEST_SKIP() << "io_uring unavailable";
}

// ---------------------------------------------------- setup fallbacks ------

struct FallbackCase {
  const char* name;
  unsigned mask;
  bool defer, single, coop;
};

class RingFallback : public ::testing::TestWithParam<FallbackCase> {};

TEST_P(RingFallback, OpsWork) {
  const FallbackCase& fc = GetParam();
  RingOptions o;
  o.setup_mask = fc.mask;
  on_fresh_carrier(
      [&] {
        RING_OR_SKIP(r);
        const auto& f = r->features();
        EXPECT_EQ(f.defer_taskrun, fc.defer && kernel_at_least(6, 1));
        EXPECT_EQ(f.single_issuer, fc.single && kernel_at_least(6, 0));
        EXPECT_EQ(f.coop_taskrun, fc.coop && kernel_at_least(5, 19));
        Pipe p;
        char c = 0;
        ssize_t got = -1;
        gh::GreenThread* rd = go([&] { got = gh::io::read(p.r, &c, 1); });
        gh::yield();
        EXPECT_EQ(gh::io::write(p.w, "f", 1), 1);
        join(rd);
        EXPECT_EQ(got, 1);
        EXPECT_EQ(c, 'f');
        int64_t d = gh::deadline_after(10 * kMs);
        EXPECT_EQ(gh::io::read(p.r, &c, 1, -1, d), -ETIME);
        EXPECT_GE(gh::mono_ns(), d);
        EXPECT_EQ(gh::io::timeout(gh::deadline_after(kMs)), 0);
        // A busy green thread polls the ring: completions still arrive.
        bool done = false;
        gh::GreenThread* rd2 = go([&] {
          got = gh::io::read(p.r, &c, 1);
          done = true;
        });
        gh::yield();
        std::thread([&] { EXPECT_EQ(write(p.w, "g", 1), 1); }).join();
        EXPECT_TRUE(yield_until([&] { return done; }));
        join(rd2);
        EXPECT_EQ(got, 1);
      },
      o);
}

INSTANTIATE_TEST_SUITE_P(
    Setups, RingFallback,
    ::testing::Values(
        FallbackCase{"best", ~0u, true, true, true},
        FallbackCase{"no_defer", ~unsigned{IORING_SETUP_DEFER_TASKRUN}, false, true, true},
        FallbackCase{"coop_only",
                     ~unsigned{IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_SINGLE_ISSUER}, false,
                     false, true},
        FallbackCase{"plain", IORING_SETUP_CQSIZE, false, false, false},
        FallbackCase{"nothing", 0u, false, false, false}),
    [](const ::testing::TestParamInfo<FallbackCase>& i) { return std::string(i.param.name); });

}  // namespace
