// SPDX-License-Identifier: MIT
// Every assumption the runtime and the shim make about glibc's private
// layouts, each with the check that verifies it against the headers this
// is built with (x86-64, glibc 2.34 or later: pthread in libc). Nothing
// outside this header may hard-code a glibc offset or flag.
#pragma once

#include <pthread.h>
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

// ---- the thread control block (tcbhead_t, at %fs:0) ----

// tcbhead_t.pointer_guard: the key of PTR_MANGLE (setjmp buffers).
constexpr uintptr_t kTcbPointerGuard = 0x30;

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

// FILE::_flags bits (glibc libio/libio.h) beyond the ones <stdio.h> shows.
constexpr int kIoUnbuffered = 0x0002;
constexpr int kIoNoReads = 0x0004;
constexpr int kIoNoWrites = 0x0008;
constexpr int kIoInBackup = 0x0100;
constexpr int kIoLineBuf = 0x0200;
constexpr int kIoPutting = 0x0800;
// The ones <stdio.h> does show sit among them where we expect.
static_assert(_IO_EOF_SEEN == 0x0010 && _IO_ERR_SEEN == 0x0020 && _IO_USER_LOCK == 0x8000);

}  // namespace gh::glibc
