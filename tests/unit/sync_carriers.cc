// SPDX-License-Identifier: MIT
// Instantiates the SyncCarriers fixture (test_util.h) once, for 1, 2 and 4
// carriers: every TEST_P(SyncCarriers, ...) in the synchronisation test
// files (futex, mutex, cond, rwlock, semaphore, barrier/once/spin) runs with
// each, as Carriers/SyncCarriers.<Name>/<N>carriers.
#include <gtest/gtest.h>

#include <string>

#include "test_util.h"

namespace {

using gh_test::SyncCarriers;

INSTANTIATE_TEST_SUITE_P(Carriers, SyncCarriers, ::testing::Values(1, 2, 4),
                         [](const auto& info) { return std::to_string(info.param) + "carriers"; });

}  // namespace
