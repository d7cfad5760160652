/* SPDX-License-Identifier: MIT */
// Where an asynchronous cancellation continues, x86-64, System V ABI, ELF,
// GNU assembler (docs/design.md, "Cancellation").
//
// The runtime's interrupt handler (shim/hook_cancel.cc, cancel_async_here)
// does not unwind from itself: it runs on the carrier's alternate signal
// stack, where the thread's exit could then park. It rewrites the
// interrupted context instead, as if the interrupted instruction had called
// gh_async_cancel_stub:
//
//   rsp - 8   the interrupted rip (this frame's return address)
//   rip       gh_async_cancel_stub
//
// and returns; sigreturn restores the thread's signal mask and lands here,
// on the thread's own stack. The frame is marked a signal frame
// (.cfi_signal_frame), so the unwinder looks up the interrupted function at
// the exact interrupted rip, not at rip - 1 as for a return address; every
// other register is the interrupted one.

    .text
    .globl gh_async_cancel_stub
    .hidden gh_async_cancel_stub
    .type gh_async_cancel_stub, @function
    .align 16
gh_async_cancel_stub:
    .cfi_startproc
    .cfi_signal_frame
    // CFA = rsp + 8 (the interrupted rsp), return address at CFA - 8.
    pushq %rbp                          // the interrupted rbp
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset rbp, 0
    movq %rsp, %rbp                     // frame pointer: rsp is realigned below
    .cfi_def_cfa_register rbp
    andq $-16, %rsp                     // the ABI's alignment for the call
    call gh_async_cancel_act            // unwinds the thread; never returns
    ud2
    .cfi_endproc
    .size gh_async_cancel_stub, .-gh_async_cancel_stub

    .section .note.GNU-stack,"",@progbits
