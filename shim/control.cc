// SPDX-License-Identifier: MIT
#include "shim/control.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/auxv.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstddef>
#include <cstring>
#include <string>

#include "core/clock.h"
#include "core/glibc_abi.h"
#include "core/log.h"
#include "core/pool.h"
#include "core/sys.h"
#include "ioring/runtime_fd.h"
#include "shim/config.h"
#include "shim/report.h"
#include "shim/stack_overflow.h"
#include "shim/state.h"
#include "shim/thread_registry.h"

namespace gh::shim {

namespace {

std::atomic<int> g_started_pid{0};  // the process whose control thread runs
int g_dump_signal = 0;              // [set at start-up]
int g_dump_fd = -1;                 // eventfd the dump handler bumps
int g_dump_pid = 0;                 // the process that made g_dump_fd
int g_listen_fd = -1;

// Whether the peer may look inside: our effective user or root; only root
// when the process is not dumpable (it changed its ids, as a daemon that
// drops root does: the kernel keeps others from ptrace-ing it then, too).
bool peer_allowed(const ucred& cred) {
  if (cred.uid == 0) return true;
  if (gh::sys(SYS_prctl, PR_GET_DUMPABLE, 0, 0, 0, 0) != 1) return false;
  return cred.uid == static_cast<uid_t>(gh::sys(SYS_geteuid));
}

// Reads the request line, all of it within 2 s (a client that dribbles it
// cannot hold the control thread). Returns its length, or -1.
long read_request(int c, char* req, size_t cap) {
  int64_t deadline = mono_ns() + 2 * kNsPerSec;
  size_t got = 0;
  while (got < cap - 1) {
    int64_t left_ms = (deadline - mono_ns()) / 1'000'000;
    if (left_ms <= 0) return -1;
    pollfd pfd{c, POLLIN, 0};
    if (gh::sys(SYS_poll, &pfd, 1, left_ms) <= 0) return -1;
    long n = gh::sys(SYS_read, c, req + got, cap - 1 - got);
    if (n <= 0) break;
    got += static_cast<size_t>(n);
    if (std::memchr(req, '\n', got)) break;
  }
  req[got] = '\0';
  return static_cast<long>(got);
}

// Answers one connection: the peer must be allowed (peer_allowed).
void serve(int c) {
  timeval tv{2, 0};
  gh::sys(SYS_setsockopt, c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  ucred cred{};
  socklen_t len = sizeof cred;
  std::string out;
  char req[256];
  if (gh::sys(SYS_getsockopt, c, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 ||
      !peer_allowed(cred)) {
    out = "greenhouse: refused: only the process's own user or root may look inside it\n";
  } else if (read_request(c, req, sizeof req) < 0) {
    out = "greenhouse: no request within 2 s\n";
  } else {
    ReportOptions opt;
    bool ok = std::strncmp(req, "ps", 2) == 0 && (req[2] == '\n' || req[2] == ' ');
    opt.stacks = std::strstr(req, "--stacks") != nullptr;
    opt.json = std::strstr(req, "--json") != nullptr;
    opt.rates = true;
    if (ok)
      write_report(&out, opt);
    else
      out = "greenhouse: unknown request (expected: ps [--stacks] [--json])\n";
  }
  gh::raw_write_all(c, out.data(), out.size());
  gh::sys(SYS_close, c);
}

void dump() {
  ReportOptions opt;
  opt.stacks = true;
  std::string out;
  write_report(&out, opt);
  log_report(out);
}

void* control_main(void*) {
  gh::sys(SYS_prctl, PR_SET_NAME, "gh-control", 0, 0, 0);
  // The program's signals go to its own threads; only the dump signal may
  // come here.
  uint64_t mask = ~gh::glibc::kInternalSignals;  // glibc's own get through (setuid)
  if (g_dump_signal > 0) mask &= ~(uint64_t{1} << (g_dump_signal - 1));
  gh::sys(SYS_rt_sigprocmask, SIG_SETMASK, &mask, nullptr, sizeof mask);
  // On the carriers' CPUs, not on a pin main set on itself before its
  // first thread (PoolOptions::cpu_mask).
  if (gh::Pool* p = gh::Pool::process(); p && p->options().cpu_mask_bytes > 0)
    gh::sys_ret(SYS_sched_setaffinity, 0, p->options().cpu_mask_bytes, p->options().cpu_mask);
  // (poll skips an fd of -1: no socket, or no dump signal)
  pollfd fds[2] = {{g_listen_fd, POLLIN, 0}, {g_dump_fd, POLLIN, 0}};
  // Ticks: the deadlock check once a second; the hog check (if on) four
  // times per GREENHOUSE_HOG_MS, at most every 10 ms.
  int hog_ms = config().hog_ms;
  int tick_ms =
      hog_ms > 0 ? (hog_ms / 4 < 10 ? 10 : (hog_ms / 4 > 1000 ? 1000 : hog_ms / 4)) : 1000;
  int64_t next_deadlock = coarse_ns() + kNsPerSec;
  for (;;) {
    long n = gh::sys(SYS_poll, fds, 2, tick_ms);
    int64_t now = mono_ns();
    hog_tick(now);
    if (now >= next_deadlock) {
      next_deadlock = now + kNsPerSec;
      deadlock_tick();
    }
    if (n <= 0) continue;
    if (fds[1].revents & POLLIN) {
      uint64_t v;
      gh::sys(SYS_read, g_dump_fd, &v, sizeof v);
      dump();
    }
    if (fds[0].revents & POLLIN) {
      int c = static_cast<int>(gh::sys(SYS_accept4, g_listen_fd, nullptr, nullptr, SOCK_CLOEXEC));
      if (c >= 0) serve(c);
    }
  }
  return nullptr;
}

void dump_handler(int) {
  uint64_t one = 1;
  if (g_dump_fd >= 0) gh::sys_ret(SYS_write, g_dump_fd, &one, sizeof one);  // errno untouched
}

}  // namespace

void control_forget_fds_after_fork() {
  g_listen_fd = -1;
  g_dump_fd = -1;
}

void control_start() {
  int pid = static_cast<int>(gh::sys(SYS_getpid));
  int was = g_started_pid.load(std::memory_order_acquire);
  if (was == pid || !g_started_pid.compare_exchange_strong(was, pid)) return;
  const Config& cfg = config();
  bool listen_ok = cfg.control && !getauxval(AT_SECURE);
  // GREENHOUSE_CONTROL=0: no control thread at all (no socket, no deadlock
  // check), unless a dump signal or the hog report needs it.
  if (!cfg.control && g_dump_signal == 0 && cfg.hog_ms == 0) return;
  Bypass bypass;
  if (g_listen_fd >= 0) {
    // A fork child: the parent's socket (its name is the parent's pid).
    gh::ioring::unregister_runtime_fd(g_listen_fd);
    gh::sys(SYS_close, g_listen_fd);
    g_listen_fd = -1;
  }
  if (g_dump_signal && g_dump_pid != pid) {
    // A fork child: its own eventfd (the parent's control thread reads the
    // inherited one).
    int fd = gh::ioring::adopt_runtime_fd(
        static_cast<int>(gh::sys(SYS_eventfd2, 0, EFD_CLOEXEC | EFD_NONBLOCK)));
    int old = g_dump_fd;
    g_dump_fd = fd;
    g_dump_pid = pid;
    if (old >= 0) {
      gh::ioring::unregister_runtime_fd(old);
      gh::sys(SYS_close, old);
    }
  }
  if (listen_ok) {
    int s = gh::ioring::adopt_runtime_fd(static_cast<int>(
        gh::sys(SYS_socket, AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)));
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    control_socket_name(pid, a.sun_path + 1, sizeof a.sun_path - 1);
    socklen_t alen =
        static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + std::strlen(a.sun_path + 1));
    if (s >= 0 && gh::sys(SYS_bind, s, &a, alen) == 0 && gh::sys(SYS_listen, s, 8) == 0) {
      g_listen_fd = s;
    } else {
      log_debug("no control socket: errno %d", errno);
      if (s >= 0) gh::sys(SYS_close, s);
    }
  }
  int rc = start_native_thread(&control_main, nullptr, "gh-control");
  if (rc != 0) log_warn("cannot start the control thread: errno %d", rc);
}

int dump_signal_init() {
  int sig = config().dump_signal;
  if (sig <= 0) return 0;
  g_dump_fd = gh::ioring::adopt_runtime_fd(
      static_cast<int>(gh::sys(SYS_eventfd2, 0, EFD_CLOEXEC | EFD_NONBLOCK)));
  if (g_dump_fd < 0) return 0;
  g_dump_pid = static_cast<int>(gh::sys(SYS_getpid));
  struct sigaction sa {};
  sa.sa_handler = &dump_handler;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  if (real::sigaction(sig, &sa, nullptr) != 0) return 0;
  g_dump_signal = sig;
  return sig;
}

int dump_signal() { return g_dump_signal; }

}  // namespace gh::shim
