// SPDX-License-Identifier: MIT
// Saved-frame layout of the x86-64 SysV context switch. Shared by
// switch_x86_64_sysv_elf_gas.S (as #defines) and context.h (checked there with
// static_assert(offsetof(...))). Keep both sides in step.
//
//   offset  contents                       pushed/stored by
//   0x00    MXCSR (4 bytes)                stmxcsr
//   0x04    x87 control word (2 bytes)     fnstcw
//   0x06    padding (2 bytes)
//   0x08    r15                            push
//   0x10    r14                            push
//   0x18    r13                            push
//   0x20    r12                            push
//   0x28    rbx                            push
//   0x30    rbp                            push
//   0x38    return address (rip)           call gh_context_switch
//   0x40    end of frame; the caller's stack continues above
#ifndef GREENHOUSE_CORE_SWITCH_X86_64_SYSV_H
#define GREENHOUSE_CORE_SWITCH_X86_64_SYSV_H

#define GH_FRAME_MXCSR 0x00
#define GH_FRAME_FPUCW 0x04
#define GH_FRAME_R15 0x08
#define GH_FRAME_R14 0x10
#define GH_FRAME_R13 0x18
#define GH_FRAME_R12 0x20
#define GH_FRAME_RBX 0x28
#define GH_FRAME_RBP 0x30
#define GH_FRAME_RIP 0x38
#define GH_FRAME_SIZE 0x40

#endif
