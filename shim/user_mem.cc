// SPDX-License-Identifier: MIT
#include "shim/user_mem.h"
#include "core/carrier.h"
#include "core/sys.h"

#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace gh::shim {

namespace {
// Whether [p, p + n) lies inside the calling green thread's own stack, one
// the runtime made, which is mapped and writable from end to end (the guard
// is below it):
// the common case of a value in a local variable, copied without the two
// system calls below.
bool on_own_stack(const void* p, size_t n) {
  Carrier* c = Carrier::current();
  if (!c) return false;
  const GreenThread* g = c->running();
  // Only a stack from the runtime's pool: one the program supplied
  // (pthread_attr_setstack) may hold a guard of its own, and a frame
  // context's bounds are its thread's.
  if (!g || g->is_root() || !g->pooled_stack) return false;
  auto a = reinterpret_cast<uintptr_t>(p);
  auto lo = reinterpret_cast<uintptr_t>(g->stack.lo);
  auto hi = lo + g->stack.size;
  return a >= lo && a <= hi && n <= hi - a;
}

// process_vm_readv/writev on ourselves: the kernel checks the address and
// answers EFAULT for an unmapped one.
int vm_copy(void* dst, const void* src, size_t n, bool to_user) {
  if (n == 0) return 0;
  if (!src || !dst) return -EFAULT;
  if (on_own_stack(to_user ? dst : src, n)) {
    std::memcpy(dst, src, n);
    return 0;
  }
  iovec local{to_user ? const_cast<void*>(src) : dst, n};
  iovec remote{to_user ? dst : const_cast<void*>(src), n};
  // getpid, not a carrier's cached tid: in a fork child, before the fork
  // hook has reset the runtime (pthread_atfork handlers), that would name
  // the parent and read or write its memory.
  long pid = gh::sys(SYS_getpid);
  long r = gh::sys_ret(to_user ? SYS_process_vm_writev : SYS_process_vm_readv, pid, &local, 1,
                       &remote, 1, 0);
  if (r == static_cast<long>(n)) return 0;
  if (r < 0 && r != -EFAULT) {
    // process_vm_* refused (seccomp, ptrace policy): trust the pointer.
    std::memcpy(dst, src, n);
    return 0;
  }
  return -EFAULT;
}
}  // namespace

int copy_from_user(void* dst, const void* src, size_t n) { return vm_copy(dst, src, n, false); }
int copy_to_user(void* dst, const void* src, size_t n) { return vm_copy(dst, src, n, true); }

}  // namespace gh::shim
