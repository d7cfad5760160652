// SPDX-License-Identifier: MIT
#include "core/arch_x86_64.h"
#include "core/sys.h"

#include <asm/prctl.h>
#include <sys/auxv.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>

namespace gh::arch {

namespace {
constexpr unsigned long kHwcap2Fsgsbase = 1ul << 1;  // HWCAP2_FSGSBASE
// 0: not yet known, 1: WRFSBASE, 2: arch_prctl. Decided on first use (a
// carrier may be made before this library's static initialisers run).
std::atomic<int> g_mode{0};
}  // namespace

void set_thread_pointer(void* tp) {
  int mode = g_mode.load(std::memory_order_relaxed);
  if (__builtin_expect(mode == 0, 0)) {
    mode = (getauxval(AT_HWCAP2) & kHwcap2Fsgsbase) ? 1 : 2;
    g_mode.store(mode, std::memory_order_relaxed);
  }
  if (mode == 1)
    asm volatile("wrfsbase %0" : : "r"(tp) : "memory");
  else
    gh::sys(SYS_arch_prctl, ARCH_SET_FS, tp);
}

}  // namespace gh::arch
