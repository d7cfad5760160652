// SPDX-License-Identifier: MIT
// Every x86-64 instruction the runtime uses outside the context switch
// (core/switch_x86_64_sysv_elf_gas.S). A port to another architecture
// provides this header's functions under its own name.
#pragma once

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#if !defined(__x86_64__)
#error "greenhouse: only x86-64 is supported so far"
#endif

namespace gh::arch {

// A spin-wait hint for the core (PAUSE).
inline void cpu_relax() { __builtin_ia32_pause(); }

// The SSE control/status register (rounding mode, exception masks, flags).
inline uint32_t read_mxcsr() {
  uint32_t v;
  asm volatile("stmxcsr %0" : "=m"(v));
  return v;
}
// The MXCSR exception flags (sticky status bits), not inherited by a new
// thread.
constexpr uint32_t kMxcsrFlags = 0x3f;

// The x87 FPU control word (precision, rounding, exception masks).
inline uint16_t read_fpu_control() {
  uint16_t v;
  asm volatile("fnstcw %0" : "=m"(v));
  return v;
}

// The word at byte `offset` of the thread control block (%fs-relative).
inline uintptr_t tcb_word(uintptr_t offset) {
  uintptr_t v;
  asm volatile("mov %%fs:(%1), %0" : "=r"(v) : "r"(offset));
  return v;
}

// The thread pointer (%fs base) of the calling OS thread.
inline void* thread_pointer() {
  void* tp;
  asm volatile("mov %%fs:0, %0" : "=r"(tp));  // the TCB's self pointer (x86-64 TLS ABI)
  return tp;
}

// Loads the thread pointer: WRFSBASE where the kernel allows it (about
// 15 ns), else the arch_prctl system call.
void set_thread_pointer(void* tp);

// A system call made with the SYSCALL instruction, not libc's syscall(),
// which the shim interposes: the runtime's own system calls never re-enter a
// hook. Returns the kernel's result (-errno on failure).
inline long raw_syscall(long n, long a1 = 0, long a2 = 0, long a3 = 0, long a4 = 0, long a5 = 0,
                        long a6 = 0) {
  register long r10 asm("r10") = a4;
  register long r8 asm("r8") = a5;
  register long r9 asm("r9") = a6;
  long ret;
  asm volatile("syscall"
               : "=a"(ret)
               : "a"(n), "D"(a1), "S"(a2), "d"(a3), "r"(r10), "r"(r8), "r"(r9)
               : "rcx", "r11", "memory");
  return ret;
}

// ---- glibc's PTR_DEMANGLE on x86-64: rotate right by 17, then xor with the
// pointer guard.
inline uintptr_t demangle_pointer(uintptr_t v, uintptr_t guard) {
  return ((v >> 0x11) | (v << (64 - 0x11))) ^ guard;
}

}  // namespace gh::arch
