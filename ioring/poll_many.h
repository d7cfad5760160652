// SPDX-License-Identifier: MIT
// Waiting on several fds at once: one POLL_ADD per fd, one park for all of
// them. The first completion (or the deadline) wakes the green thread; the
// polls still pending are then cancelled and reaped before returning, since
// their Requests live on the caller's stack.
#pragma once

#include <cstdint>

#include "core/clock.h"

namespace gh::io {

// Parks until one of fds[i] has one of events[i] (poll(2) bits) or the
// CLOCK_MONOTONIC deadline passes. Returns how many polls completed (>= 1)
// or 0 at the deadline, or -errno (-ENOMEM: no ring; -EINTR: a signal
// handler ran on the carrier, see Carrier::signal_arrived). Which fds are ready
// is for the caller to ask the kernel (a zero-timeout poll), so that the
// answer has exactly the native form.
int poll_many(const int* fds, const uint32_t* events, int n, int64_t deadline);

}  // namespace gh::io
