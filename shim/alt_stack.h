// SPDX-License-Identifier: MIT
// Each green thread's own alternate signal stack (shim/hook_altstack.cc;
// docs/design.md, "Alternate signal stacks"): what the kernel does with an
// OS thread's, done on the thread's record when the runtime runs a handler.
#pragma once

#include <signal.h>

#include <cstdint>

namespace gh::shim {

struct ShimThread;

// The record sigaltstack works on for the calling thread (st: its record,
// or nullptr for main before it has one), or nullptr when the call goes to
// the kernel (not a program thread of the runtime).
stack_t* alt_stack_record(ShimThread* st);

// Where a handler with sa_flags `flags` runs for a thread with alternate
// stack `alt` that was interrupted (or parked) at `sp`: 0 if not on the
// alternate stack (no SA_ONSTACK, none set); else the stack's top, or just
// below sp (its red zone) when sp is on it already; 16-byte aligned.
uintptr_t alt_handler_top(const stack_t& alt, int flags, uintptr_t sp);

// Around a handler: before it, SS_AUTODISARM disables the stack (returns
// the stack to restore); after it, as the kernel's sigreturn, the stack is
// set back to `saved` unless the one the handler left is enabled and holds
// `sigreturn_sp` (the kernel's EPERM, which it ignores there).
stack_t alt_handler_enter(stack_t* rec, uintptr_t top);
void alt_handler_leave(stack_t* rec, const stack_t& saved, uintptr_t sigreturn_sp);

}  // namespace gh::shim
