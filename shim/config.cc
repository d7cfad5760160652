// SPDX-License-Identifier: MIT
#include "shim/config.h"

#include <fcntl.h>
#include <sys/auxv.h>
#include <sys/syscall.h>

#include <csignal>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <initializer_list>

#include "core/sys.h"

namespace gh::shim {

const ConfigVar kConfigVars[] = {
    {"GREENHOUSE_OFF", "0 or 1", "0",
     "1 disables the shim: every call passes straight through to libc"},
    {"GREENHOUSE_STACK_SIZE", "bytes, or with suffix k/m (16k .. 1024m)",
     "glibc's (from RLIMIT_STACK: 8 MiB usually)",
     "stack size of a green thread whose creator did not set one with "
     "pthread_attr_setstacksize; address space only: memory is used as the thread touches it"},
    {"GREENHOUSE_LOG_LEVEL", "error, warn, info or debug", "warn",
     "what the shim reports on stderr (or GREENHOUSE_LOG_FILE)"},
    {"GREENHOUSE_LOG_FILE", "the path of a regular file, a terminal or /dev/null", "(stderr)",
     "where messages go; appended to, created with mode 0600; a symbolic link, FIFO, socket or "
     "other device is refused"},
    {"GREENHOUSE_TLS", "exact or shared", "exact",
     "exact: every green thread has its own thread-local storage, as an OS thread; "
     "shared: green threads share their carrier's (faster to create; for measurements; "
     "implies one carrier and no hand-off)"},
    {"GREENHOUSE_CARRIERS", "a number of OS threads, 1 .. 256", "(usable CPUs)",
     "how many carrier OS threads run green threads (the main thread is one); default: the "
     "CPUs of the process's affinity mask, capped by its cgroup CPU quota"},
    {"GREENHOUSE_BACKEND", "auto, io_uring or epoll", "auto",
     "how carriers wait for I/O: io_uring, or epoll where io_uring is refused (container seccomp "
     "profiles, kernel.io_uring_disabled); io_uring: never epoll; epoll: always"},
    {"GREENHOUSE_GUARD_PAGES", "auto or mprotect", "auto",
     "how green stacks get their guard pages: auto: MADV_GUARD_INSTALL where the kernel has it "
     "(6.13+), else mprotect; mprotect: always mprotect, two VMAs per stack, as on older kernels"},
    {"GREENHOUSE_CONTROL", "0 or 1", "1",
     "1: `greenhouse ps PID` may look inside the process, through an abstract Unix socket only "
     "the process's user (and root) may use; 0: no socket and no control thread (no deadlock "
     "report). Never a socket for setuid programs"},
    {"GREENHOUSE_DUMP_SIGNAL",
     "off, or one of HUP INT QUIT USR1 USR2 TERM WINCH URG PWR TTIN TTOU PROF (with or without "
     "SIG, or its number)",
     "off",
     "this signal writes the report of `greenhouse ps PID --stacks` to the log (as the JVM does "
     "on SIGQUIT) instead of reaching the program"},
    {"GREENHOUSE_HOG_MS", "milliseconds, 0 .. 600000", "0",
     "a green thread that keeps its carrier this long without a switch (a loop, a call the shim "
     "does not park) is reported in the log with where it is (a backtrace, or the system call); "
     "at most one report every 10 s; 0: no report"},
    {"GREENHOUSE_HANDOFF_MS", "milliseconds, 0 .. 10000", "5",
     "when a carrier has run one green thread this long (a CPU loop, a call that blocks its OS "
     "thread), its other work moves to other carriers; 0 turns the hand-off off"},
    {"GREENHOUSE_SPREAD", "auto, always or never", "auto",
     "always: idle carriers are woken to take runnable threads from busy ones; never: runnable "
     "threads go to one carrier and the others only take over from a stuck one (the hand-off); "
     "auto: now and then tries the other way and keeps it if it runs clearly more threads per "
     "second, or nearly as many for clearly less CPU while the cores are shared. "
     "Without the hand-off (GREENHOUSE_HANDOFF_MS=0): always"},
};
const size_t kConfigVarCount = sizeof kConfigVars / sizeof kConfigVars[0];

namespace {
Config g_config;
}

const Config& config() { return g_config; }

void control_socket_name(int pid, char* buf, size_t len) {
  std::snprintf(buf, len, "greenhouse-control-%d", pid);
}
void set_config(const Config& c) { g_config = c; }

bool parse_size(const char* s, size_t* out) {
  if (!s || !*s) return false;
  char* end = nullptr;
  errno = 0;
  unsigned long long v = std::strtoull(s, &end, 10);
  if (errno || end == s || *s == '-') return false;
  unsigned long long mult = 1;
  if (*end == 'k' || *end == 'K') {
    mult = 1024;
    end++;
  } else if (*end == 'm' || *end == 'M') {
    mult = 1024 * 1024;
    end++;
  }
  if (*end != '\0') return false;
  if (v > (1ull << 40) / mult) return false;
  *out = static_cast<size_t>(v * mult);
  return true;
}

bool parse_dump_signal(const char* v, int* out) {
  if (!*v || std::strcmp(v, "off") == 0) {
    *out = 0;
    return true;
  }
  // Signals a program takes by default or that a person sends: not the
  // synchronous ones, SIGKILL/SIGSTOP, or those the runtime or glibc use.
  static const struct {
    const char* name;
    int sig;
  } kNames[] = {{"HUP", SIGHUP},   {"INT", SIGINT},   {"QUIT", SIGQUIT},   {"USR1", SIGUSR1},
                {"USR2", SIGUSR2}, {"TERM", SIGTERM}, {"WINCH", SIGWINCH}, {"URG", SIGURG},
                {"PWR", SIGPWR},   {"TTIN", SIGTTIN}, {"TTOU", SIGTTOU},   {"PROF", SIGPROF}};
  const char* name = std::strncmp(v, "SIG", 3) == 0 ? v + 3 : v;
  for (const auto& n : kNames) {
    if (std::strcmp(name, n.name) == 0) {
      *out = n.sig;
      return true;
    }
  }
  char* end = nullptr;
  long num = std::strtol(v, &end, 10);
  for (const auto& n : kNames) {
    if (end != v && *end == '\0' && num == n.sig) {
      *out = n.sig;
      return true;
    }
  }
  return false;
}

bool parse_config(Config* out, char* err, size_t errlen) {
  Config c;
  if (getauxval(AT_SECURE)) {
    *out = c;  // secure execution: the environment is not trusted
    return true;
  }
  auto fail = [&](const char* var, const char* val) {
    const char* form = "";
    for (size_t i = 0; i < kConfigVarCount; i++)
      if (std::strcmp(kConfigVars[i].name, var) == 0) form = kConfigVars[i].form;
    std::snprintf(err, errlen, "%s=%s is invalid: expected %s", var, val, form);
    return false;
  };
  if (const char* v = std::getenv("GREENHOUSE_OFF")) {
    if (std::strcmp(v, "0") == 0 || *v == '\0')
      c.off = false;
    else if (std::strcmp(v, "1") == 0)
      c.off = true;
    else
      return fail("GREENHOUSE_OFF", v);
  }
  if (const char* v = std::getenv("GREENHOUSE_STACK_SIZE")) {
    size_t sz;
    if (!parse_size(v, &sz) || sz < 16 * 1024 || sz > 1024ull * 1024 * 1024)
      return fail("GREENHOUSE_STACK_SIZE", v);
    c.stack_size = sz;
  }
  // The index of v among the accepted words, or -1.
  auto word = [](const char* v, std::initializer_list<const char*> words) {
    int i = 0;
    for (const char* w : words) {
      if (std::strcmp(v, w) == 0) return i;
      i++;
    }
    return -1;
  };
  if (const char* v = std::getenv("GREENHOUSE_LOG_LEVEL")) {
    int lvl = word(v, {"error", "warn", "info", "debug"});
    if (lvl < 0) return fail("GREENHOUSE_LOG_LEVEL", v);
    c.log_level = lvl;
  }
  if (const char* v = std::getenv("GREENHOUSE_LOG_FILE")) {
    if (!*v) return fail("GREENHOUSE_LOG_FILE", v);
    c.log_file = v;
  }
  auto parse_int = [](const char* v, long lo, long hi, int* out) {
    if (!v || !*v) return false;
    char* end = nullptr;
    errno = 0;
    long n = std::strtol(v, &end, 10);
    if (errno || *end != '\0' || n < lo || n > hi) return false;
    *out = static_cast<int>(n);
    return true;
  };
  if (const char* v = std::getenv("GREENHOUSE_CARRIERS")) {
    if (!parse_int(v, 1, 256, &c.carriers)) return fail("GREENHOUSE_CARRIERS", v);
  }
  if (const char* v = std::getenv("GREENHOUSE_HANDOFF_MS")) {
    if (!parse_int(v, 0, 10000, &c.handoff_ms)) return fail("GREENHOUSE_HANDOFF_MS", v);
  }
  if (const char* v = std::getenv("GREENHOUSE_SPREAD")) {
    // In SpreadMode's order.
    int m = word(v, {"auto", "always", "never"});
    if (m < 0) return fail("GREENHOUSE_SPREAD", v);
    c.spread = static_cast<gh::SpreadMode>(m);
  }
  if (const char* v = std::getenv("GREENHOUSE_HOG_MS")) {
    if (!parse_int(v, 0, 600000, &c.hog_ms)) return fail("GREENHOUSE_HOG_MS", v);
  }
  if (const char* v = std::getenv("GREENHOUSE_BACKEND")) {
    // In BackendKind's order.
    int k = word(v, {"auto", "io_uring", "epoll"});
    if (k < 0) return fail("GREENHOUSE_BACKEND", v);
    c.backend = static_cast<gh::BackendKind>(k);
  }
  if (const char* v = std::getenv("GREENHOUSE_GUARD_PAGES")) {
    if (std::strcmp(v, "auto") == 0)
      c.mprotect_guards = false;
    else if (std::strcmp(v, "mprotect") == 0)
      c.mprotect_guards = true;
    else
      return fail("GREENHOUSE_GUARD_PAGES", v);
  }
  if (const char* v = std::getenv("GREENHOUSE_CONTROL")) {
    if (std::strcmp(v, "1") == 0 || *v == '\0')
      c.control = true;
    else if (std::strcmp(v, "0") == 0)
      c.control = false;
    else
      return fail("GREENHOUSE_CONTROL", v);
  }
  if (const char* v = std::getenv("GREENHOUSE_DUMP_SIGNAL")) {
    if (!parse_dump_signal(v, &c.dump_signal)) return fail("GREENHOUSE_DUMP_SIGNAL", v);
  }
  if (const char* v = std::getenv("GREENHOUSE_TLS")) {
    if (std::strcmp(v, "exact") == 0)
      c.shared_tls = false;
    else if (std::strcmp(v, "shared") == 0)
      c.shared_tls = true;
    else
      return fail("GREENHOUSE_TLS", v);
  }
  *out = c;
  return true;
}

namespace {
// Reads up to len-1 bytes of a small file with raw system calls.
long read_small_file(const char* path, char* buf, size_t len) {
  long fd = gh::sys(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  long n = gh::sys(SYS_read, fd, buf, len - 1);
  gh::sys(SYS_close, fd);
  if (n < 0) return -1;
  buf[n] = '\0';
  return n;
}
}  // namespace

int usable_cpus() {
  uint64_t mask[16] = {};  // 1024 CPUs
  long n = gh::sys(SYS_sched_getaffinity, 0, sizeof mask, mask);
  int cpus = 0;
  if (n > 0)
    for (long i = 0; i < n / 8; i++) cpus += __builtin_popcountll(mask[i]);
  if (cpus <= 0) cpus = 1;
  // cgroup v2: "max 100000" or "<quota> <period>" in the process's cgroup.
  char cg[512];
  if (read_small_file("/proc/self/cgroup", cg, sizeof cg) > 0 && std::strncmp(cg, "0::", 3) == 0) {
    char* nl = std::strchr(cg, '\n');
    if (nl) *nl = '\0';
    char path[600];
    std::snprintf(path, sizeof path, "/sys/fs/cgroup%s/cpu.max", cg + 3);
    char max[64];
    if (read_small_file(path, max, sizeof max) > 0 && std::strncmp(max, "max", 3) != 0) {
      char* end = nullptr;
      long quota = std::strtol(max, &end, 10);
      long period = end ? std::strtol(end, nullptr, 10) : 0;
      if (quota > 0 && period > 0) {
        long q = (quota + period - 1) / period;
        if (q < cpus) cpus = static_cast<int>(q);
      }
    }
  }
  return cpus < 1 ? 1 : cpus;
}

}  // namespace gh::shim
