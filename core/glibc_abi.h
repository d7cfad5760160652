// SPDX-License-Identifier: MIT
// Every assumption the runtime and the shim make about glibc's private
// layouts, each with the check that verifies it against the headers this
// is built with (x86-64, glibc 2.34 or later: pthread in libc). Nothing
// outside this header may hard-code a glibc offset or flag.
#pragma once

#include <pthread.h>
#include <signal.h>
#include <stdio.h>

#include <cstddef>
#include <cstdint>

namespace gh::glibc {

// ---- pthread object storage (green objects live inside it) ----

// pthread_mutex_t: __kind, at byte 16. The bits of it that only glibc sets
// (process-shared 0x80, robust 0x10, priority-inherit 0x20, -protect 0x40).
constexpr size_t kMutexKindOffset = 16;
constexpr int kMutexKindGlibcOnly = 0xf0;
static_assert(offsetof(pthread_mutex_t, __data.__kind) == kMutexKindOffset);

// pthread_cond_t: __wrefs, at byte 36; bit 0 is the process-shared bit.
constexpr size_t kCondWrefsOffset = 36;
constexpr unsigned kCondWrefsShared = 1;
static_assert(offsetof(pthread_cond_t, __data.__wrefs) == kCondWrefsOffset);

// pthread_rwlock_t: __shared at byte 28 (non-zero: process-shared), __flags
// (the kind) at byte 48.
constexpr size_t kRwlockSharedOffset = 28;
constexpr size_t kRwlockFlagsOffset = 48;
static_assert(offsetof(pthread_rwlock_t, __data.__shared) == kRwlockSharedOffset);
static_assert(offsetof(pthread_rwlock_t, __data.__flags) == kRwlockFlagsOffset);

// ---- glibc's internal signals ----

// SIGCANCEL (__SIGRTMIN) and SIGSETXID (__SIGRTMIN + 1): glibc never lets a
// thread block them (pthread_sigmask removes them from the set). SIGSETXID
// carries setuid() and friends to every OS thread of the process, and the
// caller waits until each has taken it: a thread that blocks it hangs them.
constexpr int kSigCancel = __SIGRTMIN;
constexpr int kSigSetxid = __SIGRTMIN + 1;
constexpr uint64_t kInternalSignals =
    (uint64_t{1} << (kSigCancel - 1)) | (uint64_t{1} << (kSigSetxid - 1));

// ---- the thread control block (tcbhead_t, at %fs:0) ----

// tcbhead_t (x86-64 TLS ABI and glibc's sysdeps/x86_64/nptl/tls.h): word 0
// `tcb` and word 2 `self` point at the TCB itself, word 1 is the DTV, the
// int at byte 28 is the global-scope flag of the dynamic loader, the stack
// protector's canary is at byte 0x28.
constexpr int kTcbSelfSlot = 0;
constexpr int kTcbDtvSlot = 1;
constexpr int kTcbSelfPtrSlot = 2;
// header.multiple_threads: glibc's SINGLE_THREAD_P on x86-64 reads it from the
// running thread's TCB (malloc, stdio and cancellation points skip their locks
// while it is 0); pthread_create sets it in the creator's and the new TCB.
constexpr size_t kTcbMultipleThreads = 24;
constexpr size_t kTcbGscopeFlag = 28;
// tcbhead_t.pointer_guard: the key of PTR_MANGLE (setjmp buffers).
constexpr uintptr_t kTcbPointerGuard = 0x30;

// struct pthread's thread-specific data: specific_1stblock (32 slots of
// {seq, data}) lies just before specific[] (32 pointers), and specific[0]
// points at it. Checked at start-up on the main thread (shim/glibc_tls.cc).
constexpr size_t kTsdFirstBlockBytes = 32 * 2 * sizeof(void*);
constexpr size_t kTsdLevel1Slots = 32;

// struct rseq (linux/rseq.h): cpu_id at byte 4; glibc's sched_getcpu()
// reads it from the TCB and asks the kernel when it is negative.
constexpr size_t kRseqCpuId = 4;

// A green thread keeps at least this much stack below its TLS block.
constexpr uintptr_t kMinStackLeft = 8 * 1024;

// ---- cancellation cleanup buffers (pthread_cleanup_push in C) ----

// glibc's view of __pthread_unwind_buf_t (struct pthread_unwind_buf): a
// sigjmp_buf-like part, then a private part whose `prev` links the chain.
struct UnwindBuf {
  struct {
    long jmp_buf[8];
    int mask_was_saved;
  } cancel_jmp_buf[1];
  union {
    void* pad[4];
    struct {
      UnwindBuf* prev;
      void* cleanup;
      int canceltype;
    } data;
  } priv;
};
static_assert(sizeof(UnwindBuf) <= sizeof(__pthread_unwind_buf_t));
// Index of the saved stack pointer in a jmp_buf (JB_RSP), mangled.
constexpr int kJmpBufSp = 6;

// ---- libio's FILE ----

// FILE::_lock points at an _IO_lock_t {int lock; int cnt; void* owner}: the
// int is the futex word glibc's lock waits on, owner the holder's THREAD_SELF.
struct IoLock {
  int lock;
  int cnt;
  void* owner;
};

// FILE::_flags bits (glibc libio/libio.h) beyond the ones <stdio.h> shows.
constexpr int kIoUnbuffered = 0x0002;
// FILE::_flags2: fopen's "c" mode, "not a cancellation point".
constexpr int kIoFlags2NotCancel = 0x0002;
constexpr int kIoNoReads = 0x0004;
constexpr int kIoNoWrites = 0x0008;
constexpr int kIoInBackup = 0x0100;
constexpr int kIoLineBuf = 0x0200;
constexpr int kIoPutting = 0x0800;
// The ones <stdio.h> does show sit among them where we expect.
static_assert(_IO_EOF_SEEN == 0x0010 && _IO_ERR_SEEN == 0x0020 && _IO_USER_LOCK == 0x8000);

}  // namespace gh::glibc
