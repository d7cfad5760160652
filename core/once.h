// SPDX-License-Identifier: MIT
// Green pthread_once: runs an initialiser exactly once; concurrent callers
// park on the green futex (core/parking_lot.h) until it has finished, also
// when it parks itself.
#pragma once

#include <pthread.h>

#include <atomic>
#include <type_traits>

namespace gh {

// States of a once control word (a pthread_once_t: PTHREAD_ONCE_INIT is 0).
// Compatible with glibc's encoding (bit 0 in progress, bit 1 done, higher
// bits glibc's fork generation), so a word that glibc itself completed reads
// as done here and vice versa.
enum : int {
  kOnceInit = 0,     // fn not run yet
  kOnceRunning = 1,  // fn running, nobody waiting
  kOnceDone = 2,     // fn finished (any value with this bit)
  kOnceWaiting = 5,  // fn running, someone parked on the control word
};

// Runs fn() once per control word across all green threads and carriers;
// returns after it has finished. If fn exits by a C++ exception the control
// goes back to kOnceInit (the next caller runs fn) and the exception goes on.
// 0, or EINVAL (null control or fn).
int once(std::atomic<int>* control, void (*fn)());

static_assert(sizeof(std::atomic<int>) == sizeof(pthread_once_t));
static_assert(alignof(std::atomic<int>) <= alignof(pthread_once_t));
static_assert(std::atomic<int>::is_always_lock_free);

}  // namespace gh
