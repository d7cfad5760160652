// SPDX-License-Identifier: MIT
// Sanitizer fiber-switch annotations, no-ops unless built with ASan.
#pragma once

#include <cstddef>

#if defined(__SANITIZE_ADDRESS__)
#define GH_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define GH_ASAN 1
#endif
#endif

#ifdef GH_ASAN
#include <sanitizer/common_interface_defs.h>
#endif

namespace gh {

// Before a switch: fake_stack_save is where the leaving context's fake stack
// is kept (nullptr when that context is dying); [bottom, bottom+size) is the
// stack being switched to.
inline void san_start_switch(void** fake_stack_save, const void* bottom, size_t size) {
#ifdef GH_ASAN
  __sanitizer_start_switch_fiber(fake_stack_save, bottom, size);
#else
  (void)fake_stack_save, (void)bottom, (void)size;
#endif
}

// After a switch, on the resumed context.
inline void san_finish_switch(void* fake_stack_save) {
#ifdef GH_ASAN
  __sanitizer_finish_switch_fiber(fake_stack_save, nullptr, nullptr);
#else
  (void)fake_stack_save;
#endif
}

}  // namespace gh
