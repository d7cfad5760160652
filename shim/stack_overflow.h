// SPDX-License-Identifier: MIT
// Green-thread stack overflows, caught and named.
//
// Every pooled green stack has a guard page just below it (core/stack.h). A
// thread that runs past its stack faults there with no stack left to run a
// handler on, so each OS thread of the runtime has an alternate signal stack
// and SIGSEGV and SIGBUS are always handled there (SA_ONSTACK). A fault in
// the running green thread's guard page is reported:
//
//   greenhouse: stack overflow in thread NAME (id TID): stack N KiB, used
//   M KiB; set GREENHOUSE_STACK_SIZE (or pthread_attr_setstacksize) larger
//
// with a backtrace (libunwind, loaded privately when the first green thread
// starts), and then the signal takes its course: the program's own handler
// if it installed one (it still gets every SIGSEGV and SIGBUS), else the
// default action (the process dies of SIGSEGV, with a core dump if enabled).
// Only SIG_IGN is left alone: natively an ignored fault kills silently too.
#pragma once

#include <signal.h>

#include <cstdint>

namespace gh::shim {

// sigaltstack(2)'s SS_AUTODISARM (<linux/signal.h>; glibc's headers lack it).
constexpr unsigned kSsAutoDisarm = 1u << 31;

// At start-up, on the main thread: its alternate signal stack, and the
// runtime's handler for SIGSEGV and SIGBUS while the program has none.
void overflow_init();
// On each OS thread the runtime starts (carriers, spares, monitor, offload):
// its alternate signal stack.
void overflow_thread_start();
// main's alternate stack until main has a record (shim/alt_stack.h): what
// the program had set on the OS thread that started the runtime before it
// did (none: ss_size 0), then what main sets; the kernel's is the runtime's.
stack_t* initial_program_alt_stack();
// Before the first green thread runs: loads libunwind for the backtrace.
void overflow_prepare_backtrace();
// If the fault `info` is in the guard page of the green thread running on
// this carrier, writes the report and the backtrace. Async-signal context.
void report_overflow(int sig, const siginfo_t* info, void* uc);

// Walks the stack of the context uc (a ucontext_t) outwards with libunwind,
// calling frame(ctx, ip, name or nullptr, offset) for each frame, at most
// max. `signal_frame`: uc's IP is an interrupted instruction, not a return
// address. Returns the frames walked, or -1 if libunwind is not loaded or
// another walk is under way (one at a time: libunwind's address tests share
// one pipe).
int walk_stack(void* uc, bool signal_frame, int max,
               void (*frame)(void* ctx, uint64_t ip, const char* name, uint64_t off), void* ctx);

// The handler the kernel has for SIGSEGV/SIGBUS while the program's
// disposition is SIG_DFL (the flags it gave are kept): the sigaction hook
// (hook_signal.cc) reports SIG_DFL, not this handler. SIG_IGN is installed as
// it is (a fault then kills the process without a report, as the kernel
// does with an ignored fault).
void default_fault_handler(int sig, siginfo_t* info, void* uc);
bool is_fault_signal(int sig);
void set_fault_flags(int sig, int flags);
int fault_flags(int sig);

}  // namespace gh::shim
