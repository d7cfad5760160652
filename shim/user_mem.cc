// SPDX-License-Identifier: MIT
#include "shim/user_mem.h"
#include "core/sys.h"

#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace gh::shim {

namespace {
// process_vm_readv/writev on ourselves: the kernel checks the address and
// answers EFAULT for an unmapped one.
int vm_copy(void* dst, const void* src, size_t n, bool to_user) {
  if (n == 0) return 0;
  if (!src || !dst) return -EFAULT;
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
