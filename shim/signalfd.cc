// SPDX-License-Identifier: MIT
#include "shim/signalfd.h"

#include <poll.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/clock.h"
#include "core/sys.h"
#include "ioring/ops.h"
#include "shim/fd_table.h"
#include "shim/green_io.h"
#include "shim/thread_registry.h"
#include "shim/user_mem.h"

namespace gh::shim {

namespace {

constexpr int64_t kSliceNs = 10'000'000;

// Takes up to `max` signals of `mask` from the calling thread's own pending
// set, lowest first (as the kernel dequeues), into `out`. Returns how many.
size_t take_kept(uint64_t mask, signalfd_siginfo* out, size_t max) {
  ShimThread* me = shim_self();
  if (!me) return 0;
  size_t n = 0;
  for (;;) {
    uint64_t kept = me->pending_signals.load(std::memory_order_acquire) & mask;
    if (!kept || n == max) return n;
    uint64_t bit = kept & -kept;
    if (!(me->pending_signals.fetch_and(~bit, std::memory_order_acq_rel) & bit)) continue;
    // What it came with (a pthread_kill's from this process when not kept).
    int sig = __builtin_ctzll(bit) + 1;
    siginfo_t si = kept_info(me, sig);
    out[n] = signalfd_siginfo{};
    out[n].ssi_signo = static_cast<uint32_t>(sig);
    out[n].ssi_errno = si.si_errno;
    out[n].ssi_code = si.si_code;
    out[n].ssi_pid = static_cast<uint32_t>(si.si_pid);
    out[n].ssi_uid = static_cast<uint32_t>(si.si_uid);
    if (si.si_code == SI_TIMER) {
      out[n].ssi_tid = static_cast<uint32_t>(si.si_timerid);
      out[n].ssi_overrun = static_cast<uint32_t>(si.si_overrun);
    }
    if (sig == SIGCHLD && si.si_code > 0) {
      out[n].ssi_status = si.si_status;
      out[n].ssi_utime = static_cast<uint64_t>(si.si_utime);
      out[n].ssi_stime = static_cast<uint64_t>(si.si_stime);
    }
    if (si.si_code < 0) {  // the kernel's "rt" and timer layouts carry a value
      out[n].ssi_int = si.si_int;
      out[n].ssi_ptr = reinterpret_cast<uint64_t>(si.si_ptr);
    }
    n++;
  }
}

}  // namespace

siginfo_t siginfo_from_signalfd(const signalfd_siginfo& s) {
  siginfo_t out;
  std::memset(&out, 0, sizeof out);
  const int sig = static_cast<int>(s.ssi_signo);
  out.si_signo = sig;
  out.si_errno = s.ssi_errno;
  out.si_code = s.ssi_code;
  const bool by_kernel = s.ssi_code > 0;
  if (s.ssi_code == SI_TIMER) {
    out.si_timerid = static_cast<int>(s.ssi_tid);
    out.si_overrun = static_cast<int>(s.ssi_overrun);
    out.si_value.sival_ptr = reinterpret_cast<void*>(s.ssi_ptr);
  } else if (by_kernel && sig == SIGCHLD) {
    out.si_pid = static_cast<pid_t>(s.ssi_pid);
    out.si_uid = s.ssi_uid;
    out.si_status = s.ssi_status;
    out.si_utime = static_cast<clock_t>(s.ssi_utime);
    out.si_stime = static_cast<clock_t>(s.ssi_stime);
  } else if (by_kernel && sig == SIGPOLL) {
    out.si_band = static_cast<long>(s.ssi_band);
    out.si_fd = s.ssi_fd;
  } else if (by_kernel && (sig == SIGSEGV || sig == SIGBUS || sig == SIGILL || sig == SIGFPE ||
                           sig == SIGTRAP)) {
    out.si_addr = reinterpret_cast<void*>(s.ssi_addr);
  } else {
    out.si_pid = static_cast<pid_t>(s.ssi_pid);
    out.si_uid = s.ssi_uid;
    out.si_value.sival_ptr = reinterpret_cast<void*>(s.ssi_ptr);
  }
  return out;
}

void signalfd_made(int fd, const sigset_t* mask) {
  sigset_t m;
  if (copy_from_user(&m, mask, sizeof m) != 0) return;  // the call failed with EFAULT already
  uint64_t bits = 0;
  for (int sig = 1; sig <= 64; sig++)
    if (sigismember(&m, sig) == 1) bits |= uint64_t{1} << (sig - 1);
  // SIGKILL and SIGSTOP are never read from a signalfd.
  bits &= ~((uint64_t{1} << (SIGKILL - 1)) | (uint64_t{1} << (SIGSTOP - 1)));
  if (FdEntry* e = fd_get(fd)) e->sigfd_mask.store(bits, std::memory_order_relaxed);
}

uint64_t signalfd_mask(int fd) {
  FdEntry* e = fd_peek(fd);
  // A number closed and reused keeps its old mask until classified again.
  if (!e || e->kind.load(std::memory_order_acquire) != FdKind::kPollable) return 0;
  return e->sigfd_mask.load(std::memory_order_relaxed);
}

bool signalfd_pending(uint64_t mask) {
  ShimThread* me = mask ? shim_self() : nullptr;
  return me && (me->pending_signals.load(std::memory_order_acquire) & mask) != 0;
}

int64_t signalfd_slice(int64_t deadline) {
  int64_t slice = gh::deadline_after(kSliceNs);
  return deadline >= 0 && deadline < slice ? deadline : slice;
}

ssize_t signalfd_read(int fd, FdEntry* e, void* buf, size_t len) {
  constexpr size_t kRec = sizeof(signalfd_siginfo);
  const uint64_t mask = e->sigfd_mask.load(std::memory_order_relaxed);
  if (len < kRec) return gh::sys_ret(SYS_read, fd, buf, len);  // EINVAL, as the kernel says
  const size_t max = len / kRec;
  // For the kernel's part without waiting on a blocking fd: any signalfd
  // with the same mask reads the same pending signals.
  long own = -1;
  ssize_t result;
  for (;;) {
    signalfd_siginfo kept[8];
    size_t n = take_kept(mask, kept, max < 8 ? max : 8);
    if (n > 0 && copy_to_user(buf, kept, n * kRec) != 0) {
      result = -EFAULT;
      break;
    }
    if (n < max) {
      bool nb = nonblocking_now(fd, e);
      if (!nb && own < 0)
        own = gh::sys_ret(SYS_signalfd4, -1, &mask, sizeof mask, SFD_NONBLOCK | SFD_CLOEXEC);
      long src = nb ? fd : own;
      if (src < 0) {
        // No fd left for our own: read the program's once it is readable
        // (a blocking read then waits only if another reader was quicker).
        pollfd p{fd, POLLIN, 0};
        if (gh::sys_ret(SYS_poll, &p, 1, 0) > 0 && (p.revents & POLLIN)) src = fd;
      }
      long k = src >= 0 ? gh::sys_ret(SYS_read, src, static_cast<char*>(buf) + n * kRec,
                                      (max - n) * kRec)
                        : -EAGAIN;
      if (k > 0) {
        n += static_cast<size_t>(k) / kRec;
      } else if (k < 0 && k != -EAGAIN && n == 0) {
        result = k;
        break;
      }
    }
    if (n > 0) {
      result = static_cast<ssize_t>(n * kRec);
      break;
    }
    if (nonblocking_now(fd, e)) {
      result = -EAGAIN;
      break;
    }
    // Slices of a wait without a deadline: an SA_RESTART handler restarts
    // it, as it restarts the native read.
    io::SliceScope slices;
    int ev = wait_events(fd, e, POLLIN, signalfd_slice(kNoDeadline));
    if (ev < 0 && ev != -EAGAIN) {  // -EAGAIN: the slice ended
      result = ev;
      break;
    }
  }
  if (own >= 0) gh::sys(SYS_close, own);
  return result;
}

}  // namespace gh::shim
