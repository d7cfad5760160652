/* SPDX-License-Identifier: MIT */
// Context switch for x86-64, System V ABI, ELF, GNU assembler.
// Frame layout: see switch_x86_64_sysv.h (the table there is the contract).
#include "switch_x86_64_sysv.h"

    .text

// void gh_context_switch(void **save_sp, void *load_sp)
//   rdi = where to store the stack pointer of the context being left
//   rsi = the stack pointer of the context to resume (a frame as in the table)
// Saves the callee-saved registers, MXCSR and the x87 control word of the
// caller on its own stack, then restores the same set from load_sp's frame and
// returns into the resumed context.
    .globl gh_context_switch
    .hidden gh_context_switch
    .type gh_context_switch, @function
    .align 16
gh_context_switch:
    .cfi_startproc
    pushq %rbp                          // frame 0x30: rbp
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset rbp, 0
    pushq %rbx                          // frame 0x28: rbx
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset rbx, 0
    pushq %r12                          // frame 0x20: r12
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset r12, 0
    pushq %r13                          // frame 0x18: r13
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset r13, 0
    pushq %r14                          // frame 0x10: r14
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset r14, 0
    pushq %r15                          // frame 0x08: r15
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset r15, 0
    leaq -8(%rsp), %rsp                 // room for MXCSR + x87 CW
    .cfi_adjust_cfa_offset 8
    stmxcsr GH_FRAME_MXCSR(%rsp)        // save SSE control/status
    fnstcw GH_FRAME_FPUCW(%rsp)         // save x87 control word
    movq %rsp, (%rdi)                   // publish the saved frame
    movq %rsi, %rsp                     // switch stacks: now on the resumed frame
    ldmxcsr GH_FRAME_MXCSR(%rsp)        // restore SSE control/status
    fldcw GH_FRAME_FPUCW(%rsp)          // restore x87 control word
    leaq 8(%rsp), %rsp                  // drop the control-word slot
    popq %r15                           // restore callee-saved registers
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret                                 // continue at the resumed frame's rip
    .cfi_endproc
    .size gh_context_switch, .-gh_context_switch

// First code run on a new stack. context_init() builds a frame whose rip is
// this label, with r12 = argument and r13 = entry function. The entry function
// must not return; if it does, trap. rip is marked undefined so that unwinders
// (libunwind, gdb) stop here: this is the outermost frame of a green thread.
    .globl gh_context_entry
    .hidden gh_context_entry
    .type gh_context_entry, @function
    .align 16
gh_context_entry:
    .cfi_startproc
    .cfi_undefined rip
    movq %r12, %rdi                     // first argument: the entry's arg
    xorl %ebp, %ebp                     // no caller frame
    callq *%r13                         // run the entry (never returns)
    ud2                                 // an entry that returns is a bug
    .cfi_endproc
    .size gh_context_entry, .-gh_context_entry

    .section .note.GNU-stack,"",%progbits
