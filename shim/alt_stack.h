// SPDX-License-Identifier: MIT
// Each green thread's own alternate signal stack (shim/hook_altstack.cc;
// docs/design.md, "Alternate signal stacks"): what the kernel does with an
// OS thread's, done on the thread's record when the runtime runs a handler.
#pragma once

#include <signal.h>

#include <cstdint>

namespace gh::shim {

struct ShimThread;

// st's record (nullptr for nullptr). Async-signal-safe.
stack_t* alt_stack_record_if_any(ShimThread* st);

// Where a frame context for a handler with sa_flags `flags` goes, for a
// thread with alternate stack `alt` that stopped at `sp`: 0 if not on the
// alternate stack (no SA_ONSTACK, none set, SS_AUTODISARM, too little room
// below sp when it is on it already); else the stack's top, or just below
// sp (its red zone) when sp is on it; 16-byte aligned.
uintptr_t alt_frame_top(const stack_t& alt, int flags, uintptr_t sp);

// Around a handler, as the kernel around a delivery: before it, SS_AUTODISARM
// disables the stack (returns the stack to set back); after it, as
// sigreturn, the stack is set back to `saved` unless the handler ran on it
// (`on_alt`) and left one enabled that holds where the kernel's frame was
// (the kernel's EPERM, which sigreturn ignores).
stack_t alt_handler_enter(stack_t* rec);
void alt_handler_leave(stack_t* rec, const stack_t& saved, bool on_alt);

// Whether the program's handler running on this thread asked for the
// alternate stack, which its thread has (shim/hook_signal.cc): it runs on
// the carrier's, which stands for it.
bool handler_on_alt_stack();

}  // namespace gh::shim
