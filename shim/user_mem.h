// SPDX-License-Identifier: MIT
// Reading a caller's argument struct without trusting the pointer: a bad
// pointer gets EFAULT, as the native system call would report, instead of a
// crash in the shim.
#pragma once

#include <cstddef>

namespace gh::shim {

// Copies n bytes from the caller's src to dst. Returns 0 or -EFAULT.
int copy_from_user(void* dst, const void* src, size_t n);
// Copies n bytes from src to the caller's dst. Returns 0 or -EFAULT.
int copy_to_user(void* dst, const void* src, size_t n);

}  // namespace gh::shim
