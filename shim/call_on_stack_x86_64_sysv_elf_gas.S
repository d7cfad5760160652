/* SPDX-License-Identifier: MIT */
// A signal handler called on another stack, x86-64, System V ABI, ELF, GNU
// assembler: the program's handler on its green thread's alternate signal
// stack, where the kernel ran the trampoline on the carrier's (docs/design.md,
// "Alternate signal stacks").
//
// void gh_call_on_stack(void (*fn)(int, siginfo_t*, void*), int sig,
//                       siginfo_t* info, void* uc, void* top)
//   rdi = fn, esi = sig, rdx = info, rcx = uc,
//   r8  = the new stack's top, 16-byte aligned
// Calls fn(sig, info, uc) with rsp at top and returns on the caller's stack.
// rbp keeps the caller's frame, so unwinders (a cancellation that unwinds out
// of the handler, a backtrace) go from fn back into the caller.

    .text
    .globl gh_call_on_stack
    .hidden gh_call_on_stack
    .type gh_call_on_stack, @function
    .align 16
gh_call_on_stack:
    .cfi_startproc
    pushq %rbp                          // the caller's rbp
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset rbp, 0
    movq %rsp, %rbp                     // CFA = rbp + 16 from here on
    .cfi_def_cfa_register rbp
    movq %rdi, %rax                     // fn
    movl %esi, %edi                     // first argument: sig
    movq %rdx, %rsi                     // second: info
    movq %rcx, %rdx                     // third: uc
    movq %r8, %rsp                      // onto the other stack
    callq *%rax                         // the handler
    movq %rbp, %rsp                     // back onto the caller's stack
    .cfi_def_cfa_register rsp
    popq %rbp                           // the caller's rbp
    .cfi_adjust_cfa_offset -8
    ret
    .cfi_endproc
    .size gh_call_on_stack, .-gh_call_on_stack

    .section .note.GNU-stack,"",@progbits
