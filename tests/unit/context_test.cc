// SPDX-License-Identifier: MIT
// The raw context switch: callee-saved registers and FP control state survive
// a round trip through another context that clobbers them.
#include <gtest/gtest.h>
#include <xmmintrin.h>

#include <cstdint>
#include <vector>

#include "core/context.h"

namespace {

void* g_main_sp;
void* g_other_sp;

// Clobbers every callee-saved register and the FP control words, then goes
// back. The switch must restore the caller's values.
extern "C" void clobber_entry(void*) {
  for (;;) {
    _mm_setcsr(0x7F80 | 0x6000);  // round toward zero, other masks
    uint16_t cw = 0x0C7F;         // x87: round toward zero
    asm volatile("fldcw %0" : : "m"(cw));
    asm volatile(
        "movq $0x1111, %%rbx\n\t"
        "movq $0x2222, %%r12\n\t"
        "movq $0x3333, %%r13\n\t"
        "movq $0x4444, %%r14\n\t"
        "movq $0x5555, %%r15\n\t" ::
            : "rbx", "r12", "r13", "r14", "r15");
    gh_context_switch(&g_other_sp, g_main_sp);
  }
}

TEST(Context, SwitchPreservesCalleeSavedAndFpControl) {
  std::vector<char> stack(64 * 1024);
  g_other_sp = gh::context_init(stack.data() + stack.size(), &clobber_entry, nullptr);

  const uint32_t mxcsr_before = 0x1F80 | 0x2000;  // round down
  _mm_setcsr(mxcsr_before);
  uint16_t cw_before = 0x027F;  // x87: double precision
  asm volatile("fldcw %0" : : "m"(cw_before));

  // Outputs are globals: RIP-relative operands need no base register, and
  // every general register is clobbered here (ASan builds reserve rbp too).
  static uint64_t rbx, r12, r13, r14, r15;
  // Load sentinels into callee-saved registers, switch, read them back: all
  // inside one asm block so the compiler cannot move them.
  asm volatile(
      "movq $0xA1, %%rbx\n\t"
      "movq $0xA2, %%r12\n\t"
      "movq $0xA3, %%r13\n\t"
      "movq $0xA4, %%r14\n\t"
      "movq $0xA5, %%r15\n\t"
      "leaq %[main_sp], %%rdi\n\t"
      "movq %[other_sp], %%rsi\n\t"
      "subq $128, %%rsp\n\t"  // step over the red zone before `call`
      "call gh_context_switch\n\t"
      "addq $128, %%rsp\n\t"
      "movq %%rbx, %[o_rbx]\n\t"
      "movq %%r12, %[o_r12]\n\t"
      "movq %%r13, %[o_r13]\n\t"
      "movq %%r14, %[o_r14]\n\t"
      "movq %%r15, %[o_r15]\n\t"
      : [o_rbx] "=m"(rbx), [o_r12] "=m"(r12), [o_r13] "=m"(r13), [o_r14] "=m"(r14),
        [o_r15] "=m"(r15), [main_sp] "+m"(g_main_sp)
      : [other_sp] "m"(g_other_sp)
      : "rbx", "r12", "r13", "r14", "r15", "rdi", "rsi", "rax", "rcx", "rdx", "r8", "r9", "r10",
        "r11", "memory", "cc", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7",
        "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15");

  uint16_t cw_after;
  asm volatile("fnstcw %0" : "=m"(cw_after));
  uint32_t mxcsr_after = _mm_getcsr();
  _mm_setcsr(0x1F80);
  uint16_t def = 0x037F;
  asm volatile("fldcw %0" : : "m"(def));

  EXPECT_EQ(rbx, 0xA1u);
  EXPECT_EQ(r12, 0xA2u);
  EXPECT_EQ(r13, 0xA3u);
  EXPECT_EQ(r14, 0xA4u);
  EXPECT_EQ(r15, 0xA5u);
  EXPECT_EQ(mxcsr_after & 0xFFC0, mxcsr_before & 0xFFC0);  // control bits, not flags
  EXPECT_EQ(cw_after, cw_before);
}

TEST(Context, NewContextStartsWithAlignedStackAndDefaultFpState) {
  struct Seen {
    uintptr_t sp_mod16;
    uint32_t mxcsr;
    void* arg;
  };
  static Seen seen;
  static void* back;
  static void* self_sp;
  auto entry = [](void* arg) {
    uintptr_t sp;
    asm volatile("movq %%rsp, %0" : "=r"(sp));
    (void)sp;
    seen.sp_mod16 = reinterpret_cast<uintptr_t>(__builtin_frame_address(0)) % 16;
    seen.mxcsr = _mm_getcsr() & 0xFFC0;
    seen.arg = arg;
    gh_context_switch(&self_sp, back);
    __builtin_trap();
  };
  std::vector<char> stack(64 * 1024);
  int token;
  void* sp = gh::context_init(stack.data() + stack.size() - 3, entry, &token);
  _mm_setcsr(0x1F80 | 0x6000);
  gh_context_switch(&back, sp);
  _mm_setcsr(0x1F80);
  EXPECT_EQ(seen.arg, &token);
  EXPECT_EQ(seen.sp_mod16, 0u);  // rbp after the prologue is 16-byte aligned
  EXPECT_EQ(seen.mxcsr, 0x1F80u);
}

}  // namespace
