// SPDX-License-Identifier: MIT
// The unit tests' main: GoogleTest, plus two things every test gets.
//
// Leak check: after each test, the main thread's carrier (if the runtime has
// made one) must be back to a clean state: only its root green thread alive,
// no ring request in flight, every pooled stack released, no timer armed
// (gh_test::carrier_leaks). A leak fails the test that caused it, naming
// what was left. Death tests are not exempt in the parent; their children
// exit inside the test and never reach the check.
//
// Honest skips: CTest runs one test per process and counts exit code 77 as
// "skipped" (SKIP_RETURN_CODE in tests/CMakeLists.txt), but GoogleTest exits
// 0 for a GTEST_SKIP(). When every test this process ran was skipped, and
// none failed, main exits 77; a failure still exits 1.
#include <gtest/gtest.h>

#include "test_util.h"

namespace {

class LeakCheck : public ::testing::EmptyTestEventListener {
  // GoogleTest calls OnTestEnd listeners in reverse order of appending, so
  // this one, appended after the default printer, runs before it: a failure
  // added here is printed with the test and makes it FAILED.
  void OnTestEnd(const ::testing::TestInfo&) override {
    gh_test::expect_no_leaks_here("main thread's carrier, after the test");
  }
};

constexpr int kSkipped = 77;

}  // namespace

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  ::testing::UnitTest* unit = ::testing::UnitTest::GetInstance();
  unit->listeners().Append(new LeakCheck);
  int rc = RUN_ALL_TESTS();
  if (rc == 0 && unit->test_to_run_count() > 0 &&
      unit->skipped_test_count() == unit->test_to_run_count())
    return kSkipped;
  return rc;
}
