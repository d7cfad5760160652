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

// The kernel's sigaltstack(2) on record a, for a caller at sp. Returns 0
// or -errno.
int green_sigaltstack(stack_t* a, const stack_t* ss, stack_t* old, uintptr_t sp) {
  stack_t want{};
  if (ss && copy_from_user(&want, ss, sizeof want) != 0) return -EFAULT;
  // On it: within it, or in a handler the kernel ran on the carrier's
  // stack for the thread (with SA_ONSTACK, where it would have run on this).
  bool on = within(*a, sp) || (a->ss_size && !(a->ss_flags & static_cast<int>(kSsAutoDisarm)) &&
                               on_runtime_alt_stack());
  stack_t was = *a;
  int autodisarm = was.ss_flags & static_cast<int>(kSsAutoDisarm);
  was.ss_flags = (was.ss_size ? (on ? SS_ONSTACK : 0) : SS_DISABLE) | autodisarm;
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
    *a = want;
  }
  // As the kernel: the change stands even if the old one cannot be written.
  if (old && copy_to_user(old, &was, sizeof was) != 0) return -EFAULT;
  return 0;
}

}  // namespace

namespace gh::shim {

stack_t* alt_stack_record(ShimThread* st) {
  if (st) return &st->alt_stack;
  // main before it became a carrier's root (no record yet): its own, kept
  // where root_record() takes it from.
  if (threads_green() && !gh::Carrier::current() && sys(SYS_gettid) == sys(SYS_getpid))
    return initial_program_alt_stack();
  return nullptr;
}

uintptr_t alt_handler_top(const stack_t& alt, int flags, uintptr_t sp) {
  if (!(flags & SA_ONSTACK) || !alt.ss_size) return 0;
  uintptr_t top = reinterpret_cast<uintptr_t>(alt.ss_sp) + alt.ss_size;
  if (within(alt, sp)) top = sp - 128;
  return top & ~uintptr_t{15};
}

stack_t alt_handler_enter(stack_t* rec, uintptr_t top) {
  stack_t saved = *rec;
  if (top && (saved.ss_flags & static_cast<int>(kSsAutoDisarm))) *rec = stack_t{nullptr, 0, 0};
  return saved;
}

void alt_handler_leave(stack_t* rec, const stack_t& saved, uintptr_t sigreturn_sp) {
  if (!within(*rec, sigreturn_sp)) *rec = saved;
}

}  // namespace gh::shim

GH_EXPORT int sigaltstack(const stack_t* ss, stack_t* old) {
  stack_t* a = nullptr;
  if (threads_green()) a = alt_stack_record(gh::Carrier::current() ? shim_self() : nullptr);
  if (!a) return static_cast<int>(gh::sys(SYS_sigaltstack, ss, old));
  auto sp = reinterpret_cast<uintptr_t>(__builtin_frame_address(0));
  return ret_errno(green_sigaltstack(a, ss, old, sp));
}
