#include "shim/real.h"

#include <dlfcn.h>

#include "core/log.h"

namespace gh::shim {

bool g_real_resolved = false;

namespace real {
#define GH_DEFINE_REAL(name, version) decltype(&::name) name = nullptr;
GH_REAL_FUNCS(GH_DEFINE_REAL)
#undef GH_DEFINE_REAL
}  // namespace real

namespace {
void* lookup(const char* name, const char* version) {
  void* p = nullptr;
  if (version) p = dlvsym(RTLD_NEXT, name, version);
  if (!p) p = dlsym(RTLD_NEXT, name);
  return p;
}
}  // namespace

void resolve_real() {
  if (g_real_resolved) return;
#define GH_RESOLVE_REAL(name, version) \
  real::name = reinterpret_cast<decltype(real::name)>(lookup(#name, version));
  GH_REAL_FUNCS(GH_RESOLVE_REAL)
#undef GH_RESOLVE_REAL
  // Anything libc must have; without it passing through is impossible.
  if (!real::read || !real::write || !real::close || !real::pthread_create) {
    log_error("cannot resolve libc functions; is this a glibc program?");
  }
  __atomic_store_n(&g_real_resolved, true, __ATOMIC_RELEASE);
}

}  // namespace gh::shim
