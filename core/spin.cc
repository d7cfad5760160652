// SPDX-License-Identifier: MIT
#include "core/spin.h"

#include <sched.h>

#include <cerrno>

#include "core/arch_x86_64.h"
#include "core/green.h"

namespace gh {

int Spin::trylock() { return word.exchange(1, std::memory_order_acquire) == 0 ? 0 : EBUSY; }

int Spin::lock_slow() {
  constexpr int kSpins = 100;
  for (;;) {
    for (int i = 0; i < kSpins; i++) {
      if (word.load(std::memory_order_relaxed) == 0 &&
          word.exchange(1, std::memory_order_acquire) == 0)
        return 0;
      arch::cpu_relax();
    }
    // The holder may be a green thread of this carrier: let it run.
    if (Carrier* c = Carrier::current()) {
      yield();
      // An asynchronous cancellation ends the spin (GreenThread::async_wait).
      GreenThread* me = c->running();
      if (me->async_wait && me->cancel_requested.load(std::memory_order_acquire)) return EINTR;
    } else {
      sched_yield();
    }
  }
}

}  // namespace gh
