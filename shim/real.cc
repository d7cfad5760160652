// SPDX-License-Identifier: MIT
#include "shim/real.h"

#include <sched.h>

#include "core/log.h"
#include "shim/elf_symbols.h"

namespace gh::shim {

std::atomic<int> g_real_state{0};

#pragma GCC diagnostic ignored "-Wignored-attributes"
namespace real {
#define GH_REAL_DEFINE_D(name, version) constinit RealFn<decltype(::name)> name{nullptr};
#define GH_REAL_DEFINE_T(name, ...) constinit RealFn<__VA_ARGS__> name{nullptr};
GH_REAL_FUNCS(GH_REAL_DEFINE_D, GH_REAL_DEFINE_T)
#undef GH_REAL_DEFINE_D
#undef GH_REAL_DEFINE_T
}  // namespace real

namespace {

constexpr size_t kRealCount = 0
#define GH_REAL_COUNT(name, ...) +1
    GH_REAL_FUNCS(GH_REAL_COUNT, GH_REAL_COUNT)
#undef GH_REAL_COUNT
    ;

// Whether each requested version was found (written with the pointers).
bool g_version_found[kRealCount];

template <class F>
void resolve_one(RealFn<F>& slot, const char* name, const char* version, size_t index) {
  // "Next" after this library: the lookup skips the object holding slot.
  SymbolFound f = find_next_symbol(&slot, SymbolQuery{name, version});
  slot.ptr = reinterpret_cast<F*>(f.addr);
  g_version_found[index] = f.version_found;
}

}  // namespace

void resolve_real() {
  int expected = 0;
  if (!g_real_state.compare_exchange_strong(expected, 1, std::memory_order_acq_rel)) {
    // Another thread is resolving (the lookup calls no hook, so it cannot
    // be this one): wait for it.
    while (g_real_state.load(std::memory_order_acquire) != kRealResolved) sched_yield();
    return;
  }
  size_t i = 0;
#define GH_REAL_RESOLVE_D(name, version) resolve_one(real::name, #name, version, i++);
#define GH_REAL_RESOLVE_T(name, ...) resolve_one(real::name, #name, nullptr, i++);
  GH_REAL_FUNCS(GH_REAL_RESOLVE_D, GH_REAL_RESOLVE_T)
#undef GH_REAL_RESOLVE_D
#undef GH_REAL_RESOLVE_T
  g_real_state.store(kRealResolved, std::memory_order_release);
  // Anything libc must have; without it passing through is impossible.
  if (!real::read.ptr || !real::write.ptr || !real::close.ptr || !real::pthread_create.ptr)
    log_error("cannot resolve libc functions; is this a glibc program?");
}

void for_each_real(void (*fn)(const RealSymbol&, void*), void* arg) {
  ensure_real();
  size_t i = 0;
#define GH_REAL_VISIT_D(name, version)                                                        \
  fn(RealSymbol{#name, version, reinterpret_cast<void*>(real::name.ptr), g_version_found[i]}, \
     arg);                                                                                    \
  i++;
#define GH_REAL_VISIT_T(name, ...)                                                            \
  fn(RealSymbol{#name, nullptr, reinterpret_cast<void*>(real::name.ptr), g_version_found[i]}, \
     arg);                                                                                    \
  i++;
  GH_REAL_FUNCS(GH_REAL_VISIT_D, GH_REAL_VISIT_T)
#undef GH_REAL_VISIT_D
#undef GH_REAL_VISIT_T
}

}  // namespace gh::shim
