// SPDX-License-Identifier: MIT
// sigaltstack: each green thread's own alternate signal stack, as the
// kernel keeps one per OS thread (docs/design.md, "Alternate signal
// stacks").
//
// The kernel's alternate stack of a carrier stays the runtime's (1 MiB,
// shim/stack_overflow.h): it serves every green thread running there. A
// program's sigaltstack sets and reports the calling green thread's record
// only. Let through to the kernel, a thread's stack would serve the other
// threads of its carrier, be left behind on a carrier the thread moved
// away from, and stay installed there after the thread freed it (Rust's
// std, Mono and Erlang's runtime give each thread one and free it when the
// thread ends): the next signal delivered there would be written into
// freed memory.
#include <signal.h>
#include <sys/syscall.h>

#include <atomic>
#include <cerrno>
#include <cstdint>

#include "core/sys.h"
#include "shim/alt_stack.h"
#include "shim/stack_overflow.h"
#include "shim/state.h"
#include "shim/thread_registry.h"
#include "shim/user_mem.h"

using namespace gh::shim;

namespace {

// The kernel's smallest stack (its uapi MINSIGSTKSZ on x86-64, which
// sigaltstack checks; glibc's macro may say more).
constexpr size_t kKernelMinSigStack = 2048;

// Whether sp is on alternate stack a, as the kernel's on_sig_stack() tells
// (never under SS_AUTODISARM).
bool within(const stack_t& a, uintptr_t sp) {
  if (a.ss_flags & static_cast<int>(kSsAutoDisarm) || !a.ss_size) return false;
  auto lo = reinterpret_cast<uintptr_t>(a.ss_sp);
  return sp > lo && sp - lo <= a.ss_size;
}

// Below this much room on the alternate stack a frame context goes on the
// thread's own stack instead.
constexpr uintptr_t kMinFrameRoom = 16 * 1024;

// The kernel's sigaltstack(2) on record a, for a caller at sp. Returns 0
// or -errno.
int green_sigaltstack(stack_t* a, const stack_t* ss, stack_t* old, uintptr_t sp) {
  stack_t want{};
  if (ss && copy_from_user(&want, ss, sizeof want) != 0) return -EFAULT;
  // On it: within it, or in a handler that asked for it, which runs on the
  // carrier's alternate stack in its place.
  bool autodisarm = a->ss_flags & static_cast<int>(kSsAutoDisarm);
  bool on = within(*a, sp) || (a->ss_size && !autodisarm && handler_on_alt_stack());
  stack_t was = *a;
  was.ss_flags = (was.ss_size ? (on ? SS_ONSTACK : 0) : SS_DISABLE) |
                 (autodisarm ? static_cast<int>(kSsAutoDisarm) : 0);
  if (ss) {
    if (on) return -EPERM;
    int mode = want.ss_flags & ~static_cast<int>(kSsAutoDisarm);
    if (mode != SS_DISABLE && mode != SS_ONSTACK && mode != 0) return -EINVAL;
    if (mode == SS_DISABLE) {
      want.ss_sp = nullptr;
      want.ss_size = 0;
    } else if (want.ss_size < kKernelMinSigStack) {
      return -ENOMEM;
    }
    want.ss_flags &= static_cast<int>(kSsAutoDisarm);
    // A handler run here on this OS thread reads the record: it must not
    // find it half written.
    std::atomic_signal_fence(std::memory_order_seq_cst);
    *a = want;
    std::atomic_signal_fence(std::memory_order_seq_cst);
  }
  // As the kernel: the change stands even if the old one cannot be written.
  if (old && copy_to_user(old, &was, sizeof was) != 0) return -EFAULT;
  return 0;
}

}  // namespace

namespace gh::shim {

stack_t* alt_stack_record_if_any(ShimThread* st) { return st ? &st->alt_stack : nullptr; }

uintptr_t alt_frame_top(const stack_t& alt, int flags, uintptr_t sp) {
  if (!(flags & SA_ONSTACK) || !alt.ss_size || (alt.ss_flags & static_cast<int>(kSsAutoDisarm)))
    return 0;
  uintptr_t lo = reinterpret_cast<uintptr_t>(alt.ss_sp);
  uintptr_t top = lo + alt.ss_size;
  if (within(alt, sp)) top = sp - 128;  // below its red zone
  top &= ~uintptr_t{15};
  return top > lo + kMinFrameRoom ? top : 0;
}

stack_t alt_handler_enter(stack_t* rec) {
  stack_t saved = *rec;
  if (saved.ss_flags & static_cast<int>(kSsAutoDisarm)) *rec = stack_t{nullptr, 0, 0};
  return saved;
}

void alt_handler_leave(stack_t* rec, const stack_t& saved, bool on_alt) {
  stack_t now = *rec;
  uintptr_t frame = reinterpret_cast<uintptr_t>(saved.ss_sp) + saved.ss_size - 1;
  if (on_alt && within(now, frame)) return;
  if (now.ss_sp != saved.ss_sp || now.ss_size != saved.ss_size || now.ss_flags != saved.ss_flags)
    *rec = saved;
}

}  // namespace gh::shim

GH_EXPORT int sigaltstack(const stack_t* ss, stack_t* old) {
  stack_t* a = nullptr;
  if (threads_green()) {
    if (gh::Carrier::current())
      a = alt_stack_record_if_any(shim_self());
    else if (gh::sys(SYS_gettid) == gh::sys(SYS_getpid))
      a = initial_program_alt_stack();  // main before it is a carrier's root
  }
  if (!a) return static_cast<int>(gh::sys(SYS_sigaltstack, ss, old));
  auto sp = reinterpret_cast<uintptr_t>(__builtin_frame_address(0));
  return ret_errno(green_sigaltstack(a, ss, old, sp));
}
