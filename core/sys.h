// SPDX-License-Identifier: MIT
// gh::sys(number, args...): the runtime's system calls, with libc
// syscall()'s result convention (-1 and errno on failure) but never through
// libc's syscall(), which the shim interposes (core/arch_x86_64.h
// raw_syscall). Every system call of core/, ioring/ and the shim's own
// machinery goes through here.
#pragma once

#include <cerrno>
#include <type_traits>

#include "core/arch_x86_64.h"

namespace gh {

template <class T>
inline long sys_arg(T v) {
  if constexpr (std::is_pointer_v<T>)
    return reinterpret_cast<long>(v);
  else if constexpr (std::is_null_pointer_v<T>)
    return 0;
  else
    return static_cast<long>(v);
}

template <class... Args>
inline long sys(long number, Args... args) {
  static_assert(sizeof...(Args) <= 6, "at most six system call arguments");
  long r = arch::raw_syscall(number, sys_arg(args)...);
  if (r < 0 && r > -4096) {
    errno = static_cast<int>(-r);
    return -1;
  }
  return r;
}

// The same system call with the kernel's convention: the result, or -errno
// on failure; errno is left alone. For attempts whose failure is not the
// caller's result (a non-blocking try that finds nothing, a probe): errno
// must be as the program left it when the call then succeeds.
template <class... Args>
inline long sys_ret(long number, Args... args) {
  static_assert(sizeof...(Args) <= 6, "at most six system call arguments");
  return arch::raw_syscall(number, sys_arg(args)...);
}

}  // namespace gh
