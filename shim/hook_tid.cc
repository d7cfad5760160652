// SPDX-License-Identifier: MIT
// Thread ids: gettid() gives every green thread an id of its own
// (thread_registry.h, kGreenTidBase), and the calls that take a thread id
// accept it: signals go to that green thread, scheduling and priority calls
// act on the OS thread it runs on. An id of a green thread that has ended
// fails with ESRCH, as for an OS thread that has.
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>

#include <cerrno>

#include "shim/state.h"
#include "core/sys.h"
#include "shim/thread_registry.h"

using namespace gh::shim;

GH_EXPORT pid_t gettid(void) {
  if (!green_ok()) return static_cast<pid_t>(gh::sys(SYS_gettid));
  return current_tid();
}

GH_EXPORT int tgkill(pid_t tgid, pid_t tid, int sig) {
  if (!green_ok() || !is_green_tid(tid))
    return static_cast<int>(real::syscall(SYS_tgkill, tgid, tid, sig));
  return ret_errno(static_cast<int>(green_tgkill(tgid, tid, sig)));
}

// pid 0 is the calling thread in all of these, which the kernel resolves.
#define GH_OS_TID_OR_FAIL(pid) \
  long os = os_tid_of(pid);    \
  if (os < 0) return -1

GH_EXPORT int sched_setaffinity(pid_t pid, size_t size, const cpu_set_t* set) {
  GH_OS_TID_OR_FAIL(pid);
  return real::sched_setaffinity(static_cast<pid_t>(os), size, set);
}
GH_EXPORT int sched_getaffinity(pid_t pid, size_t size, cpu_set_t* set) {
  GH_OS_TID_OR_FAIL(pid);
  return real::sched_getaffinity(static_cast<pid_t>(os), size, set);
}
GH_EXPORT int sched_setscheduler(pid_t pid, int policy, const sched_param* p) {
  GH_OS_TID_OR_FAIL(pid);
  return real::sched_setscheduler(static_cast<pid_t>(os), policy, p);
}
GH_EXPORT int sched_getscheduler(pid_t pid) {
  GH_OS_TID_OR_FAIL(pid);
  return real::sched_getscheduler(static_cast<pid_t>(os));
}
GH_EXPORT int sched_setparam(pid_t pid, const sched_param* p) {
  GH_OS_TID_OR_FAIL(pid);
  return real::sched_setparam(static_cast<pid_t>(os), p);
}
GH_EXPORT int sched_getparam(pid_t pid, sched_param* p) {
  GH_OS_TID_OR_FAIL(pid);
  return real::sched_getparam(static_cast<pid_t>(os), p);
}
GH_EXPORT int setpriority(__priority_which_t which, id_t who, int prio) {
  if (which != PRIO_PROCESS) return real::setpriority(which, who, prio);
  GH_OS_TID_OR_FAIL(who);
  return real::setpriority(which, static_cast<id_t>(os), prio);
}
GH_EXPORT int getpriority(__priority_which_t which, id_t who) {
  if (which != PRIO_PROCESS) return real::getpriority(which, who);
  GH_OS_TID_OR_FAIL(who);
  return real::getpriority(which, static_cast<id_t>(os));
}
