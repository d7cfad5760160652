// SPDX-License-Identifier: MIT
// Sanitizer fiber-switch annotations: ASan's stack bounds and fake stacks,
// TSan's fibers (each green thread is one, so that TSan keeps a shadow
// state per green thread and sees a switch as the hand-over it is). No-ops
// in other builds.
#pragma once

#include <cstddef>

#if defined(__SANITIZE_ADDRESS__)
#define GH_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define GH_ASAN 1
#endif
#endif

#if defined(__SANITIZE_THREAD__)
#define GH_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define GH_TSAN 1
#endif
#endif

#ifdef GH_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif
#ifdef GH_TSAN
#include <sanitizer/tsan_interface.h>
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

// ASan: a stack handed out again may still carry the shadow of frames a
// dead thread left there (they never returned, so their redzones were never
// cleared); clear it before the new thread's first frame.
inline void san_fresh_stack(void* lo, size_t size) {
#ifdef GH_ASAN
  __asan_unpoison_memory_region(lo, size);
#else
  (void)lo, (void)size;
#endif
}

// TSan: the calling OS thread's own fiber (a carrier's root), a fiber for a
// new green thread, its end, and the switch to `fiber` (just before the
// context switch). nullptr and no-ops without TSan.
inline void* tsan_current_fiber() {
#ifdef GH_TSAN
  return __tsan_get_current_fiber();
#else
  return nullptr;
#endif
}
inline void* tsan_create_fiber() {
#ifdef GH_TSAN
  return __tsan_create_fiber(0);
#else
  return nullptr;
#endif
}
inline void tsan_destroy_fiber(void* fiber) {
#ifdef GH_TSAN
  if (fiber) __tsan_destroy_fiber(fiber);
#else
  (void)fiber;
#endif
}
inline void tsan_switch_to(void* fiber) {
#ifdef GH_TSAN
  if (fiber) __tsan_switch_to_fiber(fiber, 0);
#else
  (void)fiber;
#endif
}

}  // namespace gh
