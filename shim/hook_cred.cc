// SPDX-License-Identifier: MIT
// Credentials: setuid() and the other set*id calls change every OS thread
// of the process. glibc does the system call on the calling thread and
// sends SIGSETXID to every other thread it knows, skipping the descriptor
// the thread pointer names as "self" (docs/design.md, "Signals while the
// carrier waits"). A green thread's thread pointer names its own descriptor,
// or, for main running on another carrier, main's, whose OS thread would
// then be skipped and keep the old credentials. So the call runs on the
// carrier's own descriptor: "self" is the OS thread that makes the call.
#include <grp.h>
#include <unistd.h>

#include <cerrno>

#include "core/arch_x86_64.h"
#include "shim/state.h"
#include "shim/thread_registry.h"

using namespace gh::shim;

namespace {

template <class Call>
int on_own_descriptor(Call call) {
  ensure_real();
  void* cur = gh::arch::thread_pointer();
  void* own = threads_green() ? os_descriptor() : cur;
  if (own == cur) return call();
  // errno of the call is the carrier's thread's while it runs: carried over.
  gh::arch::set_thread_pointer(own);
  int r = call();
  int e = errno;
  gh::arch::set_thread_pointer(cur);
  if (r != 0) errno = e;
  return r;
}

}  // namespace

GH_EXPORT int setuid(uid_t u) {
  return on_own_descriptor([&] { return real::setuid(u); });
}
GH_EXPORT int setgid(gid_t g) {
  return on_own_descriptor([&] { return real::setgid(g); });
}
GH_EXPORT int seteuid(uid_t u) {
  return on_own_descriptor([&] { return real::seteuid(u); });
}
GH_EXPORT int setegid(gid_t g) {
  return on_own_descriptor([&] { return real::setegid(g); });
}
GH_EXPORT int setreuid(uid_t r, uid_t e) {
  return on_own_descriptor([&] { return real::setreuid(r, e); });
}
GH_EXPORT int setregid(gid_t r, gid_t e) {
  return on_own_descriptor([&] { return real::setregid(r, e); });
}
GH_EXPORT int setresuid(uid_t r, uid_t e, uid_t s) {
  return on_own_descriptor([&] { return real::setresuid(r, e, s); });
}
GH_EXPORT int setresgid(gid_t r, gid_t e, gid_t s) {
  return on_own_descriptor([&] { return real::setresgid(r, e, s); });
}
GH_EXPORT int setgroups(size_t n, const gid_t* list) {
  return on_own_descriptor([&] { return real::setgroups(n, list); });
}
