// SPDX-License-Identifier: MIT
// Machine context of a green thread: one saved stack pointer. Everything else
// (callee-saved registers, MXCSR, x87 control word, resume address) lives in
// the frame that sp points at; see switch_x86_64_sysv.h for the layout.
#pragma once

#include <cstddef>
#include <cstdint>

#if !defined(__x86_64__)
#error "greenhouse: only x86-64 SysV has a context switch so far"
#endif
#include "core/switch_x86_64_sysv.h"

extern "C" {
// Saves the running context into *save_sp and resumes load_sp. Returns when
// some later switch resumes *save_sp.
void gh_context_switch(void** save_sp, void* load_sp);
// First instruction of every new context (see the .S file).
void gh_context_entry();
}

namespace gh {

// The frame gh_context_switch saves and restores, as a struct, so the
// assembler's offsets are checked by the compiler.
struct SwitchFrame {
  uint32_t mxcsr;
  uint16_t fpucw;
  uint16_t pad;
  uint64_t r15, r14, r13, r12, rbx, rbp;
  uint64_t rip;
};
static_assert(offsetof(SwitchFrame, mxcsr) == GH_FRAME_MXCSR);
static_assert(offsetof(SwitchFrame, fpucw) == GH_FRAME_FPUCW);
static_assert(offsetof(SwitchFrame, r15) == GH_FRAME_R15);
static_assert(offsetof(SwitchFrame, r14) == GH_FRAME_R14);
static_assert(offsetof(SwitchFrame, r13) == GH_FRAME_R13);
static_assert(offsetof(SwitchFrame, r12) == GH_FRAME_R12);
static_assert(offsetof(SwitchFrame, rbx) == GH_FRAME_RBX);
static_assert(offsetof(SwitchFrame, rbp) == GH_FRAME_RBP);
static_assert(offsetof(SwitchFrame, rip) == GH_FRAME_RIP);
static_assert(sizeof(SwitchFrame) == GH_FRAME_SIZE);

using ContextEntry = void (*)(void* arg);

// Builds a first frame at the top of [stack_lo, stack_hi) so that switching to
// the returned sp calls entry(arg) on that stack with the ABI's alignment and
// default floating-point control state. entry must never return.
inline void* context_init(void* stack_hi, ContextEntry entry, void* arg) {
  auto top = reinterpret_cast<uintptr_t>(stack_hi) & ~uintptr_t{15};
  // After `ret` into gh_context_entry, rsp == frame end, which must be 16-byte
  // aligned so that its `call` enters the entry with rsp % 16 == 8.
  auto* frame = reinterpret_cast<SwitchFrame*>(top - sizeof(SwitchFrame));
  *frame = SwitchFrame{};
  frame->mxcsr = 0x1F80;  // all SSE exceptions masked, round to nearest
  frame->fpucw = 0x037F;  // x87 default: extended precision, all masked
  frame->r12 = reinterpret_cast<uint64_t>(arg);
  frame->r13 = reinterpret_cast<uint64_t>(entry);
  frame->rip = reinterpret_cast<uint64_t>(&gh_context_entry);
  return frame;
}

}  // namespace gh
