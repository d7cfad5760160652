// SPDX-License-Identifier: MIT
// dlopen, dlmopen: before the loader runs, the TLS backend starts a new
// generation (glibc_tls_before_load), so that green threads get the static
// TLS of the libraries the call loads before they run again, and puts a
// green caller where the loader initialises it with its own threads.
//
// The hooks are written in assembly because the loader looks at its return
// address: the calling object's RPATH/RUNPATH, $ORIGIN and namespace decide
// where a library is searched. Each hook saves the argument registers, calls
// its prepare function (which returns the real function), restores them and
// jumps to the real function with the caller's return address untouched.
#include <dlfcn.h>

#include "shim/glibc_tls.h"
#include "shim/state.h"

extern "C" {
__attribute__((used)) void* gh_dlopen_prepare() {
  gh::shim::glibc_tls_before_load();
  return reinterpret_cast<void*>(static_cast<decltype(&::dlopen)>(gh::shim::real::dlopen));
}
__attribute__((used)) void* gh_dlmopen_prepare() {
  gh::shim::glibc_tls_before_load();
  return reinterpret_cast<void*>(static_cast<decltype(&::dlmopen)>(gh::shim::real::dlmopen));
}
}

// void* dlopen(const char* file, int mode): arguments in rdi, rsi. At entry
// rsp is 8 mod 16; two pushes and 8 bytes keep the call 16-byte aligned.
// void* dlmopen(Lmid_t lmid, const char* file, int mode): rdi, rsi, rdx;
// three pushes do.
asm(R"(
  .text
  .globl dlopen
  .type dlopen, @function
dlopen:
  .cfi_startproc
  push %rdi
  .cfi_adjust_cfa_offset 8
  push %rsi
  .cfi_adjust_cfa_offset 8
  sub $8, %rsp
  .cfi_adjust_cfa_offset 8
  call gh_dlopen_prepare
  add $8, %rsp
  .cfi_adjust_cfa_offset -8
  pop %rsi
  .cfi_adjust_cfa_offset -8
  pop %rdi
  .cfi_adjust_cfa_offset -8
  jmp *%rax
  .cfi_endproc
  .size dlopen, .-dlopen

  .globl dlmopen
  .type dlmopen, @function
dlmopen:
  .cfi_startproc
  push %rdi
  .cfi_adjust_cfa_offset 8
  push %rsi
  .cfi_adjust_cfa_offset 8
  push %rdx
  .cfi_adjust_cfa_offset 8
  call gh_dlmopen_prepare
  pop %rdx
  .cfi_adjust_cfa_offset -8
  pop %rsi
  .cfi_adjust_cfa_offset -8
  pop %rdi
  .cfi_adjust_cfa_offset -8
  jmp *%rax
  .cfi_endproc
  .size dlmopen, .-dlmopen
)");
