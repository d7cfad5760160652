// SPDX-License-Identifier: MIT
// What the greenhouse.h implementation files (shim/api_*.cc) share.
#pragma once

#include <cstdint>

namespace gh::shim {

// The CLOCK_MONOTONIC deadline of a wait of timeout_ns (< 0: none), capped
// by the calling thread's gh_timeout scopes (GreenThread::deadline).
int64_t api_deadline(int64_t timeout_ns);
// What a wait of timeout_ns that ran out returns: EAGAIN for a try
// (timeout 0), else ETIMEDOUT.
int api_timed_out(int64_t timeout_ns);
// Whether the calling thread's gh_timeout deadline has passed.
bool api_scope_expired();

}  // namespace gh::shim
